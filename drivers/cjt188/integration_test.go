package cjt188

import (
	"context"
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
	"github.com/anxin-care/anxin/internal/testenv"
)

// line is one pseudo-terminal standing in for the USB-RS-485 adapter; the
// driver opens it through a symlink that the test removes and re-points to
// make the adapter vanish and come back.
type line struct {
	master, slave *os.File
}

func plugIn(t *testing.T, link string) *line {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	tmp := link + ".new"
	if err := os.Symlink(slave.Name(), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	l := &line{master: master, slave: slave}
	t.Cleanup(l.unplug)
	return l
}

func (l *line) unplug() {
	l.master.Close()
	l.slave.Close()
}

// playBus answers the driver's polls for several meters on one line the way
// a bad real bus does: the adapter echoes the request, noise and a corrupt
// frame come first, and each reply arrives in pieces.
func playBus(l *line, meters ...*Simulator) {
	var buf []byte
	chunk := make([]byte, 256)
	anyFrame := framing.ReplyComplete(func([]byte) bool { return true }, nil)
	n := 0
	for {
		k, err := l.master.Read(chunk)
		if err != nil {
			return
		}
		buf = append(buf, chunk[:k]...)
		for {
			fn, skip, _ := anyFrame(buf)
			if fn == 0 {
				buf = buf[min(skip, len(buf)):]
				break
			}
			req := append([]byte(nil), buf[skip:skip+fn]...)
			buf = buf[skip+fn:]
			for _, m := range meters {
				reply, ok := m.Reply(req)
				if !ok {
					continue
				}
				n++
				w := func(b []byte) {
					if _, err := l.master.Write(b); err != nil {
						return
					}
				}
				w(req)                                 // echo of the request by the adapter
				w([]byte{0x00, 0xFF, 0x68, 0x10, 0x3}) // noise with a false frame start
				if n%3 == 0 {
					bad := append([]byte(nil), reply...)
					bad[len(bad)-2] ^= 0x5A // same frame, broken checksum
					w(bad)
				}
				cut := len(reply) / 3
				w(reply[:cut])
				w(reply[cut : 2*cut])
				w(reply[2*cut:])
			}
		}
	}
}

type collector struct {
	mu   sync.Mutex
	msgs []anxin.Message
}

func (c *collector) Put(_ context.Context, m anxin.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	return nil
}

// count counts readings of dev, with total_m3 == total when total >= 0.
func (c *collector) count(dev string, total float64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.msgs {
		if m.Device == dev && (total < 0 || m.Fields["total_m3"].Float() == total) {
			n++
		}
	}
	return n
}

// eventually is testenv.Eventually with the bus tests' 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, 10*time.Second, cond)
}

