package rules

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/anxin-care/anxin"
)

// QuietParams are the keys kinds hazard and steps share: the signals that
// count as use, the learner's weights and memory, how gaps and stale data
// are treated, the fallback while warming up and the silent-meter alarm.
// Each kind embeds them (yaml ",inline": the keys stand beside the kind's
// own), so one set of checks and defaults serves both.
type QuietParams struct {
	Field        string   `yaml:"field"`          // total_m3, energy_kwh
	MinDelta     float64  `yaml:"min_delta"`      // rise that counts as use (default 0.01)
	AlsoField    string   `yaml:"also_field"`     // second signal, e.g. energy_kwh
	AlsoMinDelta float64  `yaml:"also_min_delta"` // its rise that counts as use (default 0.05)
	Cost         Duration `yaml:"cost"`           // hours of delay one false alarm is worth (default: hazard 6144h, steps 4200h)
	Shrink       float64  `yaml:"shrink"`         // prior weight, in quiet periods (default 5)
	Tail         *float64 `yaml:"tail"`           // pseudo-periods per cell longer than any alarm time (default 1)
	WarmUp       Duration `yaml:"warm_up"`        // days with data before the first alarm (default 14d)
	Memory       Duration `yaml:"memory"`         // forgetting time constant, 7d … 365d (default 60d)
	Gaps         string   `yaml:"gaps"`           // bridge (default) | restart
	AfterGap     Duration `yaml:"after_gap"`      // no alarm this soon after a gap (default 2h)
	FreshWithin  Silence  `yaml:"fresh_within"`   // default 2x
	What         string   `yaml:"what"`           // "water", "electricity": words in reasons
	// Split chooses the second half of the cells: weekend (default) |
	// before | none; steps also takes week (7 days).
	Split string `yaml:"split"`
	// Neighbours is the weight of the adjacent hours' quiet periods in a
	// cell's hour level (0 … 1, default 0): a tail share of 1 % cannot be
	// told from a few dozen periods of one hour, and a home's 07:00 is
	// much like its 06:00 and 08:00.
	Neighbours float64 `yaml:"neighbours"`
	// Fallback, when set, is the rule's fixed alarm time while the
	// household's history is not usable — the warm-up, a quiet period
	// that began before the first use was seen, state lost: it then rings
	// as no_use with for: Fallback does (a data gap restarts the quiet
	// period; judged only on fresh readings), so a new home is watched
	// from its first reading. 0 (the default): no alarm while warming up.
	Fallback Duration `yaml:"fallback"`
	// SilentAfter, when set, raises SilentRule (default device_silent;
	// installers, info) for a meter with no reading for that long, as
	// no_use does ("25h", or "3x" reading intervals). Not with also_field.
	SilentAfter Silence `yaml:"silent_after"`
	SilentRule  string  `yaml:"silent_rule"`
}

// The checks are in three parts so that each kind checks its own keys at
// the same point as before the kinds shared them: the first error a rule
// reports is the same.

// checkLearner applies the defaults of the signals and the learner (cost
// defaulting to cost) and checks them: field … memory.
func (p *QuietParams) checkLearner(cost Duration) error {
	if p.Field == "" {
		p.Field = "total_m3"
	}
	if !anxin.ValidID(p.Field) {
		return notName("field", clip(p.Field), fmt.Sprintf("%q is not a field name", clip(p.Field)))
	}
	if p.AlsoField != "" && !anxin.ValidID(p.AlsoField) {
		return notName("also_field", clip(p.AlsoField), fmt.Sprintf("%q is not a second field name", clip(p.AlsoField)))
	}
	if p.AlsoField != "" && p.AlsoField == p.Field {
		return clash("also_field", fmt.Sprintf("%q is not a second field name", clip(p.AlsoField)), "field")
	}
	if p.MinDelta == 0 {
		p.MinDelta = 0.01
	}
	if p.AlsoMinDelta == 0 {
		p.AlsoMinDelta = 0.05
	}
	if p.MinDelta < 0 {
		return outside("min_delta", p.MinDelta, "> 0", "must be above 0")
	}
	if p.AlsoMinDelta < 0 {
		return outside("also_min_delta", p.AlsoMinDelta, "> 0", "must be above 0")
	}
	if p.Cost == 0 {
		p.Cost = cost
	}
	if p.Cost < Duration(time.Hour) || p.Cost > Duration(1000000*time.Hour) {
		return outside("cost", p.Cost, "1h..1000000h", "must be between 1h and 1000000h")
	}
	if p.Shrink == 0 {
		p.Shrink = 5
	}
	if p.Shrink < 0.1 || p.Shrink > 1000 {
		return outside("shrink", p.Shrink, "0.1..1000", "must be between 0.1 and 1000")
	}
	if p.Tail == nil {
		t := 1.0
		p.Tail = &t
	}
	if *p.Tail < 0 || *p.Tail > 100 {
		return outside("tail", *p.Tail, "0..100", "must be between 0 and 100")
	}
	if p.WarmUp == 0 {
		p.WarmUp = Duration(14 * 24 * time.Hour)
	}
	if d := p.WarmUp.Seconds(); d < 86400 || d > 60*86400 {
		return outside("warm_up", p.WarmUp, "1d..60d", "must be between 1d and 60d")
	}
	if p.Memory == 0 {
		p.Memory = Duration(60 * 24 * time.Hour)
	}
	if d := p.Memory.Seconds(); d < 7*86400 || d > 365*86400 {
		return outside("memory", p.Memory, "7d..365d", "must be between 7d and 365d")
	}
	return nil
}

