package rules

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

func stepsRules(extra string) string {
	return `
rules:
  - name: st
    kind: steps
    device_kinds: [water_meter]
    cost: 48h
` + extra
}

// TestStepsAlarmTimes: as hazard's stepped rule, the quiet morning rings at
// 15:30 — the 8 h step, as the quiet periods that begin at 07:30 always end
// at 12:00 — and the ordinary days, with their 10 h nights, ring nothing.
func TestStepsAlarmTimes(t *testing.T) {
	for _, keys := range []string{"    alarm_times: [8h, 24h]\n", "    alarm_times: [8h, 24h]\n    split: week\n    per_quiet: 6\n"} {
		tl, _ := quietMorning(t, stepsRules(keys), fmt.Sprintf("%q", keys))
		o := opens(tl)
		if len(o) != 1 || !o[0].At.Equal(at(20, "15:30")) {
			t.Fatalf("%q: alarms %v, want one at 15:30", keys, tl.log)
		}
		if d := o[0]; d.RuleKind != "steps" || d.Cause.Code != anxin.CauseNoUseUnusual || !strings.HasPrefix(d.Reason, "no water used since 07:30 (8 h") {
			t.Errorf("%q: decision %+v", keys, d)
		}
	}
}

// awayWeekly: the routine of days [from, to), except that every
// Wednesday (day0 is a Monday) the home leaves after its 21:00 use and
// comes back on Friday at 07:00 (34 h of quiet).
func awayWeekly(tl *timeline, from, to int, v float64) float64 {
	uses := map[string]bool{"07:00": true, "07:30": true, "12:00": true, "18:00": true, "19:00": true, "21:00": true}
	for d := from; d < to; d++ {
		for m := 0; m < 24*60; m += 30 {
			clock := time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format("15:04")
			away := (d%7 == 2 && m > 21*60) || d%7 == 3
			if uses[clock] && !away {
				v += 0.02
			}
			tl.reading(at(d, clock), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
		}
	}
	return v
}

// nightStop: day d as in routine up to its 21:00 use, then a flat counter
// for two days.
func nightStop(tl *timeline, d int, v float64) {
	for m := 0; m < 24*60; m += 30 {
		clock := time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format("15:04")
		switch clock {
		case "07:00", "07:30", "12:00", "18:00", "19:00", "21:00":
			v += 0.02
		}
		tl.reading(at(d, clock), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
	}
	tl.meter("hh-1", at(d+1, "00:00"), at(d+3, "00:00"), v, 0)
}

// TestStepsLateShare: a home away every Wednesday night for 34 h. With a
// cheap delay (cost 2000h) the delay objective alone moves every night to
// 36 h; with late_share the Wednesday night rings at 36 h and the other
// nights keep 24 h.
func TestStepsLateShare(t *testing.T) {
	keys := "    cost: 2000h\n    split: week\n    alarm_times: [8h, 24h, 36h]\n"
	for _, c := range []struct {
		keys      string
		stopDay   int
		want      time.Time
		wantClock string
	}{
		{keys, 35, at(37, "09:00"), "Monday night, delay objective: 36 h"},
		{keys + "    late_share: 0.2\n", 35, at(36, "21:00"), "Monday night, late_share: 24 h"},
		{keys + "    late_share: 0.2\n", 37, at(39, "09:00"), "Wednesday night, late_share: 36 h"},
	} {
		tl := newTimeline(t, strings.Replace(stepsRules(c.keys), "    cost: 48h\n", "", 1))
		v := awayWeekly(tl, 0, c.stopDay, 100)
		tl.ds, tl.log = nil, nil
		nightStop(tl, c.stopDay, v)
		if got := firstOpen(tl); !got.Equal(c.want) {
			t.Errorf("%s: alarm at %v, want %v (%v)", c.wantClock, got.In(shanghai), c.want.In(shanghai), tl.log)
		}
	}
}

// TestStepsPerQuiet: one quiet morning in ten lasts until the next morning. At cost
// 400h the 07:30 cell waits for 24 h; per_quiet: 1.5 (this home has 6
// quiet periods a day) gives each of its periods 4 times the budget, and
// the same morning rings at 8 h.
func TestStepsPerQuiet(t *testing.T) {
	ring := func(keys string) time.Time {
		tl := newTimeline(t, strings.Replace(stepsRules("    alarm_times: [8h, 24h]\n"+keys), "48h", "400h", 1))
		v := 100.0
		for d := 0; d < 30; d++ {
			if d%10 == 9 {
				morningOnly(tl, "hh-1", d, v) // 07:30 … next morning: one long quiet
				v += 0.04
				continue
			}
			v = routine(tl, "hh-1", d, d+1, v)
		}
		tl.ds, tl.log = nil, nil
		morningOnly(tl, "hh-1", 30, v)
		tl.meter("hh-1", at(31, "00:00"), at(31, "12:00"), v+0.04, 0)
		return firstOpen(tl)
	}
	if plain, scaled := ring(""), ring("    per_quiet: 1.5\n"); !plain.Equal(at(31, "07:30")) || !scaled.Equal(at(30, "15:30")) {
		t.Errorf("without per_quiet the alarm came at %v (want 24 h), with per_quiet: 1.5 at %v (want 8 h)", plain.In(shanghai), scaled.In(shanghai))
	}
}

// TestStepsStateSurvivesRestart: the counts and the quiet clock are
// persisted; a restored engine rings at the same time with the same words.
func TestStepsStateSurvivesRestart(t *testing.T) {
	keys := "    alarm_times: [8h, 24h, 36h]\n    split: week\n    late_share: 0.1\n    per_quiet: 6\n"
	checkRestoreRingsAlike(t, stepsRules(keys), func(_ *timeline, n int) bool { return n >= stWeek.size && n <= stWeek.size+100 })
}

// TestStepsFullCellKeepsShares: minute data fills the short bucket of a
// busy hour past the uint16 counts; the cell is halved, not frozen, so
// its share of long quiet periods stays right (a frozen short bucket
// would let the long ones take over).
func TestStepsFullCellKeepsShares(t *testing.T) {
	cfg, err := Parse([]byte(stepsRules("    alarm_times: [8h, 24h]\n")))
	if err != nil {
		t.Fatal(err)
	}
	r := New(cfg).rules[0].base.ev.(*steps)
	s := &slot{ext: make([]byte, r.lay.size)}
	for i := 0; i < 4000; i++ {
		r.learn(s, 9, 20)
		if i%4 == 0 {
			r.learn(s, 9, 600)
		}
	}
	var above [stBuckets]float64
	n := r.survivalW(s, 9, 1, &above)
	if share := above[0] / n; share < 0.19 || share > 0.21 {
		t.Errorf("share over 8 h %.3f, want 0.20", share)
	}
	var pool float64
	for b := 0; b < stBuckets; b++ {
		pool += float64(binary.LittleEndian.Uint32(s.ext[r.lay.pool+4*b:]))
	}
	if pool != n {
		t.Errorf("household pool %v, cell %v", pool, n)
	}
}

func TestStepsConfigErrors(t *testing.T) {
	for _, c := range []struct{ keys, want string }{
		{"", "alarm_times"},
		{"    alarm_times: [24h, 8h]\n", "alarm_times"},
		{"    alarm_times: [8h, 48h]\n", "alarm_times"},
		{"    alarm_times: [4h, 8h, 12h, 24h]\n", "alarm_times"},
		{"    alarm_times: [8h]\n    late_share: 0.1\n", "late_share"},
		{"    alarm_times: [8h, 24h]\n    late_share: 1\n", "late_share"},
		{"    alarm_times: [8h, 24h]\n    per_quiet: -1\n", "per_quiet"},
		{"    alarm_times: [8h, 24h]\n    split: month\n", "split"},
	} {
		_, err := Parse([]byte(stepsRules(c.keys)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v", c.keys, err)
		}
	}
	if _, err := Parse([]byte(stepsRules("    alarm_times: [7h, 24h, 36h]\n    split: week\n    late_share: 0.04\n    per_quiet: 8\n"))); err != nil {
		t.Errorf("valid keys refused: %v", err)
	}
}

// FuzzStepsState: arbitrary restored state never panics, re-encodes
// stably, and the alarm time it sets is one of its steps; the same with a
// late clock (life_delta), with a drip run (drip_run, kept in the second
// signal's bytes), and in both layouts (split: week, 168 cells; weekend,
// 48): each input is restored into all six rules, so a state of one
// layout is fed to the other. Seeds include a state of each rule, one
// of the layout before the late clock (stExtV1) and one of a drip run
// that keeps the spacing of slow rises.
func FuzzStepsState(f *testing.F) {
	keys := "    alarm_times: [8h, 24h, 36h]\n    late_share: 0.04\n    per_quiet: 8\n    neighbours: 0.5\n"
	life := "    min_delta: 0.003\n    life_delta: 0.001\n"
	var cfgs []*Config
	for _, split := range []string{"week", "weekend"} {
		for _, extra := range []string{"", life, life + "    drip_run: 6h\n"} {
			cfg, err := Parse([]byte(stepsRules(keys + "    split: " + split + "\n" + extra)))
			if err != nil {
				f.Fatal(err)
			}
			cfgs = append(cfgs, cfg)
			tl := &timeline{t: &testing.T{}, e: New(cfg), now: day0}
			v := routine(tl, "hh-x", 0, 15, 100)
			f.Add(tl.e.State("hh-x"))
			if strings.Contains(extra, "drip_run") {
				// a slow drip: the run keeps the spacing of its rises
				tl.meter("hh-x", at(15, "00:00"), at(16, "00:00"), v+0.0001, 0.0001)
				f.Add(tl.e.State("hh-x"))
			}
			if split == "week" && extra == life {
				h := tl.e.get("hh-x")
				s := h.at(0)
				s.ext = s.ext[:stExtV1]
				h.store(0, &s)
				f.Add(tl.e.State("hh-x"))
			}
		}
	}
	fuzzSeedState(f, stepsRules(keys))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, cfg := range cfgs {
			fuzzStepsRun(t, cfg, b)
		}
	})
}

// stWeekOf is a 48-cell ext as the code before 2026-12-07 kept it: in the
// week layout, its cells the first 48.
func stWeekOf(ext []byte) []byte {
	out := make([]byte, stWeek.size)
	copy(out, ext[:stHalf.sig])
	copy(out[stWeek.sig:], ext[stHalf.sig:])
	return out
}

// TestStepsLayoutChange: a state restores into a rule of the other layout.
// A week-layout state whose cells beyond the first 48 are empty (a
// weekend rule's, saved before 2026-12-07) keeps its counts in a weekend
// rule; one with counts by day of the week, or a weekend state in a week
// rule, drops its counts and learns again (the fallback rings meanwhile).
// The quiet clock is kept in every case.
func TestStepsLayoutChange(t *testing.T) {
	keys := "    alarm_times: [8h, 24h]\n    fallback: 24h\n"
	run := func(split string) *timeline {
		tl := newTimeline(t, stepsRules(keys+"    split: "+split+"\n"))
		routine(tl, "hh-1", 0, 20, 100)
		return tl
	}
	restore := func(split string, ext []byte) []byte {
		tl := run("weekend") // any engine: its slot carries ext
		h := tl.e.get("hh-1")
		s := h.at(0)
		s.ext = ext
		h.store(0, &s)
		b := tl.e.State("hh-1")
		tl2 := newTimeline(t, stepsRules(keys+"    split: "+split+"\n"))
		tl2.now = tl.now
		if err := tl2.e.RestoreState("hh-1", b); err != nil {
			t.Fatal(err)
		}
		return tl2.e.get("hh-1").at(0).ext
	}
	half, week := run("weekend").e.get("hh-1").at(0).ext, run("week").e.get("hh-1").at(0).ext
	for _, c := range []struct {
		name, split string
		ext, want   []byte
		keep        bool
	}{
		{"old weekend state into weekend", "weekend", stWeekOf(half), half, true},
		{"week state into weekend", "weekend", week, half, false},
		{"weekend state into week", "week", half, week, false},
		{"week state into week", "week", week, week, true},
	} {
		got := restore(c.split, slices.Clone(c.ext))
		l := stLayoutFor(c.split)
		if len(got) != l.size {
			t.Errorf("%s: %d bytes, want %d", c.name, len(got), l.size)
			continue
		}
		from := stLayoutOf(len(c.ext))
		if !bytes.Equal(got[l.sig:l.pool], c.ext[from.sig:from.pool]) {
			t.Errorf("%s: quiet clock not kept", c.name)
		}
		kept := bytes.Equal(got[:l.sig], c.want[:l.sig]) && bytes.Equal(got[l.pool:], c.want[l.pool:])
		empty := !slices.ContainsFunc(got[:l.sig], func(b byte) bool { return b != 0 }) && !slices.ContainsFunc(got[l.pool:l.late], func(b byte) bool { return b != 0 })
		if c.keep && !kept || !c.keep && !empty {
			t.Errorf("%s: counts kept %v, emptied %v; want kept %v", c.name, kept, empty, c.keep)
		}
	}
}

// fuzzStepsRun restores b into an engine of cfg and runs it.
func fuzzStepsRun(t *testing.T, cfg *Config, b []byte) {
	e := restoreStable(t, cfg, "hh-x", b)
	if e == nil {
		return
	}
	st := e.rules[0].base.ev.(*steps)
	for i := range e.get("hh-x").slots {
		s := e.get("hh-x").at(i)
		sl := &s
		if len(sl.ext) != st.lay.size {
			continue
		}
		for c := 0; c < st.lay.cells; c++ {
			if at, _ := st.alarmTime(sl, c); at != 480 && at != 1440 && at != 2160 {
				t.Fatalf("cell %d: alarm time %d min is not a step", c, at)
			}
		}
	}
	fuzzRunWater(e)
}

// BenchmarkStepsObserve: hourly water readings of 1,000 households
// through a steps rule (the report's settings) next to the fixed 24 h rule.
func BenchmarkStepsObserve(b *testing.B) {
	benchHourly(b, `
rules:
  - {name: no_water_24h, kind: no_use, field: total_m3, min_delta: 0.01, for: 24h}
  - {name: st, kind: steps, alarm_times: [8h, 24h, 36h], late_share: 0.04, split: week, per_quiet: 8, after_gap: 1m, neighbours: 0.5, memory: 365d, fallback: 24h, silent_after: 25h, silent_rule: st_silent}
`)
}

// TestStepsForgets: with memory 365d a quiet period learned 400 days ago
// weighs about e^(−400/365) ≈ 1/3 of a new one. Forgetting once a day
// would round a count of one sample back to itself for ever (64 × (1 −
// 1/365) rounds to 64); the rule forgets every 30 days instead.
func TestStepsForgets(t *testing.T) {
	tl := newTimeline(t, stepsRules("    alarm_times: [8h, 24h]\n    memory: 365d\n"))
	tl.reading(at(0, "06:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 100)
	tl.reading(at(0, "07:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 100.1)
	v := tl.meter("hh-1", at(0, "08:00"), at(0, "17:00"), 100.1, 0)
	tl.reading(at(0, "17:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v+0.1) // 10 h: between the steps
	count := func() uint16 {
		s := tl.e.get("hh-1").at(0)
		o := (7*stBuckets + 1) * 2
		return uint16(s.ext[o]) | uint16(s.ext[o+1])<<8
	}
	if c := count(); c != stOne {
		t.Fatalf("learned count %d, want %d", c, stOne)
	}
	tl.meter("hh-1", at(0, "18:00"), at(400, "18:00"), v+0.1, 0)
	if c := count(); c < stOne/4 || c > stOne/2 {
		t.Errorf("after 400 days the count is %d, want about %d", c, stOne/3)
	}
}

// TestStepsCountsKeepTheirAlarmTimes: the counts are kept with the alarm
// times they were counted between. Restored under other alarm_times (the
// rule changed, or the household's tier), they are dropped and the rule
// learns again, ringing at its fallback meanwhile; under the same ones
// they are used.
func TestStepsCountsKeepTheirAlarmTimes(t *testing.T) {
	keys := "    alarm_times: [8h, 24h]\n    fallback: 12h\n"
	tl := newTimeline(t, stepsRules(keys))
	v := routine(tl, "hh-1", 0, 20, 100)
	b := saved(tl.e)["hh-1"]
	for _, c := range []struct {
		keys string
		want time.Time
	}{
		{keys, at(20, "15:30")}, // learned: 8 h
		{"    alarm_times: [6h, 24h]\n    fallback: 12h\n", at(20, "19:30")}, // learning again: the 12 h fallback
	} {
		tl2 := newTimeline(t, stepsRules(c.keys))
		tl2.now = tl.now
		if err := tl2.e.RestoreState("hh-1", b); err != nil {
			t.Fatal(err)
		}
		morningOnly(tl2, "hh-1", 20, v)
		if got := firstOpen(tl2); !got.Equal(c.want) {
			t.Errorf("%q: alarm at %v, want %v (%v)", c.keys, got.In(shanghai), c.want.In(shanghai), tl2.log)
		}
	}
}

// TestStepsSmallRiseIsLife: min_delta is what the rule counts as a sign
// of life. Every night this home draws 1 l at 03:00 (a glass of water);
// its uses are 20 l. Counting 1 l as use (min_delta: 0.001) the quiet
// periods that begin at the 21:00 use end by 03:00, so an elder who stops
// after it is rung for at 8 h (05:00); counting 3 l (0.003) they last
// until 07:00 (10 h) and the rule waits for 24 h. docs/detection.md
// measures this on DAIAD (rules steps1l_*).
func TestStepsSmallRiseIsLife(t *testing.T) {
	ring := func(minDelta string) time.Time {
		tl := newTimeline(t, stepsRules("    alarm_times: [8h, 24h]\n    min_delta: "+minDelta+"\n"))
		uses := map[string]float64{"03:00": 0.001, "07:00": 0.02, "07:30": 0.02, "12:00": 0.02, "18:00": 0.02, "19:00": 0.02, "21:00": 0.02}
		v := 100.0
		for d := 0; d <= 30; d++ {
			if d == 30 {
				tl.ds, tl.log = nil, nil // the elder stops after day 30's 21:00 use
			}
			for m := 0; m < 24*60; m += 30 {
				clock := time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format("15:04")
				v += uses[clock]
				tl.reading(at(d, clock), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
			}
		}
		tl.meter("hh-1", at(31, "00:00"), at(33, "00:00"), v, 0)
		return firstOpen(tl)
	}
	if life, use := ring("0.001"), ring("0.003"); !life.Equal(at(31, "05:00")) || !use.Equal(at(31, "21:00")) {
		t.Errorf("1 l as use: alarm at %v (want 05:00, 8 h); 3 l: at %v (want 21:00, 24 h)", life.In(shanghai), use.In(shanghai))
	}
}
