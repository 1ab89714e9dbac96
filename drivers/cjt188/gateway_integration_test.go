package cjt188_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/cjt188"
	"github.com/anxin-care/anxin/drivers/dlt645"
	"github.com/anxin-care/anxin/gateway"
	"github.com/anxin-care/anxin/internal/testenv"
)

type lines struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }

// messages parses every line written so far as a contract message.
func (l *lines) messages(t *testing.T) []anxin.Message {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []anxin.Message
	for _, s := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if s == "" {
			continue
		}
		m, err := anxin.ParseMessage("", []byte(s))
		if err != nil {
			t.Fatalf("stdout line %q: %v", s, err)
		}
		out = append(out, m)
	}
	return out
}

func has(ms []anxin.Message, dev, field string, v float64) bool {
	for _, m := range ms {
		if f, ok := m.Fields[field]; m.Device == dev && ok && f.Float() == v {
			return true
		}
	}
	return false
}

// serve plugs a new pty in at link and serves it with serve until the test ends
// or the returned unplug is called.
func serve(t *testing.T, link string, serve func(ctx context.Context, rw *os.File) error) (unplug func()) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(slave.Name(), link+".new"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(link+".new", link); err != nil {
		t.Fatal(err)
	}
	go serve(t.Context(), master)
	unplug = func() { master.Close(); slave.Close() }
	t.Cleanup(unplug)
	return unplug
}

// counter sums a counter over its labels in the gateway's registry.
func counter(t *testing.T, g *gateway.Gateway, name string) float64 {
	mfs, err := g.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.Name == name {
			for _, m := range mf.Metrics {
				sum += m.Value
			}
		}
	}
	return sum
}

// TestIntegrationGatewayBusMeters runs both bus-meter drivers inside the
// gateway, configured through its strict loader, against meters behind two
// ptys; the water-meter adapter is unplugged and plugged back in.
func TestIntegrationGatewayBusMeters(t *testing.T) {
	dir := t.TempDir()
	water, power := filepath.Join(dir, "ttyWater"), filepath.Join(dir, "ttyPower")
	wm, _ := cjt188.NewSimulator("12345678901234")
	wm.SetTotal(1000.1)
	pm, _ := dlt645.NewSimulator("000000000001")
	pm.Set(dlt645.DICombinedEnergy, 6.35)
	pm.Set(dlt645.DIForwardEnergy, 6.3)
	pm.Set(dlt645.DIVoltageA, 231.9)
	unplugWater := serve(t, water, func(ctx context.Context, f *os.File) error { return wm.Serve(ctx, f) })
	serve(t, power, func(ctx context.Context, f *os.File) error { return pm.Serve(ctx, f) })

	cfg, err := gateway.Parse([]byte(fmt.Sprintf(`
household: hh-0001
drivers:
  - driver: cjt188
    port: {path: %q, baud: 2400, parity: even}
    meters: [{address: "12345678901234", device: wm1}]
    poll_interval: 50ms
    timeout: 200ms
    gap: 5ms
    reconnect: {min: 20ms, max: 100ms}
  - driver: dlt645
    port: {path: %q}
    meters: [{address: "000000000001", device: pm1}]
    poll_interval: 50ms
    timeout: 200ms
`, water, power)))
	if err != nil {
		t.Fatal(err)
	}
	var out lines
	g, err := gateway.New(cfg, gateway.Options{Stdout: &out, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()

	eventually(t, "water and power readings", func() bool {
		ms := out.messages(t)
		return has(ms, "wm1", "total_m3", 1000.1) && has(ms, "pm1", "energy_kwh", 6.35) &&
			has(ms, "pm1", "voltage_v", 231.9)
	})
	unplugWater()
	if err := os.Remove(water); err != nil {
		t.Fatal(err)
	}
	wm.SetTotal(1000.2)
	eventually(t, "failed reopen attempts while unplugged", func() bool {
		return counter(t, g, "anxin_serial_open_errors_total") >= 2
	})
	serve(t, water, func(ctx context.Context, f *os.File) error { return wm.Serve(ctx, f) })
	eventually(t, "water readings after the adapter came back", func() bool {
		return has(out.messages(t), "wm1", "total_m3", 1000.2)
	})
	if reconnects := counter(t, g, "anxin_serial_reconnects_total"); reconnects < 1 {
		t.Errorf("anxin_serial_reconnects_total = %v after a replug", reconnects)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("gateway: %v", err)
	}
	for _, m := range out.messages(t) {
		if m.Household != "hh-0001" {
			t.Fatalf("message for %q", m.Household)
		}
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, 10*time.Second, cond)
}
