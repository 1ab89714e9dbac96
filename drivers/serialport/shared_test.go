package serialport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
)

// lineSim is a half-duplex line with devices on it, in the fake time of a
// synctest bubble: a request is answered after latency with the request
// between < and >. A request written while a reply is still due is a
// collision: two masters on the line.
type lineSim struct {
	mu         sync.Mutex
	latency    time.Duration
	failAt     int // the failAt-th write fails with EIO (the adapter is pulled); 0: never
	pending    []byte
	readyAt    time.Time
	in         []byte
	timeout    time.Duration
	writes     []string
	at         []time.Time
	collisions int
	closed     bool
}

func (l *lineSim) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, errors.New("closed")
	}
	if l.failAt > 0 && len(l.writes)+1 >= l.failAt {
		return 0, syscall.EIO
	}
	if l.pending != nil {
		l.collisions++
	}
	l.writes = append(l.writes, string(b))
	l.at = append(l.at, time.Now())
	l.pending = []byte("<" + string(b) + ">")
	l.readyAt = time.Now().Add(l.latency)
	return len(b), nil
}

func (l *lineSim) Read(p []byte) (int, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, errors.New("closed")
	}
	if l.pending != nil && !time.Now().Before(l.readyAt) {
		l.in = append(l.in, l.pending...)
		l.pending = nil
	}
	if len(l.in) > 0 {
		n := copy(p, l.in)
		l.in = l.in[n:]
		l.mu.Unlock()
		return n, nil
	}
	wait := l.timeout
	if l.pending != nil {
		wait = min(wait, time.Until(l.readyAt))
	}
	l.mu.Unlock()
	time.Sleep(wait) // the device's own timing, in fake time
	return 0, nil
}

func (l *lineSim) SetReadTimeout(d time.Duration) error {
	l.mu.Lock()
	l.timeout = d
	l.mu.Unlock()
	return nil
}

func (l *lineSim) ResetInputBuffer() error { l.mu.Lock(); l.in = nil; l.mu.Unlock(); return nil }
func (l *lineSim) Close() error            { l.mu.Lock(); l.closed = true; l.mu.Unlock(); return nil }

func (l *lineSim) snapshot() (writes []string, at []time.Time, collisions int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.writes...), append([]time.Time(nil), l.at...), l.collisions
}

// echo completes a transaction on the reply to req only.
func echo(req string) Complete {
	want := "<" + req + ">"
	return func(buf []byte) (int, int, error) {
		i := strings.IndexByte(string(buf), '<')
		if i < 0 {
			return 0, len(buf), nil
		}
		j := strings.IndexByte(string(buf[i:]), '>')
		if j < 0 {
			return 0, i, nil
		}
		if string(buf[i:i+j+1]) != want {
			return 0, i + j + 1, nil // someone else's reply
		}
		return j + 1, i, nil
	}
}

var busPortCfg = Config{Path: "/dev/ttyBUS", Baud: 2400, Parity: "even"}

// poller is a session that polls with requests name0, name1, … until ctx
// ends, counting answers and failures.
type poller struct {
	name     string
	mu       sync.Mutex
	answered int
	noReply  int
	sessions int
	errs     []error
	maxPolls int // stop polling after this many (then wait for ctx); 0: no limit
	interval time.Duration
}

func (p *poller) session(ctx context.Context, b *BusHandle) error {
	p.mu.Lock()
	p.sessions++
	p.mu.Unlock()
	for i := 0; p.maxPolls == 0 || i < p.maxPolls; i++ {
		req := fmt.Sprintf("%s%d", p.name, i)
		_, err := b.Transact(ctx, []byte(req), echo(req))
		p.mu.Lock()
		switch {
		case err == nil:
			p.answered++
		case errors.Is(err, ErrNoReply):
			p.noReply++
		default:
			p.errs = append(p.errs, err)
		}
		p.mu.Unlock()
		if err != nil && !errors.Is(err, ErrNoReply) {
			return err
		}
		if p.interval > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(p.interval):
			}
		}
	}
	<-ctx.Done()
	return nil
}

