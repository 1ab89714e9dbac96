package serialport

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	"github.com/creack/pty"
	"go.bug.st/serial/enumerator"

	"github.com/anxin-care/anxin/drivers"
)

func TestValidate(t *testing.T) {
	ok := func(c Config) Config { c.SetDefaults(); return c }
	cases := []struct {
		name string
		c    Config
		key  string // "" = valid
	}{
		{"path", ok(Config{Path: "/dev/ttyUSB0"}), ""},
		{"usb", ok(Config{USB: USBConfig{VID: "1a86", PID: "7523", Serial: "A1"}}), ""},
		{"meter 2400 8E1", ok(Config{Path: "/dev/x", Baud: 2400, Parity: "even"}), ""},
		{"1.5 stop", ok(Config{Path: "/dev/x", StopBits: 1.5}), ""},
		{"none", ok(Config{}), "path: required, or usb"},
		{"both", ok(Config{Path: "/dev/x", USB: USBConfig{VID: "1a86", PID: "7523"}}), "path: path and usb"},
		{"bad vid", ok(Config{USB: USBConfig{VID: "1a8", PID: "7523"}}), "usb.vid"},
		{"no pid", ok(Config{USB: USBConfig{VID: "1a86"}}), "usb.pid"},
		{"baud", Config{Path: "/dev/x", Baud: -1, DataBits: 8, Parity: "none", StopBits: 1}, "baud"},
		{"data bits", ok(Config{Path: "/dev/x", DataBits: 9}), "data_bits"},
		{"parity", ok(Config{Path: "/dev/x", Parity: "mark"}), "parity"},
		{"stop", ok(Config{Path: "/dev/x", StopBits: 3}), "stop_bits"},
	}
	for _, tc := range cases {
		err := tc.c.Validate()
		switch {
		case tc.key == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.key != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.key)):
			t.Errorf("%s: error %v, want one naming %q", tc.name, err, tc.key)
		}
	}
	var c Config
	c.SetDefaults()
	if c.Baud != 9600 || c.DataBits != 8 || c.Parity != "none" || c.StopBits != 1 {
		t.Errorf("defaults = %+v, want 9600 8N1", c)
	}
}

func TestPickUSB(t *testing.T) {
	list := []*enumerator.PortDetails{
		{Name: "/dev/ttyS0"},
		{Name: "/dev/ttyUSB1", IsUSB: true, VID: "1A86", PID: "7523", SerialNumber: "B"},
		{Name: "/dev/ttyUSB0", IsUSB: true, VID: "1a86", PID: "7523", SerialNumber: "A"},
		{Name: "/dev/ttyACM0", IsUSB: true, VID: "0403", PID: "6001"},
	}
	if got, err := pick(USBConfig{VID: "1a86", PID: "7523", Serial: "B"}, list); err != nil || got != "/dev/ttyUSB1" {
		t.Errorf("serial B: %q %v", got, err)
	}
	if got, err := pick(USBConfig{VID: "0403", PID: "6001"}, list); err != nil || got != "/dev/ttyACM0" {
		t.Errorf("ftdi: %q %v", got, err)
	}
	if _, err := pick(USBConfig{VID: "1a86", PID: "7523"}, list); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "usb.serial") {
		t.Errorf("ambiguous: %v", err)
	}
	if _, err := pick(USBConfig{VID: "10c4", PID: "ea60"}, list); !errors.Is(err, ErrNotFound) || IsPermanent(err) {
		t.Errorf("absent: %v", err)
	}
}

func TestOpenClassifiesErrors(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "file")
	if err := os.WriteFile(regular, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path      string
		permanent bool
		want      string
	}{
		{filepath.Join(dir, "absent"), false, "will be retried"},
		{"/dev/null", true, "will not be retried"},
		{regular, true, "will not be retried"},
	}
	for _, tc := range cases {
		p, err := Open(Config{Path: tc.path})
		if err == nil {
			p.Close()
			t.Fatalf("%s: opened", tc.path)
		}
		if IsPermanent(err) != tc.permanent || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v permanent=%v, want %v", tc.path, err, IsPermanent(err), tc.permanent)
		}
	}
	if _, err := Open(Config{Path: "/dev/x", Parity: "mark"}); !IsPermanent(err) {
		t.Errorf("invalid config: %v, want permanent", err)
	}
}

// fakePort is an open port whose reads block until it is closed.
type fakePort struct{ closed chan struct{} }

