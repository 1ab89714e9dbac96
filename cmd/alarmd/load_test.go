package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/testenv"
)

// metric reads one unlabelled counter from alarmd's /metrics.
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return 0
}

// procStat is a process's CPU time and peak RSS from /proc.
func procStat(t *testing.T, pid int) (cpu time.Duration, peakMiB float64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)           // utime, field 14
	st, _ := strconv.ParseInt(f[12], 10, 64)           // stime, field 15
	cpu = time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ 100
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(s), "\n") {
		if g := strings.Fields(l); len(g) >= 2 && g[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(g[1], 64)
			peakMiB = kb / 1024
		}
	}
	return cpu, peakMiB
}

// TestIntegrationLoadBinary measures the alarmd binary itself (its own
// process: CPU per reading and peak RSS) under cmd/anxin-load against real
// mosquitto and VictoriaMetrics. ANXIN_LONG=1; ANXIN_LOAD_N readings.
func TestIntegrationLoadBinary(t *testing.T) {
	if os.Getenv("ANXIN_LONG") == "" {
		t.Skip("long load test: set ANXIN_LONG=1")
	}
	n := 300_000
	if v, err := strconv.Atoi(os.Getenv("ANXIN_LOAD_N")); err == nil && v > 0 {
		n = v
	}
	bin := alarmdBinary(t)
	load := filepath.Join(t.TempDir(), "anxin-load")
	if out, err := exec.Command("go", "build", "-o", load, "../anxin-load").CombinedOutput(); err != nil {
		t.Fatalf("build anxin-load: %v\n%s", err, out)
	}
	// the deployment setting (docs/deployment.md): a window of a few batches bounds
	// what alarmd holds when the publisher outruns it
	mq := testenv.StartMosquittoConf(t, "max_inflight_messages 10000")
	vm := testenv.StartVictoriaMetrics(t)
	dir := t.TempDir()
	hh := filepath.Join(dir, "households.yaml")
	// anxin-load's 10,000 households, each with its water meter: alarmd
	// believes only what its register knows
	var reg strings.Builder
	reg.WriteString("households:\n")
	for i := range 10_000 {
		fmt.Fprintf(&reg, "  - {id: hh-%06d, devices: [{id: wm1, kind: water_meter}]}\n", i)
	}
	if err := os.WriteFile(hh, []byte(reg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "alarmd.yaml")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
mqtt: {broker: %q}
http: {listen: "127.0.0.1:0"}
store: {path: %q}
influx: {url: %q}
households_file: %q
log: {level: warn}
`, mq.URL, filepath.Join(dir, "alarmd.db"), vm.URL, hh)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", cfgFile)
	cmd.Env = append(os.Environ(), "ANXIN_LOG_LEVEL=info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logs := &logTail{seen: make(chan struct{}, 1)}
	go func() { logs.read(stderr); _, _ = io.Copy(io.Discard, stderr) }()
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	open, _ := logs.wait(t, "alarmd open", 0)
	addr, _ := open["http"].(string)

	cpu0, _ := procStat(t, cmd.Process.Pid)
	start := time.Now()
	out, err := exec.Command(load, "-broker", mq.URL, "-n", strconv.Itoa(n), "-events", "0").Output()
	if err != nil {
		t.Fatalf("anxin-load: %v %s", err, out)
	}
	var pub struct {
		Readings  int
		PerSecond float64 `json:"published_per_second"`
	}
	if err := json.Unmarshal(out, &pub); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, fmt.Sprintf("all %d readings received and archived", pub.Readings), 5*time.Minute, func() bool {
		return metric(t, addr, "anxin_ingest_received_total") >= float64(pub.Readings) &&
			metric(t, addr, "anxin_archive_written_total")+metric(t, addr, "anxin_archive_dropped_total") >= float64(pub.Readings)
	})
	elapsed := time.Since(start)
	cpu, peak := procStat(t, cmd.Process.Pid)
	t.Logf("load (alarmd binary): %d readings in %.2fs = %.0f readings/s end to end (publisher alone %.0f/s); alarmd CPU %.1f µs/reading; alarmd peak RSS %.0f MiB; archive dropped %v",
		pub.Readings, elapsed.Seconds(), float64(pub.Readings)/elapsed.Seconds(), pub.PerSecond,
		float64((cpu-cpu0).Microseconds())/float64(pub.Readings), peak, metric(t, addr, "anxin_archive_dropped_total"))
}
