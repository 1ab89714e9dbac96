package rules

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// seenLag and stateFlush are alarmd's defaults (ingest.seen_flush,
// ingest.state_flush).
const (
	seenLag    = 15 * time.Minute
	stateFlush = 10 * time.Second
)

// TestSeenOnlyReadingsWaitForTheLag: 200 households read every 5 minutes
// for 3 hours under the default rules, the meter still (nothing used,
// nothing learned). The state taken for the store (what the pipeline
// writes every state flush) is about one household in four readings (its
// readings 15 minutes past its last write), not one a reading as before
// DeferSeen; a use still makes its household learned-dirty at once.
func TestSeenOnlyReadingsWaitForTheLag(t *testing.T) {
	e := New(Default())
	e.DeferSeen(seenLag, stateFlush)
	const households = 200
	var m anxin.Message
	read := func(i int, ts time.Time, v float64) {
		m = anxin.Message{ID: fmt.Sprintf("m-%d-%d", i, ts.Unix()), TS: ts, Household: fmt.Sprintf("hh-%04d", i),
			Device: "wm1", Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(v), "battery_low": anxin.Bool(false)}}
		e.Observe(ts, &m)
	}
	taken := func() int { return e.TakeDirty(-1, nil, func(string, []byte) {}) }
	start := at(0, "06:00")
	for i := range households {
		read(i, start, 100)
	}
	if n := taken(); n != households {
		t.Fatalf("first readings: %d states taken, want %d (new households are learned)", n, households)
	}
	// the first hour learns the meters' interval (an hour assumed at first)
	for ts := start.Add(5 * time.Minute); ts.Before(at(0, "07:00")); ts = ts.Add(5 * time.Minute) {
		for i := range households {
			read(i, ts.Add(time.Duration(i)*time.Second), 100)
		}
		taken()
	}
	rows, readings := 0, 0
	for ts := at(0, "07:00"); ts.Before(at(0, "10:00")); ts = ts.Add(5 * time.Minute) {
		for i := range households {
			read(i, ts.Add(time.Duration(i)*time.Second), 100)
			readings++
		}
		rows += taken()
	}
	per := float64(rows) / float64(readings)
	t.Logf("%d states taken for %d readings that learned nothing: %.3f a reading", rows, readings, per)
	if per > 0.3 {
		t.Fatalf("%.3f states taken a reading that learned nothing, want at most 0.3 (one per 15 min of its readings)", per)
	}
	// what is pending is written at shutdown: TakeSeen hands every one
	seen := map[string]bool{}
	e.TakeSeen(50, nil, func(hh string, b []byte) { seen[hh] = true })
	e.TakeSeen(-1, nil, func(hh string, b []byte) { seen[hh] = true })
	if e.TakeSeen(-1, nil, func(string, []byte) {}) != 0 || len(seen) == 0 || len(seen) > households {
		t.Fatalf("TakeSeen handed %d households, then more", len(seen))
	}
	// a use (10 l) is learned: taken at the next state flush
	ts := at(0, "10:00")
	read(7, ts, 100.01)
	if n := e.DirtyCount(); n != 1 {
		t.Fatalf("after a use: %d learned-dirty, want 1", n)
	}
	// a reading that learns nothing costs no allocation
	m = anxin.Message{ID: "m-x", Household: "hh-0008", Device: "wm1", Kind: anxin.KindWaterMeter,
		Fields: anxin.Fields{"total_m3": anxin.Num(100), "battery_low": anxin.Bool(false)}}
	allocs := testing.AllocsPerRun(100, func() {
		ts = ts.Add(5 * time.Second)
		m.TS = ts
		e.Observe(ts, &m)
	})
	if allocs != 0 {
		t.Errorf("%v allocations a reading that learned nothing, want 0", allocs)
	}
}

