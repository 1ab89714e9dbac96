package rules

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/anxin-care/anxin"
)

// StepsParams are the keys of kind steps: the stepped form of kind
// hazard (docs/detection.md), learned from the past only, that chooses
// among a few alarm times (alarm_times, e.g. [8h, 24h]) and keeps only the
// counts it decides on.
//
// Each quiet period (from one use to the next) is filed by the local hour
// and day (split: weekend, weekday/weekend; week, the day of the week) of
// the use that began it, as one sample of its length counted between the
// alarm times. When a quiet period begins the rule picks, among the alarm
// times, the T that minimises T + cost × S(T), S(T) being the share of this
// home's past quiet periods of the same cell that lasted longer than T,
// shrunk toward the same hour on any day (adjacent hours pooled at weight
// neighbours), that toward the whole household, that toward a prior
// (exponential, mean 4 h). With per_quiet the cost is scaled by per_quiet /
// the home's quiet periods per day: a busy home, whose short periods make
// the 8 h step cheap, rings at it in more cells (docs/rules.md).
// With late_share the last alarm time (e.g. 36h) is chosen only in a cell
// whose share of quiet periods between the last two alarm times is above
// it — where the home often stays away a day — and never otherwise.
//
// Gaps, warm-up, fallback, silent_after and also_field behave as in kind
// hazard.
type StepsParams struct {
	QuietParams `yaml:",inline"`
	// PerQuiet, when set, scales the cost by PerQuiet / this home's quiet
	// periods per day (learned): a home with more periods a day than
	// PerQuiet pays less for a false alarm, one with fewer more.
	PerQuiet float64 `yaml:"per_quiet"`
	// LateShare, when set, chooses the last alarm time (e.g. 36h in
	// [8h, 24h, 36h]) only in a cell that would ring at the one before it
	// and whose share of quiet periods lasting between the two is above
	// LateShare; never otherwise. The delay objective alone would move
	// almost every cell to 36 h.
	LateShare float64 `yaml:"late_share"`
	// AlarmTimes are the only alarm times the rule chooses among: 1 to 3
	// durations, ascending, within [30m, 36h] (required).
	AlarmTimes []Duration `yaml:"alarm_times"`
	// LifeDelta, when set (above 0, below min_delta), is the rise of field
	// that counts as a sign of life: the quiet period the early steps
	// ring on, and learn from, restarts on it, while the last step (the
	// one before it with late_share, or later where chosen) runs on a
	// clock of min_delta that a drip cannot restart: a rise counts there
	// only when it is faster than min_delta per hour. 0: one clock.
	LifeDelta float64 `yaml:"life_delta"`
	// DripRun, when set (with life_delta), tells a drip from life: a
	// small rise (life_delta or more, not a use of min_delta) restarts
	// the last step's clock too, unless it is a drip's: part of a run of
	// small rises, none more than dripHole after the one before and no
	// use among them, that has lasted DripRun, or a rise as long after the
	// sign of life before it (a small rise or the use) as that one after
	// the one before, within a reading interval (a drip is steady; glasses
	// of water are not). The clock then goes back to the last sign of life
	// before the drip began. 0: only a use of min_delta restarts the last
	// step's clock.
	DripRun Duration `yaml:"drip_run"`
}

const (
	stMaxSteps = 3
	stBuckets  = stMaxSteps + 1 // below the first alarm time, between, above the last
	stVersion  = 1              // layout of the counts
	stOne      = 64             // weight of one sample
	stPrior    = 4 * 60         // minutes, the prior's mean
	stMaxT     = 36 * 60        // minutes, the longest alarm time
	stAgeDays  = 30             // days between two forgettings
)

// stLayout is where a rule keeps what in slot.ext. Its cells are those
// its split files quiet periods in: 168 (24 hours × 7 days) for split:
// week, 48 (24 hours × 2) otherwise, so a rule that never uses a cell
// keeps no counts for it. Everything after the counts is the same in
// every layout.
//
//	hist  cells × stBuckets uint16 weights
//	sig   2 signals × {base, last f64; tLast, iv i64}
//	day   int32 local day of the last forgetting
//	hold  int64 no alarm before
//	t     uint16 alarm time of the current period, minutes
//	seen  uint8 signals seen (bits), one byte spare
//	pool  uint32 × stBuckets: the household's cells summed
//	aged  int32 local day the counts were last forgotten
//	cfor  version byte, then the alarm times (uint16 minutes × 3) the counts are for
//	late  the late clock (quietOff.late, lateSize bytes)
type stLayout struct {
	cells                                                 int
	sig, day, hold, t, seen, pool, aged, cfor, late, size int
}

