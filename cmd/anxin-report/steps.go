package main

import (
	"bytes"
	"fmt"
	"strings"
)

// stepsCompared are the rules of the held-out table: kind steps beside the
// stepped hazard rule at the costs around 0.05 false alarms per
// household-day.
var stepsCompared = []string{"hazard8_3200h", "hazard8_4800h", "hazard8_6400h", "steps_2400h", "steps_3200h", "steps_4200h", "steps_5600h", "steps1l_3200h", "steps1l_4200h", "steps1l_5600h", "stepsdrip_4800h", "stepsdrip_5600h", "stepsdrip_6400h", "stepsrun_3600h", "stepsrun_4200h", "stepsrun_4800h"}

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

// stepsVerdict compares a kind-steps rule as deployed with the default
// until 2026-12-07 (standin_4800h, kind hazard) and the fixed rule, all as
// deployed.
func stepsVerdict(d *dataset, name string) string {
	if d.deployed == nil {
		return "not measured"
	}
	st := d.deployed.result(name)
	if st == nil {
		return "not measured"
	}
	s := fmt.Sprintf("`%s` %s", name, describeAny(st))
	if st.falsePerDay > goalFalse {
		s += fmt.Sprintf(", over %.2f false alarms per household-day (%.5f)", goalFalse, st.falsePerDay)
	}
	for _, other := range []string{"standin_4800h", "no_water_24h"} {
		def := d.deployed.result(other)
		if def == nil {
			continue
		}
		s += fmt.Sprintf("; `%s` %s", other, describeAny(def))
		switch {
		case st.falsePerDay > goalFalse:
		case st.within[1] > def.within[1] && st.within[3] > def.within[3]:
			s += ": **better on both figures**"
		case st.within[1] > def.within[1] && st.within[3] == def.within[3]:
			s += ": better within 8 h, as good within 24 h"
		case st.within[1] > def.within[1]:
			s += ": better within 8 h, not within 24 h"
		default:
			s += ": not better within 8 h"
		}
	}
	return s + "."
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
	p("\n**As deployed** (`fallback: 24h`, `silent_after: 25h`, emergencies from each home's first day; the tables of \"The default rule as deployed\"; `standin_4800h` is the default until 2026-12-07, kind hazard):\n\n")
	for _, d := range sets {
		p("- **%s, %g l**: %s\n", d.name, d.minDelta*1000, stepsVerdict(d, fmt.Sprintf("steps_%dh_deployed", stepsDeployed(d.minDelta))))
	}
	for _, d := range sets {
		p("- **%s, %g l, counting 1 l as use**: %s\n", d.name, d.minDelta*1000, stepsVerdict(d, fmt.Sprintf("steps1l_%dh_deployed", steps1lDeployed)))
	}
	for _, d := range sets {
		p("- **%s, %g l, drip-safe (1 l as life, 3 l for the last step)**: %s\n", d.name, d.minDelta*1000, stepsVerdict(d, fmt.Sprintf("stepsdrip_%dh_deployed", stepsdripDeployed)))
	}
	for _, d := range sets {
		p("- **%s, %g l, the previous default (drip-safe, `split: weekend`)**: %s\n", d.name, d.minDelta*1000, stepsVerdict(d, previousDefault))
	}
	for _, d := range sets {
		p("- **%s, %g l, the default: drip-safe with `drip_run` (small rises are life for the last step too, unless a drip's)**: %s\n", d.name, d.minDelta*1000, stepsVerdict(d, defaultRule))
	}
	p("\n%s\n", stepsDefaultText)
	dripSection(b, sets)
}

// dripRules are the rules of the drip table, as deployed: the fixed rule,
// the default (stepsdrip with drip_run), the previous default (stepsdrip),
// the default until 2026-12-07 (standin_4800h, kind hazard) and steps1l.
func dripRules() []string {
	return []string{"no_water_24h", defaultRule, previousDefault, "standin_4800h", fmt.Sprintf("steps1l_%dh_deployed", steps1lDeployed)}
}

// dripSection writes the rules as deployed under a drip during the
// emergencies beside the frozen counter.
func dripSection(b *bytes.Buffer, sets []*dataset) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p("## Under a drip\n\n%s\n", dripText)
	p("| run | rule | frozen: within 8 h | within 24 h |")
	for _, r := range dripRates {
		p(" %g l/h: within 8 h | within 24 h |", r)
	}
	p("\n|---|---|--:|--:|%s\n", strings.Repeat("--:|--:|", len(dripRates)))
	for _, d := range sets {
		if d.deployed == nil || len(d.dripped) != len(dripRates) {
			continue
		}
		for _, name := range dripRules() {
			cell := func(ds *dataset) string {
				if r := ds.result(name); r != nil {
					return fmt.Sprintf("%s | %s", pct(r.within[1]), pct(r.within[3]))
				}
				return "– | –"
			}
			p("| %s, %g l | `%s` | %s |", d.name, d.minDelta*1000, name, cell(d.deployed))
			for _, ds := range d.dripped {
				p(" %s |", cell(ds))
			}
			p("\n")
		}
	}
	p("\n")
}

