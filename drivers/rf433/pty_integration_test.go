package rf433

import (
	"context"
	"github.com/anxin-care/anxin/internal/testenv"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	"github.com/creack/pty"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
)

// ptyDevice plays a serial device on a pseudo-terminal. The driver opens a
// symlink to the pty's slave; the device vanishes (pty closed, link
// removed) and comes back (new pty, link re-pointed) like a USB adapter.
type ptyDevice struct {
	t             *testing.T
	link          string
	master, slave *os.File
}

func newPtyDevice(t *testing.T) *ptyDevice {
	d := &ptyDevice{t: t, link: filepath.Join(t.TempDir(), "ttyRF")}
	d.comeBack()
	t.Cleanup(d.vanish)
	return d
}

func (d *ptyDevice) comeBack() {
	m, s, err := pty.Open()
	if err != nil {
		d.t.Fatal(err)
	}
	d.master, d.slave = m, s
	if err := os.Symlink(s.Name(), d.link); err != nil {
		d.t.Fatal(err)
	}
}

func (d *ptyDevice) vanish() {
	if d.master == nil {
		return
	}
	if err := os.Remove(d.link); err != nil {
		d.t.Error(err)
	}
	d.master.Close()
	d.slave.Close()
	d.master, d.slave = nil, nil
}

func (d *ptyDevice) write(s string) {
	if _, err := d.master.Write([]byte(s)); err != nil {
		d.t.Fatal(err)
	}
}

// gaugeValue reads a metric with one label value from reg (-1 when absent).
func gaugeValue(t *testing.T, reg *metrics.Registry, name, label string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.Name != name {
			continue
		}
		for _, m := range mf.Metrics {
			for _, lp := range m.Labels {
				if lp.Value == label {
					return m.Value
				}
			}
		}
	}
	return -1
}

// eventually is testenv.Eventually with the pty tests' 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, 10*time.Second, cond)
}

type memSink struct {
	mu   sync.Mutex
	msgs []anxin.Message
}

func (s *memSink) Put(_ context.Context, m anxin.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	return nil
}

func (s *memSink) snapshot() []anxin.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]anxin.Message(nil), s.msgs...)
}

// newPtyDriver validates cfg and makes its driver, reconnecting fast.
func newPtyDriver(t *testing.T, cfg *Config, reg *metrics.Registry) *driver {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	env := drivers.Env{Household: "hh-0001", Logger: slog.New(slog.DiscardHandler), Now: time.Now, Metrics: reg}
	d, err := newDriver(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	d.reconnect = serialport.Reconnect{Min: 20 * time.Millisecond, Max: 100 * time.Millisecond}
	return d
}

func TestIntegrationPty(t *testing.T) {
	dev := newPtyDevice(t)
	reg := metrics.NewRegistry()
	cfg := NewConfig()
	cfg.Port.Path = dev.link
	cfg.Debounce = 2 * time.Second // wide: repeats must collapse even on a loaded machine
	cfg.Codes = []Code{
		{Code: "8d3cf6", Device: "btn1", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed},
		{Code: "c1a96c", Device: "smoke1", Kind: anxin.KindSmokeDetector, Event: anxin.EventSmoke},
		{Code: "0f0065", Device: "leak1", Kind: anxin.KindWaterLeakDetector, Event: anxin.EventWaterLeak},
	}
	d := newPtyDriver(t, cfg, reg)
	sink := &memSink{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, sink) }()
	connected := func(v float64) func() bool {
		return func() bool { return gaugeValue(t, reg, "anxin_serial_connected", dev.link) == v }
	}
	counter := func(result string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.Name != "anxin_rf433_receptions_total" {
				continue
			}
			for _, m := range mf.Metrics {
				for _, lp := range m.Labels {
					if lp.Name == "result" && lp.Value == result {
						return m.Value
					}
				}
			}
		}
		return 0
	}
	eventually(t, "port open", connected(1))

	// Garbage, a press as binary frames written one byte at a time, a press
	// as text lines, an unknown code, a frame with a bad end.
	dev.write("\x00\x13noise\r\n")
	for _, b := range EncodePress(FormatHex, 0x8d3cf6) {
		dev.write(string([]byte{b}))
	}
	dev.write("C1A96C\r\nC1A96C\r\nC1A96C\r\n")
	dev.write(string(EncodePress(FormatHex, 0x123456)))
	dev.write("\xFD\x01\x02\x03\x04\x05")
	eventually(t, "two presses", func() bool { return len(sink.snapshot()) >= 2 })
	eventually(t, "unknown code counted", func() bool { return counter("unknown") == 1 })
	got := sink.snapshot()
	if len(got) != 2 || got[0].Device != "btn1" || got[0].Event != anxin.EventButtonPressed ||
		got[1].Device != "smoke1" || got[1].Event != anxin.EventSmoke {
		t.Fatalf("events %+v", got)
	}
	for _, m := range got {
		if err := m.Validate(); err != nil {
			t.Error(err)
		}
	}
	if r := counter("repeat"); r != 3+2+3 {
		t.Errorf("repeats = %v, want 8", r)
	}

	// The receiver vanishes and comes back; presses go on.
	dev.vanish()
	eventually(t, "port lost", connected(0))
	dev.comeBack()
	eventually(t, "port reopened", connected(1))
	dev.write(string(EncodePress(FormatHex, 0x0f0065)))
	eventually(t, "press after reconnect", func() bool { return len(sink.snapshot()) == 3 })
	if m := sink.snapshot()[2]; m.Device != "leak1" || m.Event != anxin.EventWaterLeak || m.Kind != anxin.KindWaterLeakDetector {
		t.Errorf("event after reconnect: %+v", m)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
}
