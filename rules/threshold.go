package rules

import (
	"fmt"

	"github.com/anxin-care/anxin"
)

// ThresholdParams are the keys of kind threshold: Field below Below (clears
// at or above ClearAbove) or above Above (clears at or below ClearBelow),
// for at least For (0: at once). The gap between the two is the hysteresis
// that keeps a value near the limit from flapping. Boolean fields count as
// 1 and 0 (battery_low: above 0.5).
type ThresholdParams struct {
	Field      string   `yaml:"field"`
	Below      *float64 `yaml:"below"`
	ClearAbove *float64 `yaml:"clear_above"`
	Above      *float64 `yaml:"above"`
	ClearBelow *float64 `yaml:"clear_below"`
	For        Duration `yaml:"for"`
	What       string   `yaml:"what"` // "battery": words in reasons
	Unit       string   `yaml:"unit"` // "%", "°C"
}

func init() {
	registerKind("threshold", kindDef{
		params: func() any { return &ThresholdParams{} },
		check: func(r *Rule) error {
			p := r.Params.(*ThresholdParams)
			if p.Field == "" {
				return absent("field", "missing or not a field name")
			}
			if !anxin.ValidID(p.Field) {
				return notName("field", clip(p.Field), "missing or not a field name")
			}
			// a clear_ key on the wrong side is named as written (the
			// defaults below fill the other side)
			switch {
			case p.Below != nil && p.ClearBelow != nil:
				return clash("clear_below", "clear_below does not go with below (clear_above is the level that clears)", "below")
			case p.Above != nil && p.ClearAbove != nil:
				return clash("clear_above", "clear_above does not go with above (clear_below is the level that clears)", "above")
			}
			switch {
			case p.Below == nil && p.Above == nil:
				return absent("below", "set exactly one of below and above", "below", "above")
			case p.Below != nil && p.Above != nil:
				return clash("below", "set exactly one of below and above", "above")
			case p.Below != nil && p.ClearAbove == nil:
				p.ClearAbove = p.Below
			case p.Above != nil && p.ClearBelow == nil:
				p.ClearBelow = p.Above
			}
			// the clash cases above leave one side's clear_ key set
			if p.Below != nil && *p.ClearAbove < *p.Below {
				return because("clear_above", reasonClearAbove, "", "", "must be at least below")
			}
			if p.Above != nil && *p.ClearBelow > *p.Above {
				return because("clear_below", reasonClearBelow, "", "", "must be at most above")
			}
			if p.For < 0 {
				return outside("for", p.For, ">= 0s", "must not be negative")
			}
			if p.What == "" {
				p.What = p.Field
			}
			return nil
		},
		compile: func(r *Rule) evaluator {
			p := r.Params.(*ThresholdParams)
			return &threshold{p: *p, forSec: p.For.Seconds()}
		},
	})
}

// threshold slot: t0 beyond the limit since (0: not), v1/t1 last reading.
type threshold struct {
	p      ThresholdParams
	forSec int64
}

func (r *threshold) match(m *anxin.Message) bool {
	_, ok := m.Fields[r.p.Field]
	return ok && !m.IsEvent()
}

func (r *threshold) observe(x *evalCtx, s *slot, m *anxin.Message, t int64) {
	if s.flags&fInit != 0 && t < s.t1 {
		return
	}
	fv := m.Fields[r.p.Field]
	v := fv.Float()
	s.flags |= fInit
	s.v1, s.t1 = v, t
	if fv.IsBool() {
		s.flags |= fAux // a flag like battery_low: reasons say "reports", not a number
	} else {
		s.flags &^= fAux
	}
	var beyond, cleared bool
	if r.p.Below != nil {
		beyond, cleared = v < *r.p.Below, v >= *r.p.ClearAbove
	} else {
		beyond, cleared = v > *r.p.Above, v <= *r.p.ClearBelow
	}
	switch {
	case cleared:
		s.t0 = 0
		x.clear(s, fOpen, func() string {
			if s.flags&fAux != 0 {
				return fmt.Sprintf("%s no longer reports %s", capitalize(x.deviceWords(s.dev)), r.p.What)
			}
			return fmt.Sprintf("%s of %s back to %s%s", capitalize(r.p.What), x.deviceWords(s.dev), number(v), r.unit())
		})
	case beyond && s.t0 == 0:
		s.t0 = t
	}
	r.tick(x, s)
}

func (r *threshold) unit() string {
	if r.p.Unit == "" {
		return ""
	}
	return " " + r.p.Unit
}

func (r *threshold) tick(x *evalCtx, s *slot) {
	if s.t0 == 0 || x.now-s.t0 < r.forSec {
		return
	}
	lim, dir := r.p.Below, "below"
	if lim == nil {
		lim, dir = r.p.Above, "above"
	}
	x.raise(s, fOpen, func() string {
		if s.flags&fAux != 0 {
			return fmt.Sprintf("%s reports %s", capitalize(x.deviceWords(s.dev)), r.p.What)
		}
		reason := fmt.Sprintf("%s of %s at %s%s (%s %s%s)", capitalize(r.p.What), x.deviceWords(s.dev),
			number(s.v1), r.unit(), dir, number(*lim), r.unit())
		if r.forSec > 0 {
			reason += " for " + span(x.now-s.t0)
		}
		return reason
	}, func() anxin.Cause {
		c := anxin.Cause{Code: anxin.CauseThreshold, Field: r.p.Field, At: causeTime(s.t1), Since: causeTime(s.t0),
			Value: s.v1, Limit: *lim, Above: dir == "above", Flag: s.flags&fAux != 0, Unit: r.p.Unit}
		if r.forSec > 0 {
			c.For = x.lasted(s.t0)
		}
		return c
	})
}

func (r *threshold) deadline(x *evalCtx, s *slot) int64 {
	if s.t0 == 0 || r.forSec == 0 || s.flags&(fOpen|fMute1) != 0 {
		return 0
	}
	return x.windowed(s.t0 + r.forSec)
}
