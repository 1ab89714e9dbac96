package care

import (
	"math"
	"slices"
	"time"
)

// RateRow is the visit rate of one community and tier in one month.
type RateRow struct {
	Township string  `json:"township"`
	Village  string  `json:"village"`
	Tier     string  `json:"tier"`
	InScope  int     `json:"in_scope"` // registered before the month ended and consenting to visits
	Visited  int     `json:"visited"`  // of those, with at least one visit in the month
	Declined int     `json:"declined"` // registered but not consenting: outside the rate
	Rate     float64 `json:"rate"`     // Visited / InScope, 1 when nobody is in scope
}

// Finish sets Rate from the counts.
func (r *RateRow) Finish() {
	if r.InScope == 0 {
		r.Rate = 1
		return
	}
	r.Rate = float64(r.Visited) / float64(r.InScope)
}

// Month is the first instant of the month containing t and of the next, in loc.
func Month(year int, month time.Month, loc *time.Location) (from, to time.Time) {
	from = time.Date(year, month, 1, 0, 0, 0, 0, loc)
	return from, from.AddDate(0, 1, 0)
}

// Percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of ds, 0 when empty.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = min(max(rank, 1), len(s))
	return s[rank-1]
}
