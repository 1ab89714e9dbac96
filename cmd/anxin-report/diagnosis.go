package main

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Why the past-only learners trailed the hindsight bound: the same quiet
// periods (quietsOf) under the bound's assumptions relaxed one at a time.
// Every figure is the share of emergencies (uniform over each household's
// uses, households weighing the same) with an alarm within 8 h.

// diagnosis is one run's decomposition of the gap (docs/detection.md).
type diagnosis struct {
	BoundOld, BoundUniform float64 // hindsight (x, h), old / uniform weighting
	BoundFallback          float64 // … paying quiets over 24 h (the 24 h fallback rings anyway)
	FallbackFalse          float64 // the fallback's false alarms per household-day (quiets > 24 h)
	BoundLeft              float64 // … with only the budget the engine's 24 h fallback leaves
	Left                   float64 // that budget, per household-day
	OOSWithin, OOSFalse    float64 // hindsight cells chosen on one half of each home's year, used on the other
	Steps                  []diagPoint
	Grid                   []diagPoint
}

// diagPoint is one setting of the past-only model learner.
type diagPoint struct {
	Cost, Within8, FalsePerDay float64
}

// uniformWeights gives each household's quiet periods equal weights.
func uniformWeights(hs []householdQuiets) []householdQuiets {
	out := make([]householdQuiets, len(hs))
	for i, h := range hs {
		out[i] = h
		out[i].quiets = append([]quiet(nil), h.quiets...)
		for j := range out[i].quiets {
			out[i].quiets[j].weight = 1 / float64(len(h.quiets))
		}
	}
	return out
}

// diagnose decomposes the gap; fallbackReal is the engine's measured false
// alarms per household-day of the bridged fixed 24 h rule.
func diagnose(hs []householdQuiets, fallbackReal float64) diagnosis {
	uni := uniformWeights(hs)
	var d diagnosis
	d.BoundOld = hindsightBound(hs, 8*time.Hour, goalFalse).ByHour
	d.BoundUniform = hindsightBound(uni, 8*time.Hour, goalFalse).ByHour
	var fixed float64
	d.BoundFallback, fixed = boundWithFallback(uni, 8, goalFalse*float64(totalDays(uni)))
	d.FallbackFalse = fixed / float64(max(1, totalDays(uni)))
	d.Left = max(0, goalFalse-fallbackReal)
	d.BoundLeft, _ = boundWithFallback(uni, 8, (d.Left+d.FallbackFalse)*float64(totalDays(uni)))
	d.OOSWithin, d.OOSFalse = outOfSample(uni)
	for _, c := range []float64{400, 800, 1600, 3200, 6400, 12800} {
		w, f := pastOnly(uni, c, []int{8, 24})
		d.Steps = append(d.Steps, diagPoint{c, w, f})
		w, f = pastOnly(uni, c, nil)
		d.Grid = append(d.Grid, diagPoint{c, w, f})
	}
	return d
}

func totalDays(hs []householdQuiets) int {
	n := 0
	for _, h := range hs {
		n += h.days
	}
	return n
}

// boundWithFallback is the hindsight bound for rules that alarm at D h in
// chosen cells (x, h) and at 24 h elsewhere: quiets over 24 h are false
// alarms wherever they start (returned as fixed), a chosen cell's quiets
// between D and 24 h cost one each, out of budget false alarms in all.
func boundWithFallback(hs []householdQuiets, D, budget float64) (float64, float64) {
	cells := map[[2]int]*bcell{}
	fixed := 0.0
	for x, h := range hs {
		for _, q := range h.quiets {
			k := [2]int{x, q.start.Hour()}
			c := cells[k]
			if c == nil {
				c = &bcell{}
				cells[k] = c
			}
			c.weight += q.weight
			switch {
			case q.hours > 24 && !q.censored:
				fixed++
			case q.hours > D:
				c.cost++
			}
		}
	}
	return fillBudget(cells, budget-fixed) / float64(max(1, len(hs))), fixed
}