func (f *fakePort) Read([]byte) (int, error)           { <-f.closed; return 0, io.EOF }
func (f *fakePort) Write(b []byte) (int, error)        { return len(b), nil }
func (f *fakePort) Close() error                       { close(f.closed); return nil }
func (f *fakePort) SetReadTimeout(time.Duration) error { return nil }
func (f *fakePort) ResetInputBuffer() error            { return nil }

func testEnv(reg metrics.Registerer) drivers.Env {
	return drivers.Env{Household: "hh-1", Logger: slog.New(slog.DiscardHandler), Now: time.Now, Metrics: reg}
}

func TestRunBackoffAndReconnect(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := metrics.NewRegistry()
		c := Config{Path: "/dev/ttyFAKE"}
		var opens []time.Time
		fail := 4 // first opens fail: adapter unplugged
		open := func(Config) (Port, error) {
			opens = append(opens, time.Now())
			if len(opens) <= fail {
				return nil, &OpenError{Port: c.Label(), Err: ErrNotFound}
			}
			return &fakePort{closed: make(chan struct{})}, nil
		}
		sessions := 0
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		start := time.Now()
		session := func(ctx context.Context, p Port) error {
			sessions++
			if sessions == 3 {
				cancel()
				return nil
			}
			return errors.New("read: input/output error") // lost at once
		}
		err := RunWith(ctx, open, c, testEnv(reg), Reconnect{Min: time.Second, Max: 4 * time.Second}, session)
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		var gaps []time.Duration
		for i, o := range opens {
			if i == 0 {
				gaps = append(gaps, o.Sub(start))
				continue
			}
			gaps = append(gaps, o.Sub(opens[i-1]))
		}
		// 1,2,4,4 while unplugged; then sessions fail at once: 4, 4.
		want := []time.Duration{0, 1, 2, 4, 4, 4, 4}
		if len(gaps) != len(want) {
			t.Fatalf("opens at %v, want gaps %v s", gaps, want)
		}
		for i := range want {
			if gaps[i] != want[i]*time.Second {
				t.Errorf("gap %d = %v, want %vs", i, gaps[i], want[i])
			}
		}
		if got := metrics.ToFloat64(must(NewMetrics(reg)).Reconnects.WithLabelValues(c.Label())); got != 3 {
			t.Errorf("reconnects = %v, want 3", got)
		}
		if got := metrics.ToFloat64(must(NewMetrics(reg)).OpenErrors.WithLabelValues(c.Label(), "transient")); got != 4 {
			t.Errorf("transient open errors = %v, want 4", got)
		}
	})
}

func TestRunHealthySessionResetsBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var opens []time.Time
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		open := func(Config) (Port, error) {
			opens = append(opens, time.Now())
			return &fakePort{closed: make(chan struct{})}, nil
		}
		n := 0
		session := func(ctx context.Context, p Port) error {
			n++
			switch n {
			case 1, 2: // two quick failures: backoff grows to 2s
				return errors.New("lost")
			case 3: // a long healthy session
				time.Sleep(time.Hour)
				return errors.New("lost")
			}
			cancel()
			return nil
		}
		bo := Reconnect{Min: time.Second, Max: time.Minute, Healthy: 10 * time.Minute}
		if err := RunWith(ctx, open, Config{Path: "/dev/x"}, testEnv(metrics.NewRegistry()), bo, session); err != nil {
			t.Fatal(err)
		}
		if len(opens) != 4 {
			t.Fatalf("%d opens", len(opens))
		}
		if d := opens[3].Sub(opens[2]); d != time.Hour+time.Second {
			t.Errorf("after a healthy session reopened after %v, want 1h+1s (backoff reset)", d)
		}
	})
}

func TestRunPermanentStops(t *testing.T) {
	reg := metrics.NewRegistry()
	c := Config{Path: "/dev/null"}
	err := Run(t.Context(), c, testEnv(reg), Reconnect{}, func(context.Context, Port) error {
		t.Error("session called for /dev/null")
		return nil
	})
	if !IsPermanent(err) || !strings.Contains(err.Error(), "not be retried") {
		t.Fatalf("Run(/dev/null) = %v, want a permanent error", err)
	}
	if got := metrics.ToFloat64(must(NewMetrics(reg)).OpenErrors.WithLabelValues("/dev/null", "permanent")); got != 1 {
		t.Errorf("permanent open errors = %v", got)
	}
}

