package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/anxin-care/anxin/internal/testenv"
	"log/slog"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/jt808"
	"github.com/anxin-care/anxin/drivers/tcpserver"
	"github.com/anxin-care/anxin/drivers/watch3g"
	"github.com/anxin-care/anxin/spool"
)

// TestMain: with ANXIN_LOAD_CHILD=1 the test binary is the load tool (its
// arguments are the tool's), so a test can run it as a child process.
func TestMain(m *testing.M) {
	if os.Getenv("ANXIN_LOAD_CHILD") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestDevicesShort exercises the device mode in CI: 50 devices of each
// protocol in a child process, two rounds, every press reaches the spool.
func TestDevicesShort(t *testing.T) {
	for _, proto := range []string{"jt808", "watch3g"} {
		t.Run(proto, func(t *testing.T) {
			f := loadDevices(t, proto, 50, 300*time.Millisecond, 5, 2)
			if f.res.Reports != 100 || f.res.SOS != 10 || f.res.Errors != 0 || len(f.lat) != 10 {
				t.Fatalf("%+v, %d latencies", f.res, len(f.lat))
			}
		})
	}
}

// TestDevicesLoad (ANXIN_LOAD=N) connects N devices of each protocol
// (ANXIN_LOAD_PROTO: one of them) from a child process to one driver in
// this process, and reports the driver side's cost: RSS per connection,
// idle CPU, CPU per report while each device reports once per
// ANXIN_LOAD_PERIOD (default 30s), and SOS → spool Put latency then.
func TestDevicesLoad(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("ANXIN_LOAD"))
	if n <= 0 {
		t.Skip("ANXIN_LOAD=N runs the load test with N devices")
	}
	period := 30 * time.Second
	if p, err := time.ParseDuration(os.Getenv("ANXIN_LOAD_PERIOD")); err == nil {
		period = p
	}
	for _, proto := range []string{"jt808", "watch3g"} {
		if p := os.Getenv("ANXIN_LOAD_PROTO"); p != "" && p != proto {
			continue
		}
		t.Run(proto, func(t *testing.T) {
			f := loadDevices(t, proto, n, period, 100, 1)
			if f.res.Errors != 0 {
				t.Errorf("%d device errors, first: %s", f.res.Errors, f.res.FirstError)
			}
			slices.Sort(f.lat)
			p50, p99 := f.lat[len(f.lat)/2], f.lat[len(f.lat)*99/100]
			t.Logf("%s, %d devices (child process, connected in %.1f s): RSS %d KiB → %d KiB, %.1f KiB per connection (driver side); idle CPU %v in %v",
				proto, n, f.res.ConnectSeconds, f.rss0, f.rss1, float64(f.rss1-f.rss0)/float64(n), f.idleCPU, f.idleFor)
			t.Logf("paced (each device once per %v, %.0f reports/s): %d reports, CPU %v = %.2f%% of one core, %.1f µs per report; %d SOS → spool Put p50 %v p99 %v max %v",
				period, float64(n)/period.Seconds(), f.res.Reports, f.pacedCPU.Round(time.Millisecond),
				100*f.pacedCPU.Seconds()/f.pacedWall.Seconds(), float64(f.pacedCPU.Microseconds())/float64(f.res.Reports),
				len(f.lat), p50, p99, f.lat[len(f.lat)-1])
		})
	}
}

// figures is what one device run measured on the driver side.
type figures struct {
	res                 DeviceResult
	rss0, rss1          int // KiB, before the devices and with all connected
	idleCPU, idleFor    time.Duration
	pacedCPU, pacedWall time.Duration
	lat                 []time.Duration // SOS written → spool Put returned
}

// tally is what reached the spool, signalled on each Put.
type tally struct {
	mu       sync.Mutex
	readings int
	events   int
	put      map[string][]time.Time // device → when each SOS was spooled
	changed  chan struct{}
}

func (c *tally) wait(t *testing.T, what string, timeout time.Duration, done func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok := done()
		r, e := c.readings, c.events
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-c.changed:
		case <-deadline.C:
			t.Fatalf("%s: %d readings, %d presses spooled after %v", what, r, e, timeout)
		}
	}
}

