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
// its 07:30 use, then for 30 h a tap dripping drip m³ an hour (0.001: 1 l)
// or a still meter, read every 30 minutes. It returns the no_water alarms
// opened after the 07:30 use and the days with data its counts cover (the
// slot's n).
func defaultNoWater(t *testing.T, days, high int, drip float64) ([]Decision, uint16) {
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
	for ts := at(days, "08:00"); !ts.After(at(days+1, "13:30")); ts = ts.Add(30 * time.Minute) {
		v += drip / 2
		tl.reading(ts, "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
	}
	var o []Decision
	for _, d := range opens(tl) {
		if d.Rule == "no_water" {
			o = append(o, d)
		}
	}
	var n uint16
	for _, s := range tl.e.hh["hh-1"].slots {
		if tl.e.rules[s.rule].base.cfg.Name == "no_water" {
			n = s.n
		}
	}
	return o, n
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
		drip        float64
		want, since string // the alarm's time (day 20 or 21) and the reason's start
		minN, maxN  uint16 // the days with data the counts cover at the end
	}{
		{"new home, high", 0, 0, 0, "19:30", "no water used since 07:30 (12 h)", 1, 2},
		{"new home, high, drip", 0, 0, 0.001, "19:30", "no water used since 07:30 (12 h)", 1, 2},
		{"learned, high, drip", 20, 0, 0.001, "19:30", "no water used since 07:30 (12 h)", 21, 22},
		{"learned, general, drip", 20, 99, 0.001, "+07:30", "no water used since 07:30 yesterday (24 h)", 21, 22},
		{"learned as general, made high", 20, 20, 0, "19:30", "no water used since 07:30 (12 h)", 1, 2},
	} {
		o, n := defaultNoWater(t, c.days, c.high, c.drip)
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