// stepsText and stepsDefaultText are written from the measured numbers of
// 2026-12-07 (DAIAD, 3 l, half a unless said); revisit them when a change
// moves the tables above a lot.
const stepsText = `Kind ` + "`steps`" + ` (rules/steps.go, docs/rules.md) is the stepped hazard rule with only the counts
it decides on: per cell and household, the quiet periods shorter than the first alarm time, between
the alarm times, and longer than the last (4 uint16 per cell, 1,470 bytes per household with 168
cells, against hazard's 1,680 with 48), and forgets every 30 days (once a day, a count of a few
samples rounds back to itself: with memory 365d nothing under 3 samples ever fades; kind hazard
did that until 2026-12-07 and now forgets every memory / 12 days too). It adds what measured better at the same false-alarm rate:

- **day-of-week cells** (` + "`split: week`" + `, shrunk toward the hour over all days): about +1 point within 8 h;
- **no hold after a gap** (` + "`after_gap: 1m`" + `): a counter that did not rise across a gap is evidence, the
  2 h wait cost about 1 point;
- **a per-home budget** (` + "`per_quiet: 8`" + `: the cost scaled by 8 / the home's quiet periods per day, so busy
  homes, whose 8 h step is cheap, ring at it in more cells): about +0.5. The knapsack's allocation when
  every home weighs the same is the other way round (cost × periods per day / 8); measured on half a,
  about 1 point worse at the same rate;
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

**Third pass: what the rule counts as use** (` + "`steps1l_<cost>`" + `: the same keys with ` + "`min_delta: 0.001`" + `; the
emergencies stay at the run's uses of 3 l or 10 l). Where the 8 h misses were (rule ` + "`steps_4200h`" + `, 3 l):
in homes with under 5 eligible uses a day (13 of 80) 3 % were caught within 8 h, 5–8 uses 20 %, 8–11 uses
54 %, 11 or more 77 %; the 8 h step costs a false alarm for every quiet period of 8 to 24 h, and in the
quieter homes 1–5 % of the daytime ones last that long, ten times the share the budget allows.
Counting 1 l as use shortens those periods where the home was not quiet at all (a glass of water, a hand
wash: one reading in eleven rose by 1 or 2 l): 5–8 uses a day 20 → 38 %, 8–11 uses 54 → 64 %, 11 or more
77 → 84 %, under 5 uses unchanged. The cost was chosen on half a as for ` + "`steps`" + ` (4200h: 46 % at 0.0498);
half b, held out, gives 62 % at 0.0497; all homes 53 % within 8 h and 95 % within 24 h at 0.0497.
Tried on half a and not kept, each on or below the same curve: 2 l as use (between 1 l and 3 l),
` + "`late_share`" + ` 0.02–0.04, ` + "`per_quiet`" + ` 0 or 12, no 8 h step after a data gap in the period (the gap's false alarms are
the 24 h step's, not the 8 h step's).
`

