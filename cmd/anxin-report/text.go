package main

// whyText explains the result. It is written from the measured numbers
// (docs/detection.md as generated on 2026-11-23; the bound's figures on 2026-12-02); when a change moves them
// a lot, revisit it.
const whyText = `**Why the goal is not reached.** On DAIAD the quiet periods a fast rule must not ring for
are common and not predictable from water alone. Measured on the same data (the age of the last
use at each hour of the day, per household, then the median over households): on 10 % of days a
home has been without water for 5–9 h at any given hour, on 5 % of days for 9–14 h, on 1 % of
days for about 40 h (whole days away). These are family households that go to work, shop and
travel, and nothing marks them away. A rule that rings 4 h after the last use rings for every such
outing: the fixed 4 h rule does so 1.2–1.4 times per household-day. No threshold on quiet time —
fixed, per household or per hour — separates "out for the afternoon" from "fell at 14:00" in this
data, and the bound below shows it for the whole family: even knowing the year in advance, a
rule that sets an alarm time per household and hour of day catches fewer than half of DAIAD's
emergencies within 4 h at 0.05 false alarms per household-day (a median of 4 h needs half).
One more feature (the length of the quiet before the last use) lifts that hindsight bound past
half, but hindsight over-fits there: learned from the past only, the same cells catch almost
none within 4 h at that false-alarm rate. What would separate them is the
` + "`away`" + ` state (set by the family, a door sensor, a tracker's geofence),
which the data cannot show. The published figure plotted for orientation (Wilhelm & Wahl 2024: 5 h
23 min at 0.09 false alarms per day) is a mean, not a median, measured on other households.

**What the learned rule does.** It takes the quiet hours a home has every day (night, the usual
working hours) out of suspicion and rings sooner at the hours this home is always busy. On
AMPds2 — one regular household — that pays: at sensitivity 0.95 it detects in a median 3.4 h at
0.115 false alarms per day where the fixed 8 h rule needs 8 h at 0.135, and at 0.98 in 10.7 h at
0.0045 where the fixed 12 h rule needs 12 h. On DAIAD it is slightly *worse* than a fixed rule of
the same false-alarm rate (0.995: median 21.5 h, 14 missed, 0.056 per household-day; fixed 16 h:
16 h, 7 missed, 0.064): with 60 days of history, a 99.5 % quantile per hour is in effect "the
longest quiet seen at this hour lately", a noisy threshold, where the fixed rule has none. Longer
memory (180 d, 365 d), a longer minimum quiet (3 h) and pooling neighbouring hours (±1, ±3,
all 24) only moved it along the same curve (tried with ` + "`-learned`" + ` and a pooling variant). Recommendation: keep the fixed 24 h rule as the default; offer the learned rule
for elders whose days are regular (it explains itself in plain words), together with ` + "`away`" + `.

**Other findings.** Counting 3 l as use instead of 10 l (a toilet flush is 4–9 l, a sign of life the
default ignores) lowers the fixed rules' false alarms by 8–33 % (12 h: 0.135 → 0.090 per
household-day) at no cost in delay. Its risk is not measured here (an injected emergency freezes
the counter completely): because no_use accumulates the rise since the last use, a steady drip of
` + "`min_delta`" + ` per ` + "`for`" + ` keeps the rule from ever running out, and the smaller ` + "`min_delta`" + `, the
smaller the drip that blinds it. Misses are mostly data gaps: a gap restarts the quiet period (no
data is never no use), so a meter that drops out every few hours delays or hides an alarm — the
` + "`device_silent`" + ` alarm is what covers those homes. And the default ` + "`water_running_2h`" + ` rule
(counter rising ≥ 5 l in every interval for 2 h) fires about 47,000 times over DAIAD's hourly
readings: with hourly meters a busy morning looks like a running tap; it needs a larger
` + "`min_rise`" + ` or a flow field there.
`

// learnedText documents the learned rule kind.
const learnedText = `## The learned rule

` + "```yaml" + `
- name: water_learned
  kind: learned
  device_kinds: [water_meter]
  sensitivity: 0.99     # alarm when fewer than 1 % of past days were this quiet at this hour
  min_delta: 0.01       # rise that counts as use (m³)
  warm_up: 14d          # at most 14 d; silent until then (the fixed rules cover it)
  memory: 60d           # exponential forgetting: the baseline follows slow change
  min_quiet: 1h         # never alarm on a shorter quiet period
  fresh_within: 2x      # judged only on fresh data, as no_use
` + "```" + `

**Model.** Per household, per local hour of the day (24 bins), a histogram of the *age of the last
use* seen at that full hour on past days (10 buckets: < 1, 1–2, 2–3, 3–4, 4–5, 5–6, 6–8, 8–12,
12–24 h, ≥ 24 h), weights as uint16 fixed point with exponential forgetting (each new sample
multiplies the bin by 1 − 1/memory-days). 24 × 10 × 2 = **480 bytes per household**, stored in the
slot's extra state and persisted with the engine state (restart-safe). At each full hour B the odds
that the home has been quiet this long = share of past days whose age at B's hour was at least
B − last use (uniform inside a bucket), smoothed by one day's weight of an exponential prior
(mean 3 h) so a young or narrow history does not alarm on a merely unusual hour. Ages of a day or
more are left out (days away are for ` + "`away`" + ` and the 24 h rule; counted in, one absence a month
would push every threshold past a day). The alarm opens when the odds fall below 1 − sensitivity;
it closes when water is used again; away pauses it and restarts the quiet period on return.
Decisions fall on full hours and use nothing from the future (an upper bound of the odds at any
instant inside the hour), so a use that usually comes at 12:00 cannot make it ring at 11:59.

**Why this model** rather than "probability of use within the next h hours": the age at a given
hour is one number a day, its histogram is compact and directly gives the sentence a family reads —
"no water used since 07:30 (5 h 30 min); on 99.1 % of days this home has used water within
5 h 30 min by 13:00" — and the per-hour odds need no independence assumption between hours (a
product of hourly use probabilities would call every long absence impossible).

**Cost.** 480 bytes of histograms per household and learned rule (persisted state of a household
with the 24 h and the learned rule: 599 bytes); about 1.6 million readings/s through both rules
for 1,000 households on one core (` + "`go test ./rules -bench LearnedObserve`" + `).

**Use it** side by side with the fixed rules (the 24 h rule stays: it covers the warm-up, whole
days, and meters whose history the learned rule has not seen).
`
