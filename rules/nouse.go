package rules

import (
	"fmt"

	"github.com/anxin-care/anxin"
)

// NoUseParams are the keys of kind no_use: a cumulative meter field rose by
// less than MinDelta since the last use, and that use is For ago.
//
// Judged only on fresh data: the alarm is raised only while the last
// reading is at most FreshWithin old; a meter with no reading for
// SilentAfter raises the SilentRule alarm (installers, info) instead. A gap
// (readings more than FreshWithin apart) restarts the quiet period when
// readings return — a gap is no data, never no use — unless BridgeGaps says
// an unchanged counter after a gap proves the gap was quiet too. A reading
// lower than the one before (meter swap, rollover) is not use: the baseline
// moves to it.
type NoUseParams struct {
	Field       string   `yaml:"field"`        // total_m3, energy_kwh
	MinDelta    float64  `yaml:"min_delta"`    // rise that counts as use, in the field's unit
	For         Duration `yaml:"for"`          // quiet period that raises the alarm
	FreshWithin Silence  `yaml:"fresh_within"` // default 2x: twice the last reading interval
	SilentAfter Silence  `yaml:"silent_after"` // "25h", or "3x"; default: fresh_within
	SilentRule  string   `yaml:"silent_rule"`  // name of the silent-meter alarm (device_silent)
	BridgeGaps  bool     `yaml:"bridge_gaps"`
	What        string   `yaml:"what"` // "water", "electricity": words in reasons
}

func init() {
	registerKind("no_use", kindDef{
		params: func() any { return &NoUseParams{} },
		check: func(r *Rule) error {
			p := r.Params.(*NoUseParams)
			if p.Field == "" {
				return absent("field", "missing (total_m3, energy_kwh)", "total_m3", "energy_kwh")
			}
			if !anxin.ValidID(p.Field) {
				return notName("field", clip(p.Field), fmt.Sprintf("%q is not a field name", clip(p.Field)))
			}
			if p.MinDelta <= 0 {
				return outside("min_delta", p.MinDelta, "> 0", "must be above 0")
			}
			if p.For <= 0 {
				return outside("for", p.For, "> 0s", "must be a positive duration")
			}
			if p.FreshWithin.IsZero() {
				p.FreshWithin = Silence{Times: 2}
			}
			if p.SilentAfter.IsZero() {
				p.SilentAfter = p.FreshWithin
			}
			if err := checkSilentRule(r, &p.SilentRule); err != nil {
				return err
			}
			if p.What == "" {
				p.What = whatOf(p.Field)
			}
			return nil
		},
		compile: func(r *Rule) evaluator {
			p := r.Params.(*NoUseParams)
			return &noUse{p: *p, forSec: p.For.Seconds()}
		},
	})
}

// whatOf is the default words for what a quiet meter's field measures, in
// reasons: water for total_m3, else electricity.
func whatOf(field string) string {
	if field != "total_m3" {
		return "electricity"
	}
	return "water"
}

// checkSilentRule defaults and checks the name of a silent-meter alarm
// (no_use, hazard with silent_after).
func checkSilentRule(r *Rule, name *string) error {
	if *name == "" {
		*name = "device_silent"
	}
	if !anxin.ValidID(*name) {
		return notName("silent_rule", clip(*name), fmt.Sprintf("%q is not [A-Za-z0-9_-]{1,64}", clip(*name)))
	}
	if *name == r.Name {
		return because("silent_rule", reasonSameName, clip(*name), "", "must differ from the rule's name")
	}
	return nil
}

// noUse slot: v0 baseline (value at the last use), t0 last use (start of the
// quiet period), v1/t1 last reading, t2 interval before the last reading.
type noUse struct {
	p      NoUseParams
	forSec int64
}

func (r *noUse) match(m *anxin.Message) bool {
	_, ok := m.Fields[r.p.Field]
	return ok && !m.IsEvent()
}

func (r *noUse) second() alarmID { return silentWatch{r.p.SilentAfter, r.p.SilentRule}.id() }

// silentWatch is the silent-meter alarm of no_use, shared with hazard: bit
// fOpen2 of the slot, raised under rule (device_silent, installers, info)
// when the meter has sent no reading for after, closed by its next reading.
type silentWatch struct {
	after Silence
	rule  string
}

func (w silentWatch) id() alarmID {
	return alarmID{Rule: w.rule, Kind: "device_silent", Severity: anxin.SeverityInfo, Route: anxin.RouteInstaller}
}

// heard closes the alarm: the meter sent a reading at t.
func (w silentWatch) heard(x *evalCtx, s *slot, t int64) {
	x.clear(s, fOpen2, func() string {
		return fmt.Sprintf("%s is sending readings again (%s)", capitalize(x.deviceWords(s.dev)), x.clock(t))
	})
}

// silent reports whether the meter, last heard at last with reading
// interval iv, is silent at x.now, and raises the alarm if so.
func (w silentWatch) silent(x *evalCtx, s *slot, last, iv int64) bool {
	if x.now < w.at(x, last, iv) {
		return false
	}
	x.raise(s, fOpen2, func() string {
		return fmt.Sprintf("%s has sent no reading since %s (%s); it may need a new battery or a visit",
			capitalize(x.deviceWords(s.dev)), x.clock(last), span(x.now-last))
	}, func() anxin.Cause {
		return anxin.Cause{Code: anxin.CauseDeviceSilent, Since: causeTime(last), For: x.lasted(last)}
	})
	return true
}