// outOfSample chooses the bound's cells (alarm at 8 h) on the first half of
// each household's quiet periods and applies them to the second half, and
// the other way round: the mean share within 8 h and false alarms per
// household-day (24 h fallback included) where the cells are used.
func outOfSample(hs []householdQuiets) (float64, float64) {
	var within, falses float64
	for fold := 0; fold < 2; fold++ {
		var train, test []householdQuiets
		for _, h := range hs {
			n := len(h.quiets) / 2
			a, b := h, h
			a.quiets, b.quiets = h.quiets[:n], h.quiets[n:]
			a.days, b.days = h.days/2, h.days-h.days/2
			if fold == 1 {
				a, b = b, a
			}
			train, test = append(train, a), append(test, b)
		}
		type kc struct {
			k    [2]int
			w, c float64
		}
		cells := map[[2]int]*kc{}
		fixed := 0.0
		for x, h := range train {
			for _, q := range h.quiets {
				k := [2]int{x, q.start.Hour()}
				if cells[k] == nil {
					cells[k] = &kc{k: k}
				}
				cells[k].w += 1 / float64(max(1, len(h.quiets)))
				switch {
				case q.hours > 24 && !q.censored:
					fixed++
				case q.hours > 8:
					cells[k].c++
				}
			}
		}
		budget := goalFalse*float64(totalDays(train)) - fixed
		var list []*kc
		for _, c := range cells {
			list = append(list, c)
		}
		sort.Slice(list, func(i, j int) bool {
			if list[i].w*(list[j].c+1e-9) != list[j].w*(list[i].c+1e-9) {
				return list[i].w*(list[j].c+1e-9) > list[j].w*(list[i].c+1e-9)
			}
			return list[i].k[0]*24+list[i].k[1] < list[j].k[0]*24+list[j].k[1]
		})
		chosen := map[[2]int]bool{}
		for _, c := range list {
			if c.c > budget {
				break
			}
			budget -= c.c
			chosen[c.k] = true
		}
		got, fa := 0.0, 0.0
		for x, h := range test {
			for _, q := range h.quiets {
				at8 := chosen[[2]int{x, q.start.Hour()}]
				if at8 {
					got += 1 / float64(max(1, len(h.quiets)))
				}
				if (q.hours > 24 || (at8 && q.hours > 8)) && !q.censored {
					fa++
				}
			}
		}
		within += got / float64(max(1, len(test))) / 2
		falses += fa / float64(max(1, totalDays(test))) / 2
	}
	return within, falses
}

// pastOnly is a model of the hazard rule without the engine: per household
// and hour of the quiet's start, the share of past quiet periods longer
// than t (shrunk toward the household's, that toward an exponential of
// mean 4 h), and the alarm time minimising t + cost × share among grid
// (hours; nil: every whole hour 1 … 24, the mean-delay objective). 24 h
// during the first 14 days. Returns the share within 8 h and false alarms
// per household-day (censored periods ring nothing).
func pastOnly(hs []householdQuiets, cost float64, grid []int) (float64, float64) {
	if grid == nil {
		for h := 1; h <= 24; h++ {
			grid = append(grid, h)
		}
	}
	var fa, w8 float64
	for _, h := range hs {
		var n [24]float64
		var ab [24][25]float64
		var N float64
		var AB [25]float64
		w := 1 / float64(max(1, len(h.quiets)))
		var first time.Time
		for _, q := range h.quiets {
			if first.IsZero() {
				first = q.start
			}
			hr := q.start.Hour()
			T := 24
			if q.start.Sub(first) >= warmUp {
				best := math.Inf(1)
				for _, g := range grid {
					pH := (AB[g] + math.Exp(-float64(g)/4)) / (N + 1)
					s := (ab[hr][g] + 2*pH) / (n[hr] + 2)
					if v := float64(g) + cost*s; v < best {
						best, T = v, g
					}
				}
			}
			if q.hours > float64(T) && !q.censored {
				fa++
			}
			if T <= 8 {
				w8 += w
			}
			if !q.censored {
				n[hr]++
				N++
				for g := 1; g <= 24; g++ {
					if q.hours > float64(g) {
						ab[hr][g]++
						AB[g]++
					}
				}
			}
		}
	}
	return w8 / float64(max(1, len(hs))), fa / float64(max(1, totalDays(hs)))
}

