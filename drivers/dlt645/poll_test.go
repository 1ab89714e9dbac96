package dlt645

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
)

// simPort is an in-memory bus for fake-clock tests (see cjt188's twin).
type simPort struct {
	mu       sync.Mutex
	meters   []*Simulator
	in       []byte
	timeout  time.Duration
	requests int
	noise    []byte // line noise sent before each reply, which then goes without FE wake-up bytes
}

func (p *simPort) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	for _, m := range p.meters {
		if r, ok := m.Reply(b[bytes.IndexByte(b, start):]); ok {
			if p.noise != nil {
				p.in = append(p.in, p.noise...)
				r = bytes.TrimLeft(r, "\xFE")
			}
			p.in = append(p.in, r...)
		}
	}
	return len(b), nil
}

func (p *simPort) Read(b []byte) (int, error) {
	p.mu.Lock()
	if len(p.in) > 0 {
		n := copy(b, p.in)
		p.in = p.in[n:]
		p.mu.Unlock()
		return n, nil
	}
	d := p.timeout
	p.mu.Unlock()
	time.Sleep(d)
	return 0, nil
}

func (p *simPort) SetReadTimeout(d time.Duration) error {
	p.mu.Lock()
	p.timeout = d
	p.mu.Unlock()
	return nil
}
func (p *simPort) ResetInputBuffer() error { p.mu.Lock(); p.in = nil; p.mu.Unlock(); return nil }
func (p *simPort) Close() error            { return nil }

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestPollRounds: a meter lacking one value answers it with an error reply
// whose meaning is logged, and its other fields still make a reading; a dead
// meter costs one timeout per round, not one per DI.
func TestPollRounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pm1, _ := NewSimulator("000000000001")
		pm1.Set(DICombinedEnergy, 5)
		pm1.Set(DIForwardEnergy, 4.5)
		pm2, _ := NewSimulator("000000000002")
		pm2.SetSilent(true)
		port := &simPort{meters: []*Simulator{pm1, pm2}}
		logs := &logBuf{}
		env := drivers.Env{Household: "hh-0001", Logger: slog.New(slog.NewJSONHandler(logs, nil)), Now: time.Now, Metrics: metrics.NewRegistry()}
		cfg := NewConfig()
		cfg.Port.Path = "/dev/ttyFAKE"
		cfg.Meters = []Meter{{Address: "000000000001", Device: "pm1"}, {Address: "000000000002", Device: "pm2"}}
		d, err := New(cfg, env)
		if err != nil {
			t.Fatal(err)
		}
		sink, stop := startPolls(t, d, port)
		time.Sleep(time.Hour + time.Minute) // rounds at 0, 15, 30, 45, 60 min
		synctest.Wait()
		stop()
		if got := sink.find("pm1", anxin.Fields{"energy_kwh": anxin.Num(5), "forward_energy_kwh": anxin.Num(4.5)}); got != 5 {
			t.Errorf("pm1: %d readings, want 5", got)
		}
		for _, m := range sink.msgs {
			if _, ok := m.Fields["voltage_v"]; ok {
				t.Fatalf("voltage invented: %v", m.Fields)
			}
		}
		if !strings.Contains(logs.String(), "无请求数据") || !strings.Contains(logs.String(), "no requested data") {
			t.Errorf("error reply meaning not logged:\n%s", logs.String())
		}
		if got := metrics.ToFloat64(d.metrics.NoReply.WithLabelValues(Name, "pm2")); got != 5 {
			t.Errorf("pm2 no-reply = %v, want 5 (one per round)", got)
		}
		if port.requests != 5*3+5 {
			t.Errorf("%d requests, want 20 (3 per round to pm1, 1 to the dead pm2)", port.requests)
		}
	})
}

// startPolls runs d on port (inside synctest: a fake clock) until stop,
// which waits for Run and fails the test on its error.
func startPolls(t *testing.T, d *Driver, port serialport.Port) (sink *collector, stop func()) {
	d.open = func(serialport.Config) (serialport.Port, error) { return port, nil }
	sink = &collector{}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, sink) }()
	return sink, func() {
		t.Helper()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