// checkCells applies the defaults of gaps, freshness and cells and checks
// them: gaps … neighbours. week allows split: week (kind steps keeps a
// cell per hour of the week; hazard's layout has 48 cells).
func (p *QuietParams) checkCells(week bool) error {
	switch p.Gaps {
	case "":
		p.Gaps = "bridge"
	case "bridge", "restart":
	default:
		return oneOf("gaps", clip(p.Gaps), fmt.Sprintf("%q is not bridge or restart", clip(p.Gaps)), "bridge", "restart")
	}
	if p.AfterGap == 0 && p.Gaps == "bridge" {
		p.AfterGap = Duration(2 * time.Hour)
	}
	if p.AfterGap < 0 || p.AfterGap > Duration(24*time.Hour) {
		return outside("after_gap", p.AfterGap, "0..24h", "must be between 0 and 24h")
	}
	if p.FreshWithin.IsZero() {
		p.FreshWithin = Silence{Times: 2}
	}
	switch {
	case p.Split == "":
		p.Split = "weekend"
	case p.Split == "weekend" || p.Split == "before" || p.Split == "none" || (week && p.Split == "week"):
	case week:
		return oneOf("split", clip(p.Split), fmt.Sprintf("%q is not weekend, before, none or week", clip(p.Split)), "weekend", "before", "none", "week")
	default:
		return oneOf("split", clip(p.Split), fmt.Sprintf("%q is not weekend, before or none", clip(p.Split)), "weekend", "before", "none")
	}
	if p.Neighbours < 0 || p.Neighbours > 1 {
		return outside("neighbours", p.Neighbours, "0..1", "must be between 0 and 1")
	}
	return nil
}

// checkAlarm checks the fallback and the silent-meter alarm and sets the
// words of reasons: fallback … what.
func (p *QuietParams) checkAlarm(r *Rule) error {
	if p.Fallback != 0 && (p.Fallback < Duration(time.Hour) || p.Fallback > Duration(36*time.Hour)) {
		return outside("fallback", p.Fallback, "1h..36h", "must be between 1h and 36h")
	}
	if !p.SilentAfter.IsZero() {
		if p.AlsoField != "" {
			return clash("silent_after", "not with also_field (a no_use rule per meter watches silence)", "also_field")
		}
		if err := checkSilentRule(r, &p.SilentRule); err != nil {
			return err
		}
	} else if p.SilentRule != "" {
		return needsKey("silent_rule", "needs silent_after", "silent_after")
	}
	if p.What == "" {
		p.What = whatOf(p.Field)
		if p.AlsoField != "" {
			p.What = "water or electricity"
		}
	}
	return nil
}

// silentRuleName is SilentRule when silent_after is set, else "".
func (p *QuietParams) silentRuleName() string {
	if p.SilentAfter.IsZero() {
		return ""
	}
	return p.SilentRule
}

// quiet is what the evaluators of kinds hazard and steps share: the
// signals that count as use, the learner's settings, the fixed alarm while
// warming up and the silent-meter watch, and the quiet clock run over
// them. Where each kind keeps its state in slot.ext is a quietOff; how it
// learns, files and chooses alarm times is its quietModel.
//
// slot: t0 start of the quiet period (the last use), t1 last reading of
// any signal, n days with data (warm-up), fAux: the period began without a
// use (after a gap or away): its length is not learned.
type quiet struct {
	qp       *QuietParams // the kind's params (within the evaluator)
	fields   [2]string
	deltas   [2]float64
	nsig     int
	keep     float64
	warmDays uint16
	cost     float64 // minutes per false alarm
	fallback int64   // seconds; 0: none
	watch    silentWatch
	silentOn bool
	// late, when set (kind steps with life_delta), is the rise of signal
	// 0 that restarts the late clock, min_delta, while deltas[0] is the
	// smaller life_delta the rule's quiet period (the early steps' clock)
	// restarts on. The late clock rings the last step no sooner than
	// lateMin minutes after the last use; it counts a rise as use only
	// when it is faster than late per hour (a leaky bucket that drains at
	// that rate), so a drip can delay the early steps but never it —
	// except across a gap in the readings through its alarm time, where
	// a rise of late is a use (a drip cannot be told from one there) and
	// a smaller one holds it as a gap does (after_gap, or a restart).
	late    float64
	lateMin int64
	// dripRun, when set (seconds; kind steps with drip_run), lets a small
	// rise (life_delta, not a use) restart the late clock too, unless it
	// is a drip's: part of a run of small rises that has lasted dripRun,
	// or as long after the sign of life before it as that one after the
	// one before (smallRise, runClock).
	dripRun int64
}

// quietOff is where a kind keeps in slot.ext the signals' state (each
// quietSigSize bytes: base, last f64; tLast, iv i64), the seen signals
// (uint8 bits), the hold (int64 no alarm before) and, with a late clock,
// its state (lateSize bytes at late, lateClock).
type quietOff struct{ sig, seen, hold, late int }

