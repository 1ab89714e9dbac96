package jt808

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/tcpserver"
	"github.com/anxin-care/anxin/internal/testenv"
)

// startDriver runs a jt808 driver on 127.0.0.1:0; messages arrive on the
// returned channel.
func startDriver(t *testing.T, idle time.Duration) (*driver, <-chan anxin.Message, *testenv.SyncBuffer) {
	t.Helper()
	return startDriverFailing(t, idle, nil)
}

// startDriverFailing is startDriver whose spool refuses the messages fail
// says (nil: none).
func startDriverFailing(t *testing.T, idle time.Duration, fail func(anxin.Message) bool) (*driver, <-chan anxin.Message, *testenv.SyncBuffer) {
	t.Helper()
	return startDriverWith(t, func(c *Config) { c.IdleTimeout = idle }, fail)
}

// startDriverWith is startDriverFailing with the test config changed by set.
func startDriverWith(t *testing.T, set func(*Config), fail func(anxin.Message) bool) (*driver, <-chan anxin.Message, *testenv.SyncBuffer) {
	t.Helper()
	c := NewConfig()
	c.Listen = "127.0.0.1:0"
	set(c)
	c.Terminals = []tcpserver.Terminal{{ID: "13800138000", Device: "tracker1"}, {ID: "00000000019900001111", Household: "hh-0002", Device: "watch2"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	var logs testenv.SyncBuffer
	env := drivers.Env{Household: "hh-0001", Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now: time.Now, Metrics: metrics.NewRegistry()}
	d, err := newDriver(c, env)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan anxin.Message, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- d.Run(ctx, drivers.SinkFunc(func(_ context.Context, m anxin.Message) error {
			if fail != nil && fail(m) {
				return errors.New("spool full")
			}
			out <- m
			return nil
		}))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	if d.server.WaitAddr(t.Context()) == "" {
		t.Fatal("not listening")
	}
	return d, out, &logs
}

func next(t *testing.T, ch <-chan anxin.Message) anxin.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(30 * time.Second):
		t.Fatal("no message")
		return anxin.Message{}
	}
}

