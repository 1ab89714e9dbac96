package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/mqtt"
	"github.com/anxin-care/anxin/spool"
)

// The fleet is many simulated home gateways in one process: per household
// the real durable spool (mqtt.Spool, events fsynced before Put returns)
// and the real uplink (mqtt.Uplink, a message leaves the spool only after
// its PUBACK) — gatewayd minus its drivers. Presses come as "press <hh>"
// lines on stdin and are answered "ok <hh> <id>" once spooled; readings are
// produced on a timer. The test binary runs itself as the fleet (TestMain),
// so the fleet can be killed with SIGKILL like gatewayd.
const (
	fleetEnv         = "ANXIN_E2E_FLEET"
	fleetBrokerEnv   = "ANXIN_E2E_FLEET_BROKER"
	fleetDirEnv      = "ANXIN_E2E_FLEET_DIR"
	fleetHHEnv       = "ANXIN_E2E_FLEET_HOUSEHOLDS"
	fleetReadingsEnv = "ANXIN_E2E_FLEET_READING_EVERY"
	fleetBurstEnv    = "ANXIN_E2E_FLEET_BURST" // load test: spool this many readings at once, as fast as possible
)

func fleetMain() int {
	broker, dir := os.Getenv(fleetBrokerEnv), os.Getenv(fleetDirEnv)
	hhs := strings.Split(os.Getenv(fleetHHEnv), ",")
	every, err := time.ParseDuration(os.Getenv(fleetReadingsEnv))
	if err != nil || broker == "" || dir == "" {
		fmt.Fprintln(os.Stderr, "fleet: bad environment", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	spools := make(map[string]*spool.Spool, len(hhs))
	var wg sync.WaitGroup
	for i, hh := range hhs {
		sp, err := spool.Open(spool.Options{Dir: filepath.Join(dir, hh), Logger: log})
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleet: spool:", err)
			return 1
		}
		spools[hh] = sp
		// a broker tier's nodes (comma-separated): each home starts at its
		// own node, the others its fallbacks, so homes spread over the nodes
		var nodes []anxin.BrokerURL
		for _, b := range strings.Split(broker, ",") {
			nodes = append(nodes, anxin.MustBrokerURL(b))
		}
		k := i % len(nodes)
		nodes = append(nodes[k:], nodes[:k]...)
		up, err := mqtt.NewUplink(mqtt.UplinkOptions{Broker: nodes[0], Fallback: nodes[1:], Household: hh, Window: 64,
			MinRetry: 100 * time.Millisecond, MaxRetry: time.Second, AckTimeout: 10 * time.Second, Logger: log}, sp)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleet: uplink:", err)
			return 1
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := up.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("uplink stopped", "household", hh, "err", err)
			}
		}()
	}
	if burst, _ := strconv.Atoi(os.Getenv(fleetBurstEnv)); burst > 0 {
		// producers in parallel, as homes are: each owns a share of the households
		const producers = 8
		var bwg sync.WaitGroup
		start := time.Now()
		for p := range producers {
			bwg.Add(1)
			go func() {
				defer bwg.Done()
				for n := p; n < burst; n += producers {
					hh := hhs[n%len(hhs)]
					now := time.Now().UTC()
					m := anxin.Message{ID: anxin.NewID(now), TS: now, Household: hh, Device: "wm1", Kind: anxin.KindWaterMeter,
						Fields: anxin.Fields{"total_m3": anxin.Num(1000 + 0.001*float64(n/len(hhs)))}}
					if err := spools[hh].Put(ctx, m); err != nil {
						if ctx.Err() == nil {
							log.Error("reading not spooled", "household", hh, "err", err)
						}
						return
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			bwg.Wait()
			fmt.Fprintf(os.Stderr, "burst spooled: %d readings in %s\n", burst, time.Since(start))
		}()
	}
	quiet, quieted := make(chan struct{}), make(chan struct{})
	var spooledReadings atomic.Int64 // this run's, from the ticker below
	wg.Add(1)
	go func() { // water meters of every home, each reading its own id
		defer wg.Done()
		defer close(quieted)
		t := time.NewTicker(every)
		defer t.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-quiet:
				return
			case <-t.C:
			}
			for _, hh := range hhs {
				now := time.Now().UTC()
				m := anxin.Message{ID: anxin.NewID(now), TS: now, Household: hh, Device: "wm1", Kind: anxin.KindWaterMeter,
					Fields: anxin.Fields{"total_m3": anxin.Num(1000 + 0.005*float64(n))}}
				if err := spools[hh].Put(ctx, m); err != nil {
					if ctx.Err() == nil {
						log.Error("reading not spooled", "household", hh, "err", err)
					}
				} else {
					spooledReadings.Add(1)
				}
			}
		}
	}()
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		cmd, hh, _ := strings.Cut(sc.Text(), " ")
		switch cmd {
		case "quiet": // stop the meters; answer how many readings this run spooled
			close(quiet)
			<-quieted
			fmt.Printf("quiet %d\n", spooledReadings.Load())
			continue
		case "depth": // what the spools hold that the broker has not acknowledged
			var depth int64
			for _, sp := range spools {
				depth += int64(sp.Stats().Depth)
			}
			fmt.Printf("depth %d\n", depth)
			continue
		}
		sp := spools[hh]
		if cmd != "press" || sp == nil {
			fmt.Printf("err %s unknown command\n", hh)
			continue
		}
		now := time.Now().UTC()
		m := anxin.Message{ID: anxin.NewID(now), TS: now, Household: hh, Device: "btn1", Kind: anxin.KindCallButton,
			Event: anxin.EventButtonPressed}
		if err := sp.Put(ctx, m); err != nil {
			fmt.Printf("err %s %v\n", hh, err)
			continue
		}
		fmt.Printf("ok %s %s\n", hh, m.ID)
	}
	stop()
	wg.Wait()
	var errs []error
	for _, sp := range spools {
		errs = append(errs, sp.Close())
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintln(os.Stderr, "fleet: close:", err)
		return 1
	}
	return 0
}

