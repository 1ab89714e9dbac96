package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// What a step-gap failure of the cluster failover test has to say for its
// cause to be found from the test's log alone: the faults injected around
// the wait, how late this process's own timers ran then (the whole
// machine's CPU starvation: every process of the test shares 2 cores), and
// what each alarmd logged about the alarm.

// faultLog is the faults the test injected, in order.
type faultLog struct {
	mu      sync.Mutex
	entries []faultEntry
}

type faultEntry struct {
	at   time.Time
	what string // e.g. "kill alarmd a1", "restart nats 2"
}

func (f *faultLog) add(what string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, faultEntry{time.Now(), what})
}

// within are the faults in [from, to].
func (f *faultLog) within(from, to time.Time) []faultEntry {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []faultEntry
	for _, e := range f.entries {
		if !e.at.Before(from) && !e.at.After(to) {
			out = append(out, e)
		}
	}
	return out
}

// lagMeter measures how late a 100 ms ticker of this process fires: on an
// idle machine a few ms; when the machine's runnable threads outnumber its
// cores many times over, seconds. It says whether a slow chain was starved
// of CPU (every alarmd, PostgreSQL and NATS were, alike) or waited on
// something while the machine ran.
type lagMeter struct {
	mu      sync.Mutex
	samples []lagSample
	stop    chan struct{}
	done    chan struct{}
}

type lagSample struct {
	at   time.Time
	late time.Duration
}

const lagTick = 100 * time.Millisecond

func startLagMeter(t testing.TB) *lagMeter {
	m := &lagMeter{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		tk := time.NewTicker(lagTick)
		defer tk.Stop()
		last := time.Now()
		for {
			select {
			case <-m.stop:
				return
			case <-tk.C:
				// a ticker drops ticks it could not deliver: lateness is the
				// interval beyond one tick
				late := max(time.Since(last)-lagTick, 0)
				last = time.Now()
				m.mu.Lock()
				m.samples = append(m.samples, lagSample{last, late})
				m.mu.Unlock()
			}
		}
	}()
	t.Cleanup(m.close)
	return m
}

func (m *lagMeter) close() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}

// in sums the lateness of the ticks in [from, to] and gives the worst one:
// the time this process could not run in that window.
func (m *lagMeter) in(from, to time.Time) (total, worst time.Duration, worstAt time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.samples {
		if s.at.Before(from) || s.at.After(to.Add(lagTick)) {
			continue
		}
		total += s.late
		if s.late > worst {
			worst, worstAt = s.late, s.at
		}
	}
	return total, worst, worstAt
}

// alarmLines are the lines of the alarmd logs (one output per instance, by
// name) that mention alarm, as "time instance msg {fields}", in time order.
func alarmLines(outputs map[string]string, alarm string) []string {
	type line struct {
		at   time.Time
		text string
	}
	var ls []line
	for inst, out := range outputs {
		for _, l := range strings.Split(out, "\n") {
			if !strings.Contains(l, alarm) {
				continue
			}
			var j map[string]any
			if json.Unmarshal([]byte(l), &j) != nil {
				continue
			}
			s, _ := j["time"].(string)
			at, _ := time.Parse(time.RFC3339Nano, s)
			msg, _ := j["msg"].(string)
			for _, k := range []string{"time", "msg", "level", "component"} {
				delete(j, k)
			}
			rest, _ := json.Marshal(j)
			ls = append(ls, line{at, fmt.Sprintf("%s %s %s %s", at.UTC().Format("15:04:05.000"), inst, msg, rest)})
		}
	}
	slices.SortStableFunc(ls, func(a, b line) int { return a.at.Compare(b.at) })
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.text
	}
	return out
}

// explainGap says what happened around a wait of a chain between two step
// calls at from and to, longer than design (ack timeout + lease + poll: a
// step's wait, and a take-over after its owner died): the verdict first
// (starved, or waiting while the machine ran), then the facts it rests on.
func explainGap(faults *faultLog, lag *lagMeter, outputs map[string]string, alarm string, from, to time.Time, design, lease time.Duration) string {
	var b strings.Builder
	total, worst, worstAt := lag.in(from, to)
	gap := to.Sub(from)
	if excess := gap - design; total >= excess {
		fmt.Fprintf(&b, "verdict: CPU starvation: this test process's 100 ms ticker ran %s late in total during the %s wait (worst %s at %s), at least the %s beyond design (%s)",
			total.Round(time.Millisecond), gap.Round(time.Millisecond), worst.Round(time.Millisecond), worstAt.UTC().Format("15:04:05.000"),
			excess.Round(time.Millisecond), design)
	} else {
		fmt.Fprintf(&b, "verdict: not CPU starvation alone: this test process's 100 ms ticker ran only %s late in total during the %s wait (worst %s), less than the %s beyond design (%s): the chain waited on something while the machine ran",
			total.Round(time.Millisecond), gap.Round(time.Millisecond), worst.Round(time.Millisecond), excess.Round(time.Millisecond), design)
	}
	fs := faults.within(from.Add(-2*lease), to)
	if len(fs) == 0 {
		b.WriteString("\nno fault injected from two leases before the first call to the second")
	}
	for _, f := range fs {
		fmt.Fprintf(&b, "\nfault %s at %s (%+.1fs after the first call)", f.what, f.at.UTC().Format("15:04:05.000"), f.at.Sub(from).Seconds())
	}
	lines := alarmLines(outputs, alarm)
	const most = 60
	if len(lines) > most {
		lines = lines[:most]
	}
	b.WriteString("\nthe alarm in the alarmd logs:")
	for _, l := range lines {
		b.WriteString("\n  " + l)
	}
	return b.String()
}
