package mqtt

import (
	"bufio"
	"bytes"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/anxin-care/anxin"
)

// Passwords are the gateways' MQTT credentials from a password file in
// mosquitto's format (what mosquitto_passwd writes): one "username:hash"
// per line, the hash either "$7$<iterations>$<salt>$<hash>" (PBKDF2 with
// HMAC-SHA512, mosquitto ≥ 2.0's default) or "$6$<salt>$<hash>"
// (SHA512 over password then salt, mosquitto ≤ 1.6), salt and hash in
// standard base64. Usernames are household ids. Safe for concurrent use
// (read only after parsing).
type Passwords struct {
	users map[string]pwHash
}

type pwHash struct {
	pbkdf2     bool
	iterations int
	salt, sum  []byte
}

// Limits on a password file: it is read at start and on reload, and a
// hostile or broken one must fail with a clear error, not eat memory or CPU
// at every connect.
const (
	maxPasswordFile  = 16 << 20 // bytes
	maxPasswordLine  = 1024     // bytes
	maxPBKDF2Rounds  = 1_000_000
	maxSaltOrHashLen = 256 // decoded bytes
)

// LoadPasswords reads a password file (see Passwords).
func LoadPasswords(path string) (*Passwords, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gateway password file: %w", err)
	}
	defer f.Close()
	p, err := ParsePasswords(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return nil, fmt.Errorf("gateway password file %s: %w", path, err)
	}
	return p, nil
}

// ParsePasswords parses a password file's contents. Empty lines and lines
// starting with # are skipped. Errors name the line, never a hash.
func ParsePasswords(r io.Reader) (*Passwords, error) {
	p := &Passwords{users: make(map[string]pwHash)}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxPasswordLine)
	n, size := 0, 0
	for sc.Scan() {
		n++
		size += len(sc.Bytes()) + 1
		if size > maxPasswordFile {
			return nil, fmt.Errorf("larger than %d bytes", maxPasswordFile)
		}
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: not username:hash", n)
		}
		if !anxin.ValidID(user) {
			return nil, fmt.Errorf("line %d: username is not a household id ([A-Za-z0-9_-]{1,64})", n)
		}
		if _, dup := p.users[user]; dup {
			return nil, fmt.Errorf("line %d: user %s listed twice", n, user)
		}
		h, err := parseHash(hash)
		if err != nil {
			return nil, fmt.Errorf("line %d (user %s): %w", n, user, err)
		}
		p.users[user] = h
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than %d bytes", n+1, maxPasswordLine)
		}
		return nil, err
	}
	return p, nil
}

func parseHash(s string) (pwHash, error) {
	parts := strings.Split(s, "$")
	var h pwHash
	var salt, sum string
	switch {
	case len(parts) == 5 && parts[0] == "" && parts[1] == "7":
		it, err := strconv.Atoi(parts[2])
		if err != nil || it < 1 || it > maxPBKDF2Rounds {
			return h, fmt.Errorf("$7$ iterations must be 1..%d", maxPBKDF2Rounds)
		}
		h.pbkdf2, h.iterations, salt, sum = true, it, parts[3], parts[4]
	case len(parts) == 4 && parts[0] == "" && parts[1] == "6":
		salt, sum = parts[2], parts[3]
	default:
		return h, errors.New("hash is not mosquitto's $7$ (sha512-pbkdf2) or $6$ (sha512) format; plain-text passwords are refused")
	}
	var err error
	if h.salt, err = decodeB64(salt); err != nil {
		return h, fmt.Errorf("salt: %w", err)
	}
	if h.sum, err = decodeB64(sum); err != nil {
		return h, fmt.Errorf("hash: %w", err)
	}
	if len(h.sum) != sha512.Size {
		return h, fmt.Errorf("hash is %d bytes, a SHA-512 is %d", len(h.sum), sha512.Size)
	}
	return h, nil
}

func decodeB64(s string) ([]byte, error) {
	if s == "" || base64.StdEncoding.DecodedLen(len(s)) > maxSaltOrHashLen {
		return nil, fmt.Errorf("empty or longer than %d bytes", maxSaltOrHashLen)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not standard base64")
	}
	return b, nil
}

func (h *pwHash) compute(password []byte) []byte {
	if h.pbkdf2 {
		k, err := pbkdf2.Key(sha512.New, string(password), h.salt, h.iterations, sha512.Size)
		if err != nil { // only in FIPS-140-only mode, for short keys: never here
			return nil
		}
		return k
	}
	d := sha512.New()
	d.Write(password)
	d.Write(h.salt)
	return d.Sum(nil)
}

// dummy is hashed for unknown users, so a refusal takes as long whether
// or not the user exists.
var dummy = pwHash{pbkdf2: true, iterations: 101, salt: make([]byte, 12), sum: make([]byte, sha512.Size)}

// Check reports whether password is user's.
func (p *Passwords) Check(user string, password []byte) bool {
	h, ok := p.users[user]
	if !ok {
		dummy.compute(password)
		return false
	}
	sum := h.compute(password)
	return sum != nil && subtle.ConstantTimeCompare(sum, h.sum) == 1
}

// Has reports whether the file lists user.
func (p *Passwords) Has(user string) bool {
	_, ok := p.users[user]
	return ok
}

// Len is how many users the file lists.
func (p *Passwords) Len() int { return len(p.users) }

// HashPassword makes a password-file line's hash in mosquitto's $7$
// format (PBKDF2-HMAC-SHA512, 12-byte random salt), as mosquitto_passwd
// does, with mosquitto's default 101 iterations unless iterations > 0.
func HashPassword(password string, iterations int) (string, error) {
	if iterations <= 0 {
		iterations = 101
	}
	if iterations > maxPBKDF2Rounds {
		return "", fmt.Errorf("iterations must be at most %d", maxPBKDF2Rounds)
	}
	salt := make([]byte, 12)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go ≥ 1.24)
	h := pwHash{pbkdf2: true, iterations: iterations, salt: salt}
	sum := h.compute([]byte(password))
	if sum == nil {
		return "", errors.New("pbkdf2 refused the parameters")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "$7$%d$%s$%s", iterations, base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(sum))
	return b.String(), nil
}