// fleet drives the fleet process from a test.
type fleet struct {
	t   testing.TB
	env []string
	out *output // stderr, across restarts

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	exited chan struct{}
}

func startFleet(t testing.TB, broker, dir string, hhs []string, readingEvery time.Duration, extraEnv ...string) *fleet {
	t.Helper()
	f := &fleet{t: t, out: &output{}, env: append(append(os.Environ(), fleetEnv+"=1", fleetBrokerEnv+"="+broker,
		fleetDirEnv+"="+dir, fleetHHEnv+"="+strings.Join(hhs, ","), fleetReadingsEnv+"="+readingEvery.String()), extraEnv...)}
	f.Start()
	t.Cleanup(func() {
		if f.stdin != nil {
			_ = f.stdin.Close() // a clean stop: stdin closed
		}
		select {
		case <-f.exited:
		case <-time.After(10 * time.Second):
			f.Kill()
		}
	})
	return f
}

// Start runs the fleet and waits until its spools are open.
func (f *fleet) Start() {
	f.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = f.env
	cmd.Stderr = f.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	lines, exited := make(chan string, 16), make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_ = cmd.Wait()
		close(exited)
	}()
	f.cmd, f.stdin, f.lines, f.exited = cmd, stdin, lines, exited
	select {
	case l := <-lines:
		if l != "ready" {
			f.t.Fatalf("fleet said %q first", l)
		}
	case <-exited:
		f.t.Fatalf("fleet exited at start:\n%s", tail(f.out.String(), 3000))
	case <-time.After(20 * time.Second):
		f.t.Fatalf("fleet not ready after 20 s:\n%s", tail(f.out.String(), 3000))
	}
}

// Press has household hh's button pressed; it returns once the event is
// in that gateway's spool (fsynced).
func (f *fleet) Press(hh string) string {
	f.t.Helper()
	if _, err := fmt.Fprintf(f.stdin, "press %s\n", hh); err != nil {
		f.t.Fatalf("fleet: press %s: %v", hh, err)
	}
	select {
	case l := <-f.lines:
		ok, rest, _ := strings.Cut(l, " ")
		got, id, _ := strings.Cut(rest, " ")
		if ok != "ok" || got != hh {
			f.t.Fatalf("fleet: press %s answered %q", hh, l)
		}
		return id
	case <-f.exited:
		f.t.Fatalf("fleet died during a press:\n%s", tail(f.out.String(), 3000))
	case <-time.After(30 * time.Second):
		f.t.Fatalf("fleet: press %s not spooled in 30 s", hh)
	}
	return ""
}

// Kill is SIGKILL of the whole fleet.
func (f *fleet) Kill() {
	_ = syscall.Kill(-f.cmd.Process.Pid, syscall.SIGKILL)
	<-f.exited
}

// ask sends one command to the fleet and returns its answer's number.
func (f *fleet) ask(cmd string) int64 {
	f.t.Helper()
	if _, err := fmt.Fprintf(f.stdin, "%s\n", cmd); err != nil {
		f.t.Fatalf("fleet: %s: %v", cmd, err)
	}
	select {
	case l := <-f.lines:
		word, n, _ := strings.Cut(l, " ")
		v, err := strconv.ParseInt(n, 10, 64)
		if word != cmd || err != nil {
			f.t.Fatalf("fleet: %s answered %q", cmd, l)
		}
		return v
	case <-f.exited:
		f.t.Fatalf("fleet died during %s:\n%s", cmd, tail(f.out.String(), 3000))
	case <-time.After(20 * time.Second):
		f.t.Fatalf("fleet: no answer to %s in 20 s", cmd)
	}
	return 0
}

// Quiet stops the fleet's meters and returns how many readings this run
// of the fleet spooled.
func (f *fleet) Quiet() int64 { return f.ask("quiet") }

// Depth is how many messages the fleet's spools hold unacknowledged.
func (f *fleet) Depth() int64 { return f.ask("depth") }
