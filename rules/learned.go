package rules

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"

	"github.com/anxin-care/anxin"
)

// LearnedParams are the keys of kind learned: a per-household baseline of
// how long this home is usually quiet at each time of day.
//
// For each local hour of the day the rule keeps a histogram of the "age of
// the last use" at that hour over past days (how long ago water was last
// used, seen at 08:00, 09:00, …), with exponential forgetting so the
// baseline follows slow change. It alarms when the current quiet period is
// improbable for this home at this hour: when fewer than 1 - Sensitivity
// of past lived-in days were quiet this long at this time. A smoothing prior (one
// day's weight of an exponential tail, mean 3 h) keeps a young or narrow
// history from alarming on a merely unusual hour. Use, gaps, decreasing
// readings and fresh data are judged as in no_use; the rule says nothing
// during its warm-up (the fixed rules cover it) and nothing while away.
type LearnedParams struct {
	Field       string   `yaml:"field"`       // total_m3, energy_kwh
	MinDelta    float64  `yaml:"min_delta"`   // rise that counts as use (default 0.01)
	Sensitivity float64  `yaml:"sensitivity"` // 0.5 … 0.99999 (default 0.99)
	WarmUp      Duration `yaml:"warm_up"`     // learning before the first alarm, ≤ 14d (default 14d)
	Memory      Duration `yaml:"memory"`      // forgetting time constant, 7d … 365d (default 60d)
	MinQuiet    Duration `yaml:"min_quiet"`   // never alarm on a shorter quiet period (default 1h)
	FreshWithin Silence  `yaml:"fresh_within"`
	What        string   `yaml:"what"` // "water", "electricity": words in reasons
}

// The learned histograms: 24 hourly bins × len(ageEdges)+1 age buckets of
// uint16 weights (little endian) in slot.ext.
var ageEdges = [...]int64{1, 2, 3, 4, 5, 6, 8, 12, 24} // hours

const (
	learnedBins    = 24
	learnedBuckets = len(ageEdges) + 1
	learnedExt     = learnedBins * learnedBuckets * 2 // 480 bytes
	learnedFull    = 60000                            // steady-state weight of one bin
	priorMean      = 3 * 3600                         // seconds, the smoothing prior's mean
)

func init() {
	registerKind("learned", kindDef{
		params: func() any { return &LearnedParams{} },
		check: func(r *Rule) error {
			p := r.Params.(*LearnedParams)
			if p.Field == "" {
				p.Field = "total_m3"
			}
			if !anxin.ValidID(p.Field) {
				return notName("field", clip(p.Field), fmt.Sprintf("%q is not a field name", clip(p.Field)))
			}
			if p.MinDelta == 0 {
				p.MinDelta = 0.01
			}
			if p.MinDelta < 0 {
				return outside("min_delta", p.MinDelta, "> 0", "must be above 0")
			}
			if p.Sensitivity == 0 {
				p.Sensitivity = 0.99
			}
			if p.Sensitivity < 0.5 || p.Sensitivity > 0.99999 {
				return outside("sensitivity", p.Sensitivity, "0.5..0.99999", "must be between 0.5 and 0.99999")
			}
			if p.WarmUp == 0 {
				p.WarmUp = Duration(14 * 24 * 3600e9)
			}
			if d := p.WarmUp.Seconds(); d < 86400 || d > 14*86400 {
				return outside("warm_up", p.WarmUp, "1d..14d", "must be between 1d and 14d")
			}
			if p.Memory == 0 {
				p.Memory = Duration(60 * 24 * 3600e9)
			}
			if d := p.Memory.Seconds(); d < 7*86400 || d > 365*86400 {
				return outside("memory", p.Memory, "7d..365d", "must be between 7d and 365d")
			}
			if p.MinQuiet == 0 {
				p.MinQuiet = Duration(3600e9)
			}
			if p.MinQuiet < 0 || p.MinQuiet.Seconds() > 48*3600 {
				return outside("min_quiet", p.MinQuiet, "0..48h", "must be between 0 and 48h")
			}
			if p.FreshWithin.IsZero() {
				p.FreshWithin = Silence{Times: 2}
			}
			if p.What == "" {
				p.What = whatOf(p.Field)
			}
			return nil
		},
		compile: func(r *Rule) evaluator {
			p := r.Params.(*LearnedParams)
			days := p.Memory.Seconds() / 86400
			return &learned{p: *p, alpha: 1 - p.Sensitivity, minQuiet: p.MinQuiet.Seconds(),
				warm:    uint16(min(p.WarmUp.Seconds()/3600, math.MaxUint16)),
				keepNum: uint32(days - 1), keepDen: uint32(days), scale: uint32(learnedFull / days)}
		},
		extBytes: learnedExt,
	})
}

