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
}

const (
	stMaxSteps = 3
	stBuckets  = stMaxSteps + 1           // below the first alarm time, between, above the last
	stCells    = 168                      // 24 hours × 7 days (split: week); 48 used otherwise
	stHist     = stCells * stBuckets * 2  // uint16 weights
	stSig      = stHist                   // 2 signals × {base, last f64; tLast, iv i64}
	stDay      = stSig + 64               // int32 local day of the last forgetting
	stHold     = stDay + 4                // int64 no alarm before
	stT        = stHold + 8               // uint16 alarm time of the current period, minutes
	stSeen     = stT + 2                  // uint8 signals seen (bits)
	stPool     = stSeen + 2               // uint32 × stBuckets: the household's cells summed
	stAged     = stPool + 4*stBuckets     // int32 local day the counts were last forgotten
	stFor      = stAged + 4               // version byte, then the alarm times (uint16 minutes × 3) the counts are for
	stExtV1    = stFor + 1 + 2*stMaxSteps // 1451 bytes: the layout before life_delta
	stLate     = stExtV1                  // the late clock (quietOff.late, lateSize bytes)
	stExt      = stLate + lateSize        // 1470 bytes
	stVersion  = 1                        // layout of the counts
	stOne      = 64                       // weight of one sample
	stPrior    = 4 * 60                   // minutes, the prior's mean
	stMaxT     = 36 * 60                  // minutes, the longest alarm time
	stAgeDays  = 30                       // days between two forgettings
)

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
				return fmt.Errorf("alarm_times: 1 to %d alarm times, e.g. [8h, 24h]", stMaxSteps)
			}
			for i, d := range p.AlarmTimes {
				if d%Duration(time.Minute) != 0 || d < Duration(30*time.Minute) || d > Duration(stMaxT*time.Minute) || (i > 0 && d <= p.AlarmTimes[i-1]) {
					return fmt.Errorf("alarm_times: whole minutes, ascending, within [30m, 36h]")
				}
			}
			if p.PerQuiet < 0 || p.PerQuiet > 1000 {
				return fmt.Errorf("per_quiet: must be between 0 and 1000")
			}
			if p.LateShare < 0 || p.LateShare >= 1 || (p.LateShare > 0 && len(p.AlarmTimes) < 2) {
				return fmt.Errorf("late_share: must be in [0, 1), with at least two alarm times")
			}
			if p.LifeDelta < 0 || (p.LifeDelta > 0 && !(p.LifeDelta < p.MinDelta-1e-12)) {
				return fmt.Errorf("life_delta: must be above 0 and below min_delta (%g)", p.MinDelta)
			}
			return p.checkAlarm(r)
		},
		compile: func(r *Rule) evaluator {
			p := r.Params.(*StepsParams)
			h := &steps{p: *p}
			h.quiet = newQuiet(&h.p.QuietParams)
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
		extBytes: stExt,
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
	if len(ext) != stExt && len(ext) != stExtV1 {
		return false
	}
	return stOff.sane(ext, 2) && (len(ext) == stExtV1 || stOff.saneLate(ext)) && int32(binary.LittleEndian.Uint32(ext[stDay:])) >= 0 &&
		int32(binary.LittleEndian.Uint32(ext[stAged:])) >= 0 &&
		int64(binary.LittleEndian.Uint16(ext[stT:])) <= stMaxT
}

// stAdopt takes an ext saved before the late clock: it is appended unset
// (the clock starts with the current quiet period, quiet.lateOf).
func stAdopt(_ evaluator, ext []byte) []byte {
	if len(ext) == stExtV1 {
		return append(ext, make([]byte, lateSize)...)
	}
	return ext
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
	countsFor [1 + 2*stMaxSteps]byte // stVersion and the alarm times, as in ext
}

// stepsSilent is steps with silent_after: it raises a second alarm.
type stepsSilent struct{ *steps }

func (r stepsSilent) second() alarmID { return r.watch.id() }

// stepsHH is steps over two signals: one slot per household.
type stepsHH struct{ *steps }

func (stepsHH) perHousehold() {}

func (r *steps) u16(s *slot, off int) uint16 { return binary.LittleEndian.Uint16(s.ext[off:]) }

// stOff is where steps keeps the quiet clock's state.
var stOff = quietOff{stSig, stSeen, stHold, stLate}

// alarmAt is the alarm time of the current period, minutes.
func (r *steps) alarmAt(s *slot) int64 { return int64(r.u16(s, stT)) }