const (
	quietSigSize = 32
	lateSize     = 19 // bucket f64, t0 i64, at u16 (minutes), rang u8
)

// dripHole is the longest time between two small rises of one run
// (drip_run): a drip of 1 l an hour shows a rise at every hourly reading,
// of 0.5 l an hour at every other one; a day's glasses of water are
// further apart.
const dripHole = 3 * 3600

// dripSpacingUnit is the unit (seconds) runClock keeps the spacing of the
// last two signs of life in: one byte of 10 minutes, up to 42 h 30 min.
const dripSpacingUnit = 600

// dripSpacingSlack is what two spacings of a drip may differ by beyond
// one reading interval (a drip's rises come at the first reading after
// each litre: their spacings differ by at most one interval) and the
// spacing's rounding to dripSpacingUnit.
const dripSpacingSlack = 10 * 60

// runClock is the late clock with drip_run, kept in the second signal's
// bytes (quietOff.run; a rule with drip_run has one signal): since the
// last sign of life not part of a drip (t0) and its alarm time (at,
// minutes), and the current run of small rises — its last rise (last; 0:
// none), its length (minutes, saturating), the spacing between the last
// two signs of life (spacing, dripSpacingUnit; 0: unknown) and the clock
// before the last rise (preT0, preAt), which a run that turns out to be a
// drip goes back to. set is false in a state saved before drip_run: the
// clock is then the late clock's. A state saved before the spacing was
// kept has 0 there (unknown).
//
//	+0 last i64, +8 at u16, +10 preAt u16, +12 set u8, +13 length u16,
//	+15 spacing u8, +16 t0 i64, +24 preT0 i64 (where the second signal
//	keeps its last reading and interval: restored states check them as
//	instants)
type runClock struct {
	last, t0, preT0 int64
	at, preAt       int64
	length          int64
	spacing         int64 // seconds, a multiple of dripSpacingUnit
	set             bool
}

// run is where a one-signal rule keeps its runClock: the second signal's
// bytes.
func (o quietOff) run() int { return o.sig + quietSigSize }

func (o quietOff) runAt(s *slot) runClock {
	p := s.ext[o.run():]
	return runClock{last: int64(binary.LittleEndian.Uint64(p)), at: int64(binary.LittleEndian.Uint16(p[8:])), preAt: int64(binary.LittleEndian.Uint16(p[10:])),
		set: p[12] == 1, length: int64(binary.LittleEndian.Uint16(p[13:])), spacing: int64(p[15]) * dripSpacingUnit,
		t0: int64(binary.LittleEndian.Uint64(p[16:])), preT0: int64(binary.LittleEndian.Uint64(p[24:]))}
}

func (o quietOff) setRun(s *slot, c runClock) {
	p := s.ext[o.run():]
	binary.LittleEndian.PutUint64(p, uint64(c.last))
	binary.LittleEndian.PutUint16(p[8:], uint16(min(c.at, stMaxT)))
	binary.LittleEndian.PutUint16(p[10:], uint16(min(c.preAt, stMaxT)))
	p[12] = 1
	binary.LittleEndian.PutUint16(p[13:], uint16(min(c.length, math.MaxUint16)))
	p[15] = uint8(min(max(0, (c.spacing+dripSpacingUnit/2)/dripSpacingUnit), math.MaxUint8))
	binary.LittleEndian.PutUint64(p[16:], uint64(c.t0))
	binary.LittleEndian.PutUint64(p[24:], uint64(c.preT0))
}

// runOf is the late clock of s with drip_run: the stored one, or (none
// stored yet) the late clock's own.
func (q *quiet) runOf(m quietModel, o quietOff, s *slot) runClock {
	if r := o.runAt(s); r.set {
		r.at = min(r.at, stMaxT)
		return r
	}
	c := q.lateOf(m, o, s)
	return runClock{t0: c.t0, at: c.at}
}

// smallRise takes a small rise at t (the reading before at tl, readings
// iv apart): a sign of life for the late clock, unless it is a drip's —
// which sends the clock back to where it was before the drip began. A
// drip is regular: its rises come either close together (each within
// dripHole of the one before, or at the reading right after it across a
// gap in the readings: a run, a drip once it has lasted dripRun) or
// further apart at a steady pace (this rise as long after the sign of life
// before it as that one after the one before it, within a reading
// interval and dripSpacingSlack: a drip of 1 l in 10 h after the last use
// shows at its second rise). Glasses of water come at uneven times.
func (q *quiet) smallRise(m quietModel, o quietOff, s *slot, t, tl, iv int64) {
	r := q.runOf(m, o, s)
	prev := r.last
	if prev == 0 {
		prev = r.t0 // the use (or restart) that began the period
	}
	sp := t - prev
	drip := false
	switch {
	case r.last != 0 && (sp <= dripHole || r.last == tl):
		r.length += sp / 60
		drip = r.length*60 >= q.dripRun
	case r.spacing > 0 && sp > dripHole && abs64(sp-r.spacing) <= iv+dripSpacingSlack:
		// steady: a drip from the sign of life before the last rise
		r.length, drip = q.dripRun/60, true
	default:
		r.length, r.preT0, r.preAt = 0, r.t0, r.at
	}
	r.last, r.spacing = t, sp
	if drip {
		r.t0, r.at = r.preT0, r.preAt
	} else {
		r.t0, r.at = t, q.lateAlarm(m, s)
	}
	o.setRun(s, r)
}