// bestAt is the largest share within 8 h among pts at ≤ goalFalse false
// alarms per household-day, with its rate (NaN: none).
func bestAt(pts []diagPoint) (float64, float64) {
	w, f := math.NaN(), math.NaN()
	for _, p := range pts {
		if p.FalsePerDay <= goalFalse && (math.IsNaN(w) || p.Within8 > w) {
			w, f = p.Within8, p.FalsePerDay
		}
	}
	return w, f
}

func pctOrNone(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	return pct(v)
}

// diagnosisSection writes the decomposition of the gap for every run.
func diagnosisSection(b *bytes.Buffer, sets []*dataset) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Why the learner trailed the bound\n\n")
	p("%s\n", diagnosisText)
	p("| run | hindsight (x, h), old weighting | uniform weighting | paying quiets over 24 h (false alarms / hh-day) | with the budget the bridged 24 h rule leaves (budget) | hindsight cells out of sample: within 8 h, false alarms / hh-day | past-only model, steps {8 h, 24 h} (false alarms) | past-only model, every hour (mean delay) (false alarms) | engine: stepped rule | engine: full grid |\n")
	p("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, d := range sets {
		g := d.diag
		sw, sf := bestAt(g.Steps)
		gw, gf := bestAt(g.Grid)
		eng := func(r *ruleResult) string {
			if r == nil {
				return "–"
			}
			return fmt.Sprintf("%s (%.3f)", pct(r.within[1]), r.falsePerDay)
		}
		p("| %s, %g l | %s | %s | %s (%.4f) | %s (%.4f) | %s, %.3f | %s (%.3f) | %s (%.3f) | %s | %s |\n", d.name, d.minDelta*1000,
			pct(g.BoundOld), pct(g.BoundUniform), pct(g.BoundFallback), g.FallbackFalse, pct(g.BoundLeft), g.Left,
			pct(g.OOSWithin), g.OOSFalse, pctOrNone(sw), sf, pctOrNone(gw), gf, eng(d.best("hazard8_", "hazard48_")), eng(d.best("hazard_")))
	}
	p("\nThe model learner's curves (share within 8 h, false alarms per household-day, by cost in hours per false alarm; quiet periods cut by a data gap ring nothing in the model, so its rates are below the engine's):\n\n")
	p("| run | objective | %s |\n|---|---|%s\n", costHeader(sets[0].diag.Steps), strings.Repeat("--:|", len(sets[0].diag.Steps)))
	for _, d := range sets {
		for _, c := range []struct {
			name string
			pts  []diagPoint
		}{{"steps {8 h, 24 h}", d.diag.Steps}, {"every hour (mean delay)", d.diag.Grid}} {
			var cells []string
			for _, pt := range c.pts {
				cells = append(cells, fmt.Sprintf("%s, %.3f", pct(pt.Within8), pt.FalsePerDay))
			}
			p("| %s, %g l | %s | %s |\n", d.name, d.minDelta*1000, c.name, strings.Join(cells, " | "))
		}
	}
	p("\n")
}

func costHeader(pts []diagPoint) string {
	var h []string
	for _, pt := range pts {
		h = append(h, fmt.Sprintf("%.0fh", pt.Cost))
	}
	return strings.Join(h, " | ")
}

