package cjt188

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

	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
)

// simPort is an in-memory bus: what the driver writes goes to the meters,
// their replies come back on the next Read; with nothing to read, Read
// waits out its timeout as a real port does.
type simPort struct {
	mu       sync.Mutex
	meters   []*Simulator
	in       []byte
	timeout  time.Duration
	requests []time.Time
	noise    []byte // line noise sent before each reply, which then goes without FE wake-up bytes
}

func (p *simPort) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, time.Now())
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
func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// TestPollTimelineSilentOnce runs the default 15-minute schedule on a fake
// clock: one meter answers, one is dead for two hours and then comes back.
// "silent" is logged once, "answers again" once, and no reading is invented.
func TestPollTimelineSilentOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		wm1, _ := NewSimulator("00000000000001")
		wm2, _ := NewSimulator("00000000000002")
		wm1.SetTotal(10)
		wm2.SetTotal(20)
		wm2.SetSilent(true)
		port := &simPort{meters: []*Simulator{wm1, wm2}}
		logs := &logBuf{}
		reg := metrics.NewRegistry()
		env := drivers.Env{Household: "hh-0001", Logger: slog.New(slog.NewJSONHandler(logs, nil)), Now: time.Now, Metrics: reg}
		cfg := NewConfig()
		cfg.Port.Path = "/dev/ttyFAKE"
		cfg.Meters = []Meter{{"00000000000001", "wm1"}, {"00000000000002", "wm2"}}
		d, err := New(cfg, env)
		if err != nil {
			t.Fatal(err)
		}
		sink, stop := startPolls(t, d, port)

		// Rounds at 0, 15m, …, 1h45m: eight rounds with wm2 dead.
		time.Sleep(time.Hour + 50*time.Minute)
		synctest.Wait()
		if got := sink.count("wm2", -1); got != 0 {
			t.Fatalf("%d readings for a dead meter", got)
		}
		if got := sink.count("wm1", 10); got != 8 {
			t.Errorf("wm1: %d readings in 8 rounds", got)
		}
		if got := metrics.ToFloat64(d.metrics.NoReply.WithLabelValues(Name, "wm2")); got != 8 {
			t.Errorf("wm2 no-reply = %v, want 8", got)
		}
		if got := logs.count(`"msg":"meter silent"`); got != 1 {
			t.Errorf("silent logged %d times, want once", got)
		}
		wm2.SetSilent(false)
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if got := sink.count("wm2", 20); got != 2 {
			t.Errorf("wm2: %d readings after it came back, want 2", got)
		}
		if got := logs.count(`"msg":"meter answers again"`); got != 1 {
			t.Errorf("answers again logged %d times", got)
		}
		if got := metrics.ToFloat64(d.metrics.SilentTot.WithLabelValues(Name, "wm2")); got != 1 {
			t.Errorf("silent_total = %v", got)
		}
		// Each round: wm1 answers at once, wm2 costs one timeout (1s) plus the gap.
		port.mu.Lock()
		first, second := port.requests[0], port.requests[2]
		port.mu.Unlock()
		if d := second.Sub(first); d != 15*time.Minute {
			t.Errorf("rounds %v apart, want 15m", d)
		}
		stop()
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