// abs64 is the absolute value of v.
func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// lateStart is when the late clock started and how long after it rings
// (seconds): with drip_run the run clock's, unless the min_delta clock
// rings first dripRun after its own time (the guarantee: small rises hold
// the last step off no longer than that); else the late clock's. While
// the rule falls back, the fallback is the time.
func (q *quiet) lateStart(m quietModel, o quietOff, s *slot) (t0, span int64) {
	c := q.lateOf(m, o, s)
	fb := m.fallingBack(s)
	span = q.lateSpan(c.at, fb)
	if q.dripRun > 0 {
		r := q.runOf(m, o, s)
		if rs := q.lateSpan(r.at, fb); r.t0+rs <= c.t0+span+q.dripRun {
			return r.t0, rs
		}
		return c.t0, span + q.dripRun
	}
	return c.t0, span
}

// lateSpan is how long after its start a late clock of alarm time at
// (minutes) rings, seconds: the fallback while the rule falls back (fb).
func (q *quiet) lateSpan(at int64, fb bool) int64 {
	if fb {
		return q.fallback
	}
	return at * 60
}

// lateAt is the late clock's alarm time (minutes): the early steps ring
// only before it. c is lateOf's clock, whose time it is without drip_run.
func (q *quiet) lateAt(m quietModel, o quietOff, s *slot, c lateClock) int64 {
	if q.dripRun > 0 {
		return q.runOf(m, o, s).at
	}
	return c.at
}

// lateClock is the clock of the last step (quiet.late): since the last
// use of min_delta (t0; 0: not set yet, taken from the quiet period), the
// alarm time it rings at (at, minutes), whether it rang in this period,
// and the leaky bucket that tells a use from a drip.
type lateClock struct {
	bucket float64
	t0, at int64
	rang   bool
}

func (o quietOff) lateAt(s *slot) lateClock {
	p := o.late
	return lateClock{bucket: math.Float64frombits(binary.LittleEndian.Uint64(s.ext[p:])), t0: int64(binary.LittleEndian.Uint64(s.ext[p+8:])),
		at: int64(binary.LittleEndian.Uint16(s.ext[p+16:])), rang: s.ext[p+18] != 0}
}

func (o quietOff) setLate(s *slot, c lateClock) {
	p := o.late
	binary.LittleEndian.PutUint64(s.ext[p:], math.Float64bits(c.bucket))
	binary.LittleEndian.PutUint64(s.ext[p+8:], uint64(c.t0))
	binary.LittleEndian.PutUint16(s.ext[p+16:], uint16(c.at))
	s.ext[p+18] = 0
	if c.rang {
		s.ext[p+18] = 1
	}
}

// saneLate reports whether a restored late clock is in range.
func (o quietOff) saneLate(ext []byte) bool {
	b := math.Float64frombits(binary.LittleEndian.Uint64(ext[o.late:]))
	return b >= 0 && !math.IsInf(b, 0) && saneTime(int64(binary.LittleEndian.Uint64(ext[o.late+8:]))) &&
		binary.LittleEndian.Uint16(ext[o.late+16:]) <= 36*60 && ext[o.late+18] <= 1
}

// lateOf is the late clock of s: the stored one, or (none stored yet: a
// new slot, or a state saved before the rule had one) one that starts with
// the quiet period.
func (q *quiet) lateOf(m quietModel, o quietOff, s *slot) lateClock {
	c := o.lateAt(s)
	if c.t0 == 0 {
		c = lateClock{t0: s.t0, at: q.lateAlarm(m, s)}
	}
	return c
}

// lateAlarm is the late clock's alarm time for a period whose early alarm
// time is set: that time where it is the last step or later, else lateMin.
func (q *quiet) lateAlarm(m quietModel, s *slot) int64 { return max(m.alarmAt(s), q.lateMin) }

// quietModel is the part of the quiet clock each kind does its own way.
type quietModel interface {
	forget(x *evalCtx, s *slot, t int64)    // age the histograms, count days
	learn(s *slot, cell int, minutes int64) // one quiet period's length
	cell(x *evalCtx, s *slot) int           // the cell of the period that began at s.t0
	setAlarmTime(x *evalCtx, s *slot)       // the period's alarm time, when it begins
	alarmAt(s *slot) int64                  // that alarm time, minutes
	alarmTime(s *slot, c int) (int64, float64)
	armed(s *slot) bool
	fallingBack(s *slot) bool
}

func newQuiet(p *QuietParams) quiet {
	q := quiet{qp: p, keep: 1 - 1/float64(p.Memory.Seconds()/86400), warmDays: uint16(p.WarmUp.Seconds() / 86400),
		cost: float64(p.Cost.Seconds()) / 60, fallback: p.Fallback.Seconds(), watch: silentWatch{p.SilentAfter, p.SilentRule},
		silentOn: !p.SilentAfter.IsZero(), nsig: 1}
	q.fields[0], q.deltas[0] = p.Field, p.MinDelta
	if p.AlsoField != "" {
		q.fields[1], q.deltas[1] = p.AlsoField, p.AlsoMinDelta
		q.nsig = 2
	}
	return q
}

