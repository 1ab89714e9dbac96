package main

import (
	"bytes"
	"fmt"
)

// stepsCompared are the rules of the held-out table: kind steps beside the
// stepped hazard rule at the costs around 0.05 false alarms per
// household-day.
var stepsCompared = []string{"hazard8_3200h", "hazard8_4800h", "hazard8_6400h", "steps_2400h", "steps_3200h", "steps_4200h", "steps_5600h"}

// resultIn is the result of rule name in rs, or nil.
func resultIn(rs []*ruleResult, name string) *ruleResult {
	for _, r := range rs {
		if r.rule == name {
			return r
		}
	}
	return nil
}

func cell3(r *ruleResult) string {
	if r == nil {
		return "– | – | –"
	}
	return fmt.Sprintf("%s | %s | %.4f", pct(r.within[1]), pct(r.within[3]), r.falsePerDay)
}

// stepsVerdict compares the kind-steps rule as deployed with the default
// no_water, both as deployed.
func stepsVerdict(d *dataset) string {
	if d.deployed == nil {
		return "not measured"
	}
	c := stepsDeployed(d.minDelta)
	st, def := d.deployed.result(fmt.Sprintf("steps_%dh_deployed", c)), d.deployed.result(defaultRule)
	if st == nil || def == nil {
		return "not measured"
	}
	s := fmt.Sprintf("`steps_%dh_deployed` %s; `%s` %s.", c, describeAny(st), defaultRule, describeAny(def))
	switch {
	case st.falsePerDay > goalFalse:
		s += fmt.Sprintf(" Over %.2f false alarms per household-day (%.5f).", goalFalse, st.falsePerDay)
	case st.within[1] > def.within[1] && st.within[3] > def.within[3]:
		s += " **Better on both figures.**"
	case st.within[1] > def.within[1]:
		s += " Better within 8 h, not within 24 h."
	default:
		s += " Not better within 8 h."
	}
	return s
}

// stepsSection writes what kind steps adds and its held-out figures.
func stepsSection(b *bytes.Buffer, sets []*dataset) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Kind steps: the stepped learner, second pass\n\n")
	p("%s\n", stepsText)
	p("**Held out.** The features were chosen on all occupied DAIAD homes (3 l, seeds 1–3: not held out); the cost (%dh at 3 l, %dh at 10 l: the most caught within 8 h at ≤ 0.05 among the costs tried, 1600h to 4800h) on half a of the households only ", stepsDeployed(0.003), stepsDeployed(0.01))
	p("(`-half a`: by a hash of the meter id); half b was not looked at while choosing. Share within 8 h | within 24 h | false alarms per household-day:\n\n")
	p("| run | rule | half a (chosen on) | | | half b (held out) | | | all | | |\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, d := range sets {
		if d.name != "DAIAD" || d.halves[0] == nil {
			continue
		}
		for _, name := range stepsCompared {
			p("| %s, %g l | `%s` | %s | %s | %s |\n", d.name, d.minDelta*1000, name, cell3(resultIn(d.halves[0], name)), cell3(resultIn(d.halves[1], name)), cell3(d.result(name)))
		}
	}
	p("\n**As deployed** (`fallback: 24h`, `silent_after: 25h`, emergencies from each home's first day; the tables of \"The default rule as deployed\"):\n\n")
	for _, d := range sets {
		p("- **%s, %g l**: %s\n", d.name, d.minDelta*1000, stepsVerdict(d))
	}
	p("\n%s\n", stepsDefaultText)
}

// stepsText and stepsDefaultText are written from the measured numbers of
// 2026-12-07 (DAIAD, 3 l, half a unless said); revisit them when a change
// moves the tables above a lot.
const stepsText = `Kind ` + "`steps`" + ` (rules/steps.go, docs/rules.md) is the stepped hazard rule with only the counts
it decides on: per cell and household, the quiet periods shorter than the first alarm time, between
the alarm times, and longer than the last (4 uint16 per cell, 1,451 bytes per household with 168
cells, against hazard's 1,680 with 48), and forgets every 30 days (once a day, a count of a few
samples rounds back to itself: with memory 365d nothing under 3 samples ever fades; kind hazard
did that until 2026-12-07 and now forgets every memory / 12 days too). It adds what measured better at the same false-alarm rate:

- **day-of-week cells** (` + "`split: week`" + `, shrunk toward the hour over all days): about +1 point within 8 h;
- **no hold after a gap** (` + "`after_gap: 1m`" + `): a counter that did not rise across a gap is evidence, the
  2 h wait cost about 1 point;
- **a per-home budget** (` + "`per_quiet: 8`" + `: the cost scaled by 8 / the home's quiet periods per day, the
  knapsack's allocation when every home weighs the same): about +0.5;
- **a 36 h step where the home often stays away a day** (` + "`alarm_times: [8h, 24h, 36h], late_share: 0.04`" + `):
  1 point of the 24 h share buys about 0.0018 false alarms per household-day, which the 8 h step
  spends better. The delay objective alone (` + "`max_quiet: 36h`" + ` in kind hazard) moves almost every cell to
  36 h: 6 points of the 24 h share for 0.0044.

Together about +3 points within 8 h at the same rate, on both halves. **Tried and not kept**
(each moved along the same curve or below it): a wake clock (cells by hours since the day's first
use after a night, instead of the clock hour: −7 points), cells split by activity in the 4 h before
the use (≥ 2 or ≥ 3 hours with a use: ±0.5, although over all homes it separates the share of
8–24 h quiet periods 0.8 % from 4 %: the hour and the home already carry it), a 7- or 30-day
cooldown of the 8 h step in an hour after a long quiet there (+0.5 at best), a dearer 8 h step in
homes with many data gaps (their emergencies are seldom caught within 8 h: ±0), shrink 1–20, a
longer hold after a gap (8 h: −6 points of the 24 h share for 0.0016), forgetting that works (the
same curve, shifted).
On AMPds2 (one home, minute data, many short quiet periods a day) ` + "`per_quiet: 8`" + ` divides the cost by up
to 4 and the rule rings more than the stepped hazard rule at the same cost: ` + "`per_quiet`" + ` shares a budget
among homes and means nothing for one.
**The halves differ more than the learners**: the same rule catches 35 % within 8 h in half a and
49 % in half b; which homes are in the sample moves the figure by more than any feature above.
`

const stepsDefaultText = `**The default stays** ` + "`no_water`" + ` (kind hazard). Measured as deployed with each
threshold's own cost (chosen on half a): at the issue's 3 l the steps rule is better within 8 h
(41.8 % against 39.2 %) and within 24 h (93.1 % against 92.7 %) but rings 0.0506 times per
household-day, over the 0.05 the goal allows; at the shipped rule's 10 l (cost 2400h) it is better
within 8 h (29.1 % against 26.1 %) at 0.0488, and within 24 h by 0.2 points (91.6 % against
91.4 %), less than the spread over seeds. Not better on both figures at ≤ 0.05 at the issue's
threshold, so configs/rules.yaml is unchanged; the rule to use instead is in docs/rules.md
("steps"). (` + "`no_water`" + `'s figures here are from before kind hazard's forgetting was mended on
2026-12-07; since, it catches 40 % and 93 % at 0.0507 with 3 l, 27 % and 91 % at 0.048 with 10 l,
and the comparison stands.)
`