func newStLayout(cells int) *stLayout {
	l := &stLayout{cells: cells, sig: cells * stBuckets * 2}
	l.day = l.sig + 64
	l.hold, l.t, l.seen, l.pool = l.day+4, l.day+12, l.day+14, l.day+16
	l.aged = l.pool + 4*stBuckets
	l.cfor = l.aged + 4
	l.late = l.cfor + 1 + 2*stMaxSteps
	l.size = l.late + lateSize
	return l
}

var (
	stWeek = newStLayout(168) // split: week, 1470 bytes (every rule's before 2026-12-07)
	stHalf = newStLayout(48)  // split: weekend, before or none, 510 bytes
	// stExtV1 is the size of an ext saved before life_delta (the week
	// layout without its late clock, 1451 bytes).
	stExtV1 = stWeek.late
)

// stLayoutFor is the layout of a rule of split.
func stLayoutFor(split string) *stLayout {
	if split == "week" {
		return stWeek
	}
	return stHalf
}

// stLayoutOf is the layout of an ext of n bytes, or nil.
func stLayoutOf(n int) *stLayout {
	switch n {
	case stWeek.size:
		return stWeek
	case stHalf.size:
		return stHalf
	}
	return nil
}

// off is where layout l keeps the quiet clock's state.
func (l *stLayout) off() quietOff { return quietOff{l.sig, l.seen, l.hold, l.late} }

// convert rewrites ext of layout from in layout l. The 48 cells of the
// weekend, before and none splits are the first 48 of the week layout
// (the code before 2026-12-07 kept every split in the week layout): a
// week-layout ext whose other cells are empty keeps its counts. Counts
// kept by day of the week (any of the other cells has weight) or by
// weekday/weekend into the week layout mean nothing in the new cells:
// they are dropped and the rule learns again from its warm-up (its
// fallback rings meanwhile). The quiet clock is kept either way.
func (l *stLayout) convert(from *stLayout, ext []byte) []byte {
	out := make([]byte, l.size)
	copy(out[l.sig:], ext[from.sig:])
	keep := from.cells >= l.cells
	if keep {
		for _, b := range ext[l.sig:from.sig] {
			keep = keep && b == 0
		}
	}
	if keep {
		copy(out, ext[:l.sig])
	} else {
		clear(out[l.pool:l.cfor])
		clear(out[l.cfor:l.late]) // no alarm times: observe learns again
	}
	return out
}

