package rules

import (
	"fmt"
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
		return fmt.Errorf("field: %q is not a field name", clip(p.Field))
	}
	if p.AlsoField != "" && (!anxin.ValidID(p.AlsoField) || p.AlsoField == p.Field) {
		return fmt.Errorf("also_field: %q is not a second field name", clip(p.AlsoField))
	}
	if p.MinDelta == 0 {
		p.MinDelta = 0.01
	}
	if p.AlsoMinDelta == 0 {
		p.AlsoMinDelta = 0.05
	}
	if p.MinDelta < 0 || p.AlsoMinDelta < 0 {
		return fmt.Errorf("min_delta: must be above 0")
	}
	if p.Cost == 0 {
		p.Cost = cost
	}
	if p.Cost < Duration(time.Hour) || p.Cost > Duration(1000000*time.Hour) {
		return fmt.Errorf("cost: must be between 1h and 1000000h")
	}
	if p.Shrink == 0 {
		p.Shrink = 5
	}
	if p.Shrink < 0.1 || p.Shrink > 1000 {
		return fmt.Errorf("shrink: must be between 0.1 and 1000")
	}
	if p.Tail == nil {
		t := 1.0
		p.Tail = &t
	}
	if *p.Tail < 0 || *p.Tail > 100 {
		return fmt.Errorf("tail: must be between 0 and 100")
	}
	if p.WarmUp == 0 {
		p.WarmUp = Duration(14 * 24 * time.Hour)
	}
	if d := p.WarmUp.Seconds(); d < 86400 || d > 60*86400 {
		return fmt.Errorf("warm_up: must be between 1d and 60d")
	}
	if p.Memory == 0 {
		p.Memory = Duration(60 * 24 * time.Hour)
	}
	if d := p.Memory.Seconds(); d < 7*86400 || d > 365*86400 {
		return fmt.Errorf("memory: must be between 7d and 365d")
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
		return fmt.Errorf("gaps: %q is not bridge or restart", clip(p.Gaps))
	}
	if p.AfterGap == 0 && p.Gaps == "bridge" {
		p.AfterGap = Duration(2 * time.Hour)
	}
	if p.AfterGap < 0 || p.AfterGap > Duration(24*time.Hour) {
		return fmt.Errorf("after_gap: must be between 0 and 24h")
	}
	if p.FreshWithin.IsZero() {
		p.FreshWithin = Silence{Times: 2}
	}
	switch {
	case p.Split == "":
		p.Split = "weekend"
	case p.Split == "weekend" || p.Split == "before" || p.Split == "none" || (week && p.Split == "week"):
	case week:
		return fmt.Errorf("split: %q is not weekend, before, none or week", clip(p.Split))
	default:
		return fmt.Errorf("split: %q is not weekend, before or none", clip(p.Split))
	}
	if p.Neighbours < 0 || p.Neighbours > 1 {
		return fmt.Errorf("neighbours: must be between 0 and 1")
	}
	return nil
}

// checkAlarm checks the fallback and the silent-meter alarm and sets the
// words of reasons: fallback … what.
func (p *QuietParams) checkAlarm(r *Rule) error {
	if p.Fallback != 0 && (p.Fallback < Duration(time.Hour) || p.Fallback > Duration(36*time.Hour)) {
		return fmt.Errorf("fallback: must be between 1h and 36h")
	}
	if !p.SilentAfter.IsZero() {
		if p.AlsoField != "" {
			return fmt.Errorf("silent_after: not with also_field (a no_use rule per meter watches silence)")
		}
		if err := checkSilentRule(r, &p.SilentRule); err != nil {
			return err
		}
	} else if p.SilentRule != "" {
		return fmt.Errorf("silent_rule: needs silent_after")
	}
	if p.What == "" {
		p.What = whatOf(p.Field)
		if p.AlsoField != "" {
			p.What = "water or electricity"
		}
	}
	return nil
}
