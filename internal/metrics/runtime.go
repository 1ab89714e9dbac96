package metrics

import (
	"bytes"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	rm "runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// goFamily is one go_* gauge or counter: the sum of runtime/metrics
// samples (by index into goSamples).
type goFamily struct {
	name, help string
	t          Type
	samples    []int
}

var goSamples = []string{
	"/sched/goroutines:goroutines",                // 0
	"/gc/gogc:percent",                            // 1
	"/gc/gomemlimit:bytes",                        // 2
	"/sched/gomaxprocs:threads",                   // 3
	"/memory/classes/heap/objects:bytes",          // 4
	"/gc/heap/allocs:bytes",                       // 5
	"/memory/classes/profiling/buckets:bytes",     // 6
	"/gc/heap/frees:objects",                      // 7
	"/gc/heap/tiny/allocs:objects",                // 8
	"/memory/classes/metadata/other:bytes",        // 9
	"/memory/classes/heap/released:bytes",         // 10
	"/memory/classes/heap/free:bytes",             // 11
	"/memory/classes/heap/unused:bytes",           // 12
	"/gc/heap/objects:objects",                    // 13
	"/gc/heap/allocs:objects",                     // 14
	"/memory/classes/metadata/mcache/inuse:bytes", // 15
	"/memory/classes/metadata/mcache/free:bytes",  // 16
	"/memory/classes/metadata/mspan/inuse:bytes",  // 17
	"/memory/classes/metadata/mspan/free:bytes",   // 18
	"/gc/heap/goal:bytes",                         // 19
	"/memory/classes/other:bytes",                 // 20
	"/memory/classes/heap/stacks:bytes",           // 21
	"/memory/classes/os-stacks:bytes",             // 22
	"/memory/classes/total:bytes",                 // 23
}

// The families and help texts client_golang's Go collector exposed by
// default (v1.23), so dashboards and the golden test see the same names.
var goFamilies = []goFamily{
	{"go_goroutines", "Number of goroutines that currently exist.", GaugeType, []int{0}},
	{"go_gc_gogc_percent", "Heap size target percentage configured by the user, otherwise 100. This value is set by the GOGC environment variable, and the runtime/debug.SetGCPercent function. Sourced from /gc/gogc:percent.", GaugeType, []int{1}},
	{"go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64. This value is set by the GOMEMLIMIT environment variable, and the runtime/debug.SetMemoryLimit function. Sourced from /gc/gomemlimit:bytes.", GaugeType, []int{2}},
	{"go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously. Sourced from /sched/gomaxprocs:threads.", GaugeType, []int{3}},
	{"go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use. Equals to /memory/classes/heap/objects:bytes.", GaugeType, []int{4}},
	{"go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already. Equals to /gc/heap/allocs:bytes.", CounterType, []int{5}},
	{"go_memstats_buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table. Equals to /memory/classes/profiling/buckets:bytes.", GaugeType, []int{6}},
	{"go_memstats_frees_total", "Total number of heap objects frees. Equals to /gc/heap/frees:objects + /gc/heap/tiny/allocs:objects.", CounterType, []int{7, 8}},
	{"go_memstats_gc_sys_bytes", "Number of bytes used for garbage collection system metadata. Equals to /memory/classes/metadata/other:bytes.", GaugeType, []int{9}},
	{"go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use, same as go_memstats_alloc_bytes. Equals to /memory/classes/heap/objects:bytes.", GaugeType, []int{4}},
	{"go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used. Equals to /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", GaugeType, []int{10, 11}},
	{"go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes", GaugeType, []int{4, 12}},
	{"go_memstats_heap_objects", "Number of currently allocated objects. Equals to /gc/heap/objects:objects.", GaugeType, []int{13}},
	{"go_memstats_heap_released_bytes", "Number of heap bytes released to OS. Equals to /memory/classes/heap/released:bytes.", GaugeType, []int{10}},
	{"go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system. Equals to /memory/classes/heap/objects:bytes + /memory/classes/heap/unused:bytes + /memory/classes/heap/released:bytes + /memory/classes/heap/free:bytes.", GaugeType, []int{4, 12, 10, 11}},
	{"go_memstats_mallocs_total", "Total number of heap objects allocated, both live and gc-ed. Semantically a counter version for go_memstats_heap_objects gauge. Equals to /gc/heap/allocs:objects + /gc/heap/tiny/allocs:objects.", CounterType, []int{14, 8}},
	{"go_memstats_mcache_inuse_bytes", "Number of bytes in use by mcache structures. Equals to /memory/classes/metadata/mcache/inuse:bytes.", GaugeType, []int{15}},
	{"go_memstats_mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system. Equals to /memory/classes/metadata/mcache/inuse:bytes + /memory/classes/metadata/mcache/free:bytes.", GaugeType, []int{15, 16}},
	{"go_memstats_mspan_inuse_bytes", "Number of bytes in use by mspan structures. Equals to /memory/classes/metadata/mspan/inuse:bytes.", GaugeType, []int{17}},
	{"go_memstats_mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system. Equals to /memory/classes/metadata/mspan/inuse:bytes + /memory/classes/metadata/mspan/free:bytes.", GaugeType, []int{17, 18}},
	{"go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place. Equals to /gc/heap/goal:bytes.", GaugeType, []int{19}},
	{"go_memstats_other_sys_bytes", "Number of bytes used for other system allocations. Equals to /memory/classes/other:bytes.", GaugeType, []int{20}},
	{"go_memstats_stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments. Equals to /memory/classes/heap/stacks:bytes.", GaugeType, []int{21}},
	{"go_memstats_stack_sys_bytes", "Number of bytes obtained from system for stack allocator. Equals to /memory/classes/heap/stacks:bytes + /memory/classes/os-stacks:bytes.", GaugeType, []int{21, 22}},
	{"go_memstats_sys_bytes", "Number of bytes obtained from system. Equals to /memory/classes/total:byte.", GaugeType, []int{23}},
}

const (
	helpGCDuration = "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles."
	helpLastGC     = "Number of seconds since 1970 of last garbage collection."
	helpThreads    = "Number of OS threads created."
	helpGoInfo     = "Information about the Go environment."
)

type goCollector struct{}

// NewGoCollector returns the collector of the go_* families: the Go
// runtime's goroutines, threads, GC and memory classes, from
// runtime/metrics and runtime/debug (the names of client_golang's).
func NewGoCollector() Collector { return goCollector{} }

func (goCollector) describe() []*Desc {
	ds := []*Desc{
		{Name: "go_gc_duration_seconds", Help: helpGCDuration, Type: SummaryType},
		{Name: "go_memstats_last_gc_time_seconds", Help: helpLastGC, Type: GaugeType},
		{Name: "go_threads", Help: helpThreads, Type: GaugeType},
		{Name: "go_info", Help: helpGoInfo, Type: GaugeType},
	}
	for _, f := range goFamilies {
		ds = append(ds, &Desc{Name: f.name, Help: f.help, Type: f.t})
	}
	return ds
}

func (goCollector) collect(dst []Family) []Family {
	ss := make([]rm.Sample, len(goSamples))
	for i, n := range goSamples {
		ss[i].Name = n
	}
	rm.Read(ss)
	for _, f := range goFamilies {
		v := 0.0
		for _, i := range f.samples {
			switch ss[i].Value.Kind() {
			case rm.KindUint64:
				v += float64(ss[i].Value.Uint64())
			case rm.KindFloat64:
				v += ss[i].Value.Float64()
			}
		}
		dst = append(dst, Family{Name: f.name, Help: f.help, Type: f.t, Metrics: []Metric{{Value: v}}})
	}
	var gc debug.GCStats
	gc.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&gc)
	qs := make([]Quantile, 5)
	for i, q := range []float64{0, 0.25, 0.5, 0.75, 1} {
		qs[i] = Quantile{Quantile: q, Value: gc.PauseQuantiles[i].Seconds()}
	}
	threads, _ := runtime.ThreadCreateProfile(nil)
	lastGC := 0.0
	if !gc.LastGC.IsZero() {
		lastGC = float64(gc.LastGC.UnixNano()) / 1e9
	}
	return append(dst,
		Family{Name: "go_gc_duration_seconds", Help: helpGCDuration, Type: SummaryType,
			Metrics: []Metric{{Quantiles: qs, Count: uint64(gc.NumGC), Sum: gc.PauseTotal.Seconds()}}},
		Family{Name: "go_memstats_last_gc_time_seconds", Help: helpLastGC, Type: GaugeType, Metrics: []Metric{{Value: lastGC}}},
		Family{Name: "go_threads", Help: helpThreads, Type: GaugeType, Metrics: []Metric{{Value: float64(threads)}}},
		Family{Name: "go_info", Help: helpGoInfo, Type: GaugeType,
			Metrics: []Metric{{Labels: []LabelPair{{"version", runtime.Version()}}, Value: 1}}})
}

