package alarmd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/mqtt"
	"github.com/anxin-care/anxin/sqlite"
)

// An embedded broker reachable from outside believes nobody by default:
// alarmd refuses to start it without gateway logins unless told to.
func TestNonLoopbackBrokerNeedsGatewayLogins(t *testing.T) {
	for yaml, want := range map[string]string{
		`mqtt: {listen: "0.0.0.0:1883"}`:                                    "not loopback",
		`mqtt: {listen: ":1883"}`:                                           "not loopback",
		`mqtt: {listen: "192.0.2.7:1883"}`:                                  "not loopback",
		`mqtt: {listen: "broker.example.org:1883"}`:                         "not loopback",
		`mqtt: {listen: "0.0.0.0:1883", allow_anonymous: true}`:             "",
		`mqtt: {listen: "0.0.0.0:1883", gateway_password_file: /etc/pw}`:    "",
		`mqtt: {listen: "127.0.0.1:1883"}`:                                  "",
		`mqtt: {listen: "[::1]:1883"}`:                                      "",
		`mqtt: {listen: "localhost:1883"}`:                                  "",
		`mqtt: {listen: "127.0.0.1:0", tls: {listen: "0.0.0.0:8883"}}`:      "cert_file",
		`mqtt: {broker: "tcp://127.0.0.1:1883", gateway_password_file: /x}`: "embedded broker",
	} {
		_, err := Parse([]byte(yaml), noEnv)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", yaml, err, want)
		}
	}
}

// With mqtt.gateway_password_file alarmd's embedded broker takes a press
// only from the household's own gateway with its password: anonymous and
// wrong passwords are refused, and another household's topics are not its
// to publish on. A file changed on SIGHUP takes effect for new logins.
func TestIntegrationEmbeddedBrokerGatewayLogins(t *testing.T) {
	cfg := testConfig(t)
	dir := filepath.Dir(cfg.HouseholdsFile)
	pwFile := filepath.Join(dir, "gateways.passwd")
	writePasswords := func(users map[string]string) {
		var b strings.Builder
		for u, pw := range users {
			h, err := mqtt.HashPassword(pw, 0)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s:%s\n", u, h)
		}
		if err := os.WriteFile(pwFile, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writePasswords(map[string]string{"hh-0001": "pw-one", "hh-0002": "pw-two"})
	cfg.MQTT.GatewayPasswordFile = pwFile
	m := &Main{Config: cfg}
	startMain(t, m)
	dial := func(id, user, pass string) (paho.Client, error) {
		o := paho.NewClientOptions().AddBroker(m.BrokerURL().Dial()).SetClientID(id).SetAutoReconnect(false)
		if user != "" {
			o.SetUsername(user).SetPassword(pass)
		}
		c := paho.NewClient(o)
		tok := c.Connect()
		if !tok.WaitTimeout(30 * time.Second) {
			return nil, fmt.Errorf("timeout")
		}
		if tok.Error() == nil {
			t.Cleanup(func() { c.Disconnect(0) })
		}
		return c, tok.Error()
	}
	if _, err := dial("anon", "", ""); err == nil {
		t.Error("anonymous client connected")
	}
	if _, err := dial("guess", "hh-0001", "pw-two"); err == nil {
		t.Error("wrong password connected")
	}
	gw1, err := dial("gw1", "hh-0001", "pw-one")
	if err != nil {
		t.Fatal(err)
	}
	gw2, err := dial("gw2", "hh-0002", "pw-two")
	if err != nil {
		t.Fatal(err)
	}
	// hh-0001's gateway forging a press of hh-0002: refused by the broker
	forged := button("hh-0002", time.Now().UTC().Truncate(time.Millisecond))
	b, err := json.Marshal(&forged)
	if err != nil {
		t.Fatal(err)
	}
	gw1.Publish(forged.Topic(), 1, false, b).WaitTimeout(time.Second)
	publishMsg(t, gw2, button("hh-0002", time.Now().UTC().Truncate(time.Millisecond))) // acknowledged after commit
	as := alarms(t, m, sqlite.AlarmFilter{Household: "hh-0002"})
	if len(as) != 1 || as[0].MessageID == forged.ID {
		t.Fatalf("hh-0002's alarms: %+v", as)
	}

	// a new password on SIGHUP
	writePasswords(map[string]string{"hh-0001": "pw-new", "hh-0002": "pw-two"})
	if err := m.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := dial("gw1-old", "hh-0001", "pw-one"); err == nil {
		t.Error("the old password still logs in after the reload")
	}
	gw1, err = dial("gw1-new", "hh-0001", "pw-new")
	if err != nil {
		t.Fatal(err)
	}
	publishMsg(t, gw1, button("hh-0001", time.Now().UTC().Truncate(time.Millisecond)))
	if as := alarms(t, m, sqlite.AlarmFilter{Household: "hh-0001", State: anxin.AlarmOpen}); len(as) != 1 {
		t.Fatalf("hh-0001's alarms: %+v", as)
	}
}
