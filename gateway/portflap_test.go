package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
)

// flapConfig is the testflap driver's: a receiver on a port that opens
// and fails at the first read (a USB adapter a flaky hub resets, a cable
// that drops the line): the real serial keeper and its backoff run on it.
type flapConfig struct {
	Device string        `mapstructure:"device"`
	Max    time.Duration `mapstructure:"max"` // reconnect.max
}

func (c *flapConfig) Validate() error { return nil }

type flapDriver struct {
	cfg *flapConfig
	env drivers.Env
}

type deadPort struct{}

func (deadPort) Read([]byte) (int, error)           { return 0, errors.New("read: input/output error") }
func (deadPort) Write(b []byte) (int, error)        { return len(b), nil }
func (deadPort) Close() error                       { return nil }
func (deadPort) SetReadTimeout(time.Duration) error { return nil }
func (deadPort) ResetInputBuffer() error            { return nil }

func (d *flapDriver) Run(ctx context.Context, sink drivers.Sink) error {
	open := func(serialport.Config) (serialport.Port, error) { return deadPort{}, nil }
	cfg := serialport.Config{Path: "/dev/ttyFLAP", Baud: 9600, DataBits: 8, Parity: "none", StopBits: 1}
	return serialport.RunWith(ctx, open, cfg, d.env, serialport.Reconnect{Min: time.Second, Max: d.cfg.Max},
		func(ctx context.Context, p serialport.Port) error {
			_, err := p.Read(make([]byte, 64)) // a press would be decoded here
			return err
		})
}

func init() {
	drivers.Register(drivers.Plugin{
		Name:         "testflap",
		SampleConfig: "device: btn1\nmax: 1m\n",
		NewConfig:    func() drivers.Config { return &flapConfig{} },
		New: func(cfg drivers.Config, env drivers.Env) (drivers.Driver, error) {
			return &flapDriver{cfg: cfg.(*flapConfig), env: env}, nil
		},
	})
}

// statusLog keeps the device statuses gatewayd decided (logged by
// putPortStatuses; without a broker nothing else sees them).
type statusLog struct {
	mu   sync.Mutex
	msgs []string
}

func (s *statusLog) Enabled(context.Context, slog.Level) bool { return true }
func (s *statusLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "are reported o") { // offline, online
		s.mu.Lock()
		s.msgs = append(s.msgs, r.Message)
		s.mu.Unlock()
	}
	return nil
}
func (s *statusLog) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *statusLog) WithGroup(string) slog.Handler      { return s }

// TestFlappingPortReportsItsDevicesOffline: a port that opens but fails at
// once, for an hour, reads no press of the call button behind it. With the
// serial default backoff (1 s doubling to 1 min) or a shorter
// reconnect.max, every reopen tells gatewayd "up" before the minute of
// PortDownAfter has passed, so the devices were never reported offline (or
// only for a moment each minute, too short for device_offline's 30 min).
func TestFlappingPortReportsItsDevicesOffline(t *testing.T) {
	for _, max := range []time.Duration{30 * time.Second, time.Minute} {
		t.Run(max.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg, err := Parse([]byte("household: hh-0001\ndrivers: [{driver: testflap, device: btn1, max: " + max.String() + "}]\n"))
				if err != nil {
					t.Fatal(err)
				}
				logs := &statusLog{}
				g, err := New(cfg, Options{Logger: slog.New(logs), Stdout: &lockedBuffer{}})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error, 1)
				go func() { done <- g.Run(ctx) }()
				time.Sleep(time.Hour)
				synctest.Wait()
				logs.mu.Lock()
				msgs := append([]string(nil), logs.msgs...)
				logs.mu.Unlock()
				cancel()
				<-done
				// what alarmd last holds for btn1, and how it got there
				last := ""
				if len(msgs) > 0 {
					last = msgs[len(msgs)-1]
				}
				if !strings.Contains(last, "offline") {
					t.Fatalf("after an hour of a port that fails at every read, btn1's last status is not offline (%d statuses: %q)",
						len(msgs), last)
				}
				if n := len(msgs); n > 3 {
					t.Errorf("btn1 flapped %d times between online and offline in an hour: device_offline (30 min) never fires", n)
				}
			})
		})
	}
}

