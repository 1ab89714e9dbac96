package rules

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

func learnedRules(sensitivity string) string {
	return `
rules:
  - name: learned
    kind: learned
    device_kinds: [water_meter]
    sensitivity: ` + sensitivity + `
`
}

// routine sends readings every 30 min for days [from, to): water is used
// at 07:00, 07:30, 12:00, 18:00, 19:00 and 21:00, the counter is flat in
// between. It returns the counter.
func routine(tl *timeline, hh string, from, to int, v float64) float64 {
	uses := map[string]bool{"07:00": true, "07:30": true, "12:00": true, "18:00": true, "19:00": true, "21:00": true}
	for d := from; d < to; d++ {
		for m := 0; m < 24*60; m += 30 {
			clock := time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format("15:04")
			if uses[clock] {
				v += 0.02
			}
			tl.reading(at(d, clock), hh, "wm1", anxin.KindWaterMeter, "total_m3", v)
		}
	}
	return v
}

// morningOnly sends the readings of day d up to and including 07:30 as in
// routine, then a flat counter to the end of the day.
func morningOnly(tl *timeline, hh string, d int, v float64) {
	for m := 0; m < 24*60; m += 30 {
		clock := time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format("15:04")
		if clock == "07:00" || clock == "07:30" {
			v += 0.02
		}
		tl.reading(at(d, clock), hh, "wm1", anxin.KindWaterMeter, "total_m3", v)
	}
}

func opens(tl *timeline) []Decision {
	var o []Decision
	for _, d := range tl.ds {
		if d.Op == OpOpen {
			o = append(o, d)
		}
	}
	return o
}