func init() {
	registerKind("steps", kindDef{
		params: func() any { return &StepsParams{} },
		check: func(r *Rule) error {
			p := r.Params.(*StepsParams)
			if err := p.checkLearner(Duration(4200 * time.Hour)); err != nil {
				return err
			}
			if err := p.checkCells(true); err != nil {
				return err
			}
			if len(p.AlarmTimes) < 1 || len(p.AlarmTimes) > stMaxSteps {
				return because("alarm_times", reasonTimesCount, "", fmt.Sprint(stMaxSteps), fmt.Sprintf("1 to %d alarm times, e.g. [8h, 24h]", stMaxSteps))
			}
			for i, d := range p.AlarmTimes {
				if d%Duration(time.Minute) != 0 || d < Duration(30*time.Minute) || d > Duration(stMaxT*time.Minute) || (i > 0 && d <= p.AlarmTimes[i-1]) {
					return because("alarm_times", reasonTimesOrder, "", "", "whole minutes, ascending, within [30m, 36h]")
				}
			}
			if p.PerQuiet < 0 || p.PerQuiet > 1000 {
				return outside("per_quiet", p.PerQuiet, "0..1000", "must be between 0 and 1000")
			}
			if p.LateShare < 0 || p.LateShare >= 1 || (p.LateShare > 0 && len(p.AlarmTimes) < 2) {
				return because("late_share", reasonLateShare, fmt.Sprint(p.LateShare), "", "must be in [0, 1), with at least two alarm times")
			}
			if p.LifeDelta < 0 || (p.LifeDelta > 0 && !(p.LifeDelta < p.MinDelta-1e-12)) {
				return because("life_delta", reasonLifeDelta, fmt.Sprint(p.LifeDelta), fmt.Sprint(p.MinDelta), fmt.Sprintf("must be above 0 and below min_delta (%g)", p.MinDelta))
			}
			switch {
			case p.DripRun == 0:
			case p.LifeDelta == 0:
				return needsKey("drip_run", "needs life_delta", "life_delta")
			case p.DripRun < Duration(time.Hour) || p.DripRun > Duration(stMaxT*time.Minute):
				return outside("drip_run", p.DripRun, "1h..36h", "must be between 1h and 36h")
			case p.AlsoField != "":
				return clash("drip_run", "not with also_field (the run is kept in the second signal's bytes)", "also_field")
			}
			return p.checkAlarm(r)
		},
		compile: func(r *Rule) evaluator {
			p := r.Params.(*StepsParams)
			h := &steps{p: *p}
			h.quiet = newQuiet(&h.p.QuietParams)
			h.lay = stLayoutFor(p.Split)
			for i, d := range p.AlarmTimes {
				h.edges[i] = d.Seconds() / 60
				h.prior[i] = math.Exp(-float64(h.edges[i]) / stPrior)
			}
			h.nEdges = len(p.AlarmTimes)
			if p.LifeDelta > 0 {
				// the quiet period runs on life_delta, the last step on min_delta
				h.late, h.deltas[0] = p.MinDelta, p.LifeDelta
				h.lateMin = h.edges[h.nEdges-1]
				if p.LateShare > 0 {
					h.lateMin = h.edges[h.nEdges-2]
				}
				h.dripRun = p.DripRun.Seconds()
			}
			h.countsFor[0] = stVersion
			for i, e := range h.edges[:h.nEdges] {
				binary.LittleEndian.PutUint16(h.countsFor[1+2*i:], uint16(e))
			}
			if h.nsig == 2 {
				return &stepsHH{h}
			}
			if h.silentOn {
				return &stepsSilent{h}
			}
			return h
		},
		extBytes: stWeek.size,
		saneExt:  stSane,
		adoptExt: stAdopt,
	})
}

// stSane reports whether a restored ext's instants and intervals are in
// range (quietOff.sane). nil (no history) is sane: the rule warms up again.
// An ext of stExtV1 bytes was saved before the late clock (stAdopt).
func stSane(ext []byte) bool {
	if len(ext) == 0 {
		return true // no history
	}
	l := stLayoutOf(len(ext))
	if len(ext) == stExtV1 {
		l = stWeek
	} else if l == nil {
		return false
	}
	return l.off().sane(ext, 2) && (len(ext) == stExtV1 || l.off().saneLate(ext)) && saneDay(ext[l.day:]) && saneDay(ext[l.aged:]) &&
		int64(binary.LittleEndian.Uint16(ext[l.t:])) <= stMaxT
}

// stAdopt converts a restored (sane) ext to the layout of the rule's
// evaluator ev. One saved before the late clock has it appended unset
// (the clock starts with the current quiet period, quiet.lateOf).
func stAdopt(ev evaluator, ext []byte) []byte {
	if len(ext) == stExtV1 {
		ext = append(ext, make([]byte, lateSize)...)
	}
	r, from := stOf(ev), stLayoutOf(len(ext))
	if r == nil || from == nil {
		return nil
	}
	if from == r.lay {
		return ext
	}
	return r.lay.convert(from, ext)
}

// stOf is the steps rule of evaluator ev, or nil.
func stOf(ev evaluator) *steps {
	switch v := ev.(type) {
	case *steps:
		return v
	case *stepsSilent:
		return v.steps
	case *stepsHH:
		return v.steps
	}
	return nil
}

// steps slot: t0 start of the quiet period (the last use), t1 last
// reading of any signal, n days with data (warm-up), fAux: the period began
// without a use (after a gap or away): its length is not learned. ext:
// histograms, per-signal state, forgetting day, hold, the period's alarm
// time, seen signals.
type steps struct {
	quiet
	p         StepsParams
	edges     [stMaxSteps]int64   // alarm times, minutes
	prior     [stMaxSteps]float64 // the prior's survival at each
	nEdges    int
	lay       *stLayout
	countsFor [1 + 2*stMaxSteps]byte // stVersion and the alarm times, as in ext
}

// stepsSilent is steps with silent_after: it raises a second alarm.
type stepsSilent struct{ *steps }

func (r stepsSilent) second() alarmID { return r.watch.id() }