// until is the instant the meter turns silent (0 while the alarm is open
// or muted: nothing to wait for).
func (w silentWatch) until(x *evalCtx, s *slot, last, iv int64) int64 {
	if s.flags&(fOpen2|fMute2) != 0 {
		return 0
	}
	return w.at(x, last, iv)
}

// at is the instant the meter, last heard at last with reading interval
// iv, turns silent: after its limit, and the slack of a last-seen time
// from the store (evalCtx.slack).
func (w silentWatch) at(x *evalCtx, last, iv int64) int64 {
	return last + limitIv(w.after, iv) + x.slack(last)
}

// limit resolves a Silence against the slot's reading interval (t2). Until
// two readings give an interval, an hour is assumed; under a minute counts
// as a minute, so a burst of readings does not make a hair trigger.
func limit(l Silence, s *slot) int64 { return limitIv(l, s.t2) }

// limitIv is limit with the reading interval iv (0: not known yet).
func limitIv(l Silence, iv int64) int64 {
	if l.Dur > 0 {
		return l.Dur.Seconds()
	}
	return int64(float64(usualInterval(iv)) * l.Times)
}

// usualInterval is the reading interval a limit counts from for a slot's
// interval iv: an hour while it is not known (0), a minute at least.
func usualInterval(iv int64) int64 {
	if iv == 0 {
		return assumedInterval
	}
	return max(iv, 60)
}

// interval tracks the meter's usual reading interval as a moving average
// that starts from an assumed hour, so neither one gap, nor one quick extra
// reading, nor an irregular first reading redefines "fresh".
func interval(s *slot, iv int64) {
	if s.t2 == 0 {
		s.t2 = assumedInterval
	}
	s.t2 = (s.t2*3 + iv) / 4
}

// nextReading takes a slot's next reading, at t after its last (s.t1): it
// reports whether the two are further apart than fresh (a gap; after a
// last reading from the store, also than the slack for what a crash
// forgot) and moves the reading interval, but not after such a reading,
// which may be older than the truth.
func (x *evalCtx) nextReading(s *slot, t, fresh int64) (gap bool) {
	slack := x.slack(s.t1)
	gap = t-s.t1 > fresh+slack
	if slack == 0 {
		interval(s, t-s.t1)
	}
	return gap
}

// assumedInterval is the reading interval assumed before readings show it.
const assumedInterval = 3600

func (r *noUse) watch() silentWatch  { return silentWatch{r.p.SilentAfter, r.p.SilentRule} }
func (r *noUse) fresh(s *slot) int64 { return limit(r.p.FreshWithin, s) }

func (r *noUse) observe(x *evalCtx, s *slot, m *anxin.Message, t int64) {
	val := m.Fields[r.p.Field].Float()
	if s.flags&fInit == 0 {
		s.flags |= fInit
		s.v0, s.v1, s.t0, s.t1 = val, val, t, t
		r.tick(x, s)
		return
	}
	if t <= s.t1 {
		return // late or duplicate reading: the state already knows later
	}
	gap := x.nextReading(s, t, r.fresh(s)) && !r.p.BridgeGaps
	r.watch().heard(x, s, t)
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
		s.t0 = t // no data is not no use: the quiet period restarts here
	}
	s.v1, s.t1 = val, t
	r.tick(x, s)
}

func (r *noUse) tick(x *evalCtx, s *slot) {
	if s.flags&fInit == 0 {
		return
	}
	if r.watch().silent(x, s, s.t1, s.t2) {
		return
	}
	if x.now-s.t0 >= r.forSec && x.now-s.t1 <= r.fresh(s) {
		x.raise(s, fOpen, func() string {
			return fmt.Sprintf("no %s used since %s (%s)", r.p.What, x.clock(s.t0), span(x.now-s.t0))
		}, func() anxin.Cause {
			return anxin.Cause{Code: anxin.CauseNoUse, Field: r.p.Field, Since: causeTime(s.t0), For: x.lasted(s.t0)}
		})
	}
}

func (r *noUse) deadline(x *evalCtx, s *slot) int64 {
	if s.flags&fInit == 0 {
		return 0
	}
	d := r.watch().until(x, s, s.t1, s.t2)
	if s.flags&(fOpen|fMute1) == 0 && !x.suppressed() {
		// Only while the data will still be fresh, and the meter not yet
		// silent (then tick raises device_silent instead and would leave
		// this deadline standing).
		// A due instant already past (state restored after downtime) is
		// judged now: by then the meter may be silent.
		if p := max(x.windowed(s.t0+r.forSec), x.now); p <= s.t1+r.fresh(s) && p < r.watch().at(x, s.t1, s.t2) && (d == 0 || p < d) {
			d = p
		}
	}
	return d
}

// rebaseline restarts the quiet period when the elder is back.
func (r *noUse) rebaseline(x *evalCtx, s *slot) {
	if s.flags&fInit != 0 {
		s.t0, s.v0 = x.now, s.v1
	}
}