func (q *quiet) match(m *anxin.Message) bool {
	if m.IsEvent() {
		return false
	}
	for k := 0; k < q.nsig; k++ {
		if _, ok := m.Fields[q.fields[k]]; ok {
			return true
		}
	}
	return false
}

// sigAt is signal k's state.
func (o quietOff) sigAt(s *slot, k int) (base, last float64, tLast, iv int64) {
	p := o.sig + quietSigSize*k
	return math.Float64frombits(binary.LittleEndian.Uint64(s.ext[p:])), math.Float64frombits(binary.LittleEndian.Uint64(s.ext[p+8:])),
		int64(binary.LittleEndian.Uint64(s.ext[p+16:])), int64(binary.LittleEndian.Uint64(s.ext[p+24:]))
}

func (o quietOff) setSigAt(s *slot, k int, base, last float64, tLast, iv int64) {
	p := o.sig + quietSigSize*k
	binary.LittleEndian.PutUint64(s.ext[p:], math.Float64bits(base))
	binary.LittleEndian.PutUint64(s.ext[p+8:], math.Float64bits(last))
	binary.LittleEndian.PutUint64(s.ext[p+16:], uint64(tLast))
	binary.LittleEndian.PutUint64(s.ext[p+24:], uint64(iv))
}

// sane reports whether the restored instants in ext are in range: nsig
// signals' last reading and interval, and the hold. A signal last heard at
// an instant beyond year 9999 would turn every later reading away (t <=
// tLast), the rule deaf for good.
func (o quietOff) sane(ext []byte, nsig int) bool {
	for k := 0; k < nsig; k++ {
		p := o.sig + quietSigSize*k
		if !saneTime(int64(binary.LittleEndian.Uint64(ext[p+16:]))) || !saneTime(int64(binary.LittleEndian.Uint64(ext[p+24:]))) {
			return false
		}
	}
	return saneTime(int64(binary.LittleEndian.Uint64(ext[o.hold:])))
}

func (o quietOff) holdAt(s *slot) int64 { return int64(binary.LittleEndian.Uint64(s.ext[o.hold:])) }

func (q *quiet) freshLimit(iv int64) int64 { return limitIv(q.qp.FreshWithin, iv) }

// freshUntil is the last instant at which every seen signal is fresh.
func (q *quiet) freshUntil(o quietOff, s *slot) int64 {
	end := int64(math.MaxInt64)
	seen := s.ext[o.seen]
	for k := 0; k < q.nsig; k++ {
		if seen&(1<<k) == 0 {
			continue
		}
		_, _, tl, iv := o.sigAt(s, k)
		end = min(end, tl+q.freshLimit(iv))
	}
	return end
}

// observeSignal takes reading val of signal k at t: a rise of at least
// its min_delta is a use, which ends the quiet period (learned unless it
// began without a use or a gap cut it) and begins the next.
func (q *quiet) observeSignal(m quietModel, o quietOff, x *evalCtx, s *slot, k int, val float64, t int64) {
	if s.flags&fInit == 0 {
		s.flags |= fInit | fAux
		s.t0, s.t1 = t, t
		m.forget(x, s, t)
	}
	if s.ext[o.seen]&(1<<k) == 0 {
		s.ext[o.seen] |= 1 << k
		o.setSigAt(s, k, val, val, t, 0)
		return
	}
	base, last, tl, iv := o.sigAt(s, k)
	if t <= tl {
		return
	}
	gap := t-tl > q.freshLimit(iv)+x.slack(tl)
	use := atLeast(val-base, q.deltas[k], val)
	lateUse, life := use, use
	var lc lateClock
	lateGap := false // a gap through the late step's time
	if q.late > 0 {
		lc = q.lateOf(m, o, s)
		if k == 0 {
			// the bucket drains late per hour, then takes the rise less
			// what a drip of late per hour leaves in an interval beyond
			// its first hour (a rise across a 5 h gap of readings is a
			// drip's until it is above 4 × late): a drip slower than late
			// per hour never fills it to late
			h := float64(t-tl) / 3600
			lc.bucket = max(0, lc.bucket-q.late*h) + max(0, val-last-q.late*max(0, h-1))
			lateUse = val >= last && atLeast(lc.bucket, q.late, val)
			// A gap through the late step's time: the step would ring at
			// the first reading after it (or within after_gap), on the
			// gap alone. A drip cannot be told from a use across it: a
			// rise of late is a use there (a smaller one is a gap's
			// across which nothing rose, below).
			lateGap = gap && q.lateDue(m, o, s) <= t+q.qp.AfterGap.Seconds()
			if lateGap && !lateUse && val >= last {
				lateUse = atLeast(val-last, q.late, val)
			}
			use = use || lateUse
		}
		o.setLate(s, lc)
	}
	if iv == 0 {
		iv = assumedInterval
	}
	if x.slack(tl) == 0 { // else tl may be older than the last reading
		iv = (iv*3 + (t - tl)) / 4
	}
	m.forget(x, s, t)
	if q.silentOn {
		q.watch.heard(x, s, t)
	}
	switch {
	case val < last:
		base = val // swap or rollover: not use
		if gap {
			q.restart(m, o, x, s, t)
		}
	case use:
		base = val
		if !gap && s.flags&fAux == 0 {
			m.learn(s, m.cell(x, s), (t-s.t0)/60)
		}
		if gap || s.flags&fAux != 0 || t-s.t0 >= 3*3600 {
			s.flags |= fMode
		} else {
			s.flags &^= fMode
		}
		s.t0 = t
		s.flags &^= fAux
		binary.LittleEndian.PutUint64(s.ext[o.hold:], 0)
		m.setAlarmTime(x, s)
		switch {
		case q.late > 0 && lateUse:
			o.setLate(s, lateClock{t0: t, at: q.lateAlarm(m, s)})
			if q.dripRun > 0 {
				o.setRun(s, runClock{t0: t, at: q.lateAlarm(m, s)}) // a use ends any run
			}
		case lateGap:
			// a sign of life across a gap through the late step's time,
			// no use of the late clock's: to it the gap is one across
			// which nothing rose
			if q.restartsOnGap(m, s) {
				q.restartLate(m, o, s, t)
			} else {
				q.bridge(o, s, t)
			}
		case q.dripRun > 0 && life:
			q.smallRise(m, o, s, t, tl, iv)
		}
		if lateUse || !lc.rang {
			// the late clock's alarm stays open through small rises
			x.clear(s, fOpen, func() string { return fmt.Sprintf("%s used again at %s", capitalize(q.qp.What), x.clock(t)) })
		}
	case gap:
		if q.restartsOnGap(m, s) {
			q.restart(m, o, x, s, t)
		} else {
			q.bridge(o, s, t)
		}
	}
	o.setSigAt(s, k, base, val, t, iv)
	s.t1 = max(s.t1, t)
}