func (p *poller) counts() (answered, noReply, sessions int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.answered, p.noReply, p.sessions
}

// TestSharedBusOneTransactionAtATime: two drivers on one port get one open
// port; their requests never overlap on the line, each keeps its own gap
// (the longer of the two separates a change of driver), and the bus is
// handed out in turn.
func TestSharedBusOneTransactionAtATime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		line := &lineSim{latency: 20 * time.Millisecond}
		opens := 0
		buses := NewBuses(slog.New(slog.DiscardHandler), func(Config) (Port, error) { opens++; return line, nil })
		env := testEnv(metrics.NewRegistry())
		env.Serial = buses
		ctx, cancel := context.WithCancel(t.Context())
		a := &poller{name: "A", maxPolls: 20}
		b := &poller{name: "B", maxPolls: 20}
		gaps := map[string]time.Duration{"A": 5 * time.Millisecond, "B": 30 * time.Millisecond}
		var wg sync.WaitGroup
		for _, p := range []*poller{a, b} {
			wg.Go(func() {
				use := BusUse{Port: busPortCfg, Driver: p.name,
					Options: BusOptions{Timeout: 200 * time.Millisecond, Gap: gaps[p.name]}}
				if err := RunBus(ctx, env, use, p.session); err != nil {
					t.Errorf("%s: %v", p.name, err)
				}
			})
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if got := buses.Users()["/dev/ttyBUS"]; len(got) != 2 {
			t.Errorf("users of the bus: %v", got)
		}
		cancel()
		wg.Wait()
		writes, at, collisions := line.snapshot()
		if opens != 1 {
			t.Errorf("port opened %d times, want once for both drivers", opens)
		}
		if collisions != 0 {
			t.Errorf("%d requests written while a reply was due", collisions)
		}
		for _, p := range []*poller{a, b} {
			if ans, nr, _ := p.counts(); ans != 20 || nr != 0 {
				t.Errorf("%s: %d answered, %d unanswered of 20", p.name, ans, nr)
			}
		}
		run := 1
		for i := 1; i < len(writes); i++ {
			prev, cur := writes[i-1][:1], writes[i][:1]
			want := line.latency + max(gaps[prev], gaps[cur])
			if d := at[i].Sub(at[i-1]); d < want {
				t.Errorf("request %s %v after %s, want ≥ %v (reply + gap)", writes[i], d, writes[i-1], want)
			}
			if prev == cur {
				run++
			} else {
				run = 1
			}
			if run > 2 && i < 30 { // while both poll, they take turns
				t.Errorf("%s waited behind %d requests of %s: %v", map[string]string{"A": "B", "B": "A"}[cur], run, cur, writes[:i+1])
				break
			}
		}
		if !line.closed {
			t.Error("port not closed after the last driver left")
		}
		if u := buses.Users(); len(u) != 0 {
			t.Errorf("buses left open: %v", u)
		}
	})
}