// userHZ is the kernel's clock tick for /proc times (USER_HZ, 100 on every
// Linux architecture the boxes run).
const userHZ = 100

type processCollector struct {
	proc string    // /proc, or a test's directory
	boot *bootTime // the boot time, read once (nil: read at every scrape)
}

// bootTime is /proc/stat's btime: it does not change while the process
// runs, so a scrape need not read /proc/stat again for it.
type bootTime struct {
	once sync.Once
	t    float64
	ok   bool
}

// NewProcessCollector returns the collector of the process_* families
// from /proc/self (Linux; elsewhere it exposes nothing).
func NewProcessCollector() Collector { return processCollector{proc: "/proc", boot: &bootTime{}} }

var processFamilies = []struct{ name, help string }{
	{"process_cpu_seconds_total", "Total user and system CPU time spent in seconds."},
	{"process_max_fds", "Maximum number of open file descriptors."},
	{"process_network_receive_bytes_total", "Number of bytes received by the process over the network."},
	{"process_network_transmit_bytes_total", "Number of bytes sent by the process over the network."},
	{"process_open_fds", "Number of open file descriptors."},
	{"process_resident_memory_bytes", "Resident memory size in bytes."},
	{"process_start_time_seconds", "Start time of the process since unix epoch in seconds."},
	{"process_virtual_memory_bytes", "Virtual memory size in bytes."},
	{"process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes."},
}