// restartsOnGap reports whether a gap in the readings begins the quiet
// period anew (gaps: restart, or while falling back as no_use does);
// otherwise it is bridged, with no alarm before after_gap past its end.
func (q *quiet) restartsOnGap(m quietModel, s *slot) bool {
	return q.qp.Gaps == "restart" || m.fallingBack(s)
}

// bridge holds the alarm after a gap in the readings that ended at t:
// none before after_gap past its end.
func (q *quiet) bridge(o quietOff, s *slot, t int64) {
	binary.LittleEndian.PutUint64(s.ext[o.hold:], uint64(t+q.qp.AfterGap.Seconds()))
}

// restart begins a quiet period at t that did not begin with a use (the
// late clock's too).
func (q *quiet) restart(m quietModel, o quietOff, x *evalCtx, s *slot, t int64) {
	s.t0 = t
	s.flags |= fAux | fMode
	m.setAlarmTime(x, s)
	if q.late > 0 {
		q.restartLate(m, o, s, t)
	}
}

// restartLate begins the late clock at t without a use (its bucket kept),
// and with drip_run the run's clock, which would otherwise ring from
// before t.
func (q *quiet) restartLate(m quietModel, o quietOff, s *slot, t int64) {
	o.setLate(s, lateClock{bucket: q.lateOf(m, o, s).bucket, t0: t, at: q.lateAlarm(m, s)})
	if q.dripRun > 0 {
		o.setRun(s, runClock{t0: t, at: q.lateAlarm(m, s)})
	}
}

// due is the instant the current quiet period rings; with a late clock,
// its early step (math.MaxInt64: none, the late clock rings the period).
func (q *quiet) due(m quietModel, o quietOff, s *slot) int64 {
	if q.late > 0 {
		if c := q.lateOf(m, o, s); c.rang || m.fallingBack(s) || m.alarmAt(s) >= q.lateAt(m, o, s, c) {
			return math.MaxInt64
		}
	} else if m.fallingBack(s) {
		return s.t0 + q.fallback
	}
	return max(s.t0+m.alarmAt(s)*60, o.holdAt(s))
}

// lateDue is the instant the late clock rings (math.MaxInt64: it rang in
// this period): its alarm time after the last use of min_delta, or while
// the history is not usable the fallback's.
func (q *quiet) lateDue(m quietModel, o quietOff, s *slot) int64 {
	if q.lateOf(m, o, s).rang {
		return math.MaxInt64
	}
	t0, span := q.lateStart(m, o, s)
	if m.fallingBack(s) {
		return t0 + span
	}
	return max(t0+span, o.holdAt(s))
}

// raiseFixed raises the alarm of a fixed time since t0 (the fallback's, a
// late clock's): no_use's words and cause.
func (q *quiet) raiseFixed(x *evalCtx, s *slot, t0 int64) bool {
	p := q.qp
	return x.raise(s, fOpen, func() string {
		return fmt.Sprintf("no %s used since %s (%s)", p.What, x.clock(t0), span(x.now-t0))
	}, func() anxin.Cause {
		return anxin.Cause{Code: anxin.CauseNoUse, Field: p.Field, Since: causeTime(t0), For: x.lasted(t0)}
	})
}

// silentAt is the instant the meter turns silent (math.MaxInt64 without
// silent_after).
func (q *quiet) silentAt(x *evalCtx, o quietOff, s *slot) int64 {
	if !q.silentOn {
		return math.MaxInt64
	}
	_, _, tl, iv := o.sigAt(s, 0)
	return q.watch.at(x, tl, iv)
}

