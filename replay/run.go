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

// Options configure one replay.
type Options struct {
	Rules      *rules.Config          // the rules, their timezone the homes' zone
	Inject     map[string][]time.Time // household → emergency instants (stop_at)
	Window     time.Duration          // how long an injected emergency lasts; 0: DefaultWindow
	From, To   time.Time              // readings with From ≤ ts < To; zero: unbounded
	Households int                    // replay only the first N households; 0: all
}

// DefaultWindow is how long an injected emergency keeps the meter flat, and
// the time within which a rule must raise an alarm for it to count as
// detected.
const DefaultWindow = 48 * time.Hour

// Device is the device id of every replayed meter.
const Device = "wm1"

// Alarm is one alarm opened during the replay.
type Alarm struct {
	Household  string     `json:"household"`
	Rule       string     `json:"rule"`
	Kind       string     `json:"kind"`
	OpenedAt   time.Time  `json:"opened_at"`
	Reason     string     `json:"reason"`
	InjectedAt *time.Time `json:"injected_at,omitempty"` // the emergency it detected
	DelayH     *float64   `json:"delay_h,omitempty"`     // opened_at - injected_at, hours
}

// RuleSummary is what one rule did. Detection figures and false alarms
// are kept for the no-use family (kinds no_use and learned) only.
type RuleSummary struct {
	Rule   string `json:"rule"`
	Kind   string `json:"kind"`
	Alarms int    `json:"alarms"` // opened, in total

	Injected     int      `json:"injected"` // applicable injected emergencies
	Detected     int      `json:"detected"` // alarm opened within the window
	Missed       int      `json:"missed"`
	MedianDelayH *float64 `json:"median_delay_h,omitempty"` // over detected ones
	P90DelayH    *float64 `json:"p90_delay_h,omitempty"`
	MeanDelayH   *float64 `json:"mean_delay_h,omitempty"`

	FalseAlarms          int     `json:"false_alarms"`
	FalsePerHouseholdDay float64 `json:"false_per_household_day"`

	delays []float64
}

// Summary is the final line of a replay.
type Summary struct {
	Households    int            `json:"households"`
	Readings      int            `json:"readings"`       // replayed through the engine
	HouseholdDays int            `json:"household_days"` // local days with data, outside injected windows
	InjectedDays  int            `json:"injected_days"`  // local days touched by an injected window, excluded
	Gaps          int            `json:"gaps_over_2h"`   // reading intervals longer than 2 h (no data, not no use)
	Decreasing    int            `json:"decreasing"`     // readings lower than the one before (not use)
	OutOfOrder    int            `json:"out_of_order"`   // not later than the previous reading, skipped
	Injected      int            `json:"injected"`       // emergencies applied
	InjectSkipped int            `json:"inject_skipped"` // outside the household's data: not applied
	Window        string         `json:"window"`
	Zone          string         `json:"zone"`
	Load          LoadStats      `json:"load"`
	Rules         []*RuleSummary `json:"rules"`
}

// IsNoUseFamily reports whether alarms of kind count as "no use" alarms:
// what injected emergencies should raise and what otherwise is a false
// alarm.
func IsNoUseFamily(kind string) bool {
	return kind == "no_use" || kind == "learned" || kind == "hazard" || kind == "steps"
}