// stepsHH is steps over two signals: one slot per household.
type stepsHH struct{ *steps }

func (stepsHH) perHousehold() {}

func (r *steps) u16(s *slot, off int) uint16 { return binary.LittleEndian.Uint16(s.ext[off:]) }

// alarmAt is the alarm time of the current period, minutes.
func (r *steps) alarmAt(s *slot) int64 { return int64(r.u16(s, r.lay.t)) }

func (r *steps) observe(x *evalCtx, s *slot, m *anxin.Message, t int64) {
	if len(s.ext) != r.lay.size {
		s.ext, s.n = make([]byte, r.lay.size), 0 // no history: warm up again
		s.flags &^= fInit
	}
	if !bytes.Equal(s.ext[r.lay.cfor:r.lay.late], r.countsFor[:]) {
		// counts of another layout or other alarm_times (a changed rule,
		// a new tier): they mean nothing here, learn again
		clear(s.ext[:r.lay.sig])
		clear(s.ext[r.lay.pool:r.lay.cfor])
		copy(s.ext[r.lay.cfor:r.lay.late], r.countsFor[:])
		s.n = 0
	}
	if r.late == 0 {
		// a variant without life_delta (a tier's override, a changed
		// rule) runs no late clock: it leaves none behind, or a variant
		// with one would take its last use for weeks ago and ring at once
		clear(s.ext[r.lay.late:])
	}
	if r.dripRun == 0 && r.nsig == 1 {
		// nor a drip run (kept in the unused second signal's bytes)
		clear(s.ext[r.lay.off().run() : r.lay.off().run()+quietSigSize])
	}
	for k := 0; k < r.nsig; k++ {
		f, ok := m.Fields[r.fields[k]]
		if ok {
			r.observeSignal(r, r.lay.off(), x, s, k, f.Float(), t)
		}
	}
	r.tick(x, s)
}

// forget ages the histograms once per local day (and counts days with data
// for the warm-up).
func (r *steps) forget(x *evalCtx, s *slot, t int64) {
	day, last, ok := newDay(x, s, t, r.lay.day)
	if !ok {
		return
	}
	aged := int32(binary.LittleEndian.Uint32(s.ext[r.lay.aged:]))
	if last == 0 || aged == 0 {
		binary.LittleEndian.PutUint32(s.ext[r.lay.aged:], uint32(day))
		return
	}
	// Forgotten every 30 days at once: a daily factor so close to 1 rounds
	// a count of a few samples back to itself (with memory 365d, every
	// count under 183, about 3 samples, would never fade).
	if day-aged < stAgeDays {
		return
	}
	binary.LittleEndian.PutUint32(s.ext[r.lay.aged:], uint32(day))
	fadeCounts(s.ext[:r.lay.sig], math.Pow(r.keep, float64(min(day-aged, 3650))))
	r.pool(s)
}

// bucket is the bucket of a quiet period lasting minutes: the number of
// alarm times it reached.
func (r *steps) bucket(minutes int64) int {
	b := 0
	for b < r.nEdges && minutes >= r.edges[b] {
		b++
	}
	return b
}

func (r *steps) learn(s *slot, cell int, minutes int64) {
	b := r.bucket(minutes)
	if countSample(s.ext[cell*stBuckets*2:(cell+1)*stBuckets*2], b, stOne) {
		r.pool(s) // the cell was halved
		return
	}
	po := r.lay.pool + 4*b
	binary.LittleEndian.PutUint32(s.ext[po:], binary.LittleEndian.Uint32(s.ext[po:])+stOne)
}

// pool recomputes the household's summed histogram from the cells.
func (r *steps) pool(s *slot) {
	var sum [stBuckets]uint32
	for i := 0; i < r.lay.sig; i += 2 {
		sum[(i/2)%stBuckets] += uint32(binary.LittleEndian.Uint16(s.ext[i:]))
	}
	for b, v := range sum {
		binary.LittleEndian.PutUint32(s.ext[r.lay.pool+4*b:], v)
	}
}

// survivalW adds to above[e] the weight of cell c's samples lasting at
// least alarm time e, each weighing w, and returns the cell's weight.
func (r *steps) survivalW(s *slot, c int, w float64, above *[stBuckets]float64) float64 {
	return cellSurvival(s.ext[c*stBuckets*2:(c+1)*stBuckets*2], w, above[:])
}

