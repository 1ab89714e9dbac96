// Package testenv starts the real peers that integration tests run against:
// mosquitto, VictoriaMetrics and Prism, each on a free 127.0.0.1 port with its
// state in the test's temp dir, stopped when the test ends. A test that needs a
// peer that is not installed fails under CI=true (the test command installs
// them) and is skipped elsewhere, saying what to install.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for
// a server a test starts (and may restart) on a known port.
//
// It is picked below the kernel's ephemeral range: the kernel hands ports of
// that range to every outgoing connection and every listener on port 0 of
// every test running at the same time (CI runs all packages at once), and
// one of them could take the port between this check and the server's bind,
// or while the server restarts. Below the range only another FreePort could.
func FreePort(t testing.TB) int {
	t.Helper()
	if lo := ephemeralLow(); lo > freePortMin+1000 {
		for range 100 {
			port := freePortMin + rand.IntN(lo-freePortMin)
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
			if err == nil {
				l.Close()
				return port
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// freePortMin is the lowest port FreePort picks: above the well-known and
// most registered services' ports.
const freePortMin = 10000

// ephemeralLow is the first port of the kernel's ephemeral range (Linux's
// default when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return lo
}

// Need finds a program or fails (under CI) / skips the test.
func Need(t testing.TB, program, install string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found: the test command must install it (%s)", program, install)
	}
	t.Skipf("%s not found; install it with: %s", program, install)
	return ""
}

// RepoRoot is the repository's top directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the repository root")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Process is a server started for a test.
type Process struct {
	t      testing.TB
	name   string
	args   []string
	dir    string
	cmd    *exec.Cmd
	out    *syncBuffer
	mu     sync.Mutex
	exited chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.b.Len() > 1<<20 { // keep memory bounded for chatty servers
		s.b.Reset()
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startProcess(t testing.TB, dir, name string, args ...string) *Process {
	t.Helper()
	p := &Process{t: t, name: name, args: args, dir: dir, out: &syncBuffer{}}
	p.start()
	t.Cleanup(p.Stop)
	return p
}

func (p *Process) start() {
	p.t.Helper()
	cmd := exec.Command(p.name, p.args...)
	cmd.Dir = p.dir
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
}

// Output is what the process printed (the last MiB at most).
func (p *Process) Output() string { return p.out.String() }

// Kill sends SIGKILL to the process group and waits for it to exit.
func (p *Process) Kill() { p.signal(syscall.SIGKILL) }

// Stop sends SIGTERM, then SIGKILL after 5 s.
func (p *Process) Stop() { p.signal(syscall.SIGTERM) }

func (p *Process) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-exited:
		return
	default:
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

// Restart starts the process again with the same arguments (after Kill or Stop).
func (p *Process) Restart() {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	p.start()
}

// listens reports whether p listens on addr within within (false at
// once when p exits first).
func listens(p *Process, addr string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return true
		}
		select {
		case <-p.exited:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

// waitTCP waits until addr accepts connections, and fails the test when
// the process exits first or within passes.
func waitTCP(t testing.TB, p *Process, addr string, within time.Duration) {
	t.Helper()
	if listens(p, addr, within) {
		return
	}
	select {
	case <-p.exited:
		t.Fatalf("%s exited before listening on %s:\n%s", p.name, addr, p.Output())
	default:
		t.Fatalf("%s not listening on %s after %s:\n%s", p.name, addr, within, p.Output())
	}
}

// Mosquitto is a real mosquitto broker for one test.
type Mosquitto struct {
	*Process
	Port int
	URL  string // tcp://127.0.0.1:<port>
}

// StartMosquitto starts mosquitto on a free loopback port with persistence
// in a temp dir, so that persistent sessions survive Restart and Kill.
func StartMosquitto(t testing.TB) *Mosquitto {
	t.Helper()
	return StartMosquittoConf(t, "")
}

// StartMosquittoConf is StartMosquitto with extra config lines appended,
// which override the defaults above them (mosquitto keeps the last value):
// "max_inflight_messages 20" restores mosquitto's own default window.
func StartMosquittoConf(t testing.TB, extra string) *Mosquitto {
	t.Helper()
	bin := Need(t, "mosquitto", "apt-get install -y mosquitto")
	dir := t.TempDir()
	cf := filepath.Join(dir, "mosquitto.conf")
	p, port := startOnFreePort(t, 10*time.Second, func(port int) *Process {
		conf := fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence true
persistence_location %s/
autosave_interval 1
set_tcp_nodelay true
max_queued_messages 0
max_inflight_messages 0
pid_file %s/mosquitto.pid
user root
log_dest stdout
log_type error
log_type warning
%s
`, port, dir, dir, extra)
		if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		return startProcess(t, dir, bin, "-c", cf)
	})
	return &Mosquitto{Process: p, Port: port, URL: "tcp://127.0.0.1:" + strconv.Itoa(port)}
}

// Addr is host:port of the broker.
func (m *Mosquitto) Addr() string { return "127.0.0.1:" + strconv.Itoa(m.Port) }

// Restart restarts the broker on the same port and waits until it listens.
func (m *Mosquitto) Restart() {
	m.t.Helper()
	m.Process.Restart()
	waitTCP(m.t, m.Process, m.Addr(), 10*time.Second)
}

// VictoriaMetrics is a real VictoriaMetrics server accepting the InfluxDB v2
// write API on URL + /api/v2/write.
type VictoriaMetrics struct {
	*Process
	URL string // http://127.0.0.1:<port>
}

// StartVictoriaMetrics starts victoria-metrics with a 100-year retention (the
// default month silently drops older points) and no query latency offset.
func StartVictoriaMetrics(t testing.TB) *VictoriaMetrics {
	t.Helper()
	bin := Need(t, "victoria-metrics", "apt-get install -y victoria-metrics")
	dir := t.TempDir()
	p, port := startOnFreePort(t, 20*time.Second, func(port int) *Process {
		return startProcess(t, dir, bin, "-httpListenAddr=127.0.0.1:"+strconv.Itoa(port), "-storageDataPath="+filepath.Join(dir, "data"),
			"-retentionPeriod=100y", "-search.latencyOffset=0s", "-loggerLevel=ERROR")
	})
	return &VictoriaMetrics{Process: p, URL: "http://127.0.0.1:" + strconv.Itoa(port)}
}

// Flush makes written points queryable at once.
func (v *VictoriaMetrics) Flush(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.URL+"/internal/force_flush", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Prism is Prism mocking Twilio's OpenAPI description, validating requests.
type Prism struct {
	*Process
	URL string // http://127.0.0.1:<port>
}

// StartPrism serves ../shared/fixtures/twilio/twilio_api_v2010.json (copied
// into testdata/twilio) with the prism binary from node_modules (npm ci).
func StartPrism(t testing.TB) *Prism {
	t.Helper()
	root := RepoRoot(t)
	bin := filepath.Join(root, "node_modules", ".bin", "prism")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("prism not installed: run `npm ci` in %s (the test command does)", root)
		}
		t.Skip("prism not installed; run `npm ci` in the repository root")
	}
	spec := filepath.Join(root, "testdata", "twilio", "twilio_api_v2010.json")
	p, port := startOnFreePort(t, 60*time.Second, func(port int) *Process {
		return startProcess(t, t.TempDir(), "node", bin, "mock", "-h", "127.0.0.1", "-p", strconv.Itoa(port), spec)
	})
	return &Prism{Process: p, URL: "http://127.0.0.1:" + strconv.Itoa(port)}
}

// SyncBuffer is a log sink many goroutines write to while a test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// MinWait is the least time Eventually gives a condition. CI runs every
// package's tests at once on a 2-core box, where a step that takes
// milliseconds alone can take seconds: a wait's bound only keeps a broken
// test from hanging, it never asserts a duration (performance is measured
// with benchmarks), so a bound shorter than this is raised to it.
const MinWait = 60 * time.Second

// Eventually waits until cond holds, looking every 10 ms, and fails the test
// with what when within (at least MinWait) passes first. It is the one
// wait-for-a-state loop of the tests: prefer a channel or a hook where the
// code offers one.
func Eventually(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	within = max(within, MinWait)
	deadline := time.Now().Add(within)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		<-tick.C
	}
}
