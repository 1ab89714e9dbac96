package rules

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/anxin-care/anxin"
)

// HazardParams are the keys of kind hazard: a per-household model of how
// long quiet periods last, learned from the past only.
//
// Each quiet period (from one use to the next) is filed by the local hour
// and day type (weekday, weekend) of the use that began it, as one sample
// of its length. When a quiet period begins, the rule sets its alarm time
// T for that cell: the T that minimises T + Cost × S(T), where S(T) is the
// share of this home's past quiet periods of the same cell that lasted
// longer than T. Cost is the hours of delay one false alarm is worth: the
// rule rings early where quiet periods of that hour are nearly always
// short, late where they are often long (nights, working hours). S is
// shrunk toward the same hour on any day, that toward the whole household,
// that toward a prior (exponential, mean 4 h), each level with the weight
// of Shrink quiet periods, so a new household or a rare hour follows the
// broader profile until its own samples outweigh it.
//
// A data gap is no data, never use: with gaps "bridge" (the default) a
// counter that rose less than MinDelta across the gap keeps the quiet
// period running from the last use, but the rule does not ring before
// AfterGap past the gap's end (the first readings after a gap are not
// evidence enough). A counter that rose across a gap ends the quiet period
// at an unknown instant: its length is not learned and the next period
// starts at the reading. gaps "restart" restarts the quiet period after
// every gap, as no_use does.
//
// With AlsoField, a second signal (electricity, on the same or another
// device of the household) counts as use too: the rule keeps one slot per
// household and an emergency is both signals quiet; it is judged only
// while every signal it has seen is fresh.
type HazardParams struct {
	QuietParams `yaml:",inline"`
	MinQuiet    Duration `yaml:"min_quiet"` // shortest alarm time (default 1h)
	MaxQuiet    Duration `yaml:"max_quiet"` // longest alarm time (default 24h)
	// AlarmTimes, when set, are the only alarm times the rule chooses
	// among (each a bucket edge in [min_quiet, max_quiet]), e.g. [8h, 24h]:
	// the rule then rings at 8 h where the cell's share of quiet periods
	// lasting 8 h to 24 h is below 16 h / cost, at 24 h elsewhere. With
	// the full grid (the default) the rule minimises the mean delay and
	// spends its false alarms moving nights from 24 h to 12 h; with a few
	// steps it spends them where they buy detection within a step
	// (docs/detection.md, "Why the learner trailed the bound").
	AlarmTimes []Duration `yaml:"alarm_times"`
}

// Quiet-period length buckets (minutes): the alarm times the rule can
// choose are these edges.
var hzEdges = [...]int64{30, 60, 90, 120, 180, 240, 300, 360, 480, 600, 720, 960, 1200, 1440, 2160}

const (
	hzBuckets = len(hzEdges) + 1
	hzCells   = 48     // 24 hours × weekday/weekend
	hzOne     = 64     // weight of one sample
	hzPrior   = 4 * 60 // minutes, the prior's mean
	hzAll     = 1<<len(hzEdges) - 1
	hzFormat  = 2    // first byte of slot.ext (state version 2 on)
	hzExtV1   = 1680 // slot.ext of state version 1: every edge, two signals, the cells summed
)

// hzLayout is where a rule keeps what in slot.ext. The buckets of a cell
// are the quiet-period lengths between the edges the rule can ring at (in
// any of its variants: engine.load shares one layout among them), so a
// rule with alarm_times [8h, 24h] keeps 3 uint16 weights a cell, not 16:
// S(T) at an edge needs only the weight of periods lasting T or longer
// and the cell's total, and those are kept exactly.
//
//	0  format (hzFormat)   1  signals   2  edge mask (uint16: bit e is hzEdges[e])
//	hist  hzCells × buckets uint16 weights
//	sig   signals × {base, last f64; tLast, iv i64}
//	day   int32 local day of the last forgetting
//	hold  int64 no alarm before
//	t     uint16 alarm time of the current period, minutes
//	seen  uint8 signals seen (bits)
type hzLayout struct {
	mask                          uint16
	nsig, nb                      int
	edge                          [len(hzEdges)]uint8 // hzEdges index of bucket i's upper edge (i < nb-1)
	of                            [hzBuckets]uint8    // bucket of each full-grid bucket (hzBucket)
	hist, sig, day, hold, t, seen int
	size                          int
}