// diagnosisText is written from the measured numbers of the full run of
// 2026-12-06 (DAIAD, 3 l); the table after it is computed.
const diagnosisText = `The hindsight bound's 77 % within 8 h (DAIAD, 3 l) and the hazard rule's 8 % differ in five
ways; the table takes them away one at a time, on the same quiet periods (columns 2–8; model
learners in cmd/anxin-report/diagnosis.go) and in the engine (columns 9–10).

1. **Weighting** (77 → 74 %): the bound weighted emergencies as the old injection did.
2. **The 24 h fallback is not free** (74 → 71 %, then → about 62 %): the bound never rings
   outside its chosen cells, but a rule that must also catch 90 % within 24 h rings for every
   quiet period over 24 h. In the idealised quiet periods that costs 0.014 per household-day; in
   the engine the bridged fixed 24 h rule (` + "`no_water_24h_bridge`" + `) rings 0.030 per household-day —
   60 % of the 0.05 budget — because quiet periods that run across a data gap ring too. With only
   the 0.020 left for the 8 h alarms, hindsight reaches about 62 %.
3. **Hindsight picks cells it cannot know** (about 62 → 46–51 %): the bound's cheapest cells are
   those with no long quiet in the whole year. Chosen on one half of each home's year and used on
   the other, the same cells ring 0.07–0.10 times per household-day instead of 0.05 (column
   "out of sample"). Learning the same (household, hour) cells from the past only, with the same
   two steps, gives about 46 % at the budget left (51 % pooling each hour with its neighbours):
   the tail shares the rule decides on are about 1 %, which a few dozen quiet periods of one hour
   cannot resolve.
4. **The objective — the largest loss** (about 45 → 8 %): the hazard rule minimises the *mean*
   delay, T + cost × S(T) over every alarm time. That spends the false-alarm budget on moving
   night quiet periods from 24 h to 12–16 h (it improves the mean and the 24 h share), and almost
   nothing reaches 8 h. The same learner in the model with every whole hour as a choice catches
   18 % within 8 h at 0.045, with only the steps {8 h, 24 h} 54 % at 0.041. In the engine
   the option ` + "`alarm_times: [8h, 24h]`" + ` turns hazard_12288h's 8 % into about 40 % at the same rate.
5. **The engine's data** (model → engine, about −5 points): the engine also rings in quiet
   periods after a data gap (0.0135 of hazard8_4800h's 0.049), which the model does not; at the
   same rate without them the model catches 46 %, and the engine 45 % of the emergencies with no
   data gap within 8 h of the use. The 16 % that have one are caught within 8 h at 17 %: the rule
   cannot ring while the meter is silent and waits 2 h after it returns (` + "`after_gap`" + `; ringing
   on stale data, ` + "`fresh_within: 4x`" + `, moves along the same curve). That costs 4–5 points.

Where the stepped rule still misses (engine, hazard8_4800h, DAIAD 3 l, seed 1; ` + "`go run ./cmd/anxin-report -misses '{…}'`" + `,
not in the tables): **nights weigh more but do not explain it** — emergencies at a use between
20:00 and 06:00 are 35 % of the emergencies and 42 % of the 8 h misses (13–20 % caught within
8 h at 23:00–01:00, 50–65 % at 14:00–20:00). **New households are not the problem**: days
14–30 of a home are 4 % of the emergencies, caught within 8 h at 35 % against 44–47 % at 30–120
days, so a population prior while a home is new could add under 1 point; later in the year
the share falls again (38 % after 240 days). A "since the last morning use" clock, tried as the
quiet before the use (` + "`split: before`" + `: the first use after 3 h or more), weekday/weekend cells
and memory all move along the same curve; pooling adjacent hours (` + "`neighbours: 0.5`" + `) and a
year's memory gain 2–4 points at the same rate and are the stepped rules' settings below.
Scaling the cost by each home's number of quiet periods per day (the knapsack's exact
allocation when every home weighs the same) adds about 1 point in the model and is not built.
`