// curve is S at each alarm time for cell c, shrunk toward the hour, the
// household and the prior.
func (r *steps) curve(s *slot, c int) (sv [stBuckets]float64) {
	k, tail := r.p.Shrink*stOne, *r.p.Tail*stOne
	var hh, hour, cell [stBuckets]float64
	var nHH float64
	for b := stBuckets - 1; b >= 0; b-- {
		nHH += float64(binary.LittleEndian.Uint32(s.ext[r.lay.pool+4*b:]))
		if b > 0 {
			hh[b-1] = nHH
		}
	}
	days := 2
	if r.p.Split == "week" {
		days = 7
	}
	var nHour float64
	for d := 0; d < days; d++ {
		nHour += r.survivalW(s, c%24+24*d, 1, &hour)
	}
	if nb := r.p.Neighbours; nb > 0 {
		for _, h := range [2]int{(c%24 + 23) % 24, (c%24 + 1) % 24} {
			for d := 0; d < days; d++ {
				nHour += r.survivalW(s, h+24*d, nb, &hour)
			}
		}
	}
	var nCell float64
	if r.p.Split != "none" {
		nCell = r.survivalW(s, c, 1, &cell)
	}
	for e := 0; e < r.nEdges; e++ {
		sv[e] = shrink(cell[e], hour[e], hh[e], r.prior[e], nCell, nHour, nHH, k, tail, r.p.Split != "none")
	}
	return sv
}

// alarmTime is the alarm time (minutes) of a quiet period beginning in
// cell c, and the share of past periods of that cell it would ring for.
func (r *steps) alarmTime(s *slot, c int) (int64, float64) {
	sv := r.curve(s, c)
	cost := r.cost
	if r.p.PerQuiet > 0 {
		cost *= r.p.PerQuiet / r.perDay(s)
	}
	n := r.nEdges
	if r.p.LateShare > 0 {
		n-- // the last alarm time is chosen by late_share below
	}
	best, bestE := math.Inf(1), n-1
	for e := 0; e < n; e++ {
		if v := float64(r.edges[e]) + cost*sv[e]; v < best {
			best, bestE = v, e
		}
	}
	if r.p.LateShare > 0 && bestE == n-1 && sv[n-1]-sv[n] > r.p.LateShare {
		bestE = n
	}
	return r.edges[bestE], sv[bestE]
}

// perDay is the household's learned quiet periods per day, within a
// factor 4 of PerQuiet.
func (r *steps) perDay(s *slot) float64 {
	var n float64
	for b := 0; b < stBuckets; b++ {
		n += float64(binary.LittleEndian.Uint32(s.ext[r.lay.pool+4*b:]))
	}
	days := (1 - math.Pow(r.keep, float64(max(s.n, 1)))) / (1 - r.keep)
	return min(max(n/stOne/days, r.p.PerQuiet/4), r.p.PerQuiet*4)
}

func (r *steps) setAlarmTime(x *evalCtx, s *slot) {
	t, _ := r.alarmTime(s, r.cell(x, s))
	binary.LittleEndian.PutUint16(s.ext[r.lay.t:], uint16(t))
}

func (r *steps) armed(s *slot) bool {
	return s.flags&fInit != 0 && s.n > r.warmDays && len(s.ext) == r.lay.size && r.u16(s, r.lay.t) != 0 && bytes.Equal(s.ext[r.lay.cfor:r.lay.late], r.countsFor[:])
}

// fallingBack reports whether the rule rings at its fixed fallback time
// now: the household's history is not usable yet.
func (r *steps) fallingBack(s *slot) bool {
	return r.fallback > 0 && s.flags&fInit != 0 && len(s.ext) == r.lay.size && !r.armed(s)
}

func (r *steps) tick(x *evalCtx, s *slot) {
	if s.flags&fInit == 0 || len(s.ext) != r.lay.size {
		return
	}
	r.tickQuiet(r, r.lay.off(), x, s)
}

func (r *steps) deadline(x *evalCtx, s *slot) int64 {
	if s.flags&fInit == 0 || len(s.ext) != r.lay.size {
		return 0
	}
	return r.deadlineQuiet(r, r.lay.off(), x, s)
}

// rebaseline restarts the quiet period when the elder is back.
func (r *steps) rebaseline(x *evalCtx, s *slot) {
	if s.flags&fInit == 0 || len(s.ext) != r.lay.size {
		return
	}
	r.rebaselineQuiet(r, r.lay.off(), x, s)
}