func newHzLayout(mask uint16, nsig int) *hzLayout {
	l := &hzLayout{mask: mask & hzAll, nsig: nsig, hist: 4}
	for e := range hzEdges {
		l.of[e] = uint8(l.nb)
		if l.mask&(1<<e) != 0 {
			l.edge[l.nb] = uint8(e)
			l.nb++
		}
	}
	l.of[len(hzEdges)] = uint8(l.nb)
	l.nb++
	l.sig = l.hist + hzCells*l.nb*2
	l.day = l.sig + nsig*quietSigSize
	l.hold, l.t, l.seen = l.day+4, l.day+12, l.day+14
	l.size = l.seen + 1
	return l
}

// hzV1 is the layout of state version 1 (no header, the cells summed
// after seen).
var hzV1 = func() *hzLayout {
	l := newHzLayout(hzAll, 2)
	l.hist, l.sig, l.day, l.hold, l.t, l.seen = 0, 1536, 1600, 1604, 1612, 1614
	l.size = hzExtV1
	return l
}()

// hzLayoutOf reads the layout of ext (format 2), or nil.
func hzLayoutOf(ext []byte) *hzLayout {
	if len(ext) < 4 || ext[0] != hzFormat || ext[1] < 1 || ext[1] > 2 {
		return nil
	}
	m := binary.LittleEndian.Uint16(ext[2:])
	if m&^hzAll != 0 {
		return nil
	}
	l := newHzLayout(m, int(ext[1]))
	if len(ext) != l.size {
		return nil
	}
	return l
}

// off is where layout l keeps the quiet clock's state.
func (l *hzLayout) off() quietOff { return quietOff{l.sig, l.seen, l.hold, 0} }

// is reports whether ext has layout l.
func (l *hzLayout) is(ext []byte) bool {
	return len(ext) == l.size && ext[0] == hzFormat && int(ext[1]) == l.nsig && binary.LittleEndian.Uint16(ext[2:]) == l.mask
}

func (l *hzLayout) fresh() []byte {
	b := make([]byte, l.size)
	b[0], b[1] = hzFormat, byte(l.nsig)
	binary.LittleEndian.PutUint16(b[2:], l.mask)
	return b
}

// bounds are bucket b's lengths in minutes: [lo, hi), hi +Inf for the last.
func (l *hzLayout) bounds(b int) (lo, hi float64) {
	lo, hi = 0, math.Inf(1)
	if b > 0 {
		lo = float64(hzEdges[l.edge[b-1]])
	}
	if b < l.nb-1 {
		hi = float64(hzEdges[l.edge[b]])
	}
	return lo, hi
}

