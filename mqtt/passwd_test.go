package mqtt

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin/internal/testenv"
)

// mosquittoPasswd writes a password file with the real mosquitto_passwd
// (Debian's mosquitto package): hashType "sha512-pbkdf2" ($7$) or "sha512" ($6$).
func mosquittoPasswd(t *testing.T, hashType string, users map[string]string) string {
	t.Helper()
	bin := testenv.Need(t, "mosquitto_passwd", "apt-get install -y mosquitto")
	path := filepath.Join(t.TempDir(), "passwd")
	create := "-c"
	for user, pw := range users {
		args := []string{"-H", hashType, "-b", path, user, pw}
		if create != "" {
			args = append([]string{create}, args...)
			create = ""
		}
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v %s", err, out)
		}
	}
	return path
}

var gatewayUsers = map[string]string{"hh-0001": "s3cret-pw", "hh-0002": "other:pw with spaces", "hh_3": "密码"}

func TestPasswordsFromMosquittoPasswd(t *testing.T) {
	for _, hashType := range []string{"sha512-pbkdf2", "sha512"} {
		t.Run(hashType, func(t *testing.T) {
			path := mosquittoPasswd(t, hashType, gatewayUsers)
			p, err := LoadPasswords(path)
			if err != nil {
				t.Fatal(err)
			}
			if p.Len() != len(gatewayUsers) {
				t.Fatalf("%d users", p.Len())
			}
			for user, pw := range gatewayUsers {
				if !p.Check(user, []byte(pw)) {
					t.Errorf("%s: right password refused", user)
				}
				if p.Check(user, []byte(pw+"x")) || p.Check(user, nil) {
					t.Errorf("%s: wrong password accepted", user)
				}
			}
			if p.Check("hh-9999", []byte("s3cret-pw")) {
				t.Error("unknown user accepted")
			}
		})
	}
}

// A file our Go code makes is one mosquitto itself accepts: the real broker
// lets the right password in and refuses a wrong one.
func TestHashPasswordAcceptedByMosquitto(t *testing.T) {
	var b strings.Builder
	for user, pw := range gatewayUsers {
		h, err := HashPassword(pw, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s\n", user, h)
	}
	path := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPasswords(path)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Check("hh-0001", []byte("s3cret-pw")) || p.Check("hh-0001", []byte("s3cret-px")) {
		t.Fatal("our own hash does not check")
	}
	mq := testenv.StartMosquittoConf(t, "allow_anonymous false\npassword_file "+path)
	connect := func(user, pw string) error {
		o := paho.NewClientOptions().AddBroker(mq.URL).SetClientID(fmt.Sprintf("c-%d", time.Now().UnixNano())).
			SetUsername(user).SetPassword(pw).SetConnectRetry(false).SetAutoReconnect(false)
		c := paho.NewClient(o)
		tok := c.Connect()
		if !tok.WaitTimeout(30 * time.Second) {
			return fmt.Errorf("connect timed out")
		}
		if tok.Error() == nil {
			c.Disconnect(0)
		}
		return tok.Error()
	}
	for user, pw := range gatewayUsers {
		if err := connect(user, pw); err != nil {
			t.Errorf("mosquitto refused %s with the password our hash was made from: %v", user, err)
		}
	}
	if err := connect("hh-0001", "wrong"); err == nil {
		t.Error("mosquitto took a wrong password: the file is not what it reads")
	}
}

func TestParsePasswordsErrors(t *testing.T) {
	h, err := HashPassword("pw", 0)
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"hh-1:plaintext":                                "plain-text",
		"hh-1":                                          "username:hash",
		"bad user:" + h:                                 "household id",
		"hh-1:" + h + "\nhh-1:" + h:                     "twice",
		"hh-1:$7$0$AAAA$AAAA":                           "iterations",
		"hh-1:$7$99999999999$AAAA$AAAA":                 "iterations",
		"hh-1:$6$!!!$AAAA":                              "base64",
		"hh-1:$6$AAAA$AAAA":                             "SHA-512",
		"hh-1:" + strings.Repeat("A", 2000):             "longer than",
		"hh-1:$6$" + strings.Repeat("A", 400) + "$AAAA": "salt",
	} {
		_, err := ParsePasswords(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40q: %v, want %q", in, err, want)
		}
		if err != nil && strings.Contains(in, h) && strings.Contains(err.Error(), h) {
			t.Errorf("the error shows a hash: %v", err)
		}
	}
	p, err := ParsePasswords(strings.NewReader("# gateways\n\nhh-1:" + h + "\r\n"))
	if err != nil || !p.Check("hh-1", []byte("pw")) {
		t.Fatalf("comments, blank lines, CRLF: %v", err)
	}
}

