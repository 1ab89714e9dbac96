package metrics

import (
	"math"
	"os"
	"path/filepath"
	"testing"
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
