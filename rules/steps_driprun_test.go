package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// runKeys is dripKeys with the run detector: a small rise is a sign of
// life for the last step too, unless it is part of a steady run of 6 h.
const runKeys = dripKeys + "    drip_run: 6h\n"

// TestStepsDripRunRingsAtLastStep: the drip of TestStepsDripRingsAtLastStep
// (1 l at every hourly reading from 08:30, after the 07:30 use). Its first
// rises restart the last step's clock too, but at 14:30 they have run 6 h
// with no hole: a drip. The clock goes back to the last sign of life
// before the run (the 07:30 use) and rings 24 h after it, not after the
// last rise; the drip does not close that alarm. The same when the
// readings stop for 4 h (the rise across the gap carries the run on).
func TestStepsDripRunRingsAtLastStep(t *testing.T) {
	for _, gap := range []bool{false, true} {
		tl := dripAfterMorning(t, runKeys, gap)
		o := opens(tl)
		if len(o) != 1 || !o[0].At.Equal(at(21, "07:30")) {
			t.Fatalf("gap %v: alarms %v, want one at 07:30 the next day (24 h)", gap, tl.log)
		}
		if d := o[0]; d.Cause.Code != anxin.CauseNoUse || !d.Cause.Since.Equal(at(20, "07:30")) || !strings.HasPrefix(d.Reason, "no water used since 07:30 yesterday (24 h)") {
			t.Errorf("gap %v: decision %+v", gap, d)
		}
		for _, d := range tl.ds {
			if d.Op == OpClose {
				t.Errorf("gap %v: the drip closed the alarm: %v", gap, tl.log)
			}
		}
	}
}