// learned slot: v0 baseline (value at the last use), t0 last use, v1/t1
// last reading, t2 reading interval, n hourly samples learned (warm-up),
// ext the histograms.
type learned struct {
	p                LearnedParams
	alpha            float64
	minQuiet         int64
	warm             uint16 // samples (hours) before the first alarm
	keepNum, keepDen uint32 // forgetting per sample of a bin: ×(days-1)/days
	scale            uint32 // weight of one sample
}

func (r *learned) match(m *anxin.Message) bool {
	_, ok := m.Fields[r.p.Field]
	return ok && !m.IsEvent()
}

func (r *learned) fresh(s *slot) int64 { return limit(r.p.FreshWithin, s) }

func (r *learned) observe(x *evalCtx, s *slot, m *anxin.Message, t int64) {
	val := m.Fields[r.p.Field].Float()
	if len(s.ext) != learnedExt {
		s.ext, s.n = make([]byte, learnedExt), 0 // no history: warm up again
	}
	if s.flags&fInit == 0 {
		s.flags |= fInit
		s.v0, s.v1, s.t0, s.t1 = val, val, t, t
		r.tick(x, s)
		return
	}
	if t <= s.t1 {
		return
	}
	gap := x.nextReading(s, t, r.fresh(s))
	if !gap && !x.h.away() {
		// Every full local hour since the last reading, up to this one:
		// how long ago was the last use? Use is dated at the reading that
		// shows it, so a reading at a full hour counts as after it (as a
		// timer at that hour would see it).
		for b := nextHour(x, s.t1); b <= t; b = nextHour(x, b) {
			r.learn(s, x.local(b).Hour(), b-s.t0)
		}
	}
	switch {
	case val < s.v1:
		s.v0 = val // swap or rollover: not use
		if gap {
			s.t0 = t
		}
	case atLeast(val-s.v0, r.p.MinDelta, val):
		s.v0, s.t0 = val, t
		x.clear(s, fOpen, func() string { return fmt.Sprintf("%s used again at %s", capitalize(r.p.What), x.clock(t)) })
	case gap:
		s.t0 = t // no data is not no use
	}
	s.v1, s.t1 = val, t
	r.tick(x, s)
}

// nextHour is the first full local hour after t.
func nextHour(x *evalCtx, t int64) int64 {
	lt := x.local(t)
	return t - int64(lt.Minute()*60+lt.Second()) + 3600
}

func bucketOf(age int64) int {
	for i, e := range ageEdges {
		if age < e*3600 {
			return i
		}
	}
	return len(ageEdges)
}

func (r *learned) learn(s *slot, bin int, age int64) {
	h := s.ext[bin*learnedBuckets*2 : (bin+1)*learnedBuckets*2]
	k := bucketOf(age)
	for i := 0; i < learnedBuckets; i++ {
		c := uint32(binary.LittleEndian.Uint16(h[i*2:]))
		c = (c*r.keepNum + r.keepDen/2) / r.keepDen
		if i == k {
			c += r.scale
		}
		binary.LittleEndian.PutUint16(h[i*2:], uint16(min(c, math.MaxUint16)))
	}
	if s.n < math.MaxUint16 {
		s.n++
	}
}