// convert rewrites ext of layout from in layout l. A bucket of from that
// lies within one of l's keeps its weight exactly (fewer edges: sums); one
// that l splits (an edge from lacks: a changed alarm_times) is shared out
// in proportion to the prior's survival. A cell whose sums would overflow
// is scaled down, keeping its shares. Signals beyond l's are dropped.
func (l *hzLayout) convert(from *hzLayout, ext []byte) []byte {
	out := l.fresh()
	prior := func(t float64) float64 { return math.Exp(-t / hzPrior) }
	for c := 0; c < hzCells; c++ {
		var acc [hzBuckets]float64
		top := 0.0
		for b := 0; b < from.nb; b++ {
			w := float64(binary.LittleEndian.Uint16(ext[from.hist+(c*from.nb+b)*2:]))
			if w == 0 {
				continue
			}
			lo, hi := from.bounds(b)
			for d := 0; d < l.nb; d++ {
				dlo, dhi := l.bounds(d)
				a, z := max(lo, dlo), min(hi, dhi)
				switch {
				case a >= z:
				case a == lo && z == hi:
					acc[d] += w
				default:
					acc[d] += w * (prior(a) - prior(z)) / (prior(lo) - prior(hi))
				}
			}
		}
		for d := 0; d < l.nb; d++ {
			top = max(top, acc[d])
		}
		f := 1.0
		if top > math.MaxUint16 {
			f = math.MaxUint16 / top
		}
		for d := 0; d < l.nb; d++ {
			binary.LittleEndian.PutUint16(out[l.hist+(c*l.nb+d)*2:], uint16(min(math.Round(acc[d]*f), math.MaxUint16)))
		}
	}
	for k := 0; k < min(from.nsig, l.nsig); k++ {
		copy(out[l.sig+k*quietSigSize:], ext[from.sig+k*quietSigSize:from.sig+(k+1)*quietSigSize])
	}
	copy(out[l.day:l.seen], ext[from.day:from.seen])
	out[l.seen] = ext[from.seen] & (1<<l.nsig - 1)
	return out
}

// hzUpgrade reads a version 1 ext (every edge, two signals) as format 2.
func hzUpgrade(ext []byte) []byte {
	if len(ext) != hzExtV1 {
		return nil
	}
	return newHzLayout(hzAll, 2).convert(hzV1, ext)
}

// hzAdopt converts a restored ext (format 2, sane) to the layout of the
// rule's evaluator ev.
func hzAdopt(ev evaluator, ext []byte) []byte {
	r, from := hzOf(ev), hzLayoutOf(ext)
	if r == nil || from == nil {
		return nil
	}
	if r.lay.is(ext) {
		return ext
	}
	return r.lay.convert(from, ext)
}

// hzShare gives every variant of a rule one layout: the union of the edges
// they can ring at, the most signals any has. A household keeps its
// history when its tier (and so its variant) changes.
func hzShare(evs []evaluator) {
	var mask uint16
	nsig := 1
	for _, ev := range evs {
		if r := hzOf(ev); r != nil {
			mask |= r.lay.mask
			nsig = max(nsig, r.lay.nsig)
		}
	}
	l := newHzLayout(mask, nsig)
	for _, ev := range evs {
		if r := hzOf(ev); r != nil {
			r.lay = l
		}
	}
}

func hzOf(ev evaluator) *hazard {
	switch v := ev.(type) {
	case *hazard:
		return v
	case *hazardSilent:
		return v.hazard
	case *hazardHH:
		return v.hazard
	}
	return nil
}