// TestLearnedChangesAreTakenAtOnce: with DeferSeen, what a reading learns
// (a use, an alarm, a new device, a press) makes its household
// learned-dirty, taken at the next state flush; a reading that only
// advances the meter's time is not, yet DirtyState (the household's batch
// had an effect) still hands its state whole.
func TestLearnedChangesAreTakenAtOnce(t *testing.T) {
	tl := newTimeline(t, waterRules+`
  - {name: button, kind: event, severity: critical, events: [button_pressed]}
`)
	tl.e.DeferSeen(seenLag, stateFlush)
	clean := func() { tl.e.TakeDirty(-1, nil, func(string, []byte) {}) } // what the state flush takes
	learned := func(what string, want bool) {
		t.Helper()
		if got := tl.e.DirtyCount() == 1; got != want {
			t.Errorf("%s: learned-dirty %v, want %v", what, got, want)
		}
		clean()
	}
	tl.reading(at(0, "06:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 100.0)
	learned("first reading", true)
	tl.reading(at(0, "06:05"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 100.0)
	learned("the interval settling from the hour assumed to the meter's 5 min", false)
	for ts := at(0, "06:10"); !ts.After(at(0, "07:25")); ts = ts.Add(5 * time.Minute) {
		tl.reading(ts, "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 100.0)
		clean() // the interval settling (learned), or not
	}
	tl.reading(at(0, "07:30"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 100.001)
	learned("a reading 1 l up, under min_delta", false)
	if st, ok := tl.e.DirtyState("hh-1"); !ok || !bytes.Equal(st, tl.e.State("hh-1")) {
		t.Errorf("DirtyState of a seen-only household: %v", ok)
	}
	if _, ok := tl.e.DirtyState("hh-1"); ok {
		t.Error("DirtyState again: nothing should be pending")
	}
	tl.reading(at(0, "07:35"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 100.02)
	learned("a use", true)
	tl.reading(at(0, "07:37"), "hh-1", "wm2", anxin.KindWaterMeter, "total_m3", 5.0)
	learned("a new meter", true)
	tl.event(at(0, "07:38"), "hh-1", "btn1", anxin.KindCallButton, anxin.EventButtonPressed)
	learned("a press", true)
	tl.e.Closed("hh-1", "button")
	learned("people closed the alarm", true)
	for _, c := range []string{"07:40", "07:45", "07:50"} {
		tl.reading(at(0, c), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 100.02)
		learned("a reading, nothing used, "+c, false)
	}
	tl.reading(at(0, "07:55"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 100.02)
	learned("readings 15 min past the last write", true)
	tl.reading(at(0, "08:05"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 100.02)
	learned("the meter reads less often: the interval grew", true)
	tl.expect("Mon 07:38 open hh-1 button btn1: The call button was pressed at 07:38 (the call button (btn1))")
}

// TestCrashWithDeferredSeenRaisesNoSilence: the meter reads every 5
// minutes; the store holds what the engine handed as learned (the
// pipeline writes it within a state flush), not the readings that only
// advanced the meter's time. alarmd crashes at 07:16 and is back at
// 07:17: the restored last reading is older than the truth (07:15), yet
// no device_silent comes of it (before DeferSeen's restore slack, a
// silence limit shorter than what was forgotten raised it at once:
// docs/alarmd.md, ingest.state_flush), the readings go on without an
// alarm, and when the meter really stops device_silent comes no later
// than the slack after its limit.
func TestCrashWithDeferredSeenRaisesNoSilence(t *testing.T) {
	y := strings.Replace(waterRules, "    silent_after: 25h\n", "", 1) // no_use's default: fresh_within's 2x
	tl := newTimeline(t, y)
	tl.e.DeferSeen(seenLag, stateFlush)
	store := map[string][]byte{}
	v := 100.0
	read := func(tl *timeline, from, to string) time.Time { // a reading every 5 minutes
		var last time.Time
		for ts := at(0, from); !ts.After(at(0, to)); ts = ts.Add(5 * time.Minute) {
			tl.reading(ts, "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
			tl.e.TakeDirty(-1, nil, func(hh string, b []byte) { store[hh] = bytes.Clone(b) })
			last = ts
		}
		return last
	}
	read(tl, "06:00", "07:15")
	tl.expect()
	crashed := maps.Clone(store)
	restored := func() *timeline {
		tl2 := newTimeline(t, y)
		tl2.e.DeferSeen(seenLag, stateFlush)
		tl2.now = at(0, "07:17") // crashed at 07:16, started again
		for hh, b := range crashed {
			if err := tl2.e.RestoreState(hh, b); err != nil {
				t.Fatal(err)
			}
		}
		return tl2
	}
	stored := restored().e.get("hh-1").at(0).t1
	if stored >= at(0, "07:15").Unix() {
		t.Fatalf("the store holds the last reading (%v): nothing was deferred", time.Unix(stored, 0))
	}

	tl2 := restored()
	tl2.advance(at(0, "07:19"))
	read(tl2, "07:20", "09:00")
	tl2.expect() // no device_silent: the meter never stopped

	// a reading the store already holds comes again after the restart
	// (redelivered): no news of the meter, the slack still holds
	tl4 := restored()
	again := anxin.Message{ID: "again", TS: time.Unix(stored, 0), Household: "hh-1", Device: "wm1", Kind: anxin.KindWaterMeter,
		Fields: anxin.Fields{"total_m3": anxin.Num(v)}}
	tl4.record(tl4.e.Observe(tl4.now, &again))
	tl4.advance(at(0, "07:19"))
	read(tl4, "07:20", "09:00")
	tl4.expect()

	tl3 := restored() // the meter stops for good at 07:15
	tl3.advance(at(0, "12:00"))
	if len(tl3.ds) != 1 || tl3.ds[0].Rule != "device_silent" {
		t.Fatalf("the meter stopped at 07:15: %v", tl3.log)
	}
	s := tl3.e.get("hh-1").at(0)
	limit := limit(Silence{Times: 2}, &s)
	early, late := at(0, "07:15").Add(time.Duration(limit)*time.Second), time.Unix(stored+limit+tl3.e.staleSlack, 0)
	if got := tl3.ds[0].At; got.Before(early) || got.After(late) {
		t.Fatalf("device_silent at %v, want between %v (the limit after its last reading) and %v (plus the restore's slack)",
			got.In(shanghai), early.In(shanghai), late.In(shanghai))
	}
	t.Logf("device_silent at %s: limit %ds after the last reading 07:15, slack %ds", tl3.ds[0].At.In(shanghai).Format("15:04:05"),
		limit, tl3.e.staleSlack)
}

// TestCrashWithDeferredSeenKeepsTheQuietPeriod: under the default rules
// (steps, fallback 24 h while it learns) water is last used at 08:00 and
// the meter reads every 5 minutes. alarmd crashes at 20:16 with the
// meter's last readings (20:05–20:15) not in the store (DeferSeen) and is
// back a minute later: the first reading after the restart is no gap (a gap would begin
// the quiet period anew and put the alarm off by 12 hours), and no_water
// comes at 08:00 the next day as it does without the crash.
func TestCrashWithDeferredSeenKeepsTheQuietPeriod(t *testing.T) {
	newEngine := func() *Engine { return New(Default()) }
	read := func(tl *timeline, ts time.Time, v float64) {
		tl.reading(ts, "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
	}
	want, got := acrossCrash(t, newEngine, read, false), acrossCrash(t, newEngine, read, true)
	if len(want) == 0 || !strings.Contains(want[0], "Tue 08:00 open hh-1 no_water") {
		t.Fatalf("without a crash: %v", want)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("with a crash at 20:16:\n%s\n\nwithout:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestCrashWithDeferredSeenKeepsTheQuietPeriodOfTwoMeters: the same over
// two meters in one slot (also_field): the water meter reads at :00, the
// electricity meter, still, 2 minutes later. After the restart the water
// meter is heard first; the electricity meter's last reading in the store
// is as old as the water meter's, and its first reading after the restart
// is no gap either.
func TestCrashWithDeferredSeenKeepsTheQuietPeriodOfTwoMeters(t *testing.T) {
	cfg, err := Parse([]byte(`
rules:
  - name: st
    kind: steps
    device_kinds: [water_meter, power_meter]
    also_field: energy_kwh
    alarm_times: [8h, 24h]
    cost: 48h
    fallback: 24h
`))
	if err != nil {
		t.Fatal(err)
	}
	newEngine := func() *Engine { return New(cfg) }
	read := func(tl *timeline, ts time.Time, v float64) {
		tl.reading(ts, "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
		tl.reading(ts.Add(2*time.Minute), "hh-1", "pm1", anxin.KindPowerMeter, "energy_kwh", 50.0)
	}
	want, got := acrossCrash(t, newEngine, read, false), acrossCrash(t, newEngine, read, true)
	if len(want) == 0 || !strings.Contains(want[0], "Tue 08:00 open hh-1 st") {
		t.Fatalf("without a crash: %v", want)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("with a crash at 20:16:\n%s\n\nwithout:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// acrossCrash runs an engine of newEngine with DeferSeen (alarmd's
// defaults) from 06:00 to 09:00 the next day, read every 5 minutes with
// the water counter v rising 5 l a reading until 08:00, the states taken
// for the store after each round; with crash, alarmd crashes at 20:16 and
// a new engine restores the store at 20:17. It returns the decisions.
func acrossCrash(t *testing.T, newEngine func() *Engine, read func(tl *timeline, ts time.Time, v float64), crash bool) []string {
	t.Helper()
	tl := &timeline{t: t, e: newEngine(), now: day0}
	tl.e.DeferSeen(seenLag, stateFlush)
	store := map[string][]byte{}
	v := 100.0
	for ts := at(0, "06:00"); ts.Before(at(1, "09:00")); ts = ts.Add(5 * time.Minute) {
		if crash && ts.Equal(at(0, "20:20")) {
			tl2 := &timeline{t: t, e: newEngine(), now: at(0, "20:17")}
			tl2.e.DeferSeen(seenLag, stateFlush)
			for hh, b := range store {
				if err := tl2.e.RestoreState(hh, b); err != nil {
					t.Fatal(err)
				}
			}
			tl2.log = tl.log
			tl = tl2
		}
		if ts.Before(at(0, "08:05")) {
			v += 0.005 // used until 08:00, 5 l a reading (not water running)
		}
		read(tl, ts, v)
		tl.e.TakeDirty(-1, nil, func(hh string, b []byte) { store[hh] = bytes.Clone(b) })
	}
	return tl.log
}
