package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/configs"
)

// acrossGap is one household's days around a gap in its readings: days
// days of routine, day days up to its 07:30 use, then readings every 30 minutes
// up to stop (exclusive), none until resume, where the counter is rise m³
// higher than at the last reading, then readings every 30 minutes from
// resume up to end (exclusive). Between the readings the counter rises by
// drip m³ an hour; with used, also by 20 l at the routine's use times
// after the gap.
type acrossGap struct {
	days              int
	stop, resume, end time.Time
	rise, drip        float64
	used              bool
}

// run feeds the household through rules y as the engine is fed and
// returns the alarms of rule name opened after the 07:30 use on day days.
func (g acrossGap) run(t *testing.T, y, name string) []Decision {
	t.Helper()
	tl := newTimeline(t, y)
	v := routine(tl, "hh-1", 0, g.days, 100)
	tl.ds, tl.log = nil, nil
	uses := map[string]bool{"07:00": true, "07:30": true, "12:00": true, "18:00": true, "19:00": true, "21:00": true}
	ts := at(g.days, "00:00")
	for ; ts.Before(g.stop); ts = ts.Add(30 * time.Minute) {
		if ts.After(at(g.days, "07:30")) {
			v += g.drip / 2
		} else if c := ts.In(shanghai).Format("15:04"); c == "07:00" || c == "07:30" {
			v += 0.02
		}
		tl.reading(ts, "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
	}
	v += g.rise
	for ts = g.resume; ts.Before(g.end); ts = ts.Add(30 * time.Minute) {
		if ts.After(g.resume) {
			v += g.drip / 2
			if g.used && uses[ts.In(shanghai).Format("15:04")] {
				v += 0.02
			}
		}
		tl.reading(ts, "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v)
	}
	var o []Decision
	for _, d := range opens(tl) {
		if d.Rule == name {
			o = append(o, d)
		}
	}
	return o
}

// TestDefaultNoWaterRiseAcrossGapIsUse: the default no_water in a home of
// ordinary days whose gateway is out for 48 h (08:00 Sunday to 08:00
// Tuesday) while 100 l are used — 2 l an hour on average, what a drip of
// under 3 l an hour could leave, so the late clock took it for a drip and
// its 24 h step, due at 07:30 Monday, rang at the first reading after
// the gap. A rise of min_delta across a gap through the late step's time
// is a use: nothing rings when the home goes on as usual, and with only a
// drip of 1 l an hour after the gap the 24 h step rings 24 h after the
// first reading (08:00 Wednesday). A drip of 1 l an hour through a 5 h gap
// across the step's time (05:00 to 10:00 Monday) cannot be told from a
// use either: it rings 24 h after the gap too, not never.
func TestDefaultNoWaterRiseAcrossGapIsUse(t *testing.T) {
	for _, c := range []struct {
		name string
		g    acrossGap
		want string // the alarm's day and time, "" none
	}{
		{"100 l in 48 h, then as usual", acrossGap{20, at(20, "08:00"), at(22, "08:00"), at(24, "00:00"), 0.1, 0, true}, ""},
		{"100 l in 48 h, then a drip", acrossGap{20, at(20, "08:00"), at(22, "08:00"), at(24, "00:00"), 0.1, 0.001, false}, "23 08:00"},
		{"a drip through a 5 h gap at the step", acrossGap{20, at(21, "05:00"), at(21, "10:00"), at(23, "00:00"), 0.005, 0.001, false}, "22 10:00"},
	} {
		o := c.g.run(t, string(configs.RulesYAML), "no_water")
		if c.want == "" {
			if len(o) != 0 {
				t.Errorf("%s: alarms %+v, want none", c.name, o)
			}
			continue
		}
		var d int
		var clock string
		if _, err := fmt.Sscanf(c.want, "%d %s", &d, &clock); err != nil {
			t.Fatal(err)
		}
		if len(o) != 1 || !o[0].At.Equal(at(d, clock)) || o[0].Cause.Code != anxin.CauseNoUse || !strings.HasPrefix(o[0].Reason, "no water used since "+c.g.resume.In(shanghai).Format("15:04")) {
			t.Errorf("%s: alarms %+v, want one at %v, the 24 h step since the first reading after the gap", c.name, o, at(d, clock).In(shanghai))
		}
	}
}

// TestStepsGapWithoutUseRingsAfterHold: a home that stops after its 07:30
// use on Sunday; its gateway is out from 08:00 until 14:00 Monday
// (30 h, through the 24 h step's time) and the counter rose less than
// min_delta meanwhile — nothing, half a litre, or 2 l (a sign of life of
// life_delta, not a use). An emergency across an outage must not be
// hidden: the 24 h step rings, but not at the first reading after the gap
// — after_gap later, as the rest of the rule waits (the default's 1m:
// 14:01; 2 h by default: 16:00). A 2 l rise used to skip that hold.
func TestStepsGapWithoutUseRingsAfterHold(t *testing.T) {
	for _, r := range []struct {
		name, y, want string
	}{
		{"default no_water", string(configs.RulesYAML), "14:01"},
		{"after_gap 2h", stepsRules(dripKeys), "16:00"},
	} {
		name := "no_water"
		if !strings.Contains(r.y, "name: no_water") {
			name = "st"
		}
		for _, rise := range []float64{0, 0.0005, 0.002} {
			o := acrossGap{20, at(20, "08:00"), at(21, "14:00"), at(21, "20:00"), rise, 0, false}.run(t, r.y, name)
			if len(o) != 1 || !o[0].At.Equal(at(21, r.want)) || o[0].Cause.Code != anxin.CauseNoUse || !strings.HasPrefix(o[0].Reason, "no water used since 07:30 yesterday") {
				t.Errorf("%s, %g l across the gap: alarms %+v, want one at %s (since 07:30 yesterday)", r.name, rise*1000, o, r.want)
			}
		}
	}
}

// TestStepsGapWhileFallingBackRestarts: the same outage in a new home (2
// days of data, under the default's 3-day warm-up: no_water rings at its
// 24 h fallback). While
// falling back the rule is the fixed rule, and a gap restarts its quiet
// period as no_use's does: it rings 24 h after the first reading after
// the gap, whether the counter rose by nothing or by a sign of life
// under min_delta (2 l used to ring at that first reading).
func TestStepsGapWhileFallingBackRestarts(t *testing.T) {
	for _, rise := range []float64{0, 0.0005, 0.002} {
		o := acrossGap{1, at(1, "08:00"), at(2, "14:00"), at(3, "20:00"), rise, 0, false}.run(t, string(configs.RulesYAML), "no_water")
		if len(o) != 1 || !o[0].At.Equal(at(3, "14:00")) || o[0].Cause.Code != anxin.CauseNoUse || !strings.HasPrefix(o[0].Reason, "no water used since 14:00 yesterday (24 h)") {
			t.Errorf("%g l across the gap: alarms %+v, want one at 14:00 the day after the gap (24 h)", rise*1000, o)
		}
	}
}

// TestDripRunGapRestartsTheRun: with drip_run (the default's 12h) the
// last step rings from the run's clock; a gap that restarts the late clock
// (a new home falling back, as in TestStepsGapWhileFallingBackRestarts)
// restarts the run's too, or the rule would ring at the first reading
// after the gap on the run's old clock. A 14-day warm-up with 5 days of
// data falls back the same.
func TestDripRunGapRestartsTheRun(t *testing.T) {
	y := string(configs.RulesYAML)
	if !strings.Contains(y, "drip_run: 12h") {
		t.Fatal("no drip_run in the default no_water")
	}
	warm14 := strings.Replace(y, "warm_up: 3d", "warm_up: 14d", 1)
	for _, c := range []struct {
		y    string
		days int
	}{{y, 1}, {warm14, 5}} {
		for _, rise := range []float64{0, 0.0005, 0.002} {
			o := acrossGap{c.days, at(c.days, "08:00"), at(c.days+1, "14:00"), at(c.days+2, "20:00"), rise, 0, false}.run(t, c.y, "no_water")
			if len(o) != 1 || !o[0].At.Equal(at(c.days+2, "14:00")) || o[0].Cause.Code != anxin.CauseNoUse {
				t.Errorf("%d days, %g l across the gap: alarms %+v, want one at 14:00 the day after the gap (24 h)", c.days, rise*1000, o)
			}
		}
	}
	if o := (acrossGap{20, at(20, "08:00"), at(22, "08:00"), at(24, "00:00"), 0.1, 0, true}).run(t, y, "no_water"); len(o) != 0 {
		t.Errorf("100 l in 48 h, then as usual: alarms %+v, want none", o)
	}
}
