package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Browser marks (OWASP's "device cookies"). The lock-out after maxFailures
// failed sign-ins is the account's: anyone who knows a worker's login (a
// name: wangfang) could keep her out all night with five guesses every
// lockFor. A browser she signed in on before carries a signed mark of her
// login; for it the account's lock does not hold, and its own failures
// are counted instead (maxFailures lock that browser for lockFor). A
// stolen phone still needs the password and gets five tries a quarter of
// an hour; a browser without the mark is under the account's lock as
// before. A mark is signed with the account's password hash too: a
// password reset (what follows a lost phone) ends every mark issued
// before it.
const (
	deviceCookie = "anxin_device"
	deviceFor    = 180 * 24 * time.Hour
	// maxMarked bounds the marks whose failures are remembered (in
	// memory: after a restart, or on another alarmd, a marked browser's
	// count starts again; each mark still locks after maxFailures there).
	maxMarked = 10000
)

type markFails struct {
	n     int
	until time.Time // locked until
	last  time.Time
}

type deviceMarks struct {
	once sync.Once
	key  []byte
	mu   sync.Mutex
	fail map[string]markFails // by mark
}

func (d *deviceMarks) init(key []byte) {
	d.once.Do(func() {
		d.key = key
		if len(d.key) == 0 {
			d.key = make([]byte, 32)
			_, _ = rand.Read(d.key) // never fails (Go ≥ 1.24); marks then last until a restart
		}
		d.fail = map[string]markFails{}
	})
}

func (d *deviceMarks) sign(login, pwHash string, issued int64) string {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte(login))
	m.Write([]byte{0})
	m.Write([]byte(strconv.FormatInt(issued, 10)))
	m.Write([]byte{0})
	m.Write([]byte(pwHash))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// issue is a new mark of login, whose password hash is pwHash.
func (d *deviceMarks) issue(login, pwHash string, now time.Time) string {
	return d.issueAt(login, pwHash, now.Unix())
}

func (d *deviceMarks) issueAt(login, pwHash string, at int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(login)) + "." + strconv.FormatInt(at, 10) + "." + d.sign(login, pwHash, at)
}

// valid reports whether mark is one of login's, issued within deviceFor
// while its password hash was pwHash.
func (d *deviceMarks) valid(mark, login, pwHash string, now time.Time) bool {
	if len(mark) > 512 {
		return false
	}
	enc, rest, ok := strings.Cut(mark, ".")
	if !ok {
		return false
	}
	at, _, ok := strings.Cut(rest, ".")
	if !ok {
		return false
	}
	who, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || string(who) != login {
		return false
	}
	issued, err := strconv.ParseInt(at, 10, 64)
	if err != nil || now.Sub(time.Unix(issued, 0)) > deviceFor || time.Unix(issued, 0).After(now.Add(time.Minute)) {
		return false
	}
	// only the one spelling issue writes ("+5", "05" or base64's spare
	// bits would give one mark several, each with a failure count of its
	// own: a stolen phone's endless tries)
	return hmac.Equal([]byte(mark), []byte(d.issueAt(login, pwHash, issued)))
}

// of is the request's mark when it is a valid one of login (password hash
// pwHash: "" for an unknown login, which no mark was issued for).
func (d *deviceMarks) of(r *http.Request, login, pwHash string, now time.Time) (string, bool) {
	if pwHash == "" {
		return "", false
	}
	c, err := r.Cookie(deviceCookie)
	if err != nil || !d.valid(c.Value, login, pwHash, now) {
		return "", false
	}
	return c.Value, true
}

func (d *deviceMarks) locked(mark string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fail[mark].until.After(now)
}

// failed counts a failed sign-in of mark; locked: it reached maxFailures.
// A lock that ended starts the count again. ok is false when the table is
// full of recent failures: the caller counts it against the account.
func (d *deviceMarks) failed(mark string, now time.Time) (locked, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, had := d.fail[mark]
	if !had && len(d.fail) >= maxMarked {
		for k, v := range d.fail {
			if now.Sub(v.last) > lockFor && !v.until.After(now) {
				delete(d.fail, k)
			}
		}
		if len(d.fail) >= maxMarked {
			return false, false
		}
	}
	if !f.until.IsZero() && !f.until.After(now) {
		f = markFails{}
	}
	f.n++
	f.last = now
	if f.n >= maxFailures {
		f.until = now.Add(lockFor)
	}
	d.fail[mark] = f
	return f.n >= maxFailures, true
}

func (d *deviceMarks) forget(mark string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.fail, mark)
}
