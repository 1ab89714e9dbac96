package rules

import (
	"fmt"
	"time"

	"github.com/anxin-care/anxin"
)

// ContinuousParams are the keys of kind continuous: water running for For
// (a tap left open, or a fall in the shower). Two ways to see it, so the
// rule works for meters with and without a flow field:
//   - level: Field (flow_lpm) stayed above Above; a reading is taken to hold
//     until the next one or MaxGap, whichever is first;
//   - rising: Counter (total_m3) rose at MinRate (counter units per hour) or
//     faster in each of the last Intervals (and at least For) consecutive
//     reading intervals, none longer than MaxGap. Judged on readings only:
//     hourly cumulative data (DAIAD) needs this mode. A rate, not a rise per
//     interval, so the rule means the same for meters read every 15 min or
//     every hour.
//
// A reading with Field uses level mode, one with only Counter rising mode.
type ContinuousParams struct {
	Field     string   `yaml:"field"`
	Above     float64  `yaml:"above"`
	Counter   string   `yaml:"counter"`
	MinRate   float64  `yaml:"min_rate"` // counter units per hour: 0.12 m³/h is 2 l/min
	Intervals int      `yaml:"intervals"`
	For       Duration `yaml:"for"`
	MaxGap    Duration `yaml:"max_gap"`
	What      string   `yaml:"what"` // "water running": words in reasons
}

func init() {
	registerKind("continuous", kindDef{
		params: func() any { return &ContinuousParams{} },
		check: func(r *Rule) error {
			p := r.Params.(*ContinuousParams)
			if p.Field == "" && p.Counter == "" {
				return absent("field", "set field (flow_lpm) and/or counter (total_m3)", "field", "counter")
			}
			if p.Field != "" && !anxin.ValidID(p.Field) {
				return notName("field", clip(p.Field), fmt.Sprintf("%q is not a field name", clip(p.Field)))
			}
			if p.Counter != "" && !anxin.ValidID(p.Counter) {
				return notName("counter", clip(p.Counter), fmt.Sprintf("%q is not a field name", clip(p.Counter)))
			}
			if p.Counter != "" && p.MinRate <= 0 {
				return outside("min_rate", p.MinRate, "> 0", "must be above 0 when counter is set")
			}
			if p.Intervals < 0 {
				return outside("intervals", p.Intervals, ">= 0", "must not be negative")
			}
			if p.Intervals == 0 {
				p.Intervals = 1
			}
			if p.For <= 0 {
				return outside("for", p.For, "> 0s", "must be a positive duration")
			}
			if p.MaxGap == 0 {
				p.MaxGap = Duration(90 * time.Minute)
			}
			if p.MaxGap < 0 {
				return outside("max_gap", p.MaxGap, "> 0s", "must be positive")
			}
			if p.What == "" {
				p.What = "water running"
			}
			return nil
		},
		compile: func(r *Rule) evaluator {
			p := r.Params.(*ContinuousParams)
			return &continuous{p: *p, forSec: p.For.Seconds(), gapSec: p.MaxGap.Seconds()}
		},
	})
}

// continuous slot: t0 running since (0: not running), v1/t1 last reading,
// n rising intervals in a row; fMode set while the last reading was level
// mode.
type continuous struct {
	p      ContinuousParams
	forSec int64
	gapSec int64
}

func (r *continuous) match(m *anxin.Message) bool {
	if m.IsEvent() {
		return false
	}
	if r.p.Field != "" {
		if _, ok := m.Fields[r.p.Field]; ok {
			return true
		}
	}
	if r.p.Counter != "" {
		if _, ok := m.Fields[r.p.Counter]; ok {
			return true
		}
	}
	return false
}

func (r *continuous) observe(x *evalCtx, s *slot, m *anxin.Message, t int64) {
	if s.flags&fInit != 0 && t <= s.t1 {
		return
	}
	gap := s.flags&fInit == 0 || t-s.t1 > r.gapSec+x.slack(s.t1)
	running := false
	if v, ok := m.Fields[r.p.Field]; ok && r.p.Field != "" {
		running = v.Float() > r.p.Above
		if running && (gap || s.t0 == 0 || s.flags&fMode == 0) {
			s.t0 = t
		}
		s.flags |= fMode
		s.v1 = v.Float()
	} else {
		c := m.Fields[r.p.Counter].Float()
		running = !gap && s.flags&fMode == 0 && atLeast(c-s.v1, r.p.MinRate*float64(t-s.t1)/3600, c)
		if running {
			if s.t0 == 0 {
				s.t0, s.n = s.t1, 0
			}
			s.n++
		}
		s.flags &^= fMode
		s.v1 = c
	}
	s.flags |= fInit
	s.t1 = t
	if !running {
		s.t0, s.n = 0, 0
		x.clear(s, fOpen, func() string { return fmt.Sprintf("%s stopped by %s", capitalize(r.p.What), x.clock(t)) })
		return
	}
	r.tick(x, s)
}

func (r *continuous) tick(x *evalCtx, s *slot) {
	if s.t0 == 0 {
		return
	}
	if s.flags&fMode != 0 {
		if x.now-s.t1 > r.gapSec || x.now-s.t0 < r.forSec {
			return
		}
	} else if s.t1-s.t0 < r.forSec || int(s.n) < r.p.Intervals {
		return
	}
	x.raise(s, fOpen, func() string { return fmt.Sprintf("%s for %s (since %s)", r.p.What, span(x.now-s.t0), x.clock(s.t0)) },
		func() anxin.Cause {
			return anxin.Cause{Code: anxin.CauseRunning, Field: r.p.Field, Since: causeTime(s.t0), For: x.lasted(s.t0)}
		})
}

func (r *continuous) deadline(x *evalCtx, s *slot) int64 {
	if s.t0 == 0 || s.flags&fMode == 0 || s.flags&(fOpen|fMute1) != 0 {
		return 0
	}
	d := x.windowed(s.t0 + r.forSec)
	if d > s.t1+r.gapSec {
		return 0 // the last reading is too old to vouch for then
	}
	return d
}