// TestSharedBusReconnectsOnceForAll: the adapter fails under two drivers;
// the port is closed and reopened once (not once per driver), both go on
// polling on the new port, and the reconnect is counted once.
func TestSharedBusReconnectsOnceForAll(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lines := []*lineSim{{latency: 10 * time.Millisecond, failAt: 5}, {latency: 10 * time.Millisecond}}
		opens := 0
		buses := NewBuses(slog.New(slog.DiscardHandler), func(Config) (Port, error) {
			opens++
			if opens > len(lines) {
				return nil, &OpenError{Port: "/dev/ttyBUS", Err: ErrNotFound}
			}
			return lines[opens-1], nil
		})
		reg := metrics.NewRegistry()
		env := testEnv(reg)
		env.Serial = buses
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		ps := []*poller{{name: "A", interval: 100 * time.Millisecond}, {name: "B", interval: 100 * time.Millisecond}}
		var stateMu sync.Mutex
		told := map[string][]bool{} // what each driver's PortState was told
		for _, p := range ps {
			env := env
			env.PortState = func(up bool) { stateMu.Lock(); told[p.name] = append(told[p.name], up); stateMu.Unlock() }
			wg.Go(func() {
				use := BusUse{Port: busPortCfg, Driver: p.name, Options: BusOptions{Timeout: 100 * time.Millisecond, Gap: -1},
					Reconnect: Reconnect{Min: time.Second, Max: 4 * time.Second}}
				if err := RunBus(ctx, env, use, p.session); err != nil {
					t.Errorf("%s: %v", p.name, err)
				}
			})
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if opens != 2 {
			t.Errorf("port opened %d times, want 2 (once, then once again for both drivers)", opens)
		}
		stateMu.Lock()
		for _, p := range ps {
			got := told[p.name]
			if len(got) > 0 && !got[0] {
				got = got[1:] // down until the bus first opened
			}
			if fmt.Sprint(got) != "[true false true]" {
				t.Errorf("%s's port states %v, want up, down when the port was lost, up when reopened", p.name, told[p.name])
			}
		}
		stateMu.Unlock()
		for _, p := range ps {
			ans, nr, sessions := p.counts()
			if sessions != 2 || nr != 0 || ans < 50 {
				t.Errorf("%s: %d sessions, %d answered, %d unanswered; want 2 sessions and polling after the reconnect", p.name, sessions, ans, nr)
			}
		}
		m := must(NewMetrics(reg))
		if got := metrics.ToFloat64(m.Reconnects.WithLabelValues("/dev/ttyBUS")); got != 1 {
			t.Errorf("reconnects = %v, want 1", got)
		}
		if got := metrics.ToFloat64(m.Connected.WithLabelValues("/dev/ttyBUS")); got != 1 {
			t.Errorf("connected = %v, want 1", got)
		}
		cancel()
		wg.Wait()
		if !lines[0].closed || !lines[1].closed {
			t.Error("a port was left open")
		}
	})
}

// TestSharedBusRefusesOtherLineSettings: a driver whose line settings
// differ from the bus's is refused with a permanent error naming the
// driver already on the port; the first driver goes on.
func TestSharedBusRefusesOtherLineSettings(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		line := &lineSim{latency: time.Millisecond}
		buses := NewBuses(nil, func(Config) (Port, error) { return line, nil })
		env := testEnv(metrics.NewRegistry())
		env.Serial = buses
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		a := &poller{name: "A", maxPolls: 1}
		done := make(chan error, 1)
		go func() { done <- RunBus(ctx, env, BusUse{Port: busPortCfg, Driver: "cjt188"}, a.session) }()
		time.Sleep(time.Second)
		synctest.Wait()
		other := busPortCfg
		other.Baud = 9600
		other.Parity = ""
		err := RunBus(ctx, env, BusUse{Port: other, Driver: "dlt645"}, (&poller{name: "B"}).session)
		if !IsPermanent(err) || !strings.Contains(err.Error(), "9600 8N1 differ from 2400 8E1") || !strings.Contains(err.Error(), "cjt188") {
			t.Errorf("second driver: %v, want a permanent error naming cjt188 and both settings", err)
		}
		if ans, _, _ := a.counts(); ans != 1 {
			t.Errorf("first driver: %d answers", ans)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestSharedBusPermanentErrorStopsEveryDriver: permission denied on the
// shared port is tried once and ends every driver on it.
func TestSharedBusPermanentErrorStopsEveryDriver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opens := 0
		gate := make(chan struct{}) // both drivers are on the bus before it is opened
		buses := NewBuses(nil, func(c Config) (Port, error) {
			<-gate
			opens++
			return nil, &OpenError{Port: c.Label(), Permanent: true, Err: syscall.EACCES}
		})
		env := testEnv(metrics.NewRegistry())
		env.Serial = buses
		errs := make(chan error, 2)
		for _, name := range []string{"A", "B"} {
			go func() {
				errs <- RunBus(t.Context(), env, BusUse{Port: busPortCfg, Driver: name}, (&poller{name: name}).session)
			}()
		}
		synctest.Wait()
		if u := buses.Users()["/dev/ttyBUS"]; len(u) != 2 {
			t.Fatalf("users %v", u)
		}
		close(gate)
		for range 2 {
			if err := <-errs; !IsPermanent(err) {
				t.Errorf("RunBus = %v, want the permanent open error", err)
			}
		}
		if opens != 1 {
			t.Errorf("%d opens, want 1", opens)
		}
	})
}