func loadDevices(t *testing.T, proto string, n int, every time.Duration, sos, rounds int) figures {
	ids := defaultIDs[proto]
	var terms []tcpserver.Terminal
	for i := range n {
		id := fmt.Sprintf(ids, i)
		terms = append(terms, tcpserver.Terminal{ID: id, Device: "t" + id})
	}
	var cfg drivers.Config
	if proto == "jt808" {
		c := jt808.NewConfig()
		c.Listen, c.Terminals = "127.0.0.1:0", terms
		cfg = c
	} else {
		c := watch3g.NewConfig()
		c.Listen, c.Terminals = "127.0.0.1:0", terms
		cfg = c
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	plugin, _ := drivers.Lookup(proto)
	d, err := plugin.New(cfg, drivers.Env{Household: "hh-load", Logger: slog.New(slog.DiscardHandler), Now: time.Now,
		Metrics: metrics.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := spool.Open(spool.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	c := &tally{put: map[string][]time.Time{}, changed: make(chan struct{}, 1)}
	sink := drivers.SinkFunc(func(ctx context.Context, m anxin.Message) error {
		if err := sp.Put(ctx, m); err != nil {
			return err
		}
		now := time.Now()
		c.mu.Lock()
		if m.Event == anxin.EventButtonPressed {
			c.events++
			c.put[m.Device] = append(c.put[m.Device], now)
		} else if m.Event == "" {
			c.readings++
		}
		c.mu.Unlock()
		select {
		case c.changed <- struct{}{}:
		default:
		}
		return nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, sink) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	addr := d.(interface{ WaitAddr(context.Context) string }).WaitAddr(ctx)

	var f figures
	debug.FreeOSMemory() // a collection, and freed memory back to the OS: RSS is what is in use
	f.rss0 = testenv.VmRSS(os.Getpid())
	cmd := exec.Command(os.Args[0], "-"+proto, addr, "-devices", strconv.Itoa(n), "-every", every.String(),
		"-sos", strconv.Itoa(sos), "-rounds", strconv.Itoa(rounds), "-wait")
	cmd.Env = append(os.Environ(), "ANXIN_LOAD_CHILD=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // a failed test leaves no devices behind

	connected := make(chan struct{})
	finished := make(chan DeviceResult, 1)
	sent := map[string][]int64{} // device id → when each SOS was written (unix ns)
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l struct {
				Connected *int   `json:"connected"`
				Press     string `json:"press"`
				SentNs    int64  `json:"sent_unix_ns"`
				Devices   int    `json:"devices"`
			}
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			switch {
			case l.Connected != nil:
				close(connected)
			case l.Press != "":
				sent["t"+l.Press] = append(sent["t"+l.Press], l.SentNs)
			case l.Devices > 0:
				var r DeviceResult
				json.Unmarshal(sc.Bytes(), &r)
				finished <- r
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { <-read; exited <- cmd.Wait() }()

	select {
	case <-connected:
	case err := <-exited:
		t.Fatalf("load tool: %v: %s", err, stderr.Bytes())
	case <-time.After(10 * time.Minute):
		t.Fatal("devices not connected after 10 minutes")
	}
	debug.FreeOSMemory() // a collection, and freed memory back to the OS: RSS is what is in use
	f.rss1 = testenv.VmRSS(os.Getpid())
	cpu0, t0 := testenv.SelfCPU(), time.Now()
	window := time.NewTimer(2 * time.Second)
	<-window.C // a measurement window: what do idle connections cost?
	f.idleCPU, f.idleFor = testenv.SelfCPU()-cpu0, time.Since(t0).Round(time.Millisecond)

	c.mu.Lock()
	base := c.readings
	c.mu.Unlock()
	cpu0, t0 = testenv.SelfCPU(), time.Now()
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("load tool: %v: %s", err, stderr.Bytes())
		}
	case <-time.After(time.Duration(rounds)*every + 5*time.Minute):
		t.Fatal("load tool still reporting 5 minutes after its last round")
	}
	select {
	case f.res = <-finished:
	default:
		t.Fatal("load tool ended without its summary")
	}
	c.wait(t, "paced reports", time.Minute, func() bool {
		return c.readings-base >= int(f.res.Reports) && c.events >= int(f.res.SOS)
	})
	f.pacedCPU, f.pacedWall = testenv.SelfCPU()-cpu0, time.Since(t0)
	c.mu.Lock()
	defer c.mu.Unlock()
	for dev, ts := range sent {
		for i, s := range ts {
			if i < len(c.put[dev]) {
				f.lat = append(f.lat, c.put[dev][i].Sub(time.Unix(0, s)))
			}
		}
	}
	return f
}