func TestIntegrationBusOverPTY(t *testing.T) {
	link := filepath.Join(t.TempDir(), "ttyRS485")
	wm1, _ := NewSimulator("78330011223344")
	wm2, _ := NewSimulator("00201510270588")
	wm3, _ := NewSimulator("00000000000012") // never answers: its battery is dead
	wm1.SetTotal(100.25)
	wm2.SetTotal(7)
	wm2.SetValve(false)
	wm3.SetSilent(true)

	l := plugIn(t, link)
	go playBus(l, wm1, wm2, wm3)

	reg := metrics.NewRegistry()
	env := drivers.Env{Household: "hh-0001", Logger: slog.New(slog.DiscardHandler), Now: time.Now, Metrics: reg}
	cfg := NewConfig()
	cfg.Port = serialport.Config{Path: link, Baud: 2400, DataBits: 8, Parity: "even", StopBits: 1}
	cfg.Meters = []Meter{{"78330011223344", "wm1"}, {"00201510270588", "wm2"}, {"00000000000012", "wm3"}}
	cfg.PollInterval = 50 * time.Millisecond
	cfg.Timeout = 200 * time.Millisecond
	cfg.Gap = 5 * time.Millisecond
	cfg.Reconnect = serialport.Reconnect{Min: 20 * time.Millisecond, Max: 100 * time.Millisecond}
	d, err := New(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	sink := &collector{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, sink) }()

	eventually(t, "readings from both meters", func() bool {
		return sink.count("wm1", 100.25) >= 2 && sink.count("wm2", 7) >= 2
	})
	eventually(t, "wm3 reported silent", func() bool {
		return metrics.ToFloat64(d.metrics.Silent.WithLabelValues(Name, "wm3")) == 1
	})
	if n := sink.count("wm3", -1); n != 0 {
		t.Fatalf("%d readings invented for the silent meter", n)
	}
	if got := metrics.ToFloat64(d.metrics.BadFrames.WithLabelValues(Name, link)); got == 0 {
		t.Error("no bad checksum counted")
	}

	// The adapter vanishes: the driver must retry, not give up.
	l.unplug()
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	sm, _ := serialport.NewMetrics(reg)
	eventually(t, "failed reopen attempts", func() bool {
		return metrics.ToFloat64(sm.OpenErrors.WithLabelValues(link, "transient")) >= 2
	})
	if got := metrics.ToFloat64(sm.Connected.WithLabelValues(link)); got != 0 {
		t.Errorf("connected = %v while unplugged", got)
	}

	// It comes back (as a new tty) with new totals.
	wm1.SetTotal(100.5)
	wm2.SetTotal(8.01)
	wm3.SetSilent(false)
	l2 := plugIn(t, link)
	go playBus(l2, wm1, wm2, wm3)
	eventually(t, "readings after the adapter came back", func() bool {
		return sink.count("wm1", 100.5) >= 1 && sink.count("wm2", 8.01) >= 1 && sink.count("wm3", 0) >= 1
	})
	if got := metrics.ToFloat64(sm.Reconnects.WithLabelValues(link)); got < 1 {
		t.Errorf("reconnects = %v, want > 0", got)
	}
	if got := metrics.ToFloat64(d.metrics.Silent.WithLabelValues(Name, "wm3")); got != 0 {
		t.Errorf("wm3 still silent after answering")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after cancel", err)
	}
	for _, m := range sink.msgs {
		if err := m.Validate(); err != nil {
			t.Fatalf("message %v: %v", m, err)
		}
		if m.Device == "wm2" && m.Fields["valve_open"].True() {
			t.Fatalf("wm2 valve reported open")
		}
	}
}

// TestIntegrationSimulatorServe runs the demo's meter (Simulator.Serve) behind
// a pty and reads it with the driver.
func TestIntegrationSimulatorServe(t *testing.T) {
	link := filepath.Join(t.TempDir(), "ttyWM")
	l := plugIn(t, link)
	sim, _ := NewSimulator("12345678901234")
	sim.SetTotal(42.42)
	sim.SetBatteryLow(true)
	go sim.Serve(t.Context(), l.master)

	cfg := NewConfig()
	cfg.Port.Path = link
	cfg.Meters = []Meter{{"12345678901234", "wm1"}}
	cfg.DIOrder = "1F90"
	cfg.PollInterval = 30 * time.Millisecond
	cfg.Timeout = 200 * time.Millisecond
	env := drivers.Env{Household: "hh-0001", Logger: slog.New(slog.DiscardHandler), Now: time.Now, Metrics: metrics.NewRegistry()}
	d, err := New(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	sink := &collector{}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go d.Run(ctx, sink)
	eventually(t, "a reading", func() bool { return sink.count("wm1", 42.42) >= 1 })
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if !sink.msgs[0].Fields["battery_low"].True() {
		t.Errorf("battery_low not reported: %v", sink.msgs[0].Fields)
	}
}

// TestRunNotATTY: a path that is not a serial port is fatal at once, with a
// message that says so.
func TestRunNotATTY(t *testing.T) {
	regular := filepath.Join(t.TempDir(), "notatty")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/dev/null", regular} {
		cfg := NewConfig()
		cfg.Port.Path = path
		cfg.Meters = []Meter{{"12345678901234", "wm1"}}
		env := drivers.Env{Household: "hh-0001", Logger: slog.New(slog.DiscardHandler), Now: time.Now, Metrics: metrics.NewRegistry()}
		d, err := New(cfg, env)
		if err != nil {
			t.Fatal(err)
		}
		err = d.Run(t.Context(), &collector{})
		if !serialport.IsPermanent(err) {
			t.Errorf("%s: Run = %v, want a permanent error", path, err)
		}
	}
}