const stepsDefaultText = `**Kind steps counting 3 l was not made the default** (the kind hazard ` + "`no_water`" + ` stayed). Measured as deployed with each
threshold's own cost (chosen on half a): at the issue's 3 l the steps rule is better within 8 h
(41.8 % against 39.2 %) and within 24 h (93.1 % against 92.7 %) but rings 0.0506 times per
household-day, over the 0.05 the goal allows; at the shipped rule's 10 l (cost 2400h) it is better
within 8 h (29.1 % against 26.1 %) at 0.0488, and within 24 h by 0.2 points (91.6 % against
91.4 %), less than the spread over seeds. (The kind hazard rule's figures here are from before its
forgetting was mended on 2026-12-07; since, it catches 40 % and 93 % at 0.0507 with 3 l, 27 % and
91 % at 0.048 with 10 l, and the comparison stands.)

**Counting 1 l as use** (cost 4600h as deployed: the most caught within 8 h at ≤ 0.05 on half a as
deployed, 4200h rang 0.0508 there) the rule beats both the default and the fixed 24 h rule on both
figures on DAIAD, with emergencies at 3 l uses (50.4 % within 8 h, 93.4 % within 24 h at 0.0495,
against 39.0 %, 92.7 % at 0.0497 for ` + "`no_water`" + `) and at 10 l uses (50.9 %, 93.5 % at 0.0495, against
25.6 %, 91.4 % at 0.0465). On AMPds2 (one home, minute data) it rings 0.055 times a day, over 0.05.
It is not made the default here: on AMPds2 it is over the rate, and a rule that counts 1 l as use is
blind to an elder who falls while a tap drips: under a drip of 1 l an hour it catches 0.1 % within
24 h, under 1 l in 10 h 64 % ("Under a drip").

**Drip-safe** (` + "`stepsdrip_<cost>`" + `: ` + "`min_delta: 0.003, life_delta: 0.001`" + `, the early steps on the 1 l clock, the
last on a 3 l clock a drip under 3 l an hour cannot restart; rules/quiet.go). The counts learn the
1 l clock's quiet periods, which the 8 h step decides on: learning the 3 l clock's periods instead
was 1.6 points better within 8 h at the same rate on half a (45.3 % against 43.7 % at 0.0495) but
2.3 points worse on half b (58.8 % at 0.0458 against 61.1 % at 0.0450), and useless with a 10 l
clock (7–11 % within 8 h). The cost was chosen on half a (5600h: 41.9 % at 0.0496; as deployed
6400h: 38.3 %, 94.0 % at 0.0498); it costs about 4 points within 8 h against ` + "`steps1l`" + ` at the same
rate on half a, because its 24 h clock rings where a home showed only small rises for a day. As
deployed it beats ` + "`no_water`" + ` and the fixed 24 h rule on both figures on DAIAD at 3 l and 10 l uses
(above), keeps its 24 h share under both drips, and rings 0.0507 times a day on AMPds2 (one home,
over 0.05 by 0.0007; ` + "`steps1l`" + ` 0.0548). **It was the default ` + "`no_water`" + ` on 2026-12-07, at
` + "`cost: 9600h`" + `** (` + "`previous_no_water`" + `; the default now adds ` + "`drip_run`" + `, below): the smallest cost, among 6400h, 7200h, 8000h, 8800h and 9600h measured as deployed, with
≤ 0.05 false alarms per household-day both on DAIAD half a (3 l and 10 l uses) and on AMPds2. AMPds2
chose it: the rule rang 0.0507 times a day there at every cost from 6400h to 8800h, 0.0493 at 9600h
(DAIAD half a: 0.0498 at 6400h, 0.0488 at 7200h, 0.0459 at 9600h). The higher cost gives up about 4
points within 8 h on DAIAD (half a, 3 l: 38 % at 6400h, 34 % at 9600h; all homes 46.8 % → 42.7 %) and
keeps 93–94 % within 24 h; half b, held out, as deployed at 9600h: 53 % within 8 h, 92 % within 24 h at
0.0405. The previous default was this rule with ` + "`split: weekend`" + ` instead (48 cells: 510 bytes a
household, the engine's 1 KB; 168 cells took 1,470): all homes 44.8 % within 8 h, 93.5 % within 24 h at
0.0464 (3 l; 0.0457 since the gaps in the readings were mended), half a 0.0490 (3 l and 10 l), AMPds2 0.0438,
so the cost stayed ("The default rule as deployed").

**The default ` + "`no_water`" + `** (since 2026-12-07) is the previous default with ` + "`drip_run: 12h`" + ` (small rises restart
the last step's clock too, unless they are a drip's: close together for 12 h, or at a steady spacing),
` + "`per_quiet: 4`" + `, ` + "`warm_up: 3d`" + ` and ` + "`cost: 8700h`" + ` (the smallest of 8400h, 8700h and 9000h with ≤ 0.05 on half a as
deployed; 8400h rang 0.0505): as deployed 51.1 % within 8 h and 95.1 % within 24 h at 0.0480 (3 l), half a
43.8 % at 0.0499, half b held out 60.1 % at 0.0457, AMPds2 0.0466; a leak at uneven times can hold its last
step off to 36 h (docs/rules.md, "` + "`drip_run`" + `").
`

// dripText is written from the measured numbers of 2026-12-07; revisit it
// when a change moves the table below a lot.
const dripText = `The emergencies above freeze the counter. A tap that drips or a cistern that leaks keeps it
rising after the elder fell; each rule as deployed is measured again with the counter rising by a
drip of 1 l in 10 h (0.1 l/h) and of 1 l an hour during every emergency (` + "`anxin-report -drip`" + ` applies one to
all the tables). The previous default ` + "`previous_no_water`" + ` (` + "`stepsdrip`" + ` at cost 9600h, ` + "`split: weekend`" + `) is kind ` + "`steps`" + ` with ` + "`life_delta: 0.001`" + ` and ` + "`min_delta: 0.003`" + ` (docs/rules.md): a rise of
1 l restarts its early steps' clock, but its last step (24 h) runs on a clock of 3 l that counts a rise only
when it is faster than 3 l an hour, so no drip under 3 l an hour delays it. The fixed rule and ` + "`standin_4800h`" + `
(kind hazard, the default until 2026-12-07) add rises up (a 3 l leak in 24 h is use to them); ` + "`steps1l`" + ` takes every 1 l for life.
The default ` + "`no_water`" + ` (the previous default with ` + "`drip_run: 12h`" + `, cost 8700h) takes a small rise for life for its last step too unless it is a drip's: part of
a run of rises each within 3 h that has lasted 12 h, or as long after the sign of life before it as that one after the one before (a
steady drip: at 1 l in 10 h, its second rise); a leak at uneven times can hold its last step off to 36 h (24 h + ` + "`drip_run`" + `),
where the previous default always rang by 24 h.
`