// quietOdds is the share of past days on which this home, at the hour of
// bin, had gone at least age seconds without use: the bin's histogram
// (uniform inside a bucket) smoothed with one day's weight of an
// exponential prior. Ages of a day or more (the last bucket) are left out:
// the rule models the days the home is lived in. Absences of a day or
// more are what `away` and the fixed 24 h rule are for; counted in, a
// household away two days a month would never be judged in less than a
// day (measured on DAIAD: the 99 % quantile of the age is ~40 h at every
// hour).
func (r *learned) quietOdds(s *slot, bin int, age int64) float64 {
	h := s.ext[bin*learnedBuckets*2 : (bin+1)*learnedBuckets*2]
	var total, above float64
	lo := int64(0)
	for i := 0; i < learnedBuckets-1; i++ {
		c := float64(binary.LittleEndian.Uint16(h[i*2:]))
		hi := ageEdges[i] * 3600
		total += c
		switch {
		case age <= lo:
			above += c
		case age < hi:
			above += c * float64(hi-age) / float64(hi-lo)
		}
		lo = hi
	}
	w := float64(r.scale)
	return (above + w*math.Exp(-float64(age)/priorMean)) / (total + w)
}

// hourStart is the last full local hour at or before t.
func hourStart(x *evalCtx, t int64) int64 {
	lt := x.local(t)
	return t - int64(lt.Minute()*60+lt.Second())
}

// odds is the share of past days as quiet as now at instant t, judged at
// the last full hour B ≤ t: had this home, at B's hour, gone as long as
// B - t0 without use? It is an upper bound of the odds at t (quiet at t
// implies quiet at B) and uses nothing from the future, so a use that
// usually comes at the next full hour cannot make it alarm early;
// decisions therefore fall on full hours, which hourly meters read anyway.
func (r *learned) odds(x *evalCtx, s *slot, t int64) float64 {
	b := hourStart(x, t)
	if b <= s.t0 {
		return 1
	}
	return r.quietOdds(s, x.local(b).Hour(), b-s.t0)
}

// due reports whether the quiet period makes an alarm at instant t.
func (r *learned) due(x *evalCtx, s *slot, t int64) (bool, float64) {
	if t-s.t0 < r.minQuiet || t <= s.t0 {
		return false, 1
	}
	p := r.odds(x, s, t)
	return p < r.alpha, p
}

func (r *learned) armed(s *slot) bool {
	return s.flags&fInit != 0 && s.n >= r.warm && len(s.ext) == learnedExt
}

func (r *learned) tick(x *evalCtx, s *slot) {
	if !r.armed(s) || x.now-s.t1 > r.fresh(s) {
		return
	}
	due, p := r.due(x, s, x.now)
	if !due {
		return
	}
	x.raise(s, fOpen, func() string {
		b := hourStart(x, x.now)
		return fmt.Sprintf("no %s used since %s (%s); on %s of days this home has used %s within %s by %s",
			r.p.What, x.clock(s.t0), span(x.now-s.t0), percent(1-p), r.p.What, span(b-s.t0), x.local(b).Format("15:04"))
	}, func() anxin.Cause {
		return anxin.Cause{Code: anxin.CauseNoUseUnusual, Field: r.p.Field, Since: causeTime(s.t0), For: x.lasted(s.t0),
			Share: 1 - p, Usual: causeTime(hourStart(x, x.now))}
	})
}

// percent formats a share for people: "95 %", "99.7 %".
func percent(f float64) string {
	v := f * 100
	if v >= 99 {
		v = math.Floor(v*10) / 10
		if v >= 100 {
			v = 99.9
		}
		return strconv.FormatFloat(v, 'f', -1, 64) + " %"
	}
	return strconv.FormatFloat(math.Floor(v), 'f', -1, 64) + " %"
}

// deadline is the first instant, while the data is fresh, at which the
// quiet period becomes improbable: the odds change only at full hours.
func (r *learned) deadline(x *evalCtx, s *slot) int64 {
	if !r.armed(s) || s.flags&(fOpen|fMute1) != 0 || x.suppressed() {
		return 0
	}
	end := s.t1 + r.fresh(s) // no data after this: no judgement
	for seg := max(x.now, s.t0+r.minQuiet, s.t1); seg <= end; seg = nextHour(x, seg) {
		if ok, _ := r.due(x, s, seg); ok {
			return x.windowed(seg)
		}
	}
	return 0
}

// rebaseline restarts the quiet period when the elder is back.
func (r *learned) rebaseline(x *evalCtx, s *slot) {
	if s.flags&fInit != 0 {
		s.t0, s.v0 = x.now, s.v1
	}
}
