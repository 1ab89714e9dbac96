package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/anxin-care/anxin/internal/metrics/metricstest"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/mqtt"
)

// TestMetricsFamiliesAsBefore: gatewayd's /metrics on the demo's config
// (a CJ/T 188 meter, NMEA and 433 MHz on held-open ptys, the uplink to a
// broker), read by Prometheus's own parser, holds the families (names,
// types, help) it served with client_golang
// (testdata/metrics-families.golden, captured from a running gatewayd
// before internal/metrics replaced it, 15 s after start). Families that
// only come later (anxin_meter_silent_total, after several unanswered
// polls 10 s apart) are not in it: the wait ends on the first match.
func TestMetricsFamiliesAsBefore(t *testing.T) {
	b, err := mqtt.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var ports [3]string
	for i := range ports {
		master, slave, err := pty.Open()
		if err != nil {
			t.Skipf("no pty: %v", err)
		}
		t.Cleanup(func() { master.Close(); slave.Close() })
		ports[i] = slave.Name()
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg, err := Parse(fmt.Appendf(nil, `
household: hh-0001
mqtt: {broker: %q, client_id: golden-gw}
spool: {dir: %q}
metrics: {listen: %q}
drivers:
  - driver: cjt188
    name: water
    port: {path: %q, baud: 2400, parity: even}
    meters: [{address: "12345678901234", device: wm1}]
    poll_interval: 10s
    timeout: 1s
  - driver: nmea
    name: tracker
    device: trk1
    port: {path: %q, baud: 9600}
  - driver: rf433
    name: rf
    port: {path: %q, baud: 9600}
    format: hex
    codes: [{code: "8d3cf6", device: btn1, kind: call_button, event: button_pressed}]
`, b.URL(), filepath.Join(t.TempDir(), "spool"), addr, ports[0], ports[1], ports[2]))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{Stdout: io.Discard, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()

	var diff string
	defer func() {
		if t.Failed() {
			t.Logf("families against testdata/metrics-families.golden:\n%s", diff)
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	testenv.Eventually(t, "/metrics holds the golden families", 0, func() bool {
		resp, err := client.Get("http://" + addr + "/metrics")
		if err != nil {
			diff = err.Error()
			return false // not listening yet
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("/metrics: %d %v %s", resp.StatusCode, err, body)
		}
		diff = metricstest.Diff(t, string(body), "testdata/metrics-families.golden")
		return diff == ""
	})
}