func init() {
	registerKind("hazard", kindDef{
		params: func() any { return &HazardParams{} },
		check: func(r *Rule) error {
			p := r.Params.(*HazardParams)
			if err := p.checkLearner(Duration(6144 * time.Hour)); err != nil {
				return err
			}
			if p.MinQuiet == 0 {
				p.MinQuiet = Duration(time.Hour)
			}
			if p.MaxQuiet == 0 {
				p.MaxQuiet = Duration(24 * time.Hour)
			}
			if p.MaxQuiet > Duration(36*time.Hour) {
				// the key written wrong is named, with its value
				return outside("max_quiet", p.MaxQuiet, "30m ≤ min_quiet ≤ max_quiet ≤ 36h", "with min_quiet, must satisfy 30m ≤ min_quiet ≤ max_quiet ≤ 36h")
			}
			if p.MinQuiet < Duration(30*time.Minute) || p.MinQuiet > p.MaxQuiet {
				return outside("min_quiet", p.MinQuiet, "30m ≤ min_quiet ≤ max_quiet ≤ 36h", "with max_quiet, must satisfy 30m ≤ min_quiet ≤ max_quiet ≤ 36h")
			}
			if err := p.checkCells(false); err != nil {
				return err
			}
			if len(p.AlarmTimes) > hzBuckets {
				return because("alarm_times", reasonTimesCount, "", fmt.Sprint(hzBuckets), fmt.Sprintf("at most %d", hzBuckets))
			}
			for _, d := range p.AlarmTimes {
				if !isHzEdge(d) || d < p.MinQuiet || d > p.MaxQuiet {
					return oneOf("alarm_times", shortDur(d), fmt.Sprintf("%s is not one of 30m 1h 1h30m 2h 3h 4h 5h 6h 8h 10h 12h 16h 20h 24h 36h within [min_quiet, max_quiet]", d), hzEdgesWithin(p.MinQuiet, p.MaxQuiet)...)
				}
			}
			return p.checkAlarm(r)
		},
		compile: func(r *Rule) evaluator {
			p := r.Params.(*HazardParams)
			h := &hazard{p: *p, minT: p.MinQuiet.Seconds() / 60, maxT: p.MaxQuiet.Seconds() / 60, fade: fadeDays(p.Memory.Seconds() / 86400)}
			h.quiet = newQuiet(&h.p.QuietParams)
			for _, d := range p.AlarmTimes {
				h.steps |= 1 << hzBucket(d.Seconds()/60-1)
			}
			mask := uint16(h.steps)
			if h.steps == 0 {
				for e, t := range hzEdges {
					if t >= h.minT && t <= h.maxT {
						mask |= 1 << e
					}
				}
			}
			h.lay = newHzLayout(mask, h.nsig)
			if h.nsig == 2 {
				return &hazardHH{h}
			}
			if h.silentOn {
				return &hazardSilent{h}
			}
			return h
		},
		extBytes:   hzExtV1,
		saneExt:    hzSane,
		upgradeExt: hzUpgrade,
		adoptExt:   hzAdopt,
		share:      hzShare,
	})
}

// hzSane reports whether a restored ext has a layout (format 2: version 1
// is converted first) whose size matches its header, and its instants and
// intervals are in range: a signal last heard at an instant beyond year
// 9999 would turn every later reading away (t <= tLast), the rule deaf for
// good. nil (no history) is sane.
func hzSane(ext []byte) bool {
	if ext == nil {
		return true
	}
	l := hzLayoutOf(ext)
	if l == nil {
		return false
	}
	return l.off().sane(ext, l.nsig) && saneDay(ext[l.day:]) &&
		int64(binary.LittleEndian.Uint16(ext[l.t:])) <= hzEdges[len(hzEdges)-1] && ext[l.seen] < 1<<l.nsig
}

// hazard slot: t0 start of the quiet period (the last use), t1 last
// reading of any signal, n days with data (warm-up), fAux: the period began
// without a use (after a gap or away): its length is not learned. ext:
// histograms, per-signal state, forgetting day, hold, the period's alarm
// time, seen signals.
type hazard struct {
	quiet
	p          HazardParams
	minT, maxT int64     // minutes
	fade       int32     // days between two forgettings (fadeDays)
	steps      uint32    // alarm_times: bit e set = hzEdges[e] allowed; 0: all
	lay        *hzLayout // shared by the rule's variants
}

// hazardSilent is hazard with silent_after: it raises a second alarm.
type hazardSilent struct{ *hazard }

func (r hazardSilent) second() alarmID { return r.watch.id() }

// hazardHH is hazard over two signals: one slot per household.
type hazardHH struct{ *hazard }

func (hazardHH) perHousehold() {}

// alarmAt is the alarm time of the current period, minutes.
func (r *hazard) alarmAt(s *slot) int64 { return int64(binary.LittleEndian.Uint16(s.ext[r.lay.t:])) }

