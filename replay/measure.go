package replay

import (
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/rules"
)

// MeasureOptions configure Measure: the metric of docs/detection.md.
type MeasureOptions struct {
	Rules *rules.Config
	// Stops are the emergencies, household → instants of the elder's last
	// use. Each must be the time of a reading of that household; the others
	// are not applied (counted in Unmatched). They may overlap: each one is
	// measured in a fork of the engine, the real replay stays untouched.
	Stops  map[string][]time.Time
	Window time.Duration // an emergency lasts this long; 0: DefaultWindow
	// UseLitres is the rise that ends a quiet period when false alarms
	// are counted once per quiet period, for a rule whose own min_delta
	// is not known; a no-use rule of field total_m3 uses its own
	// (min_delta × 1000): a rule that counts 1 l as use rings once per
	// its own quiet period, several times in one of 3 l.
	UseLitres float64
	// GapAfter is the interval between readings that counts as a data
	// gap (0: 2 h); an alarm in a quiet period with a gap after its last
	// use is counted apart as "after a gap".
	GapAfter time.Duration
	// DripLitresPerHour, when set, lets the counter rise that much an hour
	// during each emergency instead of freezing it: a tap or a cistern
	// that keeps dripping after the elder fell. A rule that counts the
	// drip as use never rings.
	DripLitresPerHour float64
}

// Outcome is one emergency: for each no-use rule (Measurement.Rules order)
// the delay in hours from the last use to the alarm, +Inf when no alarm
// came within the window.
type Outcome struct {
	Household string
	StopAt    time.Time
	DelayH    []float64
}

// HouseholdFalse is one household's real replay: its local days with data
// and, per no-use rule, its false alarms (at most one per quiet period),
// and how many of those came in a quiet period after a data gap.
type HouseholdFalse struct {
	Household string
	Days      int
	False     []int
	AfterGap  []int
}

// Measurement is what Measure found.
type Measurement struct {
	Rules      []string // the no-use family rules measured, in config order
	Kinds      []string
	Outcomes   []Outcome
	Households []HouseholdFalse
	Readings   int       // real readings replayed (forks not counted)
	Forked     int       // readings fed to forks
	Unmatched  int       // stops that are not the time of a reading
	useLitres  []float64 // per rule: the rise that ends its quiet period
}

// ruleUseLitres is the rise in litres that ends rule r's quiet period:
// its own min_delta when it watches total_m3 (m³), else def.
func ruleUseLitres(r *rules.Rule, def float64) float64 {
	var field string
	var delta float64
	switch p := r.Params.(type) {
	case *rules.NoUseParams:
		field, delta = p.Field, p.MinDelta
	case *rules.LearnedParams:
		field, delta = p.Field, p.MinDelta
	case *rules.HazardParams:
		field, delta = p.Field, p.MinDelta
	case *rules.StepsParams:
		field, delta = p.Field, p.MinDelta
		if p.LifeDelta > 0 {
			// its quiet period (and alarm) restarts on the smaller rise
			delta = p.LifeDelta
		}
	}
	if field != "total_m3" || delta <= 0 {
		return def
	}
	return delta * 1000
}