// tickQuiet raises the alarm of a quiet period past its alarm time, s
// having history in the kind's layout.
func (q *quiet) tickQuiet(m quietModel, o quietOff, x *evalCtx, s *slot) {
	if q.silentOn {
		if _, _, tl, iv := o.sigAt(s, 0); q.watch.silent(x, s, tl, iv) {
			return // a silent meter is device_silent, not no water
		}
	}
	if !(m.armed(s) || m.fallingBack(s)) || x.now > q.freshUntil(o, s) {
		return
	}
	if q.late > 0 && x.now >= q.lateDue(m, o, s) {
		// The last step: an alarm of the early step still open stands
		// for it; one people closed does not (a new condition, as the
		// fixed rule's). Either way small rises no longer close it.
		c := q.lateOf(m, o, s)
		if s.flags&fOpen == 0 && !x.suppressed() && x.inWindow() {
			s.flags &^= fMute1
			t0, _ := q.lateStart(m, o, s)
			q.raiseFixed(x, s, t0)
		}
		if s.flags&fOpen != 0 {
			c.rang = true
			o.setLate(s, c)
		}
		return
	}
	if x.now < q.due(m, o, s) {
		return
	}
	p := q.qp
	if m.fallingBack(s) {
		q.raiseFixed(x, s, s.t0)
		return
	}
	x.raise(s, fOpen, func() string {
		_, sv := m.alarmTime(s, m.cell(x, s))
		return fmt.Sprintf("no %s used since %s (%s); %s of this home's quiet periods beginning at this hour ended sooner",
			p.What, x.clock(s.t0), span(x.now-s.t0), percent(1-sv))
	}, func() anxin.Cause {
		_, sv := m.alarmTime(s, m.cell(x, s))
		return anxin.Cause{Code: anxin.CauseNoUseUnusual, Field: p.Field, Since: causeTime(s.t0), For: x.lasted(s.t0),
			Share: 1 - sv, Usual: causeTime(s.t0 + m.alarmAt(s)*60)}
	})
}

// deadlineQuiet is the next instant tickQuiet has work, s having history
// in the kind's layout.
func (q *quiet) deadlineQuiet(m quietModel, o quietOff, x *evalCtx, s *slot) int64 {
	var d int64
	if q.silentOn {
		_, _, tl, iv := o.sigAt(s, 0)
		d = q.watch.until(x, s, tl, iv)
	}
	if !(m.armed(s) || m.fallingBack(s)) || x.suppressed() {
		return d
	}
	// Only while the data will still be fresh and the meter not yet
	// silent (tick then raises device_silent and would leave this
	// deadline standing).
	due := q.due(m, o, s)
	if q.late > 0 {
		if s.flags&(fOpen|fMute1) != 0 {
			due = math.MaxInt64 // only the late clock has work
		}
		due = min(due, q.lateDue(m, o, s))
	} else if s.flags&(fOpen|fMute1) != 0 {
		return d
	}
	if due == math.MaxInt64 {
		return d
	}
	if p := x.windowed(max(due, x.now)); p <= q.freshUntil(o, s) && p < q.silentAt(x, o, s) && (d == 0 || p < d) {
		d = p
	}
	return d
}

// rebaselineQuiet restarts the quiet period when the elder is back (its
// length is not learned), s having history in the kind's layout.
func (q *quiet) rebaselineQuiet(m quietModel, o quietOff, x *evalCtx, s *slot) {
	for k := 0; k < q.nsig; k++ {
		_, last, tl, iv := o.sigAt(s, k)
		o.setSigAt(s, k, last, last, tl, iv)
	}
	q.restart(m, o, x, s, x.now)
}

// cell is the histogram cell of the quiet period that began at s.t0: its
// local hour, and in the second half of the cells when it began on a
// weekend (split: weekend) or after a quiet of 3 h or more, fMode (split:
// before); split: week (steps only) files it by the day of the week.
func (q *quiet) cell(x *evalCtx, s *slot) int {
	lt := x.local(s.t0)
	c := lt.Hour()
	switch q.qp.Split {
	case "week":
		c += 24 * int(lt.Weekday())
	case "weekend":
		if lt.Weekday() == time.Saturday || lt.Weekday() == time.Sunday {
			c += 24
		}
	case "before":
		if s.flags&fMode != 0 {
			c += 24
		}
	}
	return c
}

// saneDay reports whether the restored local day index (days since
// 1970-01-01) at b[0:4] is in saneTime's range: restored beyond it, no
// later day would be a new one (newDay), and the rule would never forget
// its counts nor count a day toward its warm-up again.
func saneDay(b []byte) bool {
	d := int64(int32(binary.LittleEndian.Uint32(b)))
	return d >= 0 && saneTime(d*86400)
}