// fit reports whether s has history in the rule's layout, converting
// history kept in another layout (the rule was reloaded with other
// alarm_times).
func (r *hazard) fit(s *slot) bool {
	if r.lay.is(s.ext) {
		return true
	}
	if from := hzLayoutOf(s.ext); from != nil {
		s.ext = r.lay.convert(from, s.ext)
		return true
	}
	return false
}

// off is where the rule's layout keeps the quiet clock's state.
func (r *hazard) off() quietOff { return r.lay.off() }

func (r *hazard) observe(x *evalCtx, s *slot, m *anxin.Message, t int64) {
	if !r.fit(s) {
		s.ext, s.n = r.lay.fresh(), 0 // no history: warm up again
		s.flags &^= fInit
	}
	for k := 0; k < r.nsig; k++ {
		f, ok := m.Fields[r.fields[k]]
		if ok {
			r.observeSignal(r, r.off(), x, s, k, f.Float(), t)
		}
	}
	if s.flags&fInit != 0 && r.alarmAt(s) != 0 && !r.canRing(r.alarmAt(s)) {
		// the period's alarm time is another variant's (the tier
		// changed since its last use): choose it again from the counts,
		// which the variants share
		r.setAlarmTime(x, s)
	}
	r.tick(x, s)
}

// canRing reports whether the rule (this variant) can ring at t minutes.
func (r *hazard) canRing(t int64) bool {
	return t >= r.minT && t <= r.maxT && (r.steps == 0 || r.steps&(1<<hzBucket(t-1)) != 0)
}

// forget counts days with data (for the warm-up) and ages the
// histograms a fadeDays period at once, on the local days that are
// multiples of it (at memory 365d every 30 days): a sample weighs
// keep^(period × the periods ended since it was learned). Those days need
// no state of their own, so a state saved when the rule forgot every day
// (its counts aged to its last day) keeps its layout; its first period
// forgets those counts whole again, once up to a twelfth of the memory
// too much, the shares kept.
func (r *hazard) forget(x *evalCtx, s *slot, t int64) {
	day, last, ok := newDay(x, s, t, r.lay.day)
	if !ok || last == 0 {
		return
	}
	if n := day/r.fade - last/r.fade; n > 0 {
		fadeCounts(s.ext[r.lay.hist:r.lay.sig], math.Pow(r.keep, float64(min(n*r.fade, 3650))))
	}
}

// hzPriorS is the prior's survival at each edge.
var hzPriorS = func() (s [len(hzEdges)]float64) {
	for e, t := range hzEdges {
		s[e] = math.Exp(-float64(t) / hzPrior)
	}
	return s
}()

// isHzEdge reports whether d is one of the alarm times the rule can choose.
func isHzEdge(d Duration) bool {
	if d%Duration(time.Minute) != 0 {
		return false
	}
	for _, e := range hzEdges {
		if d.Seconds()/60 == e {
			return true
		}
	}
	return false
}

func hzBucket(minutes int64) int {
	for i, e := range hzEdges {
		if minutes < e {
			return i
		}
	}
	return len(hzEdges)
}

func (r *hazard) learn(s *slot, cell int, minutes int64) {
	nb := r.lay.nb
	countSample(s.ext[r.lay.hist+cell*nb*2:r.lay.hist+(cell+1)*nb*2], int(r.lay.of[hzBucket(minutes)]), hzOne)
}

// survival fills above[e] with the weight of samples of cell c lasting at
// least hzEdges[e], and returns the cell's total weight.
func (r *hazard) survival(s *slot, c int, above *[hzBuckets]float64) float64 {
	return r.survivalW(s, c, 1, above)
}

// survivalW is survival with the cell's samples weighing w each.
func (r *hazard) survivalW(s *slot, c int, w float64, above *[hzBuckets]float64) float64 {
	nb := r.lay.nb
	return cellSurvival(s.ext[r.lay.hist+c*nb*2:r.lay.hist+(c+1)*nb*2], w, above[:])
}

