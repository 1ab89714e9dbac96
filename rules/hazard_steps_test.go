package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// firstOpen is the first alarm's time, or the zero time.
func firstOpen(tl *timeline) time.Time {
	if o := opens(tl); len(o) > 0 {
		return o[0].At
	}
	return time.Time{}
}

// TestHazardAlarmTimes: with alarm_times [8h, 24h] the quiet morning that
// the full grid rings for at 12:30 (5 h after 07:30) rings at 15:30 — the
// 8 h step, as the quiet periods that begin at 07:30 never last 8 h — and
// the ordinary days, with their 10 h nights, still ring nothing (the night
// cell's step is 24 h).
func TestHazardAlarmTimes(t *testing.T) {
	for _, c := range []struct {
		keys string
		want string
	}{
		{"", "12:30"},
		{"    alarm_times: [8h, 24h]\n", "15:30"},
		{"    alarm_times: [24h, 8h, 8h]\n", "15:30"},
	} {
		tl := newTimeline(t, hazardRules(c.keys))
		v := routine(tl, "hh-1", 0, 20, 100)
		if o := opens(tl); len(o) != 0 {
			t.Fatalf("%q: ordinary days raised %v", c.keys, tl.log)
		}
		morningOnly(tl, "hh-1", 20, v)
		if got := firstOpen(tl); !got.Equal(at(20, c.want)) {
			t.Errorf("%q: alarm at %v, want %s (%v)", c.keys, got.In(shanghai), c.want, tl.log)
		}
	}
}

// TestHazardAlarmTimesNightWaits: the night that begins at 21:00 lasts
// 10 h every day; with alarm_times [8h, 24h] a night without the morning
// use is not rung for at 05:00 (8 h) but only at 21:00 the next day.
func TestHazardAlarmTimesNightWaits(t *testing.T) {
	tl := newTimeline(t, hazardRules("    alarm_times: [8h, 24h]\n"))
	v := routine(tl, "hh-1", 0, 20, 100)
	for d := 20; d <= 21; d++ {
		for m := 0; m < 24*60; m += 30 {
			tl.reading(at(d, time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format("15:04")), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
		}
	}
	if got := firstOpen(tl); !got.Equal(at(20, "21:00")) {
		t.Errorf("alarm at %v, want day 20 21:00, 24 h after day 19's last use (%v)", got.In(shanghai), tl.log)
	}
}

// TestHazardNeighbours: a use at 08:00, an hour this home never used
// water at, then nothing. Without neighbours the 08:00 cell has no samples
// and follows the whole household (its 10 h nights among them); with
// neighbours: 1 it borrows 07:00 and 09:00, whose quiet periods are short,
// and rings sooner.
func TestHazardNeighbours(t *testing.T) {
	ring := func(keys string) time.Time {
		tl := newTimeline(t, hazardRules(keys))
		v := routine(tl, "hh-1", 0, 20, 100)
		for m := 0; m < 24*60; m += 30 {
			clock := time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format("15:04")
			if clock == "07:00" || clock == "07:30" || clock == "08:00" {
				v += 0.02
			}
			tl.reading(at(20, clock), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
		}
		got := firstOpen(tl)
		if got.IsZero() {
			t.Fatalf("%q: no alarm (%v)", keys, tl.log)
		}
		return got
	}
	alone, pooled := ring(""), ring("    neighbours: 1\n")
	if !pooled.Before(alone) {
		t.Errorf("neighbours: 1 rang at %v, not before %v", pooled.In(shanghai), alone.In(shanghai))
	}
}

func TestHazardStepConfigErrors(t *testing.T) {
	for _, c := range []struct{ keys, want string }{
		{"    alarm_times: [7h, 24h]\n", "alarm_times"},
		{"    alarm_times: [8h, 36h]\n", "alarm_times"}, // over max_quiet
		{"    alarm_times: [10m]\n", "alarm_times"},
		{"    alarm_times: 8h\n", "alarm_times"},
		{"    neighbours: 2\n", "neighbours"},
		{"    neighbours: -0.5\n", "neighbours"},
	} {
		_, err := Parse([]byte(hazardRules(c.keys)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v", c.keys, err)
		}
	}
	if _, err := Parse([]byte(hazardRules("    max_quiet: 36h\n    alarm_times: [8h, 36h]\n    neighbours: 0.5\n"))); err != nil {
		t.Errorf("valid keys refused: %v", err)
	}
}

// FuzzHazardStepsState: arbitrary restored state under a stepped rule with
// neighbours never panics, and the alarm time it sets is one of its steps.
func FuzzHazardStepsState(f *testing.F) {
	cfg := fuzzSeedState(f, hazardRules("    alarm_times: [8h, 24h]\n    neighbours: 0.5\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e := New(cfg)
		if err := e.RestoreState("hh-x", b); err != nil {
			return
		}
		hz := e.rules[0].base.ev.(*hazard)
		for i := range e.get("hh-x").slots {
			s := e.get("hh-x").at(i)
			sl := &s
			if !hz.lay.is(sl.ext) {
				continue
			}
			for c := 0; c < hzCells; c++ {
				if at, _ := hz.alarmTime(sl, c); at != 480 && at != 1440 {
					t.Fatalf("cell %d: alarm time %d min is not a step", c, at)
				}
			}
		}
		fuzzRunWater(e)
	})
}
