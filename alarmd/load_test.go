package alarmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/oklog/ulid/v2"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/internal/testenv"
)

// latencyEscalator records when each alarm was escalated, by its
// message's id (a ULID: its ms time is the publisher's stamp).
type latencyEscalator struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (e *latencyEscalator) Escalate(_ context.Context, a anxin.Alarm) error {
	now := time.Now()
	if _, err := ulid.Parse(a.MessageID); err != nil {
		return err
	}
	e.mu.Lock()
	if e.at == nil {
		e.at = make(map[string]time.Time)
	}
	e.at[a.MessageID] = now
	e.mu.Unlock()
	return nil
}

// latencies is, for each alarm, the time from its message's creation to
// its escalation, sorted.
func (e *latencyEscalator) latencies() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	lat := make([]time.Duration, 0, len(e.at))
	for id, esc := range e.at {
		lat = append(lat, esc.Sub(ulid.Time(ulid.MustParse(id).Time())))
	}
	slices.Sort(lat)
	return lat
}

// idleSubscriber is a second subscriber to the presses alone, doing nothing
// else: the time a press takes to reach it is the publisher's and the
// broker's share of event-to-alarm latency, whatever alarmd does.
type idleSubscriber struct {
	mu sync.Mutex
	at map[string]time.Time // message id → arrival
}

func subscribeIdle(t *testing.T, url, filter string) *idleSubscriber {
	t.Helper()
	s := &idleSubscriber{at: make(map[string]time.Time)}
	onMsg := func(_ paho.Client, m paho.Message) {
		now := time.Now()
		var msg struct{ ID string }
		if json.Unmarshal(m.Payload(), &msg) == nil {
			s.mu.Lock()
			s.at[msg.ID] = now
			s.mu.Unlock()
		}
	}
	// subscribed on every connect: a starved box can drop the session (its
	// keep-alive), and paho's reconnect with a clean session would leave
	// it subscribed to nothing for the rest of a long run
	subscribed := make(chan error, 1)
	opts := paho.NewClientOptions().AddBroker(url).SetClientID("idle-sub").SetOrderMatters(false).
		SetOnConnectHandler(func(c paho.Client) {
			tok := c.Subscribe(filter, 1, onMsg)
			go func() {
				tok.Wait()
				select {
				case subscribed <- tok.Error():
				default:
				}
			}()
		})
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("idle subscriber: connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("idle subscriber: subscribe: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("idle subscriber: subscribe: no answer in 30s")
	}
	return s
}

// shares splits each press's latency at the idle subscriber's arrival:
// publisher and broker before it, alarmd after it (arrival to
// escalation); both sorted.
func (s *idleSubscriber) shares(e *latencyEscalator) (broker, alarmd []time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, esc := range e.at {
		if arr, ok := s.at[id]; ok {
			broker = append(broker, arr.Sub(ulid.Time(ulid.MustParse(id).Time())))
			alarmd = append(alarmd, esc.Sub(arr))
		}
	}
	slices.Sort(broker)
	slices.Sort(alarmd)
	return broker, alarmd
}

func (e *latencyEscalator) Resolve(context.Context, string, string) error { return nil }

func (e *latencyEscalator) n() int { e.mu.Lock(); defer e.mu.Unlock(); return len(e.at) }

// contextSwitches is how often this process's threads gave up a CPU,
// voluntarily (waiting: futex, epoll) or not.
func contextSwitches() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Nvcsw + ru.Nivcsw
}

// peakRSS is this process's peak resident set (VmHWM), in MiB.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

// envDur is the duration in k, def when it is unset.
func envDur(t *testing.T, k string, def time.Duration) time.Duration {
	v := os.Getenv(k)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	return d
}

