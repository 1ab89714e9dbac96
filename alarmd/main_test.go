package alarmd

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testConfig is a config for a Main on free ports with its files in a temp dir.
func testConfig(t *testing.T) *Config {
	t.Helper()
	dir := t.TempDir()
	hh := filepath.Join(dir, "households.yaml")
	if err := os.WriteFile(hh, []byte(twoHouseholds), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Parse([]byte(`
mqtt: {listen: "127.0.0.1:0"}
http: {listen: "127.0.0.1:0"}
`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	c.Store.Path = filepath.Join(dir, "alarmd.db")
	c.HouseholdsFile = hh
	return c
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return send(t, req)
}

// postForm posts a form body (may be empty) and reads the whole answer.
func postForm(t *testing.T, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return send(t, req)
}

// send does one request and reads the whole answer.
func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// startMain opens and runs a Main; it is stopped by the returned func or
// when the test ends.
func startMain(t *testing.T, m *Main) (stop func()) {
	t.Helper()
	if m.Logger == nil {
		m.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("Run did not return 30 s after cancel")
			}
			if err := m.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestMainServesMetricsAndHealth(t *testing.T) {
	m := &Main{Config: testConfig(t)}
	startMain(t, m)
	base := "http://" + m.HTTPAddr()
	code, body := get(t, base+"/metrics")
	if code != 200 || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics: %d %.200s", code, body)
	}
	code, body = get(t, base+"/healthz")
	if code != http.StatusOK {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code == http.StatusServiceUnavailable && !strings.Contains(body, "broker") {
		t.Fatalf("/healthz 503 without a reason: %q", body)
	}
}

// TestOpenFailureReleasesEverything: a port in use fails Open with the
// reason, and what was already opened is closed (the broker port is free again).
func TestOpenFailureReleasesEverything(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t)
	cfg.HTTP.Listen = busy.Addr().String()
	cfg.MQTT.Listen = busy.Addr().String()[:strings.LastIndex(busy.Addr().String(), ":")] + ":0"
	m := &Main{Config: cfg}
	err = m.Open(context.Background())
	if err == nil || !strings.Contains(err.Error(), "http.listen") {
		t.Fatalf("Open with a busy port: %v", err)
	}
	if err := m.Store.Ping(context.Background()); err == nil {
		t.Fatal("store still open after a failed Open")
	}
}

// TestCloseWithoutRun: Open then Close frees the HTTP port.
func TestCloseWithoutRun(t *testing.T) {
	m := &Main{Config: testConfig(t), Logger: slog.New(slog.DiscardHandler)}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := m.HTTPAddr()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port still held after Close: %v", err)
	}
	l.Close()
}