// FuzzParsePasswords: no panic, bounded work for any file, and a line made
// by HashPassword appended to it checks with its password only.
func FuzzParsePasswords(f *testing.F) {
	h, _ := HashPassword("pw", 1)
	f.Add([]byte("hh-1:" + h + "\n"))
	f.Add([]byte("hh-1:$6$zyfRkrBvEu3Uf3hl$V4MP9jdX1qE9yFpmVYgoKA8E3H9JoKy/gHWHTUt+r03wnao2yCKINWLcYS0XYwie2hfy2dQ+eo/b18zsZpUlCA==\n"))
	f.Add([]byte("# c\nhh-1:$7$101$AAAA$AAAA\n"))
	f.Add([]byte("x:y:z\n\x00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePasswords(bytes.NewReader(data))
		if err != nil {
			return
		}
		if p.Len() > bytes.Count(data, []byte(":")) {
			t.Fatalf("%d users from %d colons", p.Len(), bytes.Count(data, []byte(":")))
		}
		for user, ph := range p.users {
			if ph.pbkdf2 && ph.iterations > 1000 {
				continue // correct but slow to fuzz
			}
			_ = p.Check(user, []byte("pw"))
		}
		if _, taken := p.users["fuzz-user"]; taken {
			return
		}
		extra := append(bytes.Clone(data), "\nfuzz-user:"+h+"\n"...)
		q, err := ParsePasswords(bytes.NewReader(extra))
		if err != nil {
			return // e.g. the data ended inside an over-long line
		}
		if !q.Check("fuzz-user", []byte("pw")) || q.Check("fuzz-user", []byte("px")) {
			t.Fatal("an appended line does not check")
		}
	})
}

// The mosquitto settings docs/deployment.md gives (password_file made by
// our HashPassword, acl_file "pattern write anxin/v1/%u/#",
// message_size_limit) do on real mosquitto what the embedded broker does:
// alarmd's user reads every household, a gateway's forged topic and an
// oversized message never reach it.
func TestIntegrationDocumentedMosquittoACL(t *testing.T) {
	dir := t.TempDir()
	var pw strings.Builder
	for user, p := range map[string]string{"alarmd": "alarmd-pw", "hh-0001": "pw-one", "hh-0002": "pw-two"} {
		h, err := HashPassword(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&pw, "%s:%s\n", user, h)
	}
	pwFile, aclFile := filepath.Join(dir, "anxin.passwd"), filepath.Join(dir, "anxin.acl")
	if err := os.WriteFile(pwFile, []byte(pw.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(aclFile, []byte("user alarmd\ntopic read anxin/v1/#\n\npattern write anxin/v1/%u/#\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mq := testenv.StartMosquittoConf(t, fmt.Sprintf("allow_anonymous false\npassword_file %s\nacl_file %s\nmessage_size_limit 65536", pwFile, aclFile))
	got := make(chan string, 16)
	sub, err := dial(login{url: mq.URL, id: "alarmd", user: "alarmd", pass: "alarmd-pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Disconnect(0)
	if tok := sub.Subscribe("anxin/v1/#", 1, func(_ paho.Client, m paho.Message) {
		got <- m.Topic() + "|" + string(m.Payload()[:min(len(m.Payload()), 16)])
	}); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	// each try on its own connection: mosquitto 2.0.11 may drop a 3.1.1
	// client after a denied or oversized publish
	try := func(id, user, pass, topic, payload string) {
		t.Helper()
		c, err := dial(login{url: mq.URL, id: id, user: user, pass: pass})
		if err != nil {
			t.Fatal(err)
		}
		c.Publish(topic, 1, false, payload).WaitTimeout(2 * time.Second)
		c.Disconnect(0)
	}
	try("gw1", "hh-0001", "pw-one", "anxin/v1/hh-0002/btn1/event", "forged")
	try("gw1", "hh-0001", "pw-one", "anxin/v1/hh-0001/btn1/event", strings.Repeat("x", 70_000))
	try("gw2", "hh-0002", "pw-two", "anxin/v1/hh-0002/btn1/event", "fence")
	select {
	case g := <-got:
		if g != "anxin/v1/hh-0002/btn1/event|fence" {
			t.Fatalf("alarmd received %q before the fence", g)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the fence never arrived:\n%s", mq.Output())
	}
	if _, err := dial(login{url: mq.URL, id: "anon"}); err == nil {
		t.Error("mosquitto took an anonymous client")
	}
}
