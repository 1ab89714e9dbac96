package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/configs"
)

// defaultNoWater runs configs/rules.yaml for hh-1: `days` days of routine
// (tier high from day `high` on; high > days: never), then day `days` up to
// its 07:30 use, then for 36 h the meter read every 30 minutes, rising by
// rise(ts) m³ at each reading (steady: a tap dripping; 0: a still meter).
// It returns the no_water alarms opened after the 07:30 use and the days
// with data its counts cover (the slot's n).
func defaultNoWater(t *testing.T, days, high int, rise func(time.Time) float64) ([]Decision, uint16) {
	tl := newTimeline(t, string(configs.RulesYAML))
	v := 100.0
	for d := 0; d <= days; d++ {
		if d == high {
			tl.e.SetHousehold("hh-1", anxin.TierHigh)
		}
		if d < days {
			v = routine(tl, "hh-1", d, d+1, v)
		}
	}
	tl.ds, tl.log = nil, nil
	for m := 0; m <= 7*60+30; m += 30 {
		if m >= 7*60 {
			v += 0.02
		}
		tl.reading(at(days, "00:00").Add(time.Duration(m)*time.Minute), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
	}
	for ts := at(days, "08:00"); !ts.After(at(days+1, "20:00")); ts = ts.Add(30 * time.Minute) {
		v += rise(ts)
		tl.reading(ts, "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
	}
	var o []Decision
	for _, d := range opens(tl) {
		if d.Rule == "no_water" {
			o = append(o, d)
		}
	}
	var n uint16
	for _, s := range tl.e.get("hh-1").slots {
		if tl.e.rules[s.rule].base.cfg.Name == "no_water" {
			n = s.n
		}
	}
	return o, n
}

// steady is a tap dripping perHour m³ an hour, read every 30 minutes.
func steady(perHour float64) func(time.Time) float64 {
	return func(time.Time) float64 { return perHour / 2 }
}

// TestDefaultNoWaterHighTier: the default no_water (kind steps, drip-safe)
// rings for a high-risk elder 12 h after the last use at the latest: in a
// new home (the 12 h fallback), in a home it learned (20 days as high) and
// under a drip of 1 l an hour, which restarts only the 8 h step's clock.
// A general-tier home under the same drip is rung for at 24 h. A tier
// change drops the learned counts (kind steps keeps them with the alarm
// times they were counted for): a home learned as general for 20 days and
// made high on day 20 has the days of day 20 and 21 only, and rings at its
// 12 h fallback.
func TestDefaultNoWaterHighTier(t *testing.T) {
	for _, c := range []struct {
		name        string
		days, high  int
		drip        float64 // m³ an hour
		want, since string  // the alarm's time (day 20 or 21) and the reason's start
		minN, maxN  uint16  // the days with data the counts cover at the end
	}{
		{"new home, high", 0, 0, 0, "19:30", "no water used since 07:30 (12 h)", 1, 2},
		{"new home, high, drip", 0, 0, 0.001, "19:30", "no water used since 07:30 (12 h)", 1, 2},
		{"learned, high, drip", 20, 0, 0.001, "19:30", "no water used since 07:30 (12 h)", 21, 22},
		{"learned, general, drip", 20, 99, 0.001, "+07:30", "no water used since 07:30 yesterday (24 h)", 21, 22},
		{"learned as general, made high", 20, 20, 0, "19:30", "no water used since 07:30 (12 h)", 1, 2},
	} {
		o, n := defaultNoWater(t, c.days, c.high, steady(c.drip))
		if n < c.minN || n > c.maxN {
			t.Errorf("%s: counts of %d days, want %d to %d", c.name, n, c.minN, c.maxN)
		}
		want := at(c.days, c.want)
		if rest, ok := strings.CutPrefix(c.want, "+"); ok {
			want = at(c.days+1, rest)
		}
		if len(o) != 1 || !o[0].At.Equal(want) || o[0].Cause.Code != anxin.CauseNoUse || !strings.HasPrefix(o[0].Reason, c.since) {
			t.Errorf("%s: alarms %+v, want one at %v: %q (cause no_use)", c.name, o, want.In(shanghai), c.since)
		}
	}
}

// TestDefaultNoWaterUnevenLeak: the default's price (drip_run: 12h). A
// leak of 1 l at uneven times — 4 h, then 5 h 30 min, by turns, from 11:30
// after the elder's last use at 07:30 — looks like glasses of water: each
// rise restarts the last step's clock, which rings only at the guarantee,
// drip_run after the 3 l clock's 24 h: 19:30 the next day, 36 h after the
// use (the previous default, without drip_run, rang at 24 h). A high-risk
// elder is rung for at 12 h all the same: drip_run is 0 in the high tier.
func TestDefaultNoWaterUnevenLeak(t *testing.T) {
	leak := func(day int) func(time.Time) float64 {
		next, long := at(day, "11:30"), true
		return func(ts time.Time) float64 {
			if ts.Before(next) {
				return 0
			}
			if next = next.Add(4 * time.Hour); long {
				next = next.Add(90 * time.Minute)
			}
			long = !long
			return 0.001
		}
	}
	for _, c := range []struct {
		name        string
		high        int
		want, since string
	}{
		{"general", 99, "+19:30", "no water used since 07:30 yesterday (36 h)"},
		{"high", 0, "19:30", "no water used since 07:30 (12 h)"},
	} {
		o, _ := defaultNoWater(t, 20, c.high, leak(20))
		want := at(20, c.want)
		if rest, ok := strings.CutPrefix(c.want, "+"); ok {
			want = at(21, rest)
		}
		if len(o) != 1 || !o[0].At.Equal(want) || o[0].Cause.Code != anxin.CauseNoUse || !strings.HasPrefix(o[0].Reason, c.since) {
			t.Errorf("%s: alarms %+v, want one at %v: %q (cause no_use)", c.name, o, want.In(shanghai), c.since)
		}
	}
}
