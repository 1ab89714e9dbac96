package main

import (
	"slices"
	"sort"
	"time"
)

// The bound: how well could any rule that decides from the time of the last
// use do, if it knew the whole year in advance? A rule of that family sets,
// for a quiet period that began at a use at local hour h in household x, an
// alarm time T(x, h); the learned rule is one (its per-hour odds of the age
// of the last use amount to a T per start hour at hourly readings). With
// hindsight, the best such rule for "detect within D at ≤ B false alarms
// per household-day" alarms at D in the cells (x, h) where that catches
// the most emergencies per false alarm and never elsewhere: a fractional
// knapsack, whose greedy LP value is an upper bound of the 0/1 one. The
// same bound with cells refined by the length of the quiet before the use
// (a lone use after sleep) shows what one more feature could give, still
// with hindsight; onlineCurve then learns those cells from the past only.

// quiet is a period without use that began at a use.
type quiet struct {
	start    time.Time
	hours    float64 // until the next use, or until a data gap (censored)
	censored bool
	prevH    float64 // the quiet before the use that began this one (-1: none)
	weight   float64 // chance the injection picks this use, per household (sums to 1)
}

// householdQuiets is one household's quiet periods and its days with data.
type householdQuiets struct {
	id     string
	quiets []quiet
	days   int
}

// quietsOf is one household's quiet periods as the no-use rules see
// them: the rise since the last use accumulates, and a reading that brings
// it to minUse litres is a use; a gap over 2 h ends the current quiet and
// the rise (no data is never no use); a lower reading re-baselines.
// Emergencies are weighted as meterSeries.emergencies picks them: a random
// instant, then the next reading that rose by 10 l over the one before —
// so such a use is picked in proportion to the time since the previous one
// (at most 24 h).
func quietsOf(s *meterSeries, minUse float64) householdQuiets {
	hq := householdQuiets{id: s.id}
	var lastBig, start time.Time // start: of the open quiet; zero when none
	var acc float64
	var startWeight float64 // the injection's weight of the use that began it
	prevQuiet := -1.0
	days := map[int]bool{}
	for i, t := range s.ts {
		days[dayNumber(t)] = true
		if i == 0 {
			continue
		}
		before := s.ts[i-1]
		rise := s.v[i] - s.v[i-1]
		if t.Sub(before) > 2*time.Hour { // a gap
			if !start.IsZero() {
				// known quiet only up to the last reading before the gap (the
				// shortest reading of it: the bound stays an upper bound)
				hq.quiets = append(hq.quiets, quiet{start: start, hours: before.Sub(start).Hours(), censored: true,
					prevH: prevQuiet, weight: startWeight})
			}
			start, prevQuiet, acc, startWeight = time.Time{}, -1, 0, 0
			continue
		}
		if rise <= 0 || rise >= 5000 {
			continue // no rise, a lower reading (re-baselined) or a corrupt jump
		}
		if acc += rise; acc < minUse {
			continue
		}
		acc = 0
		if !start.IsZero() {
			h := t.Sub(start).Hours()
			hq.quiets = append(hq.quiets, quiet{start: start, hours: h, prevH: prevQuiet, weight: startWeight})
			prevQuiet = h
		}
		start, startWeight = t, 0
		if rise >= 10 {
			w := 24.0
			if !lastBig.IsZero() {
				w = min(t.Sub(lastBig).Hours(), 24)
			}
			lastBig, startWeight = t, w
		}
	}
	hq.days = len(days)
	var sum float64
	for i := range hq.quiets {
		sum += hq.quiets[i].weight
	}
	if sum > 0 {
		for i := range hq.quiets {
			hq.quiets[i].weight /= sum
		}
	}
	return hq
}

func dayNumber(t time.Time) int {
	y, m, d := t.Date()
	return y*10000 + int(m)*100 + d
}

// prevBucket groups the quiet before a use: none, ≤ 1, 2, 4, 8 h, longer.
func prevBucket(h float64) int {
	if h < 0 {
		return 0
	}
	for i, b := range []float64{1, 2, 4, 8} {
		if h <= b {
			return i + 1
		}
	}
	return 5
}

// boundResult is the best share of emergencies detected within D.
type boundResult struct {
	ByHour, ByHourAndBefore float64
}

