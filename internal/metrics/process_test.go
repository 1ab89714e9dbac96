package metrics

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestProcessCollectorReadsProc reads a made-up /proc: a command name
// with spaces and a parenthesis, unlimited address space, the network
// bytes as client_golang reads them: IpExt's InOctets and OutOctets of
// /proc/self/net/netstat, counters of the whole network namespace that do
// not go down when an interface (the gateway's 4G modem, a VPN) goes away,
// as the sum over /proc/self/net/dev's interfaces does.
func TestProcessCollectorReadsProc(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// fields: pid (comm) state ppid … utime(14)=250 stime(15)=50 … starttime(22)=1000 vsize(23) rss(24)=10
	write("self/stat", "42 (alarm d) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1000 123456789 10 18446744073709551615\n")
	write("stat", "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n")
	write("self/limits", "Limit                     Soft Limit           Hard Limit           Units     \n"+
		"Max open files            1024                 4096                 files     \n"+
		"Max address space         unlimited            unlimited            bytes     \n")
	write("self/net/dev", "Inter-|   Receive                                                |  Transmit\n"+
		" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n"+
		"    lo:    1000      10    0    0    0     0          0         0     2000      20    0    0    0     0       0          0\n"+
		"  eth0:     500       5    0    0    0     0          0         0      300       3    0    0    0     0       0          0\n")
	write("self/net/netstat", "TcpExt: SyncookiesSent EmbryonicRsts\nTcpExt: 0 0\n"+
		"IpExt: InNoRoutes InTruncatedPkts InMcastPkts OutMcastPkts InBcastPkts OutBcastPkts InOctets OutOctets InMcastOctets\n"+
		"IpExt: 0 0 0 0 0 0 1400 2200 0\n")
	write("self/fd/0", "")
	write("self/fd/1", "")
	got := processCollector{proc: dir}.read()
	want := map[string]float64{
		"process_cpu_seconds_total":            3,
		"process_start_time_seconds":           1700000010,
		"process_virtual_memory_bytes":         123456789,
		"process_resident_memory_bytes":        10 * float64(os.Getpagesize()),
		"process_open_fds":                     2,
		"process_max_fds":                      1024,
		"process_virtual_memory_max_bytes":     math.MaxUint64,
		"process_network_receive_bytes_total":  1400,
		"process_network_transmit_bytes_total": 2200,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if n := len(processCollector{proc: filepath.Join(dir, "none")}.read()); n != 0 {
		t.Errorf("without /proc: %d families", n)
	}
}

// TestProcessBootTimeReadOnce: the boot time does not change while the
// process runs; a scrape does not read /proc/stat again for it.
func TestProcessBootTimeReadOnce(t *testing.T) {
	dir := t.TempDir()
	stat := filepath.Join(dir, "stat")
	if err := os.WriteFile(stat, []byte("cpu  1 2 3\nbtime 1700000000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := processCollector{proc: dir, boot: &bootTime{}}
	if bt, ok := p.bootTime(); !ok || bt != 1700000000 {
		t.Fatalf("boot time %v %v", bt, ok)
	}
	if err := os.Remove(stat); err != nil {
		t.Fatal(err)
	}
	if bt, ok := p.bootTime(); !ok || bt != 1700000000 {
		t.Fatalf("boot time read again from /proc/stat: %v %v", bt, ok)
	}
}

// TestProcessCollectorAgainstKernel compares what the collector reads from
// the real /proc with what the kernel reports through other calls
// (getrusage, getrlimit, the fd directory, statm).
func TestProcessCollectorAgainstKernel(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc is Linux's")
	}
	cpu := func() float64 {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	for x := 1.0; cpu() < 0.2; x = math.Sqrt(x + 2) { // some CPU time to read back
	}
	for range 3 {
		f, err := os.Open(os.Args[0])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	before := cpu()
	now := float64(time.Now().UnixNano()) / 1e9
	got := processCollector{proc: "/proc"}.read()
	after := cpu()
	// ticks of 10 ms, truncated, for user and system time each
	if v := got["process_cpu_seconds_total"]; v < before-0.03 || v > after+0.01 {
		t.Errorf("process_cpu_seconds_total %v, getrusage %v…%v", v, before, after)
	}
	if v := got["process_open_fds"]; v != float64(len(fds)) {
		t.Errorf("process_open_fds %v, /proc/self/fd lists %d", v, len(fds))
	}
	var nofile, as syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &nofile); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &as); err != nil {
		t.Fatal(err)
	}
	if v := got["process_max_fds"]; v != float64(nofile.Cur) {
		t.Errorf("process_max_fds %v, getrlimit %d", v, nofile.Cur)
	}
	if v := got["process_virtual_memory_max_bytes"]; v != float64(as.Cur) {
		t.Errorf("process_virtual_memory_max_bytes %v, getrlimit %d", v, as.Cur)
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	if v := got["process_resident_memory_bytes"]; v < 1<<20 || v > float64(ru.Maxrss)*1024 {
		t.Errorf("process_resident_memory_bytes %v, peak %d KiB", v, ru.Maxrss)
	}
	if v := got["process_virtual_memory_bytes"]; v < got["process_resident_memory_bytes"] {
		t.Errorf("process_virtual_memory_bytes %v below the resident size", v)
	}
	// btime is whole seconds and the start in ticks: within a second or two of the truth
	if v := got["process_start_time_seconds"]; v > now+2 || v < now-3600 {
		t.Errorf("process_start_time_seconds %v, now %v", v, now)
	}
	for _, name := range []string{"process_network_receive_bytes_total", "process_network_transmit_bytes_total"} {
		if _, ok := got[name]; !ok {
			t.Errorf("%s not read", name)
		}
	}
}