func (processCollector) describe() []*Desc {
	ds := make([]*Desc, len(processFamilies))
	for i, f := range processFamilies {
		t := GaugeType
		if strings.HasSuffix(f.name, "_total") {
			t = CounterType
		}
		ds[i] = &Desc{Name: f.name, Help: f.help, Type: t}
	}
	return ds
}

func (p processCollector) collect(dst []Family) []Family {
	vals := p.read()
	for _, d := range p.describe() {
		if v, ok := vals[d.Name]; ok {
			dst = append(dst, Family{Name: d.Name, Help: d.Help, Type: d.Type, Metrics: []Metric{{Value: v}}})
		}
	}
	return dst
}

// read returns what it could read; a family it could not is left out.
func (p processCollector) read() map[string]float64 {
	vals := map[string]float64{}
	if b, err := os.ReadFile(p.proc + "/self/stat"); err == nil {
		// the fields after the command (which may hold spaces and parentheses)
		if i := bytes.LastIndexByte(b, ')'); i >= 0 {
			f := strings.Fields(string(b[i+1:]))
			// f[0] is field 3 (state): field n is f[n-3]
			if len(f) >= 22 {
				utime, _ := strconv.ParseFloat(f[11], 64)
				stime, _ := strconv.ParseFloat(f[12], 64)
				start, _ := strconv.ParseFloat(f[19], 64)
				vsize, _ := strconv.ParseFloat(f[20], 64)
				rss, _ := strconv.ParseFloat(f[21], 64)
				vals["process_cpu_seconds_total"] = (utime + stime) / userHZ
				vals["process_virtual_memory_bytes"] = vsize
				vals["process_resident_memory_bytes"] = rss * float64(os.Getpagesize())
				if btime, ok := p.bootTime(); ok {
					vals["process_start_time_seconds"] = btime + start/userHZ
				}
			}
		}
	}
	if ents, err := os.ReadDir(p.proc + "/self/fd"); err == nil {
		vals["process_open_fds"] = float64(len(ents))
	}
	if b, err := os.ReadFile(p.proc + "/self/limits"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			name, soft := limit(line)
			switch name {
			case "Max open files":
				vals["process_max_fds"] = soft
			case "Max address space":
				vals["process_virtual_memory_max_bytes"] = soft
			}
		}
	}
	if b, err := os.ReadFile(p.proc + "/self/net/netstat"); err == nil {
		ip := netstat(string(b), "IpExt:")
		vals["process_network_receive_bytes_total"] = ip["InOctets"]
		vals["process_network_transmit_bytes_total"] = ip["OutOctets"]
	}
	return vals
}

// netstat returns the fields of one section of /proc/self/net/netstat (a
// line of names, then a line of values, both starting with prefix).
func netstat(text, prefix string) map[string]float64 {
	var names []string
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		if names == nil {
			names = strings.Fields(rest)
			continue
		}
		for i, f := range strings.Fields(rest) {
			if v, err := strconv.ParseFloat(f, 64); err == nil && i < len(names) {
				out[names[i]] = v
			}
		}
		break
	}
	return out
}

func (p processCollector) bootTime() (float64, bool) {
	if p.boot == nil {
		return p.readBootTime()
	}
	p.boot.once.Do(func() { p.boot.t, p.boot.ok = p.readBootTime() })
	return p.boot.t, p.boot.ok
}

func (p processCollector) readBootTime() (float64, bool) {
	b, err := os.ReadFile(p.proc + "/stat")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			t, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return t, err == nil
		}
	}
	return 0, false
}

// limit parses a line of /proc/self/limits: the limit's name (the columns
// are fixed at 26 characters for the name) and its soft value, "unlimited"
// being the largest uint64 as client_golang reports it.
func limit(line string) (string, float64) {
	if len(line) < 26 {
		return "", 0
	}
	name := strings.TrimSpace(line[:26])
	f := strings.Fields(line[26:])
	if len(f) == 0 {
		return "", 0
	}
	if f[0] == "unlimited" {
		return name, math.MaxUint64
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "", 0
	}
	return name, v
}
