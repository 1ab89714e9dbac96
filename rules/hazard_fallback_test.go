package rules

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// sideBySide is the fixed rule and the stand-in (hazard with fallback and
// silent_after) in one engine, each with its own silent rule.
const sideBySide = `
rules:
  - {name: nu, kind: no_use, device_kinds: [water_meter], field: total_m3, min_delta: 0.01, for: 24h,
     fresh_within: 2x, silent_after: 25h, silent_rule: silent_nu}
  - {name: hz, kind: hazard, device_kinds: [water_meter], field: total_m3, min_delta: 0.01, cost: 4800h,
     alarm_times: [8h, 24h], neighbours: 0.5, memory: 365d, fallback: 24h, fresh_within: 2x,
     silent_after: 25h, silent_rule: silent_hz}
`

// TestHazardFallbackActsAsNoUse: while the stand-in warms up it raises
// what the fixed 24 h rule raises, at the same instants and with the same
// reasons and causes — a quiet period, a data gap (no data is not no use),
// a silent meter (device_silent), a swapped meter — so a new home is
// watched from its first reading.
func TestHazardFallbackActsAsNoUse(t *testing.T) {
	for _, c := range []struct {
		name string
		feed func(tl *timeline)
		want []string // the fixed rule's decisions, rules named X and silent
	}{
		{"quiet", func(tl *timeline) {
			tl.reading(at(0, "05:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 100.0)
			tl.reading(at(0, "06:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 100.02)
			tl.reading(at(0, "06:40"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 100.05)
			v := tl.meter("hh-1", at(0, "07:00"), at(1, "09:00"), 100.055, 0.0001) // a drip below min_delta
			tl.reading(at(1, "09:12"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v+0.03)
		}, []string{
			"Tue 06:40 open hh-1 X wm1: no water used since 06:40 yesterday (24 h)",
			"Tue 09:12 close hh-1 X wm1: Water used again at 09:12",
		}},
		{"gap", func(tl *timeline) {
			v := tl.meter("hh-1", at(0, "06:00"), at(0, "10:00"), 1, 0.02) // last use 09:00
			tl.meter("hh-1", at(0, "14:00"), at(1, "16:00"), v-0.02, 0)    // 4 h gap, same counter
		}, []string{"Tue 14:00 open hh-1 X wm1: no water used since 14:00 yesterday (24 h)"}},
		{"silent", func(tl *timeline) {
			tl.reading(at(0, "06:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 7.0)
			tl.reading(at(0, "06:40"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 7.1)
			tl.meter("hh-1", at(0, "07:00"), at(0, "11:00"), 7.1, 0) // the meter dies at 10:00
			tl.advance(at(2, "00:00"))
			tl.meter("hh-1", at(2, "00:00"), at(3, "01:00"), 7.1, 0)
		}, []string{
			"Tue 11:00 open hh-1 silent wm1: The water meter (wm1) has sent no reading since 10:00 yesterday (25 h); it may need a new battery or a visit",
			"Wed 00:00 close hh-1 silent wm1: The water meter (wm1) is sending readings again (00:00)",
			"Thu 00:00 open hh-1 X wm1: no water used since 00:00 yesterday (24 h)",
		}},
		{"swap", func(tl *timeline) {
			tl.meter("hh-1", at(0, "06:00"), at(0, "08:00"), 500, 0.5) // use at 07:00
			tl.meter("hh-1", at(0, "08:00"), at(0, "12:00"), 0.2, 0)   // meter swapped at 08:00
			tl.meter("hh-1", at(0, "12:00"), at(1, "08:00"), 0.205, 0) // +5 l: not use
		}, []string{"Tue 07:00 open hh-1 X wm1: no water used since 07:00 yesterday (24 h)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tl := newTimeline(t, sideBySide)
			c.feed(tl)
			byRule := map[string][]string{}
			for i, l := range tl.log {
				d := tl.ds[i]
				fam := strings.TrimPrefix(d.Rule, "silent_") // nu or hz
				generic := " X "
				if fam != d.Rule {
					generic = " silent "
				}
				l = strings.Replace(l, " "+d.Rule+" ", generic, 1)
				byRule[fam] = append(byRule[fam], l)
				if d.Op == OpOpen && !strings.HasPrefix(d.Rule, "silent_") && d.Cause.Code != anxin.CauseNoUse {
					t.Errorf("%s: cause %q, want %q", d.Rule, d.Cause.Code, anxin.CauseNoUse)
				}
			}
			want := strings.Join(c.want, "\n")
			for _, r := range []string{"nu", "hz"} {
				if got := strings.Join(byRule[r], "\n"); got != want {
					t.Errorf("%s:\n%s\n\nwant:\n%s", r, got, want)
				}
			}
		})
	}
}

// TestHazardFallbackThenLearned: a quiet morning on day 5 rings at the
// fallback (16 h here), as the fixed rule would; after the warm-up the
// same morning rings at the learned 8 h step, as the unusual quiet it is.
func TestHazardFallbackThenLearned(t *testing.T) {
	tl := newTimeline(t, hazardRules("    alarm_times: [8h, 24h]\n    fallback: 16h\n"))
	v := routine(tl, "hh-1", 0, 5, 100)
	if o := opens(tl); len(o) != 0 {
		t.Fatalf("ordinary days in the warm-up raised %v", tl.log)
	}
	morningOnly(tl, "hh-1", 5, v)
	o := opens(tl)
	if len(o) != 1 || !o[0].At.Equal(at(5, "23:30")) || o[0].Cause.Code != anxin.CauseNoUse ||
		o[0].Reason != "no water used since 07:30 (16 h)" {
		t.Fatalf("warm-up: %v", tl.log)
	}
	tl.ds, tl.log = nil, nil
	v = routine(tl, "hh-1", 6, 20, v+0.02)
	if len(tl.ds) != 1 || tl.ds[0].Op != OpClose {
		t.Fatalf("days 6 … 19: %v", tl.log)
	}
	tl.ds, tl.log = nil, nil
	morningOnly(tl, "hh-1", 20, v)
	o = opens(tl)
	if len(o) != 1 || !o[0].At.Equal(at(20, "15:30")) || o[0].Cause.Code != anxin.CauseNoUseUnusual {
		t.Fatalf("after the warm-up: %v", tl.log)
	}
}

// TestHazardFallbackTierOverride: a high-risk elder's rule (tier high:
// alarm_times [8h, 12h], fallback 12h) rings after 12 h while warming up
// and, once learned, waits 12 h rather than 24 h for a night that does not
// end; the general tier keeps 24 h for both.
func TestHazardFallbackTierOverride(t *testing.T) {
	rules := hazardRules("    alarm_times: [8h, 24h]\n    fallback: 24h\n    overrides:\n      tier:\n        high: {alarm_times: [8h, 12h], fallback: 12h}\n")
	tl := newTimeline(t, rules)
	tl.e.SetHousehold("hh-high", anxin.TierHigh)
	tl.e.SetHousehold("hh-gen", anxin.TierGeneral)
	for t0 := at(0, "07:00"); t0.Before(at(1, "08:00")); t0 = t0.Add(time.Hour) {
		for _, hh := range []string{"hh-high", "hh-gen"} {
			tl.reading(t0, hh, "wm1", anxin.KindWaterMeter, "total_m3", 5.0)
		}
	}
	tl.expect(
		"Mon 19:00 open hh-high hz wm1: no water used since 07:00 (12 h)",
		"Tue 07:00 open hh-gen hz wm1: no water used since 07:00 yesterday (24 h)",
	)
	night := func(hh string) time.Time {
		tl := newTimeline(t, rules)
		tl.e.SetHousehold(hh, map[bool]anxin.Tier{true: anxin.TierHigh, false: anxin.TierGeneral}[hh == "hh-high"])
		v := routine(tl, hh, 0, 20, 100)
		for d := 20; d <= 21; d++ {
			for m := 0; m < 24*60; m += 30 {
				tl.reading(at(d, time.Date(0, 1, 1, m/60, m%60, 0, 0, time.UTC).Format("15:04")), hh, "wm1", anxin.KindWaterMeter, "total_m3", v)
			}
		}
		return firstOpen(tl)
	}
	if got := night("hh-high"); !got.Equal(at(20, "09:00")) {
		t.Errorf("high tier: night rang at %v, want day 20 09:00 (21:00 + 12 h)", got.In(shanghai))
	}
	if got := night("hh-gen"); !got.Equal(at(20, "21:00")) {
		t.Errorf("general tier: night rang at %v, want day 20 21:00 (21:00 + 24 h)", got.In(shanghai))
	}
}

// TestHazardFallbackState: a stand-in saved in the middle of a warm-up
// quiet period and restored into a new engine rings at the same instant.
func TestHazardFallbackState(t *testing.T) {
	tl := newTimeline(t, sideBySide)
	tl.meter("hh-1", at(0, "06:00"), at(0, "09:00"), 1, 0.02) // last use 08:00
	tl.meter("hh-1", at(0, "09:00"), at(0, "20:00"), 1.04, 0)
	b := tl.e.State("hh-1")
	tl2 := newTimeline(t, sideBySide)
	tl2.now = tl.now
	if err := tl2.e.RestoreState("hh-1", b); err != nil {
		t.Fatal(err)
	}
	tl2.meter("hh-1", at(0, "20:00"), at(1, "09:00"), 1.04, 0)
	var hz []string
	for i, d := range tl2.ds {
		if d.Rule == "hz" {
			hz = append(hz, tl2.log[i])
		}
	}
	if len(hz) != 1 || hz[0] != "Tue 08:00 open hh-1 hz wm1: no water used since 08:00 yesterday (24 h)" {
		t.Errorf("restored: %v", tl2.log)
	}
}

func TestHazardFallbackConfigErrors(t *testing.T) {
	for _, c := range []struct{ keys, want string }{
		{"    fallback: 30m\n", "fallback"},
		{"    fallback: 48h\n", "fallback"},
		{"    silent_rule: device_silent\n", "silent_rule: needs silent_after"},
		{"    silent_after: 25h\n    silent_rule: hz\n", "silent_rule: must differ"},
		{"    silent_after: 25h\n    also_field: energy_kwh\n", "silent_after: not with also_field"},
		{"    overrides: {tier: {high: {fallback: 10m}}}\n", "fallback"},
	} {
		_, err := Parse([]byte(hazardRules(c.keys)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v", c.keys, err)
		}
	}
	cfg, err := Parse([]byte(hazardRules("    silent_after: 25h\n")))
	if err != nil {
		t.Fatal(err)
	}
	if n := cfg.Rules[0].SilentRuleName(); n != "device_silent" {
		t.Errorf("silent rule %q, want the default device_silent", n)
	}
	if _, err := Parse([]byte(hazardRules("    silent_after: 25h\n  - {name: device_silent, kind: event, events: [fall]}\n"))); err == nil {
		t.Error("a rule named like the stand-in's silent alarm was accepted")
	}
}

// FuzzHazardFallbackState: arbitrary restored state under the stand-in
// (fallback, silent_after) never panics, and its timers never spin: every
// deadline it gives fires or moves on.
func FuzzHazardFallbackState(f *testing.F) {
	cfg, err := Parse([]byte(sideBySide))
	if err != nil {
		f.Fatal(err)
	}
	tl := &timeline{t: &testing.T{}, e: New(cfg), now: day0}
	v := routine(tl, "hh-1", 0, 3, 100)
	tl.meter("hh-1", at(3, "00:00"), at(3, "04:00"), v, 0)
	f.Add(tl.e.State("hh-1"))
	// The same state as the code of state version 1 saved it (the 1,680-
	// byte ext), which is converted on load.
	v1, err := os.ReadFile("testdata/hazard_v1_sidebyside.state")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(v1)
	f.Fuzz(func(t *testing.T, b []byte) {
		// Accepted state re-encodes stably and is in the rule's layout.
		e := restoreStable(t, cfg, "hh-1", b)
		if e == nil {
			return
		}
		for i := range e.get("hh-1").slots {
			s := e.get("hh-1").at(i)
			if hz := hzOf(e.rules[s.rule].base.ev); hz != nil && s.ext != nil && !hz.lay.is(s.ext) {
				t.Fatalf("restored ext of %d bytes is not the rule's layout", len(s.ext))
			}
		}
		tl := &timeline{t: t, e: e, now: at(3, "04:00")}
		tl.advance(at(6, "00:00"))
		tl.reading(at(6, "00:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 1.0)
		tl.advance(at(9, "00:00"))
	})
}

// TestNoUseRestoredAfterDowntimeDoesNotSpin: alarmd stopped 30 min before
// a fixed rule's alarm was due, with the meter's data still fresh then,
// and came back 26 h later, the meter silent since: the restored rule
// raises device_silent, not no water, and its timer does not spin on the
// due instant it can no longer ring for (found by FuzzHazardFallbackState;
// the stand-in, sharing the code, behaves the same).
func TestNoUseRestoredAfterDowntimeDoesNotSpin(t *testing.T) {
	tl := newTimeline(t, sideBySide)
	tl.meter("hh-1", at(0, "07:00"), at(0, "09:00"), 1, 0.02) // last use 08:00
	tl.meter("hh-1", at(0, "09:00"), at(1, "08:00"), 1.04, 0) // last reading 07:00, due 08:00
	tl.advance(at(1, "07:30"))
	b := tl.e.State("hh-1")
	tl2 := newTimeline(t, sideBySide)
	tl2.now = at(2, "09:30")
	if err := tl2.e.RestoreState("hh-1", b); err != nil {
		t.Fatal(err)
	}
	tl2.advance(at(3, "00:00"))
	tl2.expect(
		"Wed 09:30 open hh-1 silent_nu wm1: The water meter (wm1) has sent no reading since 07:00 yesterday (26 h 30 min); it may need a new battery or a visit",
		"Wed 09:30 open hh-1 silent_hz wm1: The water meter (wm1) has sent no reading since 07:00 yesterday (26 h 30 min); it may need a new battery or a visit",
	)
}