// frugalDay runs 20 ordinary days, then day 20: the 07:00 and 07:30 uses,
// then only glasses of water (1 l) at irregular times — 10:00, 14:00,
// 19:00, 23:00, and 06:00, 09:30 on day 21 — and a use of 20 l at 11:00
// on day 21: no 3 l within an hour for 27 h 30 min. Readings every 30 min.
func frugalDay(t *testing.T, keys string) *timeline {
	tl := newTimeline(t, stepsRules(keys))
	v := routine(tl, "hh-1", 0, 20, 100)
	tl.ds, tl.log = nil, nil
	rise := map[string]float64{"20 07:00": 0.02, "20 07:30": 0.02, "20 10:00": 0.001, "20 14:00": 0.001, "20 19:00": 0.001, "20 23:00": 0.001,
		"21 06:00": 0.001, "21 09:30": 0.001, "21 11:00": 0.02}
	for m := 20 * 24 * 60; m < 21*24*60+12*60; m += 30 {
		d, clock := m/(24*60), time.Date(0, 1, 1, m/60%24, m%60, 0, 0, time.UTC).Format("15:04")
		v += rise[fmt.Sprintf("%d %s", d, clock)]
		tl.reading(at(d, clock), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
	}
	return tl
}

// TestStepsDripRunFrugalDay: a day with only irregular small rises after
// the morning's use. With life_delta alone the last step runs on the 3 l
// clock and rings at 07:30 on day 21 (a false alarm: the elder drank water
// all day); with drip_run the irregular rises are signs of life for it too
// (no two of them within 3 h, no run) and nothing rings — no quiet lasted
// 8 h either.
func TestStepsDripRunFrugalDay(t *testing.T) {
	if o := opens(frugalDay(t, dripKeys)); len(o) != 1 || !o[0].At.Equal(at(21, "07:30")) {
		t.Fatalf("life_delta alone: alarms %v, want one at 07:30 on day 21 (the 3 l clock)", o)
	}
	if tl := frugalDay(t, runKeys); len(opens(tl)) != 0 {
		t.Errorf("drip_run: alarms %v, want none", tl.log)
	}
}

// TestStepsDripRunStartsAtEmergency: the elder drinks a glass of water at
// 10:00 after the morning's use and falls; a tap drips 1 l an hour from
// 14:00 (a drip that began within 3 h of the glass would take the glass
// for its first drop: it could not be told from one). The glass was the
// last sign of life: once the drip has run 6 h the last step's clock goes
// back to 10:00 (not to the 07:30 use, nor to the last drop) and rings at
// 10:00 the next day.
func TestStepsDripRunStartsAtEmergency(t *testing.T) {
	tl := newTimeline(t, stepsRules(runKeys))
	v := routine(tl, "hh-1", 0, 20, 100)
	tl.ds, tl.log = nil, nil
	for m := 0; m <= 10*60; m += 30 {
		clock := time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format("15:04")
		switch clock {
		case "07:00", "07:30":
			v += 0.02
		case "10:00":
			v += 0.001
		}
		tl.reading(at(20, clock), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
	}
	v = tl.meter("hh-1", at(20, "11:00"), at(20, "14:00"), v, 0)
	tl.meter("hh-1", at(20, "14:00"), at(22, "07:00"), v+0.001, 0.001)
	o := opens(tl)
	if len(o) != 1 || !o[0].At.Equal(at(21, "10:00")) || !o[0].Cause.Since.Equal(at(20, "10:00")) {
		t.Fatalf("alarms %v, want one at 10:00 the next day, since 10:00", tl.log)
	}
}

// TestStepsDripRunEndsWithAUse: a drip runs all night (1 l an hour); a
// use of 20 l at 07:00 ends the run, so a glass of water at 08:00 — an
// hour after the last rise — is a sign of life, not the drip going on: the
// 24 h step counts from it. (alarm_times [24h]: only the last step rings.)
func TestStepsDripRunEndsWithAUse(t *testing.T) {
	tl := newTimeline(t, stepsRules("    alarm_times: [24h]\n    min_delta: 0.003\n    life_delta: 0.001\n    drip_run: 6h\n"))
	v := routine(tl, "hh-1", 0, 20, 100)
	tl.ds, tl.log = nil, nil
	v = tl.meter("hh-1", at(20, "00:00"), at(20, "07:00"), v, 0.001) // a drip
	v += 0.02
	tl.reading(at(20, "07:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v) // a use
	v += 0.001
	tl.meter("hh-1", at(20, "08:00"), at(21, "14:00"), v, 0) // a glass at 08:00, then nothing
	o := opens(tl)
	if len(o) != 1 || !o[0].At.Equal(at(21, "08:00")) || !o[0].Cause.Since.Equal(at(20, "08:00")) {
		t.Fatalf("alarms %v, want one at 08:00 the next day, since 08:00", tl.log)
	}
}

// TestStepsDripRunStateSurvivesRestart: the run is persisted with the
// rest (in the second signal's bytes: no more state); a restored engine
// rings alike, and a state saved before drip_run restores.
func TestStepsDripRunStateSurvivesRestart(t *testing.T) {
	checkRestoreRingsAlike(t, stepsRules(runKeys), func(_ *timeline, n int) bool { return n >= stHalf.size && n <= stHalf.size+100 })
	tl := newTimeline(t, stepsRules(dripKeys))
	v := routine(tl, "hh-1", 0, 20, 100)
	tl2 := restoredMorning(t, tl, stepsRules(runKeys), v)
	if o := opens(tl2); len(o) != 1 || !o[0].At.Equal(at(20, "15:30")) {
		t.Errorf("restored state of life_delta alone: alarms %v, want one at 15:30", tl2.log)
	}
}

func TestStepsDripRunConfigErrors(t *testing.T) {
	for _, c := range []struct{ keys, want string }{
		{"    alarm_times: [8h, 24h]\n    drip_run: 6h\n", "drip_run: needs life_delta"},
		{dripKeys + "    drip_run: 30m\n", "drip_run: must be between 1h and 36h"},
		{dripKeys + "    drip_run: 37h\n", "drip_run: must be between 1h and 36h"},
		{runKeys + "    also_field: energy_kwh\n", "drip_run: not with also_field"},
	} {
		_, err := Parse([]byte(stepsRules(c.keys)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.keys, err, c.want)
		}
	}
}

// TestStepsDripRunGuarantee: a leak that the run detector cannot tell
// from life — 1 l at uneven times, 4 h and 5 h 30 min apart by turns, day
// and night, after the 07:30 use — restarts the last step's clock at every
// rise, but not for ever: the min_delta clock rings drip_run after its own
// 24 h, at 13:30 the next day (30 h after the last use of 3 l).
func TestStepsDripRunGuarantee(t *testing.T) {
	tl := newTimeline(t, stepsRules(runKeys))
	v := routine(tl, "hh-1", 0, 20, 100)
	tl.ds, tl.log = nil, nil
	next, long := 11*60+30, true // minutes since day 20's midnight
	for m := 0; m < 40*60; m += 30 {
		d, clock := 20+m/(24*60), time.Date(0, 1, 1, m/60%24, m%60, 0, 0, time.UTC).Format("15:04")
		switch {
		case clock == "07:00" && d == 20, clock == "07:30" && d == 20:
			v += 0.02
		case m == next:
			v += 0.001
			if next += 4 * 60; long {
				next += 90
			}
			long = !long
		}
		tl.reading(at(d, clock), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
	}
	o := opens(tl)
	if len(o) != 1 || !o[0].At.Equal(at(21, "13:30")) || !o[0].Cause.Since.Equal(at(20, "07:30")) {
		t.Fatalf("alarms %v, want one at 13:30 the next day, since 07:30", tl.log)
	}
}

// lateOnlyRunKeys: only the last step (24 h), drip-safe, with drip_run.
const lateOnlyRunKeys = "    alarm_times: [24h]\n    min_delta: 0.003\n    life_delta: 0.001\n    drip_run: 6h\n"

// TestStepsDripRunSlowDripRingsAt24h: the elder stops after the 07:30
// use and a tap drips slowly from then on, the meter read every hour: 1 l
// in 10 h (0.1 l/h: rises at 17:30 and 03:30), in 4 h (0.25 l/h) or in 2 h
// (0.5 l/h: a run). Each drop comes as long after the one before as that
// one after the use: the rises are regular, a drip, and the last step
// rings 24 h after the use, at 07:30 the next day — not 24 h after the
// last drop, nor at the guarantee (13:30). Before the spacing was
// compared, drops 3 h or more apart were each taken for life: 0.1 l/h
// rang at 13:30 (30 h), as did 0.25 l/h.
func TestStepsDripRunSlowDripRingsAt24h(t *testing.T) {
	for _, perHour := range []float64{0.0001, 0.00025, 0.0005} {
		tl := newTimeline(t, stepsRules(lateOnlyRunKeys))
		v := routine(tl, "hh-1", 0, 20, 100)
		tl.ds, tl.log = nil, nil
		v = untilMorningUse(tl, 20, v)
		tl.meter("hh-1", at(20, "08:30"), at(21, "20:30"), v+perHour, perHour)
		o := opens(tl)
		if len(o) != 1 || !o[0].At.Equal(at(21, "07:30")) || !o[0].Cause.Since.Equal(at(20, "07:30")) {
			t.Errorf("%g l/h: alarms %v, want one at 07:30 the next day, since 07:30", perHour*1000, tl.log)
		}
	}
}

// TestStepsDripRunGlassesAreLife: a living elder who uses no 3 l all day
// but drinks a glass of water (1 l on the meter) every few hours — 11:00,
// 16:00, 20:00, 02:00, 06:30, 09:30, then washes (20 l) at 13:00 — shows
// signs of life the last step counts: no two spacings alike (3 h 30 min,
// 5 h, 4 h, 6 h, 4 h 30 min, 3 h: each differs from the one before by more
// than a reading interval and 10 minutes), so they are not a drip and
// nothing rings. With life_delta alone the last step rang at 07:30.
func TestStepsDripRunGlassesAreLife(t *testing.T) {
	glasses := func(keys string) *timeline {
		tl := newTimeline(t, stepsRules(keys))
		v := routine(tl, "hh-1", 0, 20, 100)
		tl.ds, tl.log = nil, nil
		v = untilMorningUse(tl, 20, v)
		rise := map[string]float64{"20 11:00": 0.001, "20 16:00": 0.001, "20 20:00": 0.001, "21 02:00": 0.001, "21 06:30": 0.001, "21 09:30": 0.001, "21 13:00": 0.02}
		for m := 8 * 60; m < 24*60+18*60; m += 30 {
			d, clock := 20+m/(24*60), time.Date(0, 1, 1, m/60%24, m%60, 0, 0, time.UTC).Format("15:04")
			v += rise[fmt.Sprintf("%d %s", d, clock)]
			tl.reading(at(d, clock), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
		}
		return tl
	}
	if o := opens(glasses("    alarm_times: [24h]\n    min_delta: 0.003\n    life_delta: 0.001\n")); len(o) != 1 || !o[0].At.Equal(at(21, "07:30")) {
		t.Fatalf("life_delta alone: alarms %v, want one at 07:30 the next day", o)
	}
	if tl := glasses(lateOnlyRunKeys); len(opens(tl)) != 0 {
		t.Errorf("drip_run: alarms %v, want none", tl.log)
	}
}

// untilMorningUse sends hh-1's readings of day d every 30 min up to its
// 07:30 use (uses of 20 l at 07:00 and 07:30) and returns the counter.
func untilMorningUse(tl *timeline, d int, v float64) float64 {
	for m := 0; m <= 7*60+30; m += 30 {
		clock := time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format("15:04")
		if clock == "07:00" || clock == "07:30" {
			v += 0.02
		}
		tl.reading(at(d, clock), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
	}
	return v
}

// BenchmarkStepsDripRunObserve: BenchmarkStepsLifeDeltaObserve's
// households through the drip-safe rule with drip_run as docs/rules.md
// measures it (stepsrun_8700h_deployed).
func BenchmarkStepsDripRunObserve(b *testing.B) {
	benchHourly(b, `
rules:
  - {name: no_water_24h, kind: no_use, field: total_m3, min_delta: 0.01, for: 24h}
  - {name: st, kind: steps, min_delta: 0.003, life_delta: 0.001, drip_run: 12h, cost: 8700h, alarm_times: [8h, 24h, 36h], late_share: 0.04, split: weekend, per_quiet: 4, after_gap: 1m, neighbours: 0.5, memory: 365d, warm_up: 3d, fallback: 24h, silent_after: 25h, silent_rule: st_silent}
`)
}