// newDay records the local day of t at s.ext[off] when it is later than
// the one there, counting it toward the warm-up, and returns both days;
// ok is false when t's day is not a new one.
func newDay(x *evalCtx, s *slot, t int64, off int) (day, last int32, ok bool) {
	y, mo, d := x.local(t).Date()
	day = int32(time.Date(y, mo, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
	last = int32(binary.LittleEndian.Uint32(s.ext[off:]))
	if day <= last {
		return day, last, false
	}
	binary.LittleEndian.PutUint32(s.ext[off:], uint32(day))
	if s.n < math.MaxUint16 {
		s.n++
	}
	return day, last, true
}

// fadeDays is the days between two forgettings of kind hazard's counts at
// memory memDays: a twelfth of the memory (30 days at 365d), so that one
// forgetting moves any count above a tenth of a sample. A factor so close
// to 1 as a day's rounds a count of a few samples back to itself: at
// memory 365d every count under 2.8 samples never faded.
func fadeDays(memDays int64) int32 { return int32(max(1, memDays/12)) }

// fadeCounts multiplies the uint16 weights of h by f (< 1), rounding; a
// weight that would round back to itself loses one instead, so that the
// last tenth of a sample fades to nothing too.
func fadeCounts(h []byte, f float64) {
	for i := 0; i+1 < len(h); i += 2 {
		c := binary.LittleEndian.Uint16(h[i:])
		if c == 0 {
			continue
		}
		n := uint16(math.Round(float64(c) * f))
		if n >= c {
			n = c - 1
		}
		binary.LittleEndian.PutUint16(h[i:], n)
	}
}

// countSample adds weight one to bucket b of cell histogram h (a uint16
// weight a bucket). A bucket that would overflow halves the cell first,
// keeping its shares (minute data fills the short bucket of a busy hour;
// a frozen bucket would let the others take over); it reports whether it
// did.
func countSample(h []byte, b int, one uint16) (halved bool) {
	if uint32(binary.LittleEndian.Uint16(h[2*b:]))+uint32(one) > math.MaxUint16 {
		for i := 0; i+1 < len(h); i += 2 {
			binary.LittleEndian.PutUint16(h[i:], binary.LittleEndian.Uint16(h[i:])/2)
		}
		halved = true
	}
	binary.LittleEndian.PutUint16(h[2*b:], binary.LittleEndian.Uint16(h[2*b:])+one)
	return halved
}

// cellSurvival adds to above[b-1] the weight of the samples of cell
// histogram h (a uint16 weight a bucket) in bucket b or later, each
// weighing w, and returns the cell's weight.
func cellSurvival(h []byte, w float64, above []float64) float64 {
	n := len(h) / 2
	if n == 0 {
		return 0
	}
	above = above[:n-1]
	var tot uint32
	for b := n - 1; b > 0; b-- {
		tot += uint32(binary.LittleEndian.Uint16(h[2*b:]))
		above[b-1] += w * float64(tot)
	}
	tot += uint32(binary.LittleEndian.Uint16(h))
	return w * float64(tot)
}

// shrink is S at one alarm time: the cell's share of quiet periods lasting
// longer, shrunk toward the hour's, that toward the household's, that
// toward the prior's, each level with weight k, plus tail pseudo-periods
// longer than any alarm time. Without split (split: none) the hour is the
// cell.
func shrink(cell, hour, hh, prior, nCell, nHour, nHH, k, tail float64, split bool) float64 {
	pHH := (hh + k*prior) / (nHH + k)
	pHour := (hour + k*pHH) / (nHour + k)
	if split {
		return (cell + k*pHour + tail) / (nCell + k + tail)
	}
	return (hour + k*pHH + tail) / (nHour + k + tail)
}

// extLearned reports whether a reading changed ext (prev: before it) in
// more than what a reading that learns nothing changes: each signal's
// last value and time and its interval unless it grew far (movedFar), and a drain of
// the late clock's bucket (a rise that fills it is learned). A signal
// last heard before floor waking up is learned (Engine.learnedChange).
func (q *quiet) extLearned(o quietOff, prev, cur []byte, floor int64) bool {
	if len(cur) < o.sig+quietSigSize*q.nsig || (q.late > 0 && len(cur) < o.late+8) {
		return !bytes.Equal(prev, cur)
	}
	var skip [3][2]int // byte ranges compared here, not as bytes; ascending
	n := 0
	for k := 0; k < q.nsig; k++ {
		p := o.sig + quietSigSize*k
		tp, tc := int64(binary.LittleEndian.Uint64(prev[p+16:])), int64(binary.LittleEndian.Uint64(cur[p+16:]))
		if (tc > tp && tp < floor) || movedFar(int64(binary.LittleEndian.Uint64(prev[p+24:])), int64(binary.LittleEndian.Uint64(cur[p+24:]))) {
			return true
		}
		skip[n] = [2]int{p + 8, p + quietSigSize}
		n++
	}
	if q.late > 0 {
		bp, bc := math.Float64frombits(binary.LittleEndian.Uint64(prev[o.late:])), math.Float64frombits(binary.LittleEndian.Uint64(cur[o.late:]))
		if bc > bp {
			return true
		}
		skip[n] = [2]int{o.late, o.late + 8}
		n++
	}
	slices.SortFunc(skip[:n], func(a, b [2]int) int { return a[0] - b[0] })
	at := 0
	for _, r := range skip[:n] {
		if !bytes.Equal(prev[at:r[0]], cur[at:r[0]]) {
			return true
		}
		at = r[1]
	}
	return !bytes.Equal(prev[at:], cur[at:])
}

func (r *steps) extLearned(prev, cur []byte, floor int64) bool {
	return r.quiet.extLearned(r.lay.off(), prev, cur, floor)
}

func (r *hazard) extLearned(prev, cur []byte, floor int64) bool {
	return r.quiet.extLearned(r.off(), prev, cur, floor)
}