// TestBusKeepsEachDriversTimeout: on one bus a driver with a short timeout
// gives up on a slow device while one with a long timeout waits for it.
func TestBusKeepsEachDriversTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		line := &lineSim{latency: 300 * time.Millisecond}
		b := NewBus(line, BusOptions{})
		if _, err := b.TransactWith(t.Context(), []byte("fast"), echo("fast"), BusOptions{Timeout: 100 * time.Millisecond, Gap: -1}); !errors.Is(err, ErrNoReply) {
			t.Errorf("short timeout: %v, want ErrNoReply", err)
		}
		time.Sleep(time.Second) // the late reply has come and gone
		if _, err := b.TransactWith(t.Context(), []byte("slow"), echo("slow"), BusOptions{Timeout: time.Second, Gap: -1}); err != nil {
			t.Errorf("long timeout: %v", err)
		}
	})
}

func TestCheckSharing(t *testing.T) {
	water := Config{Path: "/dev/ttyUSB0", Baud: 2400, DataBits: 8, Parity: "even", StopBits: 1}
	usb := func(serial string) Config {
		return Config{USB: USBConfig{VID: "1A86", PID: "7523", Serial: serial}, Baud: 2400, Parity: "even"}
	}
	with := func(c Config, f func(*Config)) Config { f(&c); return c }
	use := func(i int, driver string, c Config, m Mode) PortUse {
		return PortUse{Key: fmt.Sprintf("drivers[%d]", i), Name: driver + "1", Driver: driver, Port: c, Mode: m}
	}
	cases := []struct {
		name string
		uses []PortUse
		want []string // substrings of the error; nil: accepted
	}{
		{"two polled drivers, same settings (defaults filled)", []PortUse{
			use(0, "cjt188", water, Polled),
			use(1, "dlt645", Config{Path: "/dev/../dev/ttyUSB0", Baud: 2400, Parity: "even"}, Polled)}, nil},
		{"different ports", []PortUse{
			use(0, "cjt188", water, Polled),
			use(1, "nmea", with(water, func(c *Config) { c.Path = "/dev/ttyUSB1" }), Stream)}, nil},
		{"usb with serials", []PortUse{use(0, "cjt188", usb("A"), Polled), use(1, "rf433", usb("B"), Stream)}, nil},
		{"baud differs", []PortUse{
			use(0, "cjt188", water, Polled),
			use(1, "dlt645", with(water, func(c *Config) { c.Baud = 1200 }), Polled)},
			[]string{"drivers[1].port:", `dlt645 "dlt6451" (drivers[1])`, `cjt188 "cjt1881" (drivers[0])`, "1200 8E1 vs 2400 8E1"}},
		{"parity differs", []PortUse{
			use(0, "cjt188", water, Polled), use(1, "cjt188", with(water, func(c *Config) { c.Parity = "none" }), Polled)},
			[]string{"2400 8N1 vs 2400 8E1", "line settings differ"}},
		{"usb same adapter, settings differ", []PortUse{
			use(0, "cjt188", usb("A"), Polled), use(1, "dlt645", with(usb("A"), func(c *Config) { c.StopBits = 2 }), Polled)},
			[]string{"usb:1a86:7523:A", "2400 8E2 vs 2400 8E1"}},
		{"stream after polled", []PortUse{use(0, "cjt188", water, Polled), use(1, "nmea", water, Stream)},
			[]string{"drivers[1].port:", "nmea", "reads /dev/ttyUSB0 continuously", "cjt188", "its own port"}},
		{"polled after stream", []PortUse{use(0, "rf433", water, Stream), use(1, "dlt645", water, Polled)},
			[]string{"drivers[1].port:", "dlt645", "rf433", "reads it continuously"}},
		{"two streams", []PortUse{use(0, "nmea", water, Stream), use(1, "rf433", water, Stream)},
			[]string{"rf433", "nmea", "continuously"}},
		{"modbus", []PortUse{use(0, "cjt188", water, Polled), use(1, "modbus", water, Exclusive)},
			[]string{"drivers[1].port:", "modbus", "cjt188", "opens the serial device itself"}},
		{"modbus first", []PortUse{use(0, "modbus", water, Exclusive), use(1, "dlt645", water, Polled)},
			[]string{"drivers[1].port:", "but modbus", "opens the serial device itself"}},
		{"usb without serial", []PortUse{use(0, "cjt188", usb(""), Polled), use(1, "dlt645", usb("A"), Polled)},
			[]string{"drivers[1].port.usb:", "usb.serial", "1a86:7523"}},
	}
	for _, tc := range cases {
		err := CheckSharing(tc.uses)
		if tc.want == nil {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", tc.name, err, w)
			}
		}
	}
}