func (r *steps) observe(x *evalCtx, s *slot, m *anxin.Message, t int64) {
	if len(s.ext) != stExt {
		s.ext, s.n = make([]byte, stExt), 0 // no history: warm up again
		s.flags &^= fInit
	}
	if !bytes.Equal(s.ext[stFor:stLate], r.countsFor[:]) {
		// counts of another layout or other alarm_times (a changed rule,
		// a new tier): they mean nothing here, learn again
		clear(s.ext[:stHist])
		clear(s.ext[stPool:stFor])
		copy(s.ext[stFor:stLate], r.countsFor[:])
		s.n = 0
	}
	if r.late == 0 {
		// a variant without life_delta (a tier's override, a changed
		// rule) runs no late clock: it leaves none behind, or a variant
		// with one would take its last use for weeks ago and ring at once
		clear(s.ext[stLate:])
	}
	for k := 0; k < r.nsig; k++ {
		f, ok := m.Fields[r.fields[k]]
		if ok {
			r.observeSignal(r, stOff, x, s, k, f.Float(), t)
		}
	}
	r.tick(x, s)
}

// forget ages the histograms once per local day (and counts days with data
// for the warm-up).
func (r *steps) forget(x *evalCtx, s *slot, t int64) {
	day, last, ok := newDay(x, s, t, stDay)
	if !ok {
		return
	}
	aged := int32(binary.LittleEndian.Uint32(s.ext[stAged:]))
	if last == 0 || aged == 0 {
		binary.LittleEndian.PutUint32(s.ext[stAged:], uint32(day))
		return
	}
	// Forgotten every 30 days at once: a daily factor so close to 1 rounds
	// a count of a few samples back to itself (with memory 365d, every
	// count under 183, about 3 samples, would never fade).
	if day-aged < stAgeDays {
		return
	}
	binary.LittleEndian.PutUint32(s.ext[stAged:], uint32(day))
	fadeCounts(s.ext[:stHist], math.Pow(r.keep, float64(min(day-aged, 3650))))
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
	po := stPool + 4*b
	binary.LittleEndian.PutUint32(s.ext[po:], binary.LittleEndian.Uint32(s.ext[po:])+stOne)
}

// pool recomputes the household's summed histogram from the cells.
func (r *steps) pool(s *slot) {
	var sum [stBuckets]uint32
	for i := 0; i < stHist; i += 2 {
		sum[(i/2)%stBuckets] += uint32(binary.LittleEndian.Uint16(s.ext[i:]))
	}
	for b, v := range sum {
		binary.LittleEndian.PutUint32(s.ext[stPool+4*b:], v)
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
		nHH += float64(binary.LittleEndian.Uint32(s.ext[stPool+4*b:]))
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
		n += float64(binary.LittleEndian.Uint32(s.ext[stPool+4*b:]))
	}
	days := (1 - math.Pow(r.keep, float64(max(s.n, 1)))) / (1 - r.keep)
	return min(max(n/stOne/days, r.p.PerQuiet/4), r.p.PerQuiet*4)
}

func (r *steps) setAlarmTime(x *evalCtx, s *slot) {
	t, _ := r.alarmTime(s, r.cell(x, s))
	binary.LittleEndian.PutUint16(s.ext[stT:], uint16(t))
}

func (r *steps) armed(s *slot) bool {
	return s.flags&fInit != 0 && s.n > r.warmDays && len(s.ext) == stExt && r.u16(s, stT) != 0 && bytes.Equal(s.ext[stFor:stLate], r.countsFor[:])
}

// fallingBack reports whether the rule rings at its fixed fallback time
// now: the household's history is not usable yet.
func (r *steps) fallingBack(s *slot) bool {
	return r.fallback > 0 && s.flags&fInit != 0 && len(s.ext) == stExt && !r.armed(s)
}

func (r *steps) tick(x *evalCtx, s *slot) {
	if s.flags&fInit == 0 || len(s.ext) != stExt {
		return
	}
	r.tickQuiet(r, stOff, x, s)
}

func (r *steps) deadline(x *evalCtx, s *slot) int64 {
	if s.flags&fInit == 0 || len(s.ext) != stExt {
		return 0
	}
	return r.deadlineQuiet(r, stOff, x, s)
}

// rebaseline restarts the quiet period when the elder is back.
func (r *steps) rebaseline(x *evalCtx, s *slot) {
	if s.flags&fInit == 0 || len(s.ext) != stExt {
		return
	}
	r.rebaselineQuiet(r, stOff, x, s)
}