func TestMetricsShareRegistry(t *testing.T) {
	reg := metrics.NewRegistry()
	a, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	a.Reconnects.WithLabelValues("p").Inc()
	if got := metrics.ToFloat64(b.Reconnects.WithLabelValues("p")); got != 1 {
		t.Errorf("second registration does not share the counter: %v", got)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// openPTY returns the master side and a symlink to the slave that Open can use.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	link := filepath.Join(t.TempDir(), "tty")
	if err := os.Symlink(slave.Name(), link); err != nil {
		t.Fatal(err)
	}
	return master, link
}

// TestBusOverPTY plays two devices on one line behind a real pty: junk, a
// split reply, a silent device, and requests serialized one at a time.
func TestBusOverPTY(t *testing.T) {
	master, link := openPTY(t)
	p, err := Open(Config{Path: link, Baud: 2400, Parity: "even"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	bus := NewBus(p, BusOptions{Timeout: 300 * time.Millisecond, Gap: 5 * time.Millisecond})

	// device: requests are "?A\n"; A answers "junk" then "<A:42>" in two
	// writes; B never answers.
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := master.Read(buf)
			if err != nil {
				return
			}
			if strings.Contains(string(buf[:n]), "?A") {
				master.Write([]byte("\x00\xffjunk<A:4"))
				master.Write([]byte("2>"))
			}
		}
	}()
	complete := func(who byte) Complete {
		return func(buf []byte) (int, int, error) {
			i := strings.IndexByte(string(buf), '<')
			if i < 0 {
				return 0, len(buf), nil
			}
			j := strings.IndexByte(string(buf[i:]), '>')
			if j < 0 {
				return 0, i, nil
			}
			if buf[i+1] != who {
				return 0, i + j + 1, nil
			}
			return j + 1, i, nil
		}
	}
	for range 3 {
		got, err := bus.Transact(t.Context(), []byte("?A\n"), complete('A'))
		if err != nil || string(got) != "<A:42>" {
			t.Fatalf("A: %q %v", got, err)
		}
		if _, err := bus.Transact(t.Context(), []byte("?B\n"), complete('B')); !errors.Is(err, ErrNoReply) {
			t.Fatalf("B: %v, want ErrNoReply", err)
		}
	}
	// The adapter vanishes: the bus reports a port failure, not a silent device.
	master.Close()
	if _, err := bus.Transact(t.Context(), []byte("?A\n"), complete('A')); !IsIOError(err) {
		t.Fatalf("after hang-up: %v, want an IOError", err)
	}
}

func TestClassifyOSErrors(t *testing.T) {
	cases := []struct {
		err       error
		permanent bool
	}{
		{&os.PathError{Op: "open", Path: "/dev/ttyUSB0", Err: syscall.EACCES}, true},
		{&os.PathError{Op: "open", Path: "/dev/ttyUSB0", Err: syscall.EPERM}, true},
		{syscall.ENOTTY, true},
		{&configError{errors.New("baud: -1")}, true},
		{&os.PathError{Op: "open", Path: "/dev/ttyUSB0", Err: syscall.ENOENT}, false},
		{syscall.EIO, false},
		{syscall.EBUSY, false},
		{ErrNotFound, false},
		{nil, false},
	}
	for _, tc := range cases {
		if got := IsPermanent(tc.err); got != tc.permanent {
			t.Errorf("IsPermanent(%v) = %v, want %v", tc.err, got, tc.permanent)
		}
	}
}

// BenchmarkBusTransactPTY measures request/reply round trips through a real
// pty with a responder on the master side (no baud-rate delay on a pty).
func BenchmarkBusTransactPTY(b *testing.B) {
	master, slave, err := pty.Open()
	if err != nil {
		b.Fatal(err)
	}
	defer master.Close()
	defer slave.Close()
	p, err := Open(Config{Path: slave.Name()})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := master.Read(buf)
			if err != nil {
				return
			}
			if _, err := master.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	bus := NewBus(p, BusOptions{Timeout: time.Second, Gap: -1})
	req := []byte("<ping>")
	done := func(buf []byte) (int, int, error) {
		if i := strings.IndexByte(string(buf), '>'); i >= 0 {
			return i + 1, 0, nil
		}
		return 0, 0, nil
	}
	for b.Loop() {
		if _, err := bus.Transact(context.Background(), req, done); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transactions/s")
}