// Run replays src through a fresh rules engine per household, on the
// data's own clock, calling alarm for every alarm opened. Readings must be
// grouped by household (both datasets are); memory is bounded by one
// household's state.
func Run(src Source, o Options, alarm func(Alarm) error) (*Summary, error) {
	if o.Rules == nil {
		return nil, fmt.Errorf("replay: no rules")
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	loc := o.Rules.Location()
	sum := &Summary{Window: o.Window.String(), Zone: loc.String()}
	byRule := map[string]*RuleSummary{}
	for _, r := range o.Rules.Rules {
		rs := &RuleSummary{Rule: r.Name, Kind: r.Kind}
		byRule[r.Name] = rs
		sum.Rules = append(sum.Rules, rs)
		if n := r.SilentRuleName(); n != "" {
			rs2 := &RuleSummary{Rule: n, Kind: "device_silent"}
			byRule[n] = rs2
			sum.Rules = append(sum.Rules, rs2)
		}
	}
	var (
		cur    *householdRun
		done   = map[string]bool{}
		fields = anxin.Fields{}
		msg    = anxin.Message{Device: Device, Kind: anxin.KindWaterMeter, Fields: fields}
	)
	finish := func() {
		if cur == nil {
			return
		}
		cur.finish(sum, byRule)
		done[cur.id] = true
		cur = nil
	}
	emit := func(ds []rules.Decision) error {
		for _, d := range ds {
			if d.Op != rules.OpOpen {
				continue
			}
			if err := cur.opened(d, alarm, byRule, o.Window); err != nil {
				return err
			}
		}
		return nil
	}
	for {
		r, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if (!o.From.IsZero() && r.TS.Before(o.From)) || (!o.To.IsZero() && !r.TS.Before(o.To)) {
			continue
		}
		if cur == nil || cur.id != r.Household {
			finish()
			if done[r.Household] {
				return nil, fmt.Errorf("replay: readings of household %s are not grouped together", r.Household)
			}
			if o.Households > 0 && sum.Households >= o.Households {
				break
			}
			sum.Households++
			cur = newHouseholdRun(r.Household, o, loc)
		}
		t := r.TS
		if cur.n > 0 && !t.After(cur.lastTS) {
			sum.OutOfOrder++
			continue
		}
		if cur.n > 0 {
			if t.Sub(cur.lastTS) > 2*time.Hour {
				sum.Gaps++
			}
			if r.Litres < cur.lastRaw {
				sum.Decreasing++
			}
		}
		v := cur.injected(r)
		cur.day(t)
		// Timers due before this reading, then the reading, then timers at it.
		for guard := 0; guard < 100000; guard++ {
			d := cur.eng.NextDeadline()
			if d.IsZero() || !d.Before(t) {
				break
			}
			if err := emit(cur.eng.Tick(d)); err != nil {
				return nil, err
			}
		}
		fields["total_m3"] = anxin.Num(v / 1000)
		msg.Household, msg.TS = r.Household, t
		if err := emit(cur.eng.Observe(t, &msg)); err != nil {
			return nil, err
		}
		if err := emit(cur.eng.Tick(t)); err != nil {
			return nil, err
		}
		cur.n++
		cur.lastTS, cur.lastRaw = t, r.Litres
		sum.Readings++
	}
	finish()
	sum.Load = src.Stats()
	for _, rs := range sum.Rules {
		rs.stats()
		if sum.HouseholdDays > 0 && IsNoUseFamily(rs.Kind) {
			rs.FalsePerHouseholdDay = round(float64(rs.FalseAlarms)/float64(sum.HouseholdDays), 5)
		}
	}
	return sum, nil
}

// householdRun is the replay state of the household being read.
type householdRun struct {
	id      string
	eng     *rules.Engine
	loc     *time.Location
	n       int
	lastTS  time.Time
	lastRaw float64

	stops  []time.Time // injected emergencies, sorted
	window time.Duration
	frozen []float64 // counter value at each stop (NaN: not reached yet)
	seen   []bool    // a reading came inside the window: applied
	hit    map[hitKey]bool

	days    []int32 // local days with data (days since epoch), ascending
	pending []alarmAt
}

type hitKey struct {
	rule string
	stop int
}

type alarmAt struct {
	rule string
	at   time.Time
}

func newHouseholdRun(id string, o Options, loc *time.Location) *householdRun {
	h := &householdRun{id: id, eng: rules.New(o.Rules), loc: loc, window: o.Window, hit: map[hitKey]bool{}}
	h.stops = slices.Clone(o.Inject[id])
	slices.SortFunc(h.stops, func(a, b time.Time) int { return a.Compare(b) })
	h.frozen = make([]float64, len(h.stops))
	h.seen = make([]bool, len(h.stops))
	for i := range h.frozen {
		h.frozen[i] = math.NaN()
	}
	return h
}

// injected returns the counter the meter shows: flat at its value at
// stop_at while an injected emergency lasts, the real one otherwise.
func (h *householdRun) injected(r Reading) float64 {
	for i, s := range h.stops {
		if r.TS.After(s) && r.TS.Before(s.Add(h.window)) {
			if math.IsNaN(h.frozen[i]) {
				if h.n == 0 || h.lastTS.After(s) {
					return r.Litres // no reading at or before stop_at: not applicable
				}
				h.frozen[i] = h.lastRaw
			}
			h.seen[i] = true
			return h.frozen[i]
		}
	}
	return r.Litres
}

func (h *householdRun) dayOf(t time.Time) int32 {
	y, m, d := t.In(h.loc).Date()
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

func (h *householdRun) day(t time.Time) {
	d := h.dayOf(t)
	if len(h.days) == 0 || h.days[len(h.days)-1] != d {
		h.days = append(h.days, d)
	}
}

// stopOf returns the applied emergency whose window holds t, or -1.
func (h *householdRun) stopOf(t time.Time) int {
	for i, s := range h.stops {
		if !t.Before(s) && t.Before(s.Add(h.window)) {
			return i
		}
	}
	return -1
}

func (h *householdRun) opened(d rules.Decision, alarm func(Alarm) error, byRule map[string]*RuleSummary, window time.Duration) error {
	a := Alarm{Household: d.Household, Rule: d.Rule, Kind: d.RuleKind, OpenedAt: d.At.UTC(), Reason: d.Reason}
	rs := byRule[d.Rule]
	if rs == nil {
		rs = &RuleSummary{Rule: d.Rule, Kind: d.RuleKind}
		byRule[d.Rule] = rs
	}
	rs.Alarms++
	if IsNoUseFamily(d.RuleKind) {
		if i := h.stopOf(d.At); i >= 0 && !math.IsNaN(h.frozen[i]) {
			k := hitKey{d.Rule, i}
			if !h.hit[k] {
				h.hit[k] = true
				s := h.stops[i].UTC()
				dh := round(d.At.Sub(s).Hours(), 3)
				a.InjectedAt, a.DelayH = &s, &dh
				rs.delays = append(rs.delays, dh)
			}
		} else {
			h.pending = append(h.pending, alarmAt{d.Rule, d.At})
		}
	}
	if alarm != nil {
		return alarm(a)
	}
	return nil
}

// finish settles the household: which emergencies applied, its days with
// data outside them, and which of its alarms were false.
func (h *householdRun) finish(sum *Summary, byRule map[string]*RuleSummary) {
	excluded := map[int32]bool{}
	for i, s := range h.stops {
		if !h.seen[i] || math.IsNaN(h.frozen[i]) {
			sum.InjectSkipped++
			continue
		}
		sum.Injected++
		for d := h.dayOf(s); d <= h.dayOf(s.Add(h.window-time.Second)); d++ {
			excluded[d] = true
		}
		for _, rs := range byRule {
			if IsNoUseFamily(rs.Kind) {
				rs.Injected++
				if !h.hit[hitKey{rs.Rule, i}] {
					rs.Missed++
				}
			}
		}
	}
	for _, d := range h.days {
		if excluded[d] {
			sum.InjectedDays++
		} else {
			sum.HouseholdDays++
		}
	}
	for _, p := range h.pending {
		if !excluded[h.dayOf(p.at)] {
			byRule[p.rule].FalseAlarms++
		}
	}
}

func (rs *RuleSummary) stats() {
	if !IsNoUseFamily(rs.Kind) {
		return
	}
	rs.Detected = len(rs.delays)
	if len(rs.delays) == 0 {
		return
	}
	d := slices.Clone(rs.delays)
	slices.Sort(d)
	med, p90 := percentile(d, 0.5), percentile(d, 0.9)
	var s float64
	for _, v := range d {
		s += v
	}
	mean := round(s/float64(len(d)), 3)
	rs.MedianDelayH, rs.P90DelayH, rs.MeanDelayH = &med, &p90, &mean
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
