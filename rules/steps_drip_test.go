package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// dripKeys is a steps rule that counts 1 l as life for its early step and
// 3 l as use for its last one.
const dripKeys = "    alarm_times: [8h, 24h]\n    min_delta: 0.003\n    life_delta: 0.001\n"

// dripAfterMorning runs 20 ordinary days (uses of 20 l), then day 20 up to
// its 07:30 use, then a tap that drips 1 l at every hourly reading for
// 48 h; with gap, no reading from 12:30 to 17:30 (the counter 5 l higher
// after it). It returns the timeline.
func dripAfterMorning(t *testing.T, keys string, gap bool) *timeline {
	tl := newTimeline(t, stepsRules(keys))
	v := routine(tl, "hh-1", 0, 20, 100)
	tl.ds, tl.log = nil, nil
	for _, c := range []string{"00:00", "00:30", "01:00", "01:30", "02:00", "02:30", "03:00", "03:30", "04:00", "04:30", "05:00", "05:30", "06:00", "06:30", "07:00", "07:30"} {
		if c == "07:00" || c == "07:30" {
			v += 0.02
		}
		tl.reading(at(20, c), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
	}
	if gap {
		v = tl.meter("hh-1", at(20, "08:30"), at(20, "13:30"), v+0.001, 0.001)
		tl.meter("hh-1", at(20, "17:30"), at(22, "07:30"), v+0.004, 0.001)
		return tl
	}
	tl.meter("hh-1", at(20, "08:30"), at(22, "07:30"), v+0.001, 0.001)
	return tl
}

// TestStepsDripRingsAtLastStep: an elder who stops after the 07:30 use
// while a tap drips 1 l an hour. Counting every 1 l rise as use
// (min_delta: 0.001) the quiet period restarts every hour and the rule
// never rings; with life_delta the drip holds off the 8 h step but the
// 24 h step runs on the 3 l clock and rings at 07:30 the next day, and
// the drip does not close that alarm. The same when the readings stop for
// 5 h (the drip's 5 l across the gap is not a use).
func TestStepsDripRingsAtLastStep(t *testing.T) {
	if o := opens(dripAfterMorning(t, "    alarm_times: [8h, 24h]\n    min_delta: 0.001\n", false)); len(o) != 0 {
		t.Fatalf("1 l as use: alarms %v, want none (a drip blinds it)", o)
	}
	tl := dripAfterMorning(t, dripKeys, false)
	o := opens(tl)
	if len(o) != 1 || !o[0].At.Equal(at(21, "07:30")) {
		t.Fatalf("life_delta: alarms %v, want one at 07:30 the next day (24 h)", tl.log)
	}
	if g := opens(dripAfterMorning(t, dripKeys, true)); len(g) != 1 || !g[0].At.Equal(at(21, "07:30")) {
		t.Errorf("life_delta, a 5 h gap in the drip: alarms %v, want one at 07:30 the next day", g)
	}
	if d := o[0]; d.Cause.Code != anxin.CauseNoUse || !d.Cause.Since.Equal(at(20, "07:30")) || !strings.HasPrefix(d.Reason, "no water used since 07:30 yesterday (24 h)") {
		t.Errorf("decision %+v", d)
	}
	for _, d := range tl.ds {
		if d.Op == OpClose {
			t.Errorf("the drip closed the alarm: %v", tl.log)
		}
	}
}

// TestStepsLifeDeltaRestartsEarlyStep: the quiet morning of
// TestStepsAlarmTimes, with a glass of water (1 l) at 10:00. Without
// life_delta the 1 l is not use and the 8 h step rings at 15:30; with it
// the early step's clock restarts at 10:00 and rings at 18:00. A 3 l use
// at 10:00 ends the period on both clocks alike.
func TestStepsLifeDeltaRestartsEarlyStep(t *testing.T) {
	quiet := func(keys string, rise float64) time.Time {
		tl := newTimeline(t, stepsRules(keys))
		v := routine(tl, "hh-1", 0, 20, 100)
		tl.ds, tl.log = nil, nil
		for m := 0; m < 24*60; m += 30 {
			clock := time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format("15:04")
			switch clock {
			case "07:00", "07:30":
				v += 0.02
			case "10:00":
				v += rise
			}
			tl.reading(at(20, clock), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
		}
		return firstOpen(tl)
	}
	for _, c := range []struct {
		keys string
		rise float64
		want string
	}{
		{"    alarm_times: [8h, 24h]\n    min_delta: 0.003\n", 0.001, "15:30"},
		{dripKeys, 0.001, "18:00"},
		{dripKeys, 0.003, "18:00"},
	} {
		if got := quiet(c.keys, c.rise); !got.Equal(at(20, c.want)) {
			t.Errorf("%q, %g l at 10:00: alarm at %v, want %s", c.keys, c.rise*1000, got.In(shanghai), c.want)
		}
	}
}

// TestStepsLifeDeltaStateSurvivesRestart: the late clock is persisted
// with the rest; a restored engine rings alike.
func TestStepsLifeDeltaStateSurvivesRestart(t *testing.T) {
	checkRestoreRingsAlike(t, stepsRules(dripKeys), func(_ *timeline, n int) bool { return n >= stHalf.size && n <= stHalf.size+100 })
}

// TestStepsOldStateRestores: a state saved before life_delta (its ext of
// stExtV1 bytes, the week layout every split had then) restores into a
// rule with life_delta and split: weekend: the counts are kept (the quiet
// morning rings at its learned 8 h step) and the late clock starts from
// the last use.
func TestStepsOldStateRestores(t *testing.T) {
	tl := newTimeline(t, stepsRules(dripKeys))
	v := routine(tl, "hh-1", 0, 20, 100)
	h := tl.e.get("hh-1")
	s := h.at(0)
	s.ext = stWeekOf(s.ext)[:stExtV1] // as the code before life_delta saved it
	h.store(0, &s)
	if tl2 := restoredMorning(t, tl, stepsRules(dripKeys), v); len(opens(tl2)) != 1 || !opens(tl2)[0].At.Equal(at(20, "15:30")) {
		t.Errorf("restored old state: alarms %v, want one at 15:30", tl2.log)
	}
}

// restoredMorning restores hh-1's state in tl into a new engine of rules
// y and runs day 20's quiet morning (morningOnly, the counter at v)
// through it.
func restoredMorning(t *testing.T, tl *timeline, y string, v float64) *timeline {
	t.Helper()
	tl2 := newTimeline(t, y)
	tl2.now = tl.now
	if err := tl2.e.RestoreState("hh-1", tl.e.State("hh-1")); err != nil {
		t.Fatal(err)
	}
	morningOnly(tl2, "hh-1", 20, v)
	return tl2
}

func TestStepsLifeDeltaConfigErrors(t *testing.T) {
	for _, keys := range []string{
		"    alarm_times: [8h, 24h]\n    life_delta: -0.001\n",
		"    alarm_times: [8h, 24h]\n    min_delta: 0.003\n    life_delta: 0.003\n",
		"    alarm_times: [8h, 24h]\n    life_delta: 0.02\n", // min_delta defaults to 0.01
	} {
		_, err := Parse([]byte(stepsRules(keys)))
		if err == nil || !strings.Contains(err.Error(), "life_delta: must be above 0 and below min_delta") {
			t.Errorf("%q: %v", keys, err)
		}
	}
}

// BenchmarkStepsLifeDeltaObserve: BenchmarkStepsObserve's households
// through the drip-safe steps rule (docs/rules.md's drop-in).
func BenchmarkStepsLifeDeltaObserve(b *testing.B) {
	benchHourly(b, `
rules:
  - {name: no_water_24h, kind: no_use, field: total_m3, min_delta: 0.01, for: 24h}
  - {name: st, kind: steps, min_delta: 0.003, life_delta: 0.001, cost: 6400h, alarm_times: [8h, 24h, 36h], late_share: 0.04, split: week, per_quiet: 8, after_gap: 1m, neighbours: 0.5, memory: 365d, fallback: 24h, silent_after: 25h, silent_rule: st_silent}
`)
}

// TestStepsLateAlarmAfterPeopleClosed: the quiet morning rings its 8 h
// step at 15:30; people close that alarm. With no use since, the 24 h step
// still rings at 07:30 the next day (a new condition, as the fixed rule's);
// a 1 l rise does not close it, a use of 20 l does.
func TestStepsLateAlarmAfterPeopleClosed(t *testing.T) {
	tl := newTimeline(t, stepsRules(dripKeys))
	v := routine(tl, "hh-1", 0, 20, 100)
	tl.ds, tl.log = nil, nil
	wm := func(d int, clock string) {
		tl.reading(at(d, clock), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
	}
	for m := 0; m <= 16*60; m += 30 {
		clock := time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format("15:04")
		if clock == "07:00" || clock == "07:30" {
			v += 0.02
		}
		wm(20, clock)
	}
	if o := opens(tl); len(o) != 1 || !o[0].At.Equal(at(20, "15:30")) {
		t.Fatalf("alarms %v, want the 8 h step at 15:30", tl.log)
	}
	tl.e.Closed("hh-1", "st")
	tl.ds, tl.log = nil, nil
	for m := 16*60 + 30; m < 32*60+30; m += 30 {
		wm(20+m/(24*60), time.Date(0, 1, 1, m/60%24, m%60, 0, 0, time.UTC).Format("15:04"))
	}
	v += 0.001
	wm(21, "08:30")
	v += 0.02
	wm(21, "09:00")
	tl.expect(
		"Mon 07:30 open hh-1 st wm1: no water used since 07:30 yesterday (24 h)",
		"Mon 09:00 close hh-1 st wm1: Water used again at 09:00",
	)
}

// FuzzStepsLifeDeltaDecisions: FuzzEngineDecisions's invariants (no open
// while open, no close while closed, deadlines move on) for the drip-safe
// rule, its two clocks and its alarm that small rises do not close; the
// same with a drip run (drip_run).
func FuzzStepsLifeDeltaDecisions(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("\x00\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0\x01\x11\x21"))
	cfg, err := Parse([]byte(`
rules:
  - {name: no_water, kind: steps, device_kinds: [water_meter], min_delta: 0.003, life_delta: 0.001, alarm_times: [1h, 2h, 3h], late_share: 0.1, warm_up: 1d, fallback: 2h, after_gap: 1m, silent_after: 5h}
  - {name: no_water_run, kind: steps, device_kinds: [water_meter], min_delta: 0.003, life_delta: 0.001, drip_run: 1h, alarm_times: [1h, 2h, 3h], late_share: 0.1, warm_up: 1d, fallback: 2h, after_gap: 1m, silent_after: 5h, silent_rule: silent_run}
`))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) <= 4096 {
			runInvariant(t, cfg, b)
		}
	})
}

// TestStepsLateClockAfterVariantWithout: a household whose tier's variant
// has no life_delta (overrides) runs weeks on it, then goes back to the
// drip-safe variant. The late clock it left behind is weeks old: it must
// start again with the quiet period, not ring at once for a home that
// used water every day.
func TestStepsLateClockAfterVariantWithout(t *testing.T) {
	tl := newTimeline(t, stepsRules(dripKeys+"    overrides:\n      tier:\n        high: {life_delta: 0}\n"))
	v := routine(tl, "hh-1", 0, 20, 100)
	tl.e.SetHousehold("hh-1", anxin.TierHigh)
	v = routine(tl, "hh-1", 20, 40, v)
	tl.e.SetHousehold("hh-1", anxin.TierGeneral)
	tl.ds, tl.log = nil, nil
	routine(tl, "hh-1", 40, 45, v)
	if o := opens(tl); len(o) != 0 {
		t.Errorf("back on life_delta after 20 days without: alarms %v, want none", tl.log)
	}
}