// TestSessionOverTCP: a terminal registers, authenticates, reports, holds
// SOS over two reports (one event), releases and presses again (a second);
// a reconnect mid-press raises nothing new.
func TestSessionOverTCP(t *testing.T) {
	for _, v19 := range []bool{false, true} {
		d, out, _ := startDriver(t, time.Minute)
		phone := "013800138000"
		if v19 {
			phone = "00000000019900001111"
		}
		term, err := Dial(d.server.WaitAddr(t.Context()), phone, v19)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := term.Login(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		if r, err := term.Call(term.Packet(MsgHeartbeat, nil), 5*time.Second); err != nil || r.Body[4] != 0 {
			t.Fatalf("heartbeat: %v %v", r, err)
		}
		ts := time.Now().Truncate(time.Second)
		f := Fix{Lat: 30.5, Lon: 114.3, Time: ts, BatteryPct: 55}
		report := func(alarm uint32) {
			t.Helper()
			f.Alarm = alarm
			f.Time = f.Time.Add(time.Second)
			if err := term.Report(f, 5*time.Second); err != nil {
				t.Fatal(err)
			}
		}
		report(0)
		if m := next(t, out); m.Fields["battery_pct"].Float() != 55 || (v19 && (m.Household != "hh-0002" || m.Device != "watch2")) {
			t.Fatalf("reading %+v", m)
		}
		report(AlarmSOS)
		next(t, out)
		if m := next(t, out); m.Event != anxin.EventButtonPressed {
			t.Fatalf("event %+v", m)
		}
		// The platform confirms the alarm (0x8203) after the general reply.
		if c, err := term.Read(5 * time.Second); err != nil || c.MsgID != MsgAlarmConfirmed {
			t.Fatalf("confirm %+v %v", c, err)
		}
		term.Close()
		term, err = Dial(d.server.WaitAddr(t.Context()), phone, v19)
		if err != nil {
			t.Fatal(err)
		}
		report(AlarmSOS) // still held, new connection: no second event
		term.Read(5 * time.Second)
		report(0)
		report(AlarmSOS)
		var events int
		for range 4 { // 3 readings and the event of the second press
			if m := next(t, out); m.IsEvent() {
				events++
			}
		}
		if events != 1 {
			t.Errorf("%d events for one more press", events)
		}
		term.Close()
	}
}

// TestSOSNotLostWhenTheSpoolRefusesIt: the spool refuses a press; the
// terminal gets no answer, reconnects and sends the same report again, and
// the press is raised then (the SOS bit was not taken as seen).
func TestSOSNotLostWhenTheSpoolRefusesIt(t *testing.T) {
	var refused atomic.Bool
	d, out, _ := startDriverFailing(t, time.Minute, func(m anxin.Message) bool {
		return m.Event == anxin.EventButtonPressed && refused.CompareAndSwap(false, true)
	})
	f := Fix{Lat: 30.5, Lon: 114.3, Time: time.Now().Truncate(time.Second), Alarm: AlarmSOS}
	for try := range 2 {
		term, err := Dial(d.server.WaitAddr(t.Context()), "013800138000", false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := term.Login(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		err = term.Report(f, 5*time.Second)
		term.Close()
		if try == 0 && err == nil {
			t.Fatal("the report was answered though the spool refused its press")
		}
	}
	var events int
	for range 3 { // the reading of each try, the press of the second
		if m := next(t, out); m.IsEvent() {
			events++
		}
	}
	if events != 1 {
		t.Fatalf("%d presses raised after the resend, want 1", events)
	}
}

// TestUnknownTerminalRefusedAndLoggedOnceMasked: registration answered
// "no such terminal", the connection closed, one masked log line however
// often it retries.
func TestUnknownTerminalRefusedAndLoggedOnceMasked(t *testing.T) {
	d, out, logs := startDriver(t, time.Minute)
	for range 3 {
		term, err := Dial(d.server.WaitAddr(t.Context()), "013912345678", false)
		if err != nil {
			t.Fatal(err)
		}
		r, err := term.Call(term.Packet(MsgRegister, make([]byte, 37)), 5*time.Second)
		if err != nil || r.MsgID != MsgRegisterReply || r.Body[2] != RegisterUnknownTerminal {
			t.Fatalf("reply %+v %v", r, err)
		}
		if _, err := term.Read(5 * time.Second); err != io.EOF {
			t.Fatalf("connection not closed: %v", err)
		}
		term.Close()
	}
	s := logs.String()
	if strings.Count(s, "unknown terminal refused") != 1 || strings.Contains(s, "13912345678") || !strings.Contains(s, "5678") {
		t.Errorf("logs:\n%s", s)
	}
	select {
	case m := <-out:
		t.Errorf("message from an unknown terminal: %+v", m)
	default:
	}
}

// TestGarbageIdleAndHugeFramesCostNothing: a connection that sends only
// garbage (including a 1 MB "frame") is closed after the idle timeout,
// holds at most one frame's worth of bytes, and a terminal alongside is
// served throughout.
func TestGarbageIdleAndHugeFramesCostNothing(t *testing.T) {
	d, out, _ := startDriver(t, time.Second)
	addr := d.server.WaitAddr(t.Context())
	flood, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	huge := append([]byte{0x7E}, bytes.Repeat([]byte{0x42}, 1<<20)...)
	start := time.Now()
	go flood.Write(huge) // blocks once the server stops reading
	term, err := Dial(addr, "013800138000", false)
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if err := term.Report(Fix{Lat: 1, Lon: 1, Time: time.Now(), BatteryPct: -1}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	next(t, out)
	for _, c := range []net.Conn{silent, flood} {
		// a bound for a server that never closes, not a measure
		c.SetReadDeadline(time.Now().Add(60 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil { // returns at the server's close
			t.Fatalf("not closed by the server: %v", err)
		}
	}
	// not before the idle timeout; how long after it depends on the machine's load
	if e := time.Since(start); e < 500*time.Millisecond {
		t.Errorf("closed after %v, idle timeout 1s", e)
	}
}

// TestFloodIsPacedOthersServed: one connection writes 2,000 valid reports
// at once; it is paced to max_frame_rate (nothing dropped, TCP pushes back)
// while a terminal alongside is answered at once.
func TestFloodIsPacedOthersServed(t *testing.T) {
	d, out, _ := startDriver(t, time.Minute)
	addr := d.server.WaitAddr(t.Context())
	var mu sync.Mutex
	perDevice := map[string]int{}
	go func() {
		for m := range out {
			mu.Lock()
			perDevice[m.Device]++
			mu.Unlock()
		}
	}()
	flood, err := Dial(addr, "013800138000", false)
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Close()
	var burst []byte
	for range 2000 {
		burst = append(burst, Encode(flood.Packet(MsgLocation, LocationBody(Fix{Lat: 1, Lon: 1, Time: time.Now(), BatteryPct: -1})))...)
	}
	start := time.Now()
	go flood.c.Write(burst)
	other, err := Dial(addr, "00000000019900001111", true)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for range 3 {
		t0 := time.Now()
		if err := other.Report(Fix{Lat: 2, Lon: 2, Time: time.Now(), BatteryPct: -1}, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if e := time.Since(t0); e > time.Second {
			t.Errorf("report answered after %v during a flood", e)
		}
	}
	mu.Lock()
	flooded := perDevice["tracker1"]
	mu.Unlock()
	if limit := 20 + 20*time.Since(start).Seconds() + 5; float64(flooded) > limit {
		t.Errorf("flooding connection got %d reports through in %v, pace allows %.0f", flooded, time.Since(start), limit)
	}
}

// TestSilentConnectionClosedAfterFirstFrameTimeout: a connection that sends
// nothing (a port scanner, a slowloris) is closed after
// first_frame_timeout, not idle_timeout, so it cannot hold one of
// max_connections' slots for long; a terminal that logs in stays.
func TestSilentConnectionClosedAfterFirstFrameTimeout(t *testing.T) {
	d, out, _ := startDriverWith(t, func(c *Config) { c.IdleTimeout, c.FirstFrame = time.Hour, time.Second }, nil)
	addr := d.server.WaitAddr(t.Context())
	term, err := Dial(addr, "013800138000", false)
	if err != nil {
		t.Fatal(err)
	}
	defer term.Close()
	if _, err := term.Login(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// closed by the server long before idle_timeout (an hour)
	if err := silent.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := silent.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the silent connection was not closed by the server: %v", err)
	}
	// the terminal, connected longer than that, is still served
	if err := term.Report(Fix{Lat: 1, Lon: 1, Time: time.Now(), BatteryPct: -1}, 5*time.Second); err != nil {
		t.Fatalf("the logged-in terminal after first_frame_timeout: %v", err)
	}
	if m := next(t, out); m.Device != "tracker1" {
		t.Fatalf("message %+v", m)
	}
}
