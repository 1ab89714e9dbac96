package mqtt

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin/internal/testenv"
)

// intercepted records what the embedded broker handed to alarmd.
type intercepted struct {
	mu   sync.Mutex
	msgs []string // household|topic|payload
	seen chan struct{}
}

func (r *intercepted) take(hh, topic string, payload []byte) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, hh+"|"+topic+"|"+string(payload))
	r.mu.Unlock()
	select {
	case r.seen <- struct{}{}:
	default:
	}
	return nil
}

func (r *intercepted) has(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if m == s {
			return true
		}
	}
	return false
}

// wait waits for s to be intercepted.
func (r *intercepted) wait(t *testing.T, s string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for !r.has(s) {
		select {
		case <-r.seen:
		case <-deadline:
			t.Fatalf("%q never reached alarmd; got %v", s, r.msgs)
		}
	}
}

func startAuthBroker(t *testing.T, cfg BrokerConfig) (*Broker, *intercepted) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	b, err := StartBrokerWith(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	rec := &intercepted{seen: make(chan struct{}, 1)}
	if err := b.Intercept("anxin/v1/", rec.take); err != nil {
		t.Fatal(err)
	}
	return b, rec
}

type login struct {
	url, id, user, pass, will string
	tls                       *tls.Config
}

func dial(l login) (paho.Client, error) {
	o := paho.NewClientOptions().AddBroker(l.url).SetClientID(l.id).SetAutoReconnect(false).SetConnectRetry(false)
	if l.user != "" {
		o.SetUsername(l.user).SetPassword(l.pass)
	}
	if l.will != "" {
		o.SetWill(l.will, `{"state":"offline"}`, 1, true)
	}
	if l.tls != nil {
		o.SetTLSConfig(l.tls)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(30 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	return c, tok.Error()
}

// The embedded broker believes a gateway only with its password from the
// password file, and only under its own household's topics.
func TestEmbeddedBrokerGatewayLogin(t *testing.T) {
	pw, err := LoadPasswords(mosquittoPasswd(t, "sha512-pbkdf2", gatewayUsers))
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	b, rec := startAuthBroker(t, BrokerConfig{Passwords: pw, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	url := b.URL()
	for name, l := range map[string]login{
		"password as username":  {url: url, id: "swapped", user: "Pw-looks-like-an-id", pass: "hh-0001"},
		"anonymous":             {url: url, id: "anon"},
		"wrong password":        {url: url, id: "wrong", user: "hh-0001", pass: "guess"},
		"unknown user":          {url: url, id: "nobody", user: "hh-9999", pass: "s3cret-pw"},
		"another's password":    {url: url, id: "swap", user: "hh-0001", pass: gatewayUsers["hh-0002"]},
		"will of another house": {url: url, id: "will", user: "hh-0001", pass: "s3cret-pw", will: "anxin/v1/hh-0002/gateway/status"},
	} {
		if c, err := dial(l); err == nil {
			c.Disconnect(0)
			t.Errorf("%s: connected", name)
		}
	}

	if strings.Contains(logs.String(), "Pw-looks-like-an-id") {
		t.Errorf("a refused login's username that is not in the password file was logged:\n%s", logs.String())
	}

	gw1 := mustDial(t, login{url: url, id: "gw-hh-0001", user: "hh-0001", pass: "s3cret-pw", will: "anxin/v1/hh-0001/gateway/status"})
	gw2 := mustDial(t, login{url: url, id: "gw-hh-0002", user: "hh-0002", pass: gatewayUsers["hh-0002"]})
	// a client id is not an identity: hh-0002 cannot take over hh-0001's session
	if c, err := dial(login{url: url, id: "gw-hh-0001", user: "hh-0002", pass: gatewayUsers["hh-0002"]}); err == nil {
		c.Disconnect(0)
		t.Error("another household took over a gateway's session by its client id")
	}
	// a subscription outside its household is refused (SUBACK 0x80)
	tok := gw1.Subscribe("anxin/v1/#", 1, nil)
	if !tok.WaitTimeout(30 * time.Second) {
		t.Fatal("subscribe timed out")
	}
	if q := tok.(*paho.SubscribeToken).Result()["anxin/v1/#"]; q != 0x80 {
		t.Errorf("subscribing to every household: granted QoS %d", q)
	}
	heldToHousehold(t, rec, gw1, gw2)
}

func mustDial(t *testing.T, l login) paho.Client {
	t.Helper()
	c, err := dial(l)
	if err != nil {
		t.Fatalf("%s: %v", l.id, err)
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// heldToHousehold: hh-0001's gateway gw1 publishes under its household and
// alarmd gets it with the household it logged in as; its message under
// hh-0002's topics is not taken. A 3.1.1 client is disconnected for it, so
// its token may never complete: tested by absence, fenced by a message of
// hh-0002's own gateway gw2.
func heldToHousehold(t *testing.T, rec *intercepted, gw1, gw2 paho.Client) {
	t.Helper()
	if tok := gw1.Publish("anxin/v1/hh-0001/btn1/event", 1, false, "own"); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	rec.wait(t, "hh-0001|anxin/v1/hh-0001/btn1/event|own")
	gw1.Publish("anxin/v1/hh-0002/btn1/event", 1, false, "forged").WaitTimeout(time.Second)
	if tok := gw2.Publish("anxin/v1/hh-0002/btn1/event", 1, false, "fence"); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	rec.wait(t, "hh-0002|anxin/v1/hh-0002/btn1/event|fence")
	if rec.has("hh-0001|anxin/v1/hh-0002/btn1/event|forged") {
		t.Fatal("a gateway published for another household")
	}
}

// On the TLS listener a gateway is the household its certificate names
// (CN, signed by the local CA); it needs no password and is held to its
// household's topics like a password login.
func TestEmbeddedBrokerClientCertificates(t *testing.T) {
	ca := testenv.NewCA(t, "anxin district CA")
	pw, err := ParsePasswords(strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	b, rec := startAuthBroker(t, BrokerConfig{Passwords: pw, TLSListen: "127.0.0.1:0", TLS: &tls.Config{
		Certificates: []tls.Certificate{ca.Issue(t, "alarm.example.org", true)},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool, MinVersion: tls.VersionTLS12}})
	url := "ssl://" + b.TLSAddr()
	client := func(cert tls.Certificate) *tls.Config {
		return &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	rogue := testenv.NewCA(t, "someone else's CA")
	for name, l := range map[string]login{
		"no certificate":   {url: url, id: "nocert", tls: &tls.Config{RootCAs: ca.Pool}},
		"another CA":       {url: url, id: "rogue", tls: client(rogue.Issue(t, "hh-0001", false))},
		"CN not a house":   {url: url, id: "badcn", tls: client(ca.Issue(t, "hh 0001; drop", false))},
		"TCP, no password": {url: b.URL(), id: "tcp"},
	} {
		if c, err := dial(l); err == nil {
			c.Disconnect(0)
			t.Errorf("%s: connected", name)
		}
	}
	// the username a client sends does not matter: the certificate says who it is
	gw1 := mustDial(t, login{url: url, id: "gw-1", user: "hh-0002", pass: "x", tls: client(ca.Issue(t, "hh-0001", false))})
	gw2 := mustDial(t, login{url: url, id: "gw-2", tls: client(ca.Issue(t, "hh-0002", false))})
	heldToHousehold(t, rec, gw1, gw2)
}

// BenchmarkPasswordCheck is the CPU a login costs the broker.
func BenchmarkPasswordCheck(b *testing.B) {
	h7, _ := HashPassword("s3cret-pw", 0)
	p, err := ParsePasswords(strings.NewReader("hh-1:" + h7 + "\nhh-2:$6$zyfRkrBvEu3Uf3hl$V4MP9jdX1qE9yFpmVYgoKA8E3H9JoKy/gHWHTUt+r03wnao2yCKINWLcYS0XYwie2hfy2dQ+eo/b18zsZpUlCA==\n"))
	if err != nil {
		b.Fatal(err)
	}
	for _, user := range []string{"hh-1", "hh-2"} {
		b.Run(map[string]string{"hh-1": "pbkdf2-101", "hh-2": "sha512"}[user], func(b *testing.B) {
			for b.Loop() {
				p.Check(user, []byte("s3cret-pw"))
			}
		})
	}
}