// Measure replays src through one engine per household, as Run, without
// changing a reading: every no-use alarm of that replay is a false alarm
// (the data has no labelled emergencies), counted once per quiet period.
// At each stop it forks the household's engine (State, RestoreState) and
// feeds the fork the readings of the next Window with the counter frozen at
// the stop's value (or dripping, DripLitresPerHour), timers included, to
// time each rule's first alarm. One
// household's readings are held in memory at a time.
func Measure(src Source, o MeasureOptions) (*Measurement, error) {
	if o.Rules == nil {
		return nil, fmt.Errorf("replay: no rules")
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.GapAfter <= 0 {
		o.GapAfter = 2 * time.Hour
	}
	m := &Measurement{}
	idx := map[string]int{}
	for _, r := range o.Rules.Rules {
		if IsNoUseFamily(r.Kind) {
			idx[r.Name] = len(m.Rules)
			m.Rules = append(m.Rules, r.Name)
			m.Kinds = append(m.Kinds, r.Kind)
			m.useLitres = append(m.useLitres, ruleUseLitres(r, o.UseLitres))
		}
	}
	loc := o.Rules.Location()
	fork := rules.New(o.Rules)
	var (
		id   string
		ts   []time.Time
		vals []float64
		done = map[string]bool{}
	)
	flush := func() error {
		if id == "" {
			return nil
		}
		done[id] = true
		err := m.household(o, idx, loc, fork, id, ts, vals)
		ts, vals = ts[:0], vals[:0]
		return err
	}
	for {
		r, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if r.Household != id {
			if err := flush(); err != nil {
				return nil, err
			}
			if done[r.Household] {
				return nil, fmt.Errorf("replay: readings of household %s are not grouped together", r.Household)
			}
			id = r.Household
		}
		if n := len(ts); n > 0 && !r.TS.After(ts[n-1]) {
			continue // the repeated DST hour: as Run
		}
		ts, vals = append(ts, r.TS), append(vals, r.Litres)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return m, nil
}

// household replays one household and forks it at its stops.
func (m *Measurement) household(o MeasureOptions, idx map[string]int, loc *time.Location, fork *rules.Engine, id string, ts []time.Time, vals []float64) error {
	eng := rules.New(o.Rules)
	hf := HouseholdFalse{Household: id, False: make([]int, len(m.Rules)), AfterGap: make([]int, len(m.Rules))}
	stops := map[int64]bool{}
	for _, s := range o.Stops[id] {
		stops[s.Unix()] = true
	}
	matched := 0
	fields := anxin.Fields{}
	msg := anxin.Message{Household: id, Device: Device, Kind: anxin.KindWaterMeter, Fields: fields}
	feed := func(e *rules.Engine, t time.Time, v float64, fn func(rules.Decision)) {
		for guard := 0; guard < 100000; guard++ {
			d := e.NextDeadline()
			if d.IsZero() || !d.Before(t) {
				break
			}
			for _, dc := range e.Tick(d) {
				fn(dc)
			}
		}
		fields["total_m3"] = anxin.Num(v / 1000)
		msg.TS = t
		for _, dc := range e.Observe(t, &msg) {
			fn(dc)
		}
		for _, dc := range e.Tick(t) {
			fn(dc)
		}
	}
	// False alarms, once per quiet period: each rule's quiet period is
	// numbered by the uses seen (a rise of its useLitres since the last
	// use); rules of one threshold share a clock.
	type useClock struct {
		litres, base float64
		period       int
		gapSince     bool // a data gap since the last use
	}
	var (
		clocks     []useClock
		clockOf    = make([]int, len(m.Rules))
		lastPeriod = make([]int, len(m.Rules))
		lastDay    int64
	)
	for k, l := range m.useLitres {
		c := slices.IndexFunc(clocks, func(c useClock) bool { return c.litres == l })
		if c < 0 {
			c = len(clocks)
			clocks = append(clocks, useClock{litres: l, base: math.NaN()})
		}
		clockOf[k], lastPeriod[k] = c, -1
	}
	onReal := func(d rules.Decision) {
		if d.Op != rules.OpOpen || !IsNoUseFamily(d.RuleKind) {
			return
		}
		k, ok := idx[d.Rule]
		if !ok {
			return
		}
		c := &clocks[clockOf[k]]
		if lastPeriod[k] == c.period {
			return
		}
		lastPeriod[k] = c.period
		hf.False[k]++
		if c.gapSince {
			hf.AfterGap[k]++
		}
	}
	for i, t := range ts {
		v := vals[i]
		gap := i > 0 && t.Sub(ts[i-1]) > o.GapAfter
		for j := range clocks {
			c := &clocks[j]
			if gap {
				c.gapSince = true
			}
			switch {
			case math.IsNaN(c.base) || v < c.base:
				c.base = v
			case v-c.base >= c.litres:
				// a use seen only across a gap is not dated: the quiet
				// period after it still follows a gap
				c.base, c.period, c.gapSince = v, c.period+1, gap
			}
		}
		if y, mo, dd := t.In(loc).Date(); true {
			day := time.Date(y, mo, dd, 0, 0, 0, 0, time.UTC).Unix() / 86400
			if day != lastDay {
				lastDay = day
				hf.Days++
			}
		}
		feed(eng, t, v, onReal)
		m.Readings++
		if !stops[t.Unix()] {
			continue
		}
		matched++
		if err := fork.RestoreState(id, eng.State(id)); err != nil {
			return err
		}
		out := Outcome{Household: id, StopAt: t.UTC(), DelayH: make([]float64, len(m.Rules))}
		for k := range out.DelayH {
			out.DelayH[k] = math.Inf(1)
		}
		left := len(m.Rules)
		end := t.Add(o.Window)
		onFork := func(d rules.Decision) {
			if d.Op != rules.OpOpen || !IsNoUseFamily(d.RuleKind) || !d.At.Before(end) {
				return
			}
			if k, ok := idx[d.Rule]; ok && math.IsInf(out.DelayH[k], 1) {
				out.DelayH[k] = round(d.At.Sub(t).Hours(), 3)
				left--
			}
		}
		for j := i + 1; j < len(ts) && ts[j].Before(end) && left > 0; j++ {
			feed(fork, ts[j], v+o.DripLitresPerHour*ts[j].Sub(t).Hours(), onFork)
			m.Forked++
		}
		// The emergency lasts to the window's end even where readings stop.
		for guard := 0; guard < 100000 && left > 0; guard++ {
			d := fork.NextDeadline()
			if d.IsZero() || !d.Before(end) {
				break
			}
			for _, dc := range fork.Tick(d) {
				onFork(dc)
			}
		}
		m.Outcomes = append(m.Outcomes, out)
		// Its timers must not ring in the next household's fork, nor its
		// state pile up there.
		fork.Forget(id)
	}
	m.Unmatched += len(stops) - matched
	m.Households = append(m.Households, hf)
	return nil
}