// TestPortWatchTimeline drives portState by hand on a fake clock: what is
// reported, when, and nothing after the instance ended.
func TestPortWatchTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, err := Parse([]byte("household: hh-0001\ndrivers: [{driver: testflap, device: btn1}]\n"))
		if err != nil {
			t.Fatal(err)
		}
		g, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		in := &instance{entry: cfg.Drivers[0]}
		t0 := time.Now()
		var mu sync.Mutex
		var got []string
		go func() { // as putPortStatuses, stamping when each was decided
			for ps := range g.portStatuses {
				mu.Lock()
				got = append(got, fmt.Sprintf("%v %s", time.Since(t0), ps.state))
				mu.Unlock()
			}
		}()
		at := func(d time.Duration, up bool) {
			time.Sleep(time.Until(t0.Add(d)))
			g.portState(in, up)
		}
		at(0, false)                            // not there at start
		at(40*time.Second, true)                // opens…
		at(41*time.Second, false)               // …and fails: the outage goes on from 0
		at(2*time.Minute, true)                 // back
		at(2*time.Minute+29*time.Second, false) // not for long enough: nothing said
		at(2*time.Minute+31*time.Second, true)
		at(5*time.Minute, false) // back for good at 3m1s
		in.port.end()
		time.Sleep(time.Hour)
		synctest.Wait()
		close(g.portStatuses)
		mu.Lock()
		defer mu.Unlock()
		want := "[1m0s offline 3m1s online]"
		if fmt.Sprint(got) != want {
			t.Fatalf("reported %v, want %s", got, want)
		}
	})
}

// TestPortTimerStoppedWhileFiringDoesNothing: a timer whose callback had
// already started (waiting for the lock) when portState stopped or
// replaced it must not run its report: an offline would follow the
// port's return, or an online a new outage.
func TestPortTimerStoppedWhileFiringDoesNothing(t *testing.T) {
	fired, done := make(chan struct{}), make(chan struct{})
	var w portWatch
	hook := func(of *portWatch, starting bool) {
		if of != &w {
			return // another test's watch
		}
		if starting {
			close(fired)
		} else {
			close(done)
		}
	}
	portTimerHook.Store(&hook)
	t.Cleanup(func() { portTimerHook.Store(nil) })

	ran := false
	w.mu.Lock()
	w.after(time.Nanosecond, &w.downTimer, func() { ran = true })
	<-fired // the callback has started and waits for w.mu
	w.stopTimers()
	w.after(time.Hour, &w.downTimer, func() {}) // replaced too, as portState does
	replacement := w.downTimer
	w.mu.Unlock()
	<-done // the stale callback has had the lock and returned
	w.mu.Lock()
	defer w.mu.Unlock()
	if ran {
		t.Fatal("a timer stopped while its callback waited for the lock still ran its report")
	}
	if w.downTimer != replacement {
		t.Fatal("the stale callback cleared the timer that replaced it")
	}
	w.stopTimers()
}

// TestPortOnlineRetriedWhenQueueFull: an online that finds the status queue
// full is tried again while the port stays up, as an offline is: the
// driver tells no second up, so it was lost and the devices stayed offline
// on the broker until the port next went down and up.
func TestPortOnlineRetriedWhenQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, err := Parse([]byte("household: hh-0001\ndrivers: [{driver: testflap, device: btn1}]\n"))
		if err != nil {
			t.Fatal(err)
		}
		g, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		g.portStatuses = make(chan portStatus, 1)
		g.portStatuses <- portStatus{state: "filler"} // the queue is full
		in := &instance{entry: cfg.Drivers[0]}
		g.portState(in, true)
		time.Sleep(DefaultPortUpAfter + time.Second/2) // the online found the queue full
		if ps := <-g.portStatuses; ps.state != "filler" {
			t.Fatalf("first queued %q, want the filler", ps.state)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		defer in.port.end()
		select {
		case ps := <-g.portStatuses:
			if ps.state != anxin.StateOnline {
				t.Fatalf("queued %q, want online", ps.state)
			}
		default:
			t.Fatal("the online that found the queue full was never reported")
		}
	})
}