// TestSharedBusStaysOpenForTheOtherDriver: one of two drivers on a port
// leaves (a reload restarts it); the port stays open for the other, which
// goes on polling; the port is closed when the last one leaves.
func TestSharedBusStaysOpenForTheOtherDriver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		line := &lineSim{latency: 10 * time.Millisecond}
		opens := 0
		buses := NewBuses(nil, func(Config) (Port, error) { opens++; return line, nil })
		env := testEnv(metrics.NewRegistry())
		env.Serial = buses
		ctxA, cancelA := context.WithCancel(t.Context())
		ctxB, cancelB := context.WithCancel(t.Context())
		a := &poller{name: "A", interval: 100 * time.Millisecond}
		b := &poller{name: "B", interval: 100 * time.Millisecond}
		doneA, doneB := make(chan error, 1), make(chan error, 1)
		go func() { doneA <- RunBus(ctxA, env, BusUse{Port: busPortCfg, Driver: "A"}, a.session) }()
		go func() { doneB <- RunBus(ctxB, env, BusUse{Port: busPortCfg, Driver: "B"}, b.session) }()
		time.Sleep(time.Second)
		synctest.Wait()
		cancelA()
		if err := <-doneA; err != nil {
			t.Fatalf("A: %v", err)
		}
		before, _, _ := b.counts()
		time.Sleep(time.Second)
		synctest.Wait()
		after, _, sessions := b.counts()
		if after-before < 5 || sessions != 1 {
			t.Errorf("B after A left: %d more answers in 1 s, %d sessions; want polling on in the same session", after-before, sessions)
		}
		if opens != 1 {
			t.Errorf("port opened %d times, want once", opens)
		}
		if u := buses.Users()["/dev/ttyBUS"]; len(u) != 1 || u[0] != "B" {
			t.Errorf("users after A left: %v, want [B]", u)
		}
		line.mu.Lock()
		closed := line.closed
		line.mu.Unlock()
		if closed {
			t.Error("port closed while B still uses it")
		}
		cancelB()
		if err := <-doneB; err != nil {
			t.Fatalf("B: %v", err)
		}
		if !line.closed {
			t.Error("port not closed after the last driver left")
		}
		if u := buses.Users(); len(u) != 0 {
			t.Errorf("buses left open: %v", u)
		}
	})
}

// closeCounted is a port whose Close is reported.
type closeCounted struct {
	*lineSim
	closed func()
}

