package care

import (
	"time"
	_ "time/tzdata" // Asia/Shanghai must load on a machine without zoneinfo

	"github.com/anxin-care/anxin"
)

// Cadence is how often an elder of one tier is contacted, in days: a phone
// (or audio/video) contact and a home visit.
type Cadence struct {
	PhoneDays int `json:"phone_days"`
	HomeDays  int `json:"home_days"`
}

// DefaultCadence is the programme's cadence per tier. Irregular elders (score
// 0–2) have no fixed cadence in the programme; anxin asks for a call a month
// and a home visit a quarter so that nobody drops out of sight.
func DefaultCadence() map[anxin.Tier]Cadence {
	return map[anxin.Tier]Cadence{
		anxin.TierIrregular: {PhoneDays: 30, HomeDays: 90},
		anxin.TierGeneral:   {PhoneDays: 10, HomeDays: 30},
		anxin.TierKey:       {PhoneDays: 5, HomeDays: 15},
		anxin.TierHigh:      {PhoneDays: 3, HomeDays: 7},
	}
}

// Surge is a period (extreme weather, a festival) in which every elder is
// contacted daily. From and To are days, both included.
type Surge struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Reason string    `json:"reason"`
}

// Plan turns the last visits into the next due days.
type Plan struct {
	Cadence  map[anxin.Tier]Cadence
	Surges   []Surge
	Location *time.Location // days begin at midnight here
}

// DefaultLocation is where days begin for the programme.
func DefaultLocation() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil { // cannot happen: time/tzdata is linked in
		return time.FixedZone("CST", 8*3600)
	}
	return loc
}

// DefaultPlan is the default cadence, no surges, days in Asia/Shanghai.
func DefaultPlan() Plan {
	return Plan{Cadence: DefaultCadence(), Location: DefaultLocation()}
}

// Day is t's calendar day in the plan's location, as midnight there.
func (p Plan) Day(t time.Time) time.Time {
	loc := p.loc()
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

func (p Plan) loc() *time.Location {
	if p.Location == nil {
		return time.UTC
	}
	return p.Location
}

// AddDays is day + n calendar days, across month and year ends and leap days.
func AddDays(day time.Time, n int) time.Time {
	y, m, d := day.Date()
	return time.Date(y, m, d+n, 0, 0, 0, 0, day.Location())
}

// Due is when an elder's next contacts are due (days in the plan's location).
type Due struct {
	Phone time.Time `json:"phone_due"`
	Home  time.Time `json:"home_due"`
	Surge string    `json:"surge,omitempty"` // reason, when a surge brought the phone contact forward
}

// Due computes the next phone and home visit days of an elder of the tier.
// lastContact is the latest visit of any method but remote monitoring (a home
// visit counts as a contact), lastHome the latest home visit; zero when none,
// in which case the visit is due on the day the elder was registered. A surge
// brings the phone contact forward to the day after the last contact, but not
// before the surge begins.
func (p Plan) Due(tier anxin.Tier, lastContact, lastHome, registered time.Time) Due {
	c, ok := p.Cadence[tier]
	if !ok {
		c = DefaultCadence()[tier]
	}
	if c.PhoneDays < 1 || c.HomeDays < 1 {
		c = DefaultCadence()[anxin.TierGeneral]
	}
	var d Due
	if lastContact.IsZero() {
		d.Phone = p.Day(registered)
	} else {
		d.Phone = AddDays(p.Day(lastContact), c.PhoneDays)
	}
	if lastHome.IsZero() {
		d.Home = p.Day(registered)
	} else {
		d.Home = AddDays(p.Day(lastHome), c.HomeDays)
	}
	next := d.Phone
	if !lastContact.IsZero() {
		next = AddDays(p.Day(lastContact), 1)
	}
	for _, s := range p.Surges {
		from, to := p.civil(s.From), p.civil(s.To)
		cand := next
		if cand.Before(from) {
			cand = from
		}
		if !cand.After(to) && cand.Before(d.Phone) {
			d.Phone, d.Surge = cand, s.Reason
		}
	}
	return d
}

// civil reads a surge day (a date, whatever its zone) as that date in the plan's location.
func (p Plan) civil(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, p.loc())
}

// InSurge reports the surge covering day, if any.
func (p Plan) InSurge(day time.Time) (Surge, bool) {
	day = p.Day(day)
	for _, s := range p.Surges {
		if !day.Before(p.civil(s.From)) && !day.After(p.civil(s.To)) {
			return s, true
		}
	}
	return Surge{}, false
}
