package rules

import (
	"encoding/binary"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

func hazardRules(extra string) string {
	return `
rules:
  - name: hz
    kind: hazard
    device_kinds: [water_meter]
    cost: 48h
` + extra
}

// TestHazardAlarmsEarlyAtBusyHour: after 20 ordinary days, a morning with
// no use after 07:30 rings at 12:30 — the quiet period that begins at 07:30
// always ends at 12:00 in this home — not 24 h later; ordinary days,
// with their 10 h nights, ring nothing.
func TestHazardAlarmsEarlyAtBusyHour(t *testing.T) {
	tl, v := quietMorning(t, hazardRules(""), "")
	o := opens(tl)
	if len(o) != 1 {
		t.Fatalf("alarms %v", tl.log)
	}
	d := o[0]
	if !d.At.Equal(at(20, "12:30")) {
		t.Errorf("alarm at %v, want 12:30", d.At.In(shanghai))
	}
	if d.RuleKind != "hazard" || d.Cause.Code != anxin.CauseNoUseUnusual || !strings.HasPrefix(d.Reason, "no water used since 07:30 (5 h") {
		t.Errorf("decision %+v", d)
	}
	tl.ds, tl.log = nil, nil
	tl.reading(at(21, "07:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v+1)
	if len(tl.ds) != 1 || tl.ds[0].Op != OpClose {
		t.Errorf("after use: %v", tl.log)
	}
}

// TestHazardCostOrdersAlarms: the dearer a false alarm, the later the
// same quiet morning rings (or it waits for a whole day).
func TestHazardCostOrdersAlarms(t *testing.T) {
	var times []time.Time
	for _, c := range []string{"6h", "48h", "2000h"} {
		tl := newTimeline(t, strings.Replace(hazardRules(""), "48h", c, 1))
		v := routine(tl, "hh-1", 0, 20, 100)
		morningOnly(tl, "hh-1", 20, v)
		tl.advance(at(21, "12:00"))
		var first time.Time
		if o := opens(tl); len(o) > 0 {
			first = o[0].At
		} else {
			first = at(99, "00:00")
		}
		times = append(times, first)
	}
	if !(times[0].Before(times[1]) && times[1].Before(times[2])) {
		t.Errorf("alarm times by cost %v", times)
	}
}

// TestHazardSilentDuringWarmUp: the same morning on day 5 raises nothing.
func TestHazardSilentDuringWarmUp(t *testing.T) {
	tl := newTimeline(t, hazardRules(""))
	v := routine(tl, "hh-1", 0, 5, 100)
	morningOnly(tl, "hh-1", 5, v)
	if o := opens(tl); len(o) != 0 {
		t.Errorf("warm-up raised %v", tl.log)
	}
}

// gapDay: uses at 07:00 and 07:30, then no reading from 08:00 to 13:30,
// then flat readings from 14:00 to the end of the day.
func gapDay(tl *timeline, d int, v float64) {
	for m := 0; m < 24*60; m += 30 {
		clock := time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format("15:04")
		if clock == "07:00" || clock == "07:30" {
			v += 0.02
		}
		if m >= 8*60 && m < 14*60 {
			continue
		}
		tl.reading(at(d, clock), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
	}
}

// TestHazardGapIsNotUse: a gap across which the counter did not rise does
// not restart the quiet clock (gaps: bridge): the quiet since 07:30 is
// judged, but not before after_gap (2 h) past the gap's end — at 16:00,
// not at the first reading after the gap. With gaps: restart the quiet
// period begins anew at 14:00 and nothing rings by 16:00.
func TestHazardGapIsNotUse(t *testing.T) {
	tl := newTimeline(t, hazardRules(""))
	v := routine(tl, "hh-1", 0, 20, 100)
	gapDay(tl, 20, v)
	o := opens(tl)
	if len(o) != 1 || !o[0].At.Equal(at(20, "16:00")) || !strings.HasPrefix(o[0].Reason, "no water used since 07:30") {
		t.Fatalf("bridged gap: %v", tl.log)
	}
	tl2 := newTimeline(t, hazardRules("    gaps: restart\n"))
	v = routine(tl2, "hh-1", 0, 20, 100)
	gapDay(tl2, 20, v)
	for _, d := range opens(tl2) {
		if !d.At.After(at(20, "16:00")) {
			t.Errorf("restart rang at %v", d.At.In(shanghai))
		}
	}
}

// TestHazardStateSurvivesRestart: the histograms and the quiet clock are
// persisted; a restored engine rings at the same time with the same words.
func TestHazardStateSurvivesRestart(t *testing.T) {
	checkRestoreRingsAlike(t, hazardRules(""), func(tl *timeline, n int) bool {
		size := tl.e.rules[0].base.ev.(*hazard).lay.size
		return n >= size && n <= size+100
	})
}

// twoSignals: water as in routine on wm1 and electricity on em1, used at
// the same times, for days [0, 20); on day 20 water is used only in the
// morning and electricity (if elecNoon) also at 12:00.
func twoSignals(tl *timeline, elecNoon bool) {
	uses := map[string]bool{"07:00": true, "07:30": true, "12:00": true, "18:00": true, "19:00": true, "21:00": true}
	w, e := 100.0, 5000.0
	for d := 0; d <= 20; d++ {
		for m := 0; m < 24*60; m += 30 {
			clock := time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format("15:04")
			if uses[clock] && (d < 20 || clock < "08:00") {
				w += 0.02
			}
			if uses[clock] && (d < 20 || clock < "08:00" || (elecNoon && clock == "12:00")) {
				e += 0.2
			}
			tl.reading(at(d, clock), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", w)
			tl.reading(at(d, clock), "hh-1", "em1", anxin.KindPowerMeter, "energy_kwh", e)
		}
	}
}

// TestHazardTwoSignals: with also_field the rule keeps one slot for the
// household over both meters: electricity used at noon is a sign of life
// (no alarm although the water stopped), both quiet rings at 12:30.
func TestHazardTwoSignals(t *testing.T) {
	cfg := `
rules:
  - name: hz
    kind: hazard
    device_kinds: [water_meter, power_meter]
    also_field: energy_kwh
    cost: 48h
`
	tl := newTimeline(t, cfg)
	twoSignals(tl, true)
	for _, d := range opens(tl) {
		if d.At.Before(at(20, "18:00")) {
			t.Errorf("electricity in use, yet alarm at %v: %v", d.At.In(shanghai), d.Reason)
		}
	}
	tl2 := newTimeline(t, cfg)
	twoSignals(tl2, false)
	o := opens(tl2)
	if len(o) != 1 || !o[0].At.Equal(at(20, "12:30")) || !strings.Contains(o[0].Reason, "water or electricity") {
		t.Fatalf("both quiet: %v", tl2.log)
	}
	if n := len(tl2.e.get("hh-1").slots); n != 1 {
		t.Errorf("%d slots, want one per household", n)
	}
}

func TestHazardConfigErrors(t *testing.T) {
	for _, c := range []struct{ keys, want string }{
		{"    gaps: sometimes\n", "gaps"},
		{"    memory: 2d\n", "memory"},
		{"    min_quiet: 10m\n", "min_quiet"},
		{"    also_field: total_m3\n", "also_field"},
		{"    shrink: -1\n", "shrink"},
		{"    tail: 500\n", "tail"},
		{"    split: monthly\n", "split"},
	} {
		_, err := Parse([]byte(strings.Replace(hazardRules(c.keys), "    cost: 48h\n", "", 1)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v", c.keys, err)
		}
	}
	if _, err := Parse([]byte(hazardRules("    cost: 30m\n"))); err == nil {
		t.Error("cost 30m accepted")
	}
}

// TestHazardStateOutOfRange: a saved state whose signal was last heard
// beyond year 9999 (every later reading would be turned away, the rule
// deaf for good) or whose hold is negative is refused as corrupt, as a
// slot time out of range is; the state as saved is accepted.
func TestHazardStateOutOfRange(t *testing.T) {
	tl := newTimeline(t, hazardRules(""))
	routine(tl, "hh-1", 0, 3, 100)
	hz := tl.e.rules[0].base.ev.(*hazard)
	for _, c := range []struct {
		name string
		off  int
		v    uint64
	}{{"as saved", -1, 0}, {"last heard", hz.lay.sig + 16, 1 << 62}, {"interval", hz.lay.sig + 24, 1 << 63}, {"hold", hz.lay.hold, 1 << 63}} {
		e := New(tl.e.cfg)
		if err := e.RestoreState("hh-1", tl.e.State("hh-1")); err != nil {
			t.Fatal(err)
		}
		if c.off >= 0 {
			for i := range e.get("hh-1").slots {
				if s := e.get("hh-1").at(i); hz.lay.is(s.ext) { // s.ext: the household's own bytes
					binary.LittleEndian.PutUint64(s.ext[c.off:], c.v)
				}
			}
		}
		err := New(tl.e.cfg).RestoreState("hh-1", e.State("hh-1"))
		if (err == nil) != (c.off < 0) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// FuzzHazardState: restoring arbitrary bytes into an engine with a hazard
// rule never panics; accepted state re-encodes stably and the rule runs
// on it.
func FuzzHazardState(f *testing.F) {
	cfg := fuzzSeedState(f, hazardRules(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		e := restoreStable(t, cfg, "hh-x", b)
		if e == nil {
			return
		}
		fuzzRunWater(e)
	})
}

// BenchmarkHazardObserve: hourly water readings of 1,000 households
// through a hazard rule next to the fixed 24 h rule; reports readings/s
// and the persisted state of one household.
func BenchmarkHazardObserve(b *testing.B) {
	b.Run("grid", func(b *testing.B) { benchHazard(b, "") })
	b.Run("steps", func(b *testing.B) { benchHazard(b, ", alarm_times: [8h, 24h], neighbours: 0.5, memory: 365d") })
	b.Run("standin", func(b *testing.B) {
		benchHazard(b, ", alarm_times: [8h, 24h], neighbours: 0.5, memory: 365d, fallback: 24h, silent_after: 25h, silent_rule: hz_silent")
	})
}

func benchHazard(b *testing.B, keys string) {
	benchHourly(b, `
rules:
  - {name: no_water_24h, kind: no_use, field: total_m3, min_delta: 0.01, for: 24h}
  - {name: hz, kind: hazard`+keys+`}
`)
}

// fuzzSeedState parses a fuzz target's rules and seeds the corpus with the
// state of a household after 15 ordinary days under them.
func fuzzSeedState(f *testing.F, rules string) *Config {
	f.Helper()
	cfg, err := Parse([]byte(rules))
	if err != nil {
		f.Fatal(err)
	}
	tl := &timeline{t: &testing.T{}, e: New(cfg), now: day0}
	routine(tl, "hh-1", 0, 15, 100)
	f.Add(tl.e.State("hh-1"))
	// The same days saved by the code of state version 1 (every edge).
	v1, err := os.ReadFile("testdata/hazard_v1_fuzzseed.state")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v1)
	return cfg
}

// fuzzRunWater runs an engine holding restored state of household hh-x:
// a tick, one water reading and the next deadline, all at one instant.
func fuzzRunWater(e *Engine) {
	now := time.Unix(1_800_000_000, 0)
	e.Tick(now)
	e.Observe(now, &anxin.Message{ID: "x", TS: now, Household: "hh-x", Device: "wm1", Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(1)}})
	e.NextDeadline()
}

// hzCount is hazard rule r's weight of cell c's bucket holding quiet
// periods of minutes, in slot s.
func hzCount(r *hazard, s *slot, c int, minutes int64) uint16 {
	o := r.lay.hist + (c*r.lay.nb+int(r.lay.of[hzBucket(minutes)]))*2
	return binary.LittleEndian.Uint16(s.ext[o:])
}

// TestHazardSmallCountsFade: two quiet periods of 10 h begun at 07:00 on
// a Monday and a Tuesday, then none that long at that hour: their weight
// decays as e^(−days/memory) and fades to nothing. Forgetting by a
// factor each day rounded a weight of under memory/2 (2.8 periods at
// memory 365d, 0.5 at 60d) back to itself, so it stayed for good.
func TestHazardSmallCountsFade(t *testing.T) {
	for _, c := range []struct {
		memory      string
		days        float64 // memory, days
		check, gone int     // a day near 1.1 × memory, a day it is gone by
	}{
		{"365d", 365, 400, 1400},
		{"60d", 60, 66, 600},
	} {
		tl := newTimeline(t, hazardRules("    alarm_times: [8h, 24h]\n    memory: "+c.memory+"\n"))
		v := 100.0
		for d := 0; d < 2; d++ {
			tl.reading(at(d, "06:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
			v += 0.1
			tl.reading(at(d, "07:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
			v = tl.meter("hh-1", at(d, "08:00"), at(d, "17:00"), v, 0)
			v += 0.1
			tl.reading(at(d, "17:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v) // 10 h: between the steps
			v = tl.meter("hh-1", at(d, "18:00"), at(d+1, "00:00"), v, 0)
		}
		r := tl.e.rules[0].base.ev.(*hazard)
		count := func() uint16 { s := tl.e.get("hh-1").at(0); return hzCount(r, &s, 7, 600) }
		if n := count(); n < 2*hzOne*9/10 || n > 2*hzOne {
			t.Fatalf("memory %s: learned weight %d, want about %d", c.memory, n, 2*hzOne)
		}
		tl.meter("hh-1", at(2, "00:00"), at(c.check, "00:00"), v, 0)
		want := 2 * hzOne * math.Exp(-float64(c.check-1)/c.days)
		if n := float64(count()); n < want*0.8 || n > want*1.25 {
			t.Errorf("memory %s: after %d days the weight is %v, want about %.0f", c.memory, c.check, n, want)
		}
		tl.meter("hh-1", at(c.check, "00:00"), at(c.gone, "00:00"), v, 0)
		if n := count(); n != 0 {
			t.Errorf("memory %s: after %d days the weight is %d, want 0", c.memory, c.gone, n)
		}
	}
}

// TestHazardFullCellKeepsShares: minute data fills the short bucket of a
// busy hour past the uint16 weights; the cell is halved, not frozen, so
// its share of long quiet periods stays right (a frozen short bucket let
// the long ones take over: 49 % instead of 20 %).
func TestHazardFullCellKeepsShares(t *testing.T) {
	for _, keys := range []string{"", "    alarm_times: [8h, 24h]\n"} {
		r := New(mustParse(t, hazardRules(keys))).rules[0].base.ev.(*hazard)
		s := &slot{ext: r.lay.fresh()}
		for i := 0; i < 4000; i++ {
			r.learn(s, 9, 20)
			if i%4 == 0 {
				r.learn(s, 9, 600)
			}
		}
		var above [hzBuckets]float64
		n := r.survival(s, 9, &above)
		if share := above[r.lay.of[hzBucket(480)]-1] / n; share < 0.19 || share > 0.21 {
			t.Errorf("%q: share over 8 h %.3f, want 0.20", keys, share)
		}
	}
}