func (p *closeCounted) Close() error { err := p.lineSim.Close(); p.closed(); return err }

// TestSharedBusReopenWaitsForTheOldPort: a port released while its opening
// is still under way, acquired and released again, then acquired a third
// time, is never open twice at once: each new bus waits until the one
// before it has closed the port, even a bus released before it opened.
func TestSharedBusReopenWaitsForTheOldPort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		opens, open, maxOpen := 0, 0, 0
		gate := make(chan struct{}) // holds the first open
		buses := NewBuses(nil, func(Config) (Port, error) {
			mu.Lock()
			opens++
			first := opens == 1
			mu.Unlock()
			if first {
				<-gate
			}
			mu.Lock()
			open++
			maxOpen = max(maxOpen, open)
			mu.Unlock()
			return &closeCounted{lineSim: &lineSim{latency: time.Millisecond}, closed: func() {
				mu.Lock()
				open--
				mu.Unlock()
			}}, nil
		})
		env := testEnv(metrics.NewRegistry())
		env.Serial = buses
		run := func(p *poller) (context.CancelFunc, chan error) {
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- RunBus(ctx, env, BusUse{Port: busPortCfg, Driver: p.name}, p.session) }()
			synctest.Wait()
			return cancel, done
		}
		cancelA, doneA := run(&poller{name: "A"}) // its port is being opened
		cancelA()
		synctest.Wait()
		cancelB, doneB := run(&poller{name: "B"}) // waits for A's port
		cancelB()
		synctest.Wait()
		c := &poller{name: "C", maxPolls: 1}
		cancelC, doneC := run(c)
		close(gate)
		time.Sleep(time.Second)
		synctest.Wait()
		for name, done := range map[string]chan error{"A": doneA, "B": doneB} {
			if err := <-done; err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if ans, _, _ := c.counts(); ans != 1 {
			t.Errorf("C: %d answers, want 1", ans)
		}
		cancelC()
		if err := <-doneC; err != nil {
			t.Errorf("C: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if maxOpen != 1 || open != 0 || opens != 2 {
			t.Errorf("%d opens, at most %d open at once, %d left open; want 2 opens (A's, C's), one at a time, none left", opens, maxOpen, open)
		}
	})
}

// TestRunBusSessionErrorBacksOff: a session that ends for a reason of its
// own (its sink failed) is started again after the driver's backoff, 1 s,
// 2 s, 4 s, 4 s …, on the port that stays open; a session that lasted
// Healthy starts the backoff again from Min.
func TestRunBusSessionErrorBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		line := &lineSim{latency: time.Millisecond}
		opens := 0
		buses := NewBuses(nil, func(Config) (Port, error) { opens++; return line, nil })
		env := testEnv(metrics.NewRegistry())
		env.Serial = buses
		ctx, cancel := context.WithCancel(t.Context())
		var starts []time.Time
		session := func(ctx context.Context, b *BusHandle) error {
			starts = append(starts, time.Now())
			if len(starts) == 5 { // a healthy session
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Minute):
				}
			}
			return errors.New("sink: spool full")
		}
		done := make(chan error, 1)
		use := BusUse{Port: busPortCfg, Driver: "A", Reconnect: Reconnect{Min: time.Second, Max: 4 * time.Second, Healthy: 30 * time.Second}}
		go func() { done <- RunBus(ctx, env, use, session) }()
		time.Sleep(90 * time.Second)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, time.Minute + time.Second, 2 * time.Second}
		if len(starts) < len(want)+1 {
			t.Fatalf("%d sessions, want at least %d", len(starts), len(want)+1)
		}
		for i, w := range want {
			if d := starts[i+1].Sub(starts[i]); d != w {
				t.Errorf("session %d started %v after the one before, want %v", i+2, d, w)
			}
		}
		if opens != 1 {
			t.Errorf("port opened %d times, want once: the sink failed, not the port", opens)
		}
	})
}
