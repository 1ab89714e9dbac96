package gateway

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
)

// testCA makes a CA (testenv.CA) and a server certificate for 127.0.0.1,
// writes the CA to dir/ca.pem and returns the server's TLS config.
func testCA(t *testing.T, dir string) *tls.Config {
	t.Helper()
	ca := testenv.NewCA(t, "anxin test CA")
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{ca.Issue(t, "broker", true)}, MinVersion: tls.VersionTLS12}
}

// TestUplinkOverTLSWithPassword: ssl:// with a private CA from tls.ca_file and
// a password from password_file reach a broker that demands both; a wrong
// password is refused and never appears in the log.
func TestUplinkOverTLSWithPassword(t *testing.T) {
	dir := t.TempDir()
	srvTLS := testCA(t, dir)
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := srv.AddHook(new(auth.Hook), &auth.Options{Ledger: &auth.Ledger{
		Auth: auth.AuthRules{{Username: "gw-0001", Password: "correct horse", Allow: true}},
		ACL:  auth.ACLRules{{Filters: nil}},
	}}); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tls", Address: addr, TLSConfig: srvTLS})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var mu sync.Mutex
	var got []anxin.Message
	if err := srv.Subscribe("anxin/v1/+/+/+", 1, func(_ *mochi.Client, _ packets.Subscription, pk packets.Packet) {
		if strings.HasSuffix(pk.TopicName, "/status") {
			return
		}
		m, err := anxin.ParseMessage(pk.TopicName, pk.Payload)
		if err != nil {
			t.Errorf("bad message: %v", err)
			return
		}
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}

	run := func(password string) (int, string) {
		pw := filepath.Join(dir, "password")
		if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Parse(fmt.Appendf(nil, `
household: hh-0001
mqtt:
  broker: ssl://%s
  username: gw-0001
  password_file: %s
  tls: {ca_file: %s}
  reconnect: {min: 50ms, max: 100ms}
spool: {dir: %s}
drivers: [{driver: testsim, device: btn1, count: 5, event_every: 1}]
`, addr, pw, filepath.Join(dir, "ca.pem"), filepath.Join(t.TempDir(), "spool")))
		if err != nil {
			t.Fatal(err)
		}
		var logs lockedBuffer
		g, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx) }()
		testenv.Eventually(t, "5 messages, or a refused connection logged", 10*time.Second, func() bool {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			return n >= 5 || (password != "correct horse" && strings.Contains(strings.Join(logs.lines(), "\n"), "cannot connect"))
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return len(got), strings.Join(logs.lines(), "\n")
	}

	if n, log := run("wrong battery"); n != 0 || strings.Contains(log, "wrong battery") {
		t.Fatalf("wrong password: %d messages delivered; or the password was logged:\n%s", n, log)
	}
	if n, log := run("correct horse"); n != 5 || strings.Contains(log, "correct horse") {
		t.Fatalf("TLS + password: %d of 5 messages; log:\n%s", n, log)
	}
}
