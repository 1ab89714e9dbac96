package main

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/anxin-care/anxin/replay"
)

// missBreakdown measures one rule on DAIAD (3 l, seed 1, 40 emergencies
// per occupied household) and prints where its 8 h misses are: by the
// household's age, by the local hour of the use, and with or without a
// data gap within 8 h of the use (flag -misses; docs/detection.md, "Why
// the learner trailed the bound", cites its figures).
func missBreakdown(w io.Writer, file, ruleYAML string) error {
	cfg, err := replay.Rules([]byte("rules:\n  - "+ruleYAML+"\n"), replay.DefaultZone("daiad"))
	if err != nil {
		return err
	}
	loc := cfg.Location()
	src, err := replay.Open("daiad", file, loc)
	if err != nil {
		return err
	}
	var hs []householdInfo
	series := map[string][]time.Time{}
	err = readSeries(src, func(s *meterSeries) error {
		med, n := dailyUse(s, loc)
		hs = append(hs, householdInfo{id: s.id, uses: eligibleUses(s, 3, replay.DefaultWindow), medianDaily: med, complete: n})
		series[s.id] = append([]time.Time(nil), s.ts...)
		return nil
	})
	src.Close()
	if err != nil {
		return err
	}
	var occ []householdInfo
	for _, h := range hs {
		if !h.vacant() {
			occ = append(occ, h)
		}
	}
	src, err = replay.Open("daiad", file, loc)
	if err != nil {
		return err
	}
	m, err := replay.Measure(src, replay.MeasureOptions{Rules: cfg, Stops: sample(occ, 1, 40), UseLitres: 3})
	src.Close()
	if err != nil {
		return err
	}
	if len(m.Rules) == 0 {
		return fmt.Errorf("-misses: not a no-use rule")
	}
	type tally struct{ n, in8 float64 }
	add := func(t *tally, caught bool) {
		t.n++
		if caught {
			t.in8++
		}
	}
	ages := []int{14, 30, 60, 120, 240}
	byAge := make([]tally, len(ages))
	var byHour [24]tally
	var gap, noGap tally
	for _, o := range m.Outcomes {
		ts := series[o.Household]
		caught := o.DelayH[0] <= 8
		age := o.StopAt.Sub(ts[0]).Hours() / 24
		a := 0
		for i, x := range ages {
			if age >= float64(x) {
				a = i
			}
		}
		add(&byAge[a], caught)
		add(&byHour[o.StopAt.In(loc).Hour()], caught)
		i := sort.Search(len(ts), func(i int) bool { return !ts[i].Before(o.StopAt) })
		g := ts[len(ts)-1].Before(o.StopAt.Add(8 * time.Hour))
		for j := i + 1; j < len(ts) && !ts[j-1].After(o.StopAt.Add(8*time.Hour)); j++ {
			g = g || ts[j].Sub(ts[j-1]) > 2*time.Hour
		}
		if g {
			add(&gap, caught)
		} else {
			add(&noGap, caught)
		}
	}
	share := func(t tally) float64 { return t.in8 / max(t.n, 1) }
	fmt.Fprintf(w, "%s: %d emergencies (DAIAD, 3 l, seed 1)\n", m.Rules[0], len(m.Outcomes))
	for i, x := range ages {
		fmt.Fprintf(w, "home's age ≥ %3d d: %5.0f emergencies, %s within 8 h\n", x, byAge[i].n, pct(share(byAge[i])))
	}
	var miss, missNight, night float64
	for h, t := range byHour {
		fmt.Fprintf(w, "use at %02d h: %5.0f emergencies, %s within 8 h\n", h, t.n, pct(share(t)))
		miss += t.n - t.in8
		if h >= 20 || h < 6 {
			missNight += t.n - t.in8
			night += t.n
		}
	}
	fmt.Fprintf(w, "uses at 20–06 h: %s of the emergencies, %s of the 8 h misses\n", pct(night/float64(len(m.Outcomes))), pct(missNight/max(miss, 1)))
	fmt.Fprintf(w, "a data gap (> 2 h) within 8 h of the use: %s of the emergencies, %s of them within 8 h; without: %s\n",
		pct(gap.n/float64(len(m.Outcomes))), pct(share(gap)), pct(share(noGap)))
	return nil
}