// TestLearnedAlarmsWhenQuietIsUnusual: after 20 ordinary days, a morning
// with no use after 07:30 is unusual by 12:30 (this home always uses water
// at 12:00), long before a 24 h rule; ordinary days raise nothing.
func TestLearnedAlarmsWhenQuietIsUnusual(t *testing.T) {
	tl, v := quietMorning(t, learnedRules("0.99"), "")
	o := opens(tl)
	if len(o) != 1 {
		t.Fatalf("alarms %v", tl.log)
	}
	d := o[0]
	if d.At.Before(at(20, "12:00")) || d.At.After(at(20, "13:00")) {
		t.Errorf("alarm at %v, want between 12:00 and 13:00", d.At.In(shanghai))
	}
	if d.RuleKind != "learned" || d.Route != anxin.RouteFamily || d.Severity != anxin.SeverityWarning {
		t.Errorf("decision %+v", d)
	}
	if !strings.HasPrefix(d.Reason, "no water used since 07:30 (") || !strings.Contains(d.Reason, "% of days this home has used water within") {
		t.Errorf("reason %q", d.Reason)
	}
	// Use again closes it.
	tl.ds, tl.log = nil, nil
	tl.reading(at(21, "07:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v+1)
	if len(tl.ds) != 1 || tl.ds[0].Op != OpClose {
		t.Errorf("after use: %v", tl.log)
	}
}

// TestLearnedSilentDuringWarmUp: the same morning on day 5 raises nothing
// from the learned rule (the fixed rules cover the warm-up).
func TestLearnedSilentDuringWarmUp(t *testing.T) {
	tl := newTimeline(t, learnedRules("0.99"))
	v := routine(tl, "hh-1", 0, 5, 100)
	morningOnly(tl, "hh-1", 5, v)
	if o := opens(tl); len(o) != 0 {
		t.Errorf("warm-up raised %v", tl.log)
	}
}

// TestLearnedUsualQuietIsNotAlarmed: the 4.5 h quiet from 07:30 to 12:00
// happens every day: it never alarms, even at a high sensitivity setting
// of 0.9, while the unusual one does.
func TestLearnedSensitivityOrdersAlarms(t *testing.T) {
	var times []time.Time
	for _, s := range []string{"0.9", "0.99", "0.999"} {
		tl, _ := quietMorning(t, learnedRules(s), "sensitivity "+s)
		o := opens(tl)
		if len(o) != 1 {
			t.Fatalf("sensitivity %s: %v", s, tl.log)
		}
		times = append(times, o[0].At)
	}
	if times[0].After(times[1]) || times[1].After(times[2]) {
		t.Errorf("higher sensitivity alarmed earlier: %v", times)
	}
}

// TestLearnedRespectsAway: marked away, the unusual morning raises
// nothing; back, the quiet period restarts.
func TestLearnedRespectsAway(t *testing.T) {
	tl := newTimeline(t, learnedRules("0.99"))
	v := routine(tl, "hh-1", 0, 20, 100)
	tl.advance(at(20, "00:00"))
	tl.record(tl.e.SetAway(tl.now, "hh-1", true))
	morningOnly(tl, "hh-1", 20, v)
	if len(tl.ds) != 0 {
		t.Fatalf("away raised %v", tl.log)
	}
	tl.advance(at(21, "00:00"))
	tl.record(tl.e.SetAway(tl.now, "hh-1", false))
	tl.reading(at(21, "00:30"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v+0.04)
	if len(tl.ds) != 0 {
		t.Errorf("back raised %v", tl.log)
	}
}

// TestLearnedStateSurvivesRestart: the histograms are part of the persisted
// state; a restored engine raises the same alarm at the same time.
func TestLearnedStateSurvivesRestart(t *testing.T) {
	checkRestoreRingsAlike(t, learnedRules("0.99"), func(_ *timeline, n int) bool { return n > 0 && n <= 700 })
}

// TestLearnedAdaptsToNewRoutine: after the midday use moves to 15:00 the
// rule first finds 12:30 unusual, then learns the new routine and stops.
func TestLearnedAdaptsToNewRoutine(t *testing.T) {
	tl := newTimeline(t, `
rules:
  - name: learned
    kind: learned
    sensitivity: 0.98
    memory: 14d
`)
	v := routine(tl, "hh-1", 0, 20, 100)
	uses := map[string]bool{"07:00": true, "07:30": true, "15:00": true, "18:00": true, "19:00": true, "21:00": true}
	perDay := map[int]int{}
	for d := 20; d < 60; d++ {
		before := len(opens(tl))
		for m := 0; m < 24*60; m += 30 {
			clock := time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format("15:04")
			if uses[clock] {
				v += 0.02
			}
			tl.reading(at(d, clock), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
		}
		perDay[d] = len(opens(tl)) - before
	}
	if perDay[20] != 1 {
		t.Errorf("first day of the new routine: %d alarms", perDay[20])
	}
	for d := 50; d < 60; d++ {
		if perDay[d] != 0 {
			t.Errorf("day %d, a month into the new routine: %d alarms", d, perDay[d])
		}
	}
}

func TestLearnedConfigErrors(t *testing.T) {
	for key, yaml := range map[string]string{
		"warm_up":     "warm_up: 15d",
		"sensitivity": "sensitivity: 1.5",
		"memory":      "memory: 2d",
		"min_quiet":   "min_quiet: 72h",
		"min_delta":   "min_delta: -1",
		"nonsense":    "nonsense: 1",
	} {
		_, err := Parse([]byte("rules:\n  - name: l\n    kind: learned\n    " + yaml + "\n"))
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %v", key, err)
		}
	}
}

// BenchmarkLearnedObserve: hourly water readings of 1,000 households
// through a learned rule next to the fixed 24 h rule; reports readings/s
// and the persisted state of one household.
func BenchmarkLearnedObserve(b *testing.B) {
	benchHourly(b, `
rules:
  - {name: no_water_24h, kind: no_use, field: total_m3, min_delta: 0.01, for: 24h}
  - {name: learned, kind: learned, sensitivity: 0.99}
`)
}

// FuzzLearnedState: restoring arbitrary bytes into an engine with a learned
// rule never panics; accepted state re-encodes identically and the rule
// runs on it (histograms of any content give odds in [0, 1]).
func FuzzLearnedState(f *testing.F) {
	cfg := fuzzSeedState(f, learnedRules("0.99"))
	f.Add([]byte{stateVersion, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e := New(cfg)
		if err := e.RestoreState("hh-x", b); err != nil {
			return
		}
		enc := e.encode(e.get("hh-x"))
		if !bytes.Equal(enc, b) {
			e2 := New(cfg)
			if err := e2.RestoreState("hh-x", enc); err != nil || !bytes.Equal(e2.encode(e2.get("hh-x")), enc) {
				t.Fatalf("encoding not stable: %v", err)
			}
		}
		for i := range e.get("hh-x").slots {
			s := e.get("hh-x").at(i)
			if l, ok := e.rules[s.rule].base.ev.(*learned); ok && len(s.ext) == learnedExt {
				for bin := 0; bin < 24; bin++ {
					if p := l.quietOdds(&s, bin, 5*3600); p < 0 || p > 1 || p != p {
						t.Fatalf("odds %v", p)
					}
				}
			}
		}
		fuzzRunWater(e)
	})
}
