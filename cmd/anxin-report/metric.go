package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/anxin-care/anxin/replay"
)

// The metric (docs/detection.md, "Method"): emergencies at a uniform
// seeded sample of every eligible use, misses counted, several seeds.

// warmUp: no emergency in a household's first two weeks of data.
const warmUp = 14 * 24 * time.Hour

// vacantLitres: a meter whose median daily use over complete days is below
// this is a vacant home (or a second home) and is left out of the figures.
const vacantLitres = 30.0

// withinHours are the delays the report gives the share caught within.
var withinHours = []float64{4, 8, 12, 24}

// use is an eligible use: a reading whose counter rose by at least the
// rules' min_delta over the reading before (at most 2 h before, so the use
// is dated), after the warm-up and with a whole window of data after it.
// before is the quiet before it (since the previous use, capped at 24 h):
// the old injection's weight.
type use struct {
	at     time.Time
	before float64 // hours
}

// householdInfo is what the series pass learns about one household.
type householdInfo struct {
	id          string
	uses        []use
	medianDaily float64 // litres, over complete local days; NaN: none
	complete    int     // complete local days
}

func (h householdInfo) vacant() bool {
	return math.IsNaN(h.medianDaily) || h.medianDaily < vacantLitres
}

// eligibleUses lists s's eligible uses for a rise of minUse litres.
func eligibleUses(s *meterSeries, minUse float64, window time.Duration) []use {
	return eligibleUsesAfter(s, minUse, window, warmUp)
}

// eligibleUsesAfter is eligibleUses with uses from warm after the first
// reading (0: from the first day, as a rule is deployed).
func eligibleUsesAfter(s *meterSeries, minUse float64, window, warm time.Duration) []use {
	if len(s.ts) < 2 {
		return nil
	}
	first, last := s.ts[0], s.ts[len(s.ts)-1]
	var out []use
	prev := time.Time{}
	for i := 1; i < len(s.ts); i++ {
		d := s.v[i] - s.v[i-1]
		if d < minUse || d >= 5000 || s.ts[i].Sub(s.ts[i-1]) > 2*time.Hour {
			if d >= minUse && d < 5000 {
				prev = s.ts[i] // a use, but not dated: it still ends the quiet before
			}
			continue
		}
		t := s.ts[i]
		before := 24.0
		if !prev.IsZero() {
			before = math.Min(24, t.Sub(prev).Hours())
		}
		prev = t
		if t.Sub(first) >= warm && !t.Add(window).After(last) {
			out = append(out, use{at: t, before: before})
		}
	}
	return out
}

// dailyUse is the median litres per complete local day: a day whose first
// reading is within an hour of its start, whose last is within an hour of
// its end, and with no interval over 2 h between.
func dailyUse(s *meterSeries, loc *time.Location) (float64, int) {
	var days []float64
	i := 0
	for i < len(s.ts) {
		lt := s.ts[i].In(loc)
		y, m, d := lt.Date()
		start := time.Date(y, m, d, 0, 0, 0, 0, loc)
		end := start.AddDate(0, 0, 1)
		j := i
		ok := s.ts[i].Sub(start) <= time.Hour
		used := 0.0
		for j+1 < len(s.ts) && s.ts[j+1].Before(end) {
			if s.ts[j+1].Sub(s.ts[j]) > 2*time.Hour {
				ok = false
			}
			if dv := s.v[j+1] - s.v[j]; dv > 0 && dv < 5000 {
				used += dv
			}
			j++
		}
		if ok && end.Sub(s.ts[j]) <= time.Hour {
			days = append(days, used)
		}
		i = j + 1
	}
	if len(days) == 0 {
		return math.NaN(), 0
	}
	slices.Sort(days)
	return days[len(days)/2], len(days)
}

// sample draws, for one seed, up to k eligible uses per household,
// uniformly without replacement (all of them when there are fewer).
func sample(hs []householdInfo, seed uint64, k int) map[string][]time.Time {
	rng := rand.New(rand.NewPCG(seed, 0x616e78696e))
	out := map[string][]time.Time{}
	for _, h := range hs {
		n := len(h.uses)
		if n == 0 {
			continue
		}
		idx := rng.Perm(n)
		if n > k {
			idx = idx[:k]
		}
		for _, i := range idx {
			out[h.id] = append(out[h.id], h.uses[i].at)
		}
	}
	return out
}

// ruleFigures are one rule's figures for one seed (or their mean and
// spread over seeds).
type ruleFigures struct {
	Within    []float64 // share within withinHours, uniform weights
	MedianH   float64   // misses as +Inf; +Inf if half are not caught in the window
	OldWithin []float64 // the same, weighted as the old injection (∝ quiet before)
	OldMedian float64
}

// figures computes one rule's figures over outcomes (only those of
// occupied households; the caller filters).
func figures(outs []replay.Outcome, k int, before map[string]map[int64]float64) ruleFigures {
	type dw struct{ d, w, ow float64 }
	var xs []dw
	var sw, sow float64
	for _, o := range outs {
		ow := before[o.Household][o.StopAt.Unix()]
		xs = append(xs, dw{o.DelayH[k], 1, ow})
		sw++
		sow += ow
	}
	f := ruleFigures{Within: make([]float64, len(withinHours)), OldWithin: make([]float64, len(withinHours)), MedianH: math.Inf(1), OldMedian: math.Inf(1)}
	if sw == 0 {
		return f
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i].d < xs[j].d })
	for i, h := range withinHours {
		for _, x := range xs {
			if x.d <= h {
				f.Within[i] += x.w / sw
				f.OldWithin[i] += x.ow / sow
			}
		}
	}
	var cw, cow float64
	medSet, oldSet := false, false
	for _, x := range xs {
		cw += x.w
		cow += x.ow
		if !medSet && cw >= sw/2 {
			f.MedianH, medSet = x.d, true
		}
		if !oldSet && cow >= sow/2 {
			f.OldMedian, oldSet = x.d, true
		}
	}
	return f
}

// meanSpread is the mean and the sample standard deviation; +Inf values
// make both +Inf.
func meanSpread(v []float64) (float64, float64) {
	var s float64
	for _, x := range v {
		if math.IsInf(x, 1) {
			return math.Inf(1), math.Inf(1)
		}
		s += x
	}
	m := s / float64(len(v))
	if len(v) < 2 {
		return m, 0
	}
	var q float64
	for _, x := range v {
		q += (x - m) * (x - m)
	}
	return m, math.Sqrt(q / float64(len(v)-1))
}