// curve is S at the layout's edges (sv[i] at hzEdges[lay.edge[i]]) for
// cell c, shrunk toward the hour, the household and the prior.
func (r *hazard) curve(s *slot, c int) (sv [hzBuckets]float64) {
	k, tail := r.p.Shrink*hzOne, *r.p.Tail*hzOne
	nb := r.lay.nb
	var hh, hour, cell [hzBuckets]float64
	var pool [hzBuckets]uint32 // the household's cells summed
	h := s.ext[r.lay.hist:r.lay.sig]
	for i := 0; i < len(h); i += 2 * nb {
		for b := 0; b < nb; b++ {
			pool[b] += uint32(h[i+2*b]) | uint32(h[i+2*b+1])<<8
		}
	}
	var nHH float64
	for b := nb - 1; b >= 0; b-- {
		nHH += float64(pool[b])
		if b > 0 {
			hh[b-1] = nHH
		}
	}
	nHour := r.survival(s, c%24, &hour)
	if c%24+24 < hzCells {
		nHour += r.survival(s, c%24+24, &hour)
	}
	if nb := r.p.Neighbours; nb > 0 {
		for _, h := range [2]int{(c%24 + 23) % 24, (c%24 + 1) % 24} {
			nHour += r.survivalW(s, h, nb, &hour) + r.survivalW(s, h+24, nb, &hour)
		}
	}
	nCell := r.survival(s, c, &cell)
	if r.p.Split == "none" {
		nCell, cell = 0, [hzBuckets]float64{} // the hour is the cell
	}
	for e := 0; e < nb-1; e++ {
		sv[e] = shrink(cell[e], hour[e], hh[e], hzPriorS[r.lay.edge[e]], nCell, nHour, nHH, k, tail, r.p.Split != "none")
	}
	return sv
}

// alarmTime is the alarm time (minutes) of a quiet period beginning in
// cell c, and the share of past periods of that cell it would ring for.
func (r *hazard) alarmTime(s *slot, c int) (int64, float64) {
	sv := r.curve(s, c)
	best, bestT, bestS := math.Inf(1), r.maxT, 0.0
	for i := 0; i < r.lay.nb-1; i++ {
		e := int(r.lay.edge[i])
		t := hzEdges[e]
		if !r.canRing(t) {
			continue
		}
		if v := float64(t) + r.cost*sv[i]; v < best {
			best, bestT, bestS = v, t, sv[i]
		}
	}
	return bestT, bestS
}

func (r *hazard) setAlarmTime(x *evalCtx, s *slot) {
	t, _ := r.alarmTime(s, r.cell(x, s))
	binary.LittleEndian.PutUint16(s.ext[r.lay.t:], uint16(t))
}

func (r *hazard) armed(s *slot) bool {
	return s.flags&fInit != 0 && s.n > r.warmDays && r.lay.is(s.ext) && r.alarmAt(s) != 0
}

// fallingBack reports whether the rule rings at its fixed fallback time
// now: the household's history is not usable yet.
func (r *hazard) fallingBack(s *slot) bool {
	return r.fallback > 0 && s.flags&fInit != 0 && r.lay.is(s.ext) && !r.armed(s)
}

func (r *hazard) tick(x *evalCtx, s *slot) {
	if s.flags&fInit == 0 || !r.fit(s) {
		return
	}
	r.tickQuiet(r, r.off(), x, s)
}

func (r *hazard) deadline(x *evalCtx, s *slot) int64 {
	if s.flags&fInit == 0 || !r.fit(s) {
		return 0
	}
	return r.deadlineQuiet(r, r.off(), x, s)
}

// rebaseline restarts the quiet period when the elder is back.
func (r *hazard) rebaseline(x *evalCtx, s *slot) {
	if s.flags&fInit == 0 || !r.fit(s) {
		return
	}
	r.rebaselineQuiet(r, r.off(), x, s)
}
