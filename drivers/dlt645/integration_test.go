package dlt645

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

type line struct{ master, slave *os.File }

// plugIn makes a new pty and points link at it: the adapter appears.
func plugIn(t *testing.T, link string) *line {
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
	l := &line{master, slave}
	t.Cleanup(l.unplug)
	return l
}

func (l *line) unplug() { l.master.Close(); l.slave.Close() }

// playBus answers polls for several meters on one line like a noisy real
// bus: echo of the request, noise with a false frame start, a corrupt copy
// of every third reply, and each reply in three writes.
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
				var out [][]byte
				out = append(out, req, []byte{0x00, 0x68, 0x99, 0xFE, 0xFE})
				if n%3 == 0 {
					bad := append([]byte(nil), reply...)
					bad[len(bad)-2] ^= 0x21
					out = append(out, bad)
				}
				cut := len(reply) / 3
				out = append(out, reply[:cut], reply[cut:2*cut], reply[2*cut:])
				for _, b := range out {
					if _, err := l.master.Write(b); err != nil {
						return
					}
				}
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

// find counts readings of dev whose fields include all of want.
func (c *collector) find(dev string, want anxin.Fields) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
next:
	for _, m := range c.msgs {
		if m.Device != dev {
			continue
		}
		for k, v := range want {
			if got, ok := m.Fields[k]; !ok || got.Float() != v.Float() {
				continue next
			}
		}
		n++
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
	pm1, _ := NewSimulator("210805420004") // 2007, all three values
	pm1.Set(DICombinedEnergy, 189.81)
	pm1.Set(DIForwardEnergy, 180.5)
	pm1.Set(DIVoltageA, 231.9)
	pm2, _ := NewSimulator("000000001111") // 1997
	pm2.Set1997(DI97Forward, 12.34)
	pm2.Set1997(DI97VoltageA, 220)
	pm3, _ := NewSimulator("223002000066") // 2007 without voltage: error reply 无请求数据
	pm3.Set(DICombinedEnergy, 21.81)
	pm3.Set(DIForwardEnergy, 21.81)
	pm4, _ := NewSimulator("000000000009") // silent
	pm4.SetSilent(true)

	l := plugIn(t, link)
	go playBus(l, pm1, pm2, pm3, pm4)

	reg := metrics.NewRegistry()
	env := drivers.Env{Household: "hh-0001", Logger: slog.New(slog.DiscardHandler), Now: time.Now, Metrics: reg}
	cfg := NewConfig()
	cfg.Port = serialport.Config{Path: link, Baud: 2400, DataBits: 8, Parity: "even", StopBits: 1}
	cfg.Meters = []Meter{
		{Address: "210805420004", Device: "pm1"},
		{Address: "000000001111", Device: "pm2", Protocol: "1997"},
		{Address: "223002000066", Device: "pm3"},
		{Address: "000000000009", Device: "pm4", Fields: []string{"energy_kwh"}},
	}
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

	eventually(t, "readings from the three answering meters", func() bool {
		return sink.find("pm1", anxin.Fields{"energy_kwh": anxin.Num(189.81), "forward_energy_kwh": anxin.Num(180.5), "voltage_v": anxin.Num(231.9)}) >= 2 &&
			sink.find("pm2", anxin.Fields{"forward_energy_kwh": anxin.Num(12.34), "voltage_v": anxin.Num(220)}) >= 2 &&
			sink.find("pm3", anxin.Fields{"energy_kwh": anxin.Num(21.81)}) >= 2
	})
	eventually(t, "pm4 silent", func() bool { return metrics.ToFloat64(d.metrics.Silent.WithLabelValues(Name, "pm4")) == 1 })
	if n := sink.find("pm4", nil); n != 0 {
		t.Fatalf("%d readings invented for a silent meter", n)
	}
	if got := metrics.ToFloat64(d.metrics.Errors.WithLabelValues(Name, "pm3")); got == 0 {
		t.Error("pm3's error replies not counted")
	}
	if got := metrics.ToFloat64(d.metrics.Silent.WithLabelValues(Name, "pm3")); got != 0 {
		t.Error("a meter answering with errors counted as silent")
	}
	if got := metrics.ToFloat64(d.metrics.BadFrames.WithLabelValues(Name, link)); got == 0 {
		t.Error("no bad checksum counted")
	}

	l.unplug()
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	sm, _ := serialport.NewMetrics(reg)
	eventually(t, "failed reopen attempts", func() bool {
		return metrics.ToFloat64(sm.OpenErrors.WithLabelValues(link, "transient")) >= 2
	})
	pm1.Set(DIForwardEnergy, 181)
	pm4.SetSilent(false)
	pm4.Set(DICombinedEnergy, 3)
	l2 := plugIn(t, link)
	go playBus(l2, pm1, pm2, pm3, pm4)
	eventually(t, "readings after the adapter came back", func() bool {
		return sink.find("pm1", anxin.Fields{"forward_energy_kwh": anxin.Num(181)}) >= 1 &&
			sink.find("pm4", anxin.Fields{"energy_kwh": anxin.Num(3)}) >= 1
	})
	if got := metrics.ToFloat64(sm.Reconnects.WithLabelValues(link)); got < 1 {
		t.Errorf("reconnects = %v", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after cancel", err)
	}
	for _, m := range sink.msgs {
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		if _, ok := m.Fields["voltage_v"]; ok && m.Device == "pm3" {
			t.Fatal("pm3 voltage invented")
		}
	}
}

func TestIntegrationSimulatorServe(t *testing.T) {
	link := filepath.Join(t.TempDir(), "ttyPM")
	l := plugIn(t, link)
	sim, _ := NewSimulator("000000000001")
	sim.Set(DIVoltageA, 229.5)
	go sim.Serve(t.Context(), l.master)
	cfg := NewConfig()
	cfg.Port.Path = link
	cfg.Meters = []Meter{{Address: "000000000001", Device: "pm1", Fields: []string{"voltage_v"}}}
	cfg.PollInterval = 30 * time.Millisecond
	cfg.Timeout = 200 * time.Millisecond
	d, err := New(cfg, drivers.Env{Household: "hh-0001", Logger: slog.New(slog.DiscardHandler), Now: time.Now, Metrics: metrics.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	sink := &collector{}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go d.Run(ctx, sink)
	eventually(t, "a reading", func() bool { return sink.find("pm1", anxin.Fields{"voltage_v": anxin.Num(229.5)}) >= 1 })
}