// TestIntegrationLoadMosquittoToVictoriaMetrics is the sustained-load
// measurement: cmd/anxin-load (its own process) publishes readings and
// button presses to a real mosquitto; this process runs alarmd (validation,
// de-dup, rules, SQLite, archive into a real VictoriaMetrics). Reported:
// readings/s end to end, alarmd's CPU per reading, peak RSS, and
// event-to-alarm latency p50/p99 under that load. ANXIN_LOAD_N sets the
// number of readings (default 300,000), ANXIN_LOAD_RATE a fixed publishing
// rate (default: as fast as a window of QoS 1 messages in flight allows,
// where latency is mostly the time spent queued behind the backlog);
// ANXIN_LOAD_READ_PACE overrides mqtt.read_pace (e.g. 0s: not paced),
// ANXIN_LOAD_STATE_FLUSH ingest.state_flush;
// ANXIN_LOAD_HOUSEHOLDS the households (default 10,000); ANXIN_LOAD_USE_EVERY
// anxin-load's -use-every (default 1: every reading after a household's
// first is a use of 10 l; larger: most readings only advance the meter's
// time, as at home, where a few of 288 readings a day show a use); ANXIN_LOAD_WARM=k
// first sends each household k readings (1 if not a number), not measured,
// the meters still (steady state: a household's second reading still sets
// up rule state, e.g. the water rule's late clock, which a district running
// for days has long done);
// ANXIN_LOAD_CPUPROFILE=file profiles the measured pass;
// ANXIN_LOAD_HEAPPROFILE=file writes the heap in use after it (what holds
// the bytes a household).
func TestIntegrationLoadMosquittoToVictoriaMetrics(t *testing.T) {
	if os.Getenv("ANXIN_LONG") == "" {
		t.Skip("long load test: set ANXIN_LONG=1")
	}
	n := envInt("ANXIN_LOAD_N", 300_000)
	households := envInt("ANXIN_LOAD_HOUSEHOLDS", 10_000)
	events := envInt("ANXIN_LOAD_EVENTS", 300)
	bin := filepath.Join(t.TempDir(), "anxin-load")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/anxin-load").CombinedOutput(); err != nil {
		t.Fatalf("build anxin-load: %v\n%s", err, out)
	}
	// the deployment setting (docs/deployment.md): a window of a few batches bounds
	// what alarmd holds when the publisher outruns it
	mq := testenv.StartMosquittoConf(t, "max_inflight_messages 10000")
	vm := testenv.StartVictoriaMetrics(t)
	cfg := testConfig(t)
	cfg.MQTT.Broker = anxin.MustBrokerURL(mq.URL)
	cfg.Influx.URL = vm.URL
	// defaults: the config's
	cfg.MQTT.ReadPace = envDur(t, "ANXIN_LOAD_READ_PACE", cfg.MQTT.ReadPace)
	cfg.Ingest.StateFlush = envDur(t, "ANXIN_LOAD_STATE_FLUSH", cfg.Ingest.StateFlush)
	// alarmd believes only the register's kit: anxin-load's households
	// (hh-NNNNNN, meter wm1) and its press households (ev-NNNNNN, btn1)
	if err := os.WriteFile(cfg.HouseholdsFile, []byte(loadHouseholds(households, events)), 0o600); err != nil {
		t.Fatal(err)
	}
	esc := &latencyEscalator{}
	reg := metrics.NewRegistry()
	m := &Main{Config: cfg, Escalator: esc, Metrics: reg}
	stop := startMain(t, m)

	idle := subscribeIdle(t, mq.URL, "anxin/v1/+/btn1/event")
	type published struct {
		Readings, Events int
		PerSecond        float64 `json:"published_per_second"`
	}
	// load runs anxin-load and waits until alarmd has taken all it sent
	// (after earlier messages: base received and archived)
	load := func(n, events, rate, useEvery int, base float64) published {
		t.Helper()
		out, err := exec.Command(bin, "-broker", mq.URL, "-n", strconv.Itoa(n), "-households", strconv.Itoa(households),
			"-events", strconv.Itoa(events), "-rate", strconv.Itoa(rate), "-use-every", strconv.Itoa(useEvery)).Output()
		if err != nil {
			t.Fatalf("anxin-load: %v %s", err, out)
		}
		var pub published
		if err := json.Unmarshal(out, &pub); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "every message through ingest and the archive", 15*time.Minute, func() bool {
			return counter(t, reg, "anxin_ingest_received_total", "") >= base+float64(pub.Readings+pub.Events) &&
				counter(t, reg, "anxin_archive_written_total", "")+counter(t, reg, "anxin_archive_dropped_total", "") >= base+float64(pub.Readings) &&
				esc.n() >= pub.Events
		})
		return pub
	}
	var warm float64
	if os.Getenv("ANXIN_LOAD_WARM") != "" {
		// a first pass, not measured, gives every household its state, so the
		// measured pass is the steady state of a district already running
		passes := max(envInt("ANXIN_LOAD_WARM", 1), 1)
		warm = float64(load(passes*households, 0, 0, passes, 0).Readings)
		t.Logf("load: warm pass, every one of %d households seen %d times", households, passes)
	}
	if path := os.Getenv("ANXIN_LOAD_CPUPROFILE"); path != "" { // the measured pass only
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	cpu0, cs0, start := testenv.SelfCPU(), contextSwitches(), time.Now()
	rows0 := counter(t, reg, "anxin_ingest_rule_states_written_total", "")
	pub := load(n, events, envInt("ANXIN_LOAD_RATE", 0), envInt("ANXIN_LOAD_USE_EVERY", 1), warm)
	total := float64(pub.Readings + pub.Events)
	elapsed, cpu, cs := time.Since(start), testenv.SelfCPU()-cpu0, contextSwitches()-cs0
	if r := counter(t, reg, "anxin_ingest_rejected_total", ""); r != 0 {
		t.Fatalf("%v messages rejected", r)
	}
	dropped := counter(t, reg, "anxin_archive_dropped_total", "")
	var mem runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&mem)
	t.Logf("load: heap in use after the run %.0f MiB, %.0f bytes per household (register, rule state, de-dup window, buffers)",
		float64(mem.HeapAlloc)/(1<<20), float64(mem.HeapAlloc)/float64(households))
	if path := os.Getenv("ANXIN_LOAD_HEAPPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	lat := esc.latencies()
	q := func(p float64) time.Duration { return care.Percentile(lat, p*100) }
	t.Logf("load: %d readings + %d events from mosquitto through alarmd into VictoriaMetrics in %.2fs: %.0f readings/s end to end (publisher alone %.0f/s)",
		pub.Readings, pub.Events, elapsed.Seconds(), total/elapsed.Seconds(), pub.PerSecond)
	t.Logf("load: alarmd CPU %.1f µs/reading, %.2f context switches/reading, peak RSS %.0f MiB, archive dropped %v",
		float64(cpu.Microseconds())/total, float64(cs)/total, peakRSS(), dropped)
	rows := counter(t, reg, "anxin_ingest_rule_states_written_total", "") - rows0
	t.Logf("load: rule states written in the measured pass %.0f, %.3f rows a reading", rows, rows/float64(pub.Readings))
	t.Logf("load: inside alarmd (arrival → committed): p50 ≤ %s, p99 ≤ %s; commits p50 ≤ %s, p99 ≤ %s, max ≤ %s",
		histQuantile(t, reg, "anxin_alarm_open_latency_seconds", 0.5), histQuantile(t, reg, "anxin_alarm_open_latency_seconds", 0.99),
		histQuantile(t, reg, "anxin_ingest_commit_seconds", 0.5), histQuantile(t, reg, "anxin_ingest_commit_seconds", 0.99),
		histQuantile(t, reg, "anxin_ingest_commit_seconds", 1))
	t.Logf("load: event-to-alarm latency p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d alarms",
		ms(q(0.5)), ms(q(0.99)), ms(lat[len(lat)-1]), len(lat))
	// the same presses split where an idle second subscriber got them
	broker, own := idle.shares(esc)
	if len(broker) == 0 {
		t.Fatal("the idle subscriber got none of the presses")
	}
	t.Logf("load: of which publisher → broker → an idle subscriber p50 %.1f ms, p99 %.1f ms; that arrival → alarmd's escalation p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d presses)",
		ms(care.Percentile(broker, 50)), ms(care.Percentile(broker, 99)),
		ms(care.Percentile(own, 50)), ms(care.Percentile(own, 99)), ms(own[len(own)-1]), len(own))
	// shutdown writes the rule states still pending (ingest.seen_flush's
	// for at most 10 s): how long, and how many
	rows = counter(t, reg, "anxin_ingest_rule_states_written_total", "")
	down := time.Now()
	stop()
	t.Logf("load: shutdown in %.1fs, writing %.0f pending rule states", time.Since(down).Seconds(),
		counter(t, reg, "anxin_ingest_rule_states_written_total", "")-rows)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// histQuantile is the upper bound of the bucket holding quantile q.
func histQuantile(t *testing.T, reg *metrics.Registry, name string, q float64) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.Name != name || len(mf.Metrics) == 0 {
			continue
		}
		h := mf.Metrics[0]
		want := q * float64(h.Count)
		for _, b := range h.Buckets {
			if float64(b.Count) >= want {
				return time.Duration(b.UpperBound * float64(time.Second)).String()
			}
		}
		return "the last bucket (+Inf)"
	}
	return "no samples"
}

// loadHouseholds lists anxin-load's households with their devices.
func loadHouseholds(readings, events int) string {
	var b strings.Builder
	writeLoadHouseholds(&b, readings, events)
	return b.String()
}

// writeLoadHouseholds writes loadHouseholds' file to w (a large one
// without holding it in memory).
func writeLoadHouseholds(w io.Writer, readings, events int) {
	io.WriteString(w, "households:\n")
	add := func(id, device, kind string, i int) {
		fmt.Fprintf(w, "  - id: %s\n    elder: {name: 张桂兰, address: 善广乡一村, tier: general}\n", id)
		fmt.Fprintf(w, "    contacts: [{name: 李明, relation: child, phone: \"+86139%08d\"}]\n", i)
		fmt.Fprintf(w, "    devices: [{id: %s, kind: %s}]\n", device, kind)
	}
	for i := range readings {
		add(fmt.Sprintf("hh-%06d", i), "wm1", "water_meter", i)
	}
	for k := range events + 1 {
		add(fmt.Sprintf("ev-%06d", k), "btn1", "call_button", k)
	}
}