// hindsightBound is the upper bound described above, as a share of the
// households' emergencies (one per household).
func hindsightBound(hs []householdQuiets, within time.Duration, falsePerDay float64) boundResult {
	solve := func(key func(x int, q *quiet) [3]int) float64 {
		cells := map[[3]int]*bcell{}
		days := 0
		for x := range hs {
			days += hs[x].days
			for i := range hs[x].quiets {
				q := &hs[x].quiets[i]
				k := key(x, q)
				c := cells[k]
				if c == nil {
					c = &bcell{}
					cells[k] = c
				}
				c.weight += q.weight
				if q.hours > within.Hours() {
					c.cost++ // alarming at D here rings for this quiet
				}
			}
		}
		return fillBudget(cells, falsePerDay*float64(days)) / float64(len(hs))
	}
	return boundResult{
		ByHour: solve(func(x int, q *quiet) [3]int { return [3]int{x, q.start.Hour(), 0} }),
		ByHourAndBefore: solve(func(x int, q *quiet) [3]int {
			return [3]int{x, q.start.Hour(), prevBucket(q.prevH)}
		}),
	}
}

// onlinePoint is one setting of the past-only learner.
type onlinePoint struct {
	Alpha, FalsePerDay, Within4h, MedianH float64
}

// onlineCurve learns, from each household's past quiet periods only, the
// chance that a quiet begun at this hour after a quiet of this length
// lasts more than t hours (shrunk towards the household's hour, then its
// whole day), and alarms at the first whole hour where that chance falls
// below alpha (24 h at most; the first 14 days at 24 h). It reports, per
// alpha, false alarms per household-day and the emergencies' delays.
func onlineCurve(hs []householdQuiets, alphas []float64) []onlinePoint {
	const prior = 5.0 // weight of the coarser level, in periods
	var out []onlinePoint
	for _, alpha := range alphas {
		falses, days := 0, 0
		type wd struct{ w, d float64 }
		var delays []wd
		for x := range hs {
			days += hs[x].days
			type stat struct {
				n     float64
				above [25]float64
			}
			st := map[[3]int]*stat{}
			get := func(k [3]int) *stat {
				s := st[k]
				if s == nil {
					s = &stat{}
					st[k] = s
				}
				return s
			}
			var first time.Time
			for i := range hs[x].quiets {
				q := &hs[x].quiets[i]
				if first.IsZero() {
					first = q.start
				}
				keys := [][3]int{{-1, 0, 0}, {q.start.Hour(), 0, 0}, {q.start.Hour(), prevBucket(q.prevH) + 1, 0}}
				t := 24.0
				if q.start.Sub(first) >= 14*24*time.Hour {
					for h := 1; h <= 24; h++ {
						p := 0.5
						for _, k := range keys {
							s := get(k)
							p = (s.above[h] + prior*p) / (s.n + prior)
						}
						if p < alpha {
							t = float64(h)
							break
						}
					}
				}
				if q.hours > t {
					falses++
				}
				delays = append(delays, wd{q.weight, t})
				if !q.censored {
					for _, k := range keys {
						s := get(k)
						s.n++
						for h := 1; h <= 24; h++ {
							if q.hours > float64(h) {
								s.above[h]++
							}
						}
					}
				}
			}
		}
		slices.SortFunc(delays, func(a, b wd) int {
			if a.d < b.d {
				return -1
			}
			if a.d > b.d {
				return 1
			}
			return 0
		})
		var total, in4, acc, median float64
		for _, d := range delays {
			total += d.w
			if d.d <= 4 {
				in4 += d.w
			}
		}
		for _, d := range delays {
			acc += d.w
			if acc >= total/2 {
				median = d.d
				break
			}
		}
		out = append(out, onlinePoint{Alpha: alpha, FalsePerDay: float64(falses) / float64(max(days, 1)),
			Within4h: in4 / max(total, 1e-9), MedianH: median})
	}
	return out
}

// bcell is a cell of the hindsight bound: the weight of the emergencies it
// holds and the false alarms alarming there costs.
type bcell struct{ weight, cost float64 }

// fillBudget is the LP's greedy fill: cells by catch per false alarm (free
// cells first, ties by weight), each whole while the budget lasts, the
// first that does not fit fractionally. Returns the weight caught.
func fillBudget[K comparable](cells map[K]*bcell, budget float64) float64 {
	list := make([]*bcell, 0, len(cells))
	for _, c := range cells {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if (a.cost == 0) != (b.cost == 0) {
			return a.cost == 0
		}
		if a.cost == 0 {
			return a.weight > b.weight
		}
		return a.weight*b.cost > b.weight*a.cost
	})
	got := 0.0
	for _, c := range list {
		if c.cost <= budget {
			budget -= c.cost
			got += c.weight
			continue
		}
		if budget > 0 {
			got += c.weight * budget / c.cost
		}
		break
	}
	return got
}
