package care

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
)

// Counts reports whether a visit made by method m counts toward the visit
// rate: a contact by a community worker (上门, 电话, 音视频, 其他). Remote
// monitoring — an alarm accepted by family, a reading seen on a screen — is
// shown separately and never makes an elder "visited".
func Counts(m anxin.VisitMethod) bool {
	switch m {
	case anxin.VisitHome, anxin.VisitPhone, anxin.VisitAudioVideo, anxin.VisitOther:
		return true
	}
	return false
}

// MethodCounts counts the visit records (人次) of a month by method.
type MethodCounts struct {
	Home       int `json:"home"`              // 上门探访
	Phone      int `json:"phone"`             // 电话问候
	AudioVideo int `json:"audio_video"`       // 互联网音视频
	Other      int `json:"other"`             // 其他
	Remote     int `json:"remote_monitoring"` // 远程监测: not a visit, shown apart
}

// Visits is the number of records that count as visits (all but remote monitoring).
func (m MethodCounts) Visits() int { return m.Home + m.Phone + m.AudioVideo + m.Other }

func (m *MethodCounts) add(o MethodCounts) {
	m.Home += o.Home
	m.Phone += o.Phone
	m.AudioVideo += o.AudioVideo
	m.Other += o.Other
	m.Remote += o.Remote
}

// RateRow is the visit rate of one group of elders (a community and tier,
// a village, a grid worker, a tier, everyone) in one month.
type RateRow struct {
	Township   string `json:"township"`
	Village    string `json:"village"`
	Tier       string `json:"tier"`
	GridWorker string `json:"grid_worker,omitempty"`
	InScope    int    `json:"in_scope"` // registered before the month ended and consenting to visits
	Visited    int    `json:"visited"`  // of those, with at least one visit that counts (Counts) in the month
	Declined   int    `json:"declined"` // registered but not consenting: outside the rate
	// Rate is Visited / InScope; nil (JSON null, "—" on paper) when nobody
	// is in scope: no rate, rather than a 100 % nobody earned.
	Rate *float64 `json:"rate"`
	// Remote is how many elders in scope had a remote-monitoring record
	// (alarm accepted by family) in the month; RemoteOnly, of those, how
	// many had nothing else — not visited.
	Remote     int          `json:"remote_monitored"`
	RemoteOnly int          `json:"remote_only"`
	Methods    MethodCounts `json:"methods"` // visit records of the elders in scope, by method
}

// Finish sets Rate from the counts.
func (r *RateRow) Finish() {
	r.Rate = nil
	if r.InScope > 0 {
		f := float64(r.Visited) / float64(r.InScope)
		r.Rate = &f
	}
}

// RateText is the rate as printed: "93.5%", or "—" when nobody is in scope.
func (r RateRow) RateText() string {
	if r.Rate == nil {
		return "—"
	}
	return strconv.FormatFloat(*r.Rate*100, 'f', 1, 64) + "%"
}

// ElderMonth is one registered elder and their visit records in a month:
// what the monthly report is made of.
type ElderMonth struct {
	ID, Household, Name, Phone string
	Township, Village, Address string // current address
	Tier                       anxin.Tier
	GridWorker                 string
	Consent                    bool
	Visits                     MethodCounts
	// LastContact is the last visit that counts before the month ended
	// (zero: none); the store sets it only for elders not visited in the month.
	LastContact time.Time
}

// NotVisited is an elder in scope with no visit that counts in the month:
// a line of 本月未探访名单, as of the month's end.
type NotVisited struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Phone       string     `json:"phone,omitempty"`
	Township    string     `json:"township"`
	Village     string     `json:"village"`
	Address     string     `json:"address,omitempty"`
	Tier        anxin.Tier `json:"tier"`
	GridWorker  string     `json:"grid_worker"`
	LastContact time.Time  `json:"last_contact,omitzero"` // last visit that counts before the month ended
	Remote      int        `json:"remote_monitoring"`     // remote-monitoring records in the month
}

// MonthRates is the monthly report's numbers, built by Add and Finish.
type MonthRates struct {
	Rows         []RateRow    `json:"rows"`           // by township, village and tier
	ByVillage    []RateRow    `json:"by_village"`     // by township and village, every tier
	ByGridWorker []RateRow    `json:"by_grid_worker"` // by the elders' 网格员
	ByTier       []RateRow    `json:"by_tier"`        // whole area by tier
	Total        RateRow      `json:"total"`
	NotVisited   []NotVisited `json:"not_visited"` // 本月未探访名单, by village then name
	rows         map[[3]string]*RateRow
	villages     map[[2]string]*RateRow
	workers      map[string]*RateRow
	tiers        map[anxin.Tier]*RateRow
}

// NewMonthRates is an empty report.
func NewMonthRates() *MonthRates {
	return &MonthRates{rows: map[[3]string]*RateRow{}, villages: map[[2]string]*RateRow{},
		workers: map[string]*RateRow{}, tiers: map[anxin.Tier]*RateRow{},
		Total: RateRow{Township: "合计", Village: "合计", Tier: "all"}}
}

// Add counts one elder registered before the month ended.
func (m *MonthRates) Add(e ElderMonth) {
	row := rowAt(m.rows, [3]string{e.Township, e.Village, string(e.Tier)},
		RateRow{Township: e.Township, Village: e.Village, Tier: string(e.Tier)})
	vil := rowAt(m.villages, [2]string{e.Township, e.Village}, RateRow{Township: e.Township, Village: e.Village, Tier: "all"})
	wk := rowAt(m.workers, e.GridWorker, RateRow{Township: "合计", Village: "合计", Tier: "all", GridWorker: e.GridWorker})
	tr := rowAt(m.tiers, e.Tier, RateRow{Township: "合计", Village: "合计", Tier: string(e.Tier)})
	visited := e.Visits.Visits() > 0
	for _, r := range []*RateRow{row, vil, wk, tr, &m.Total} {
		if !e.Consent {
			r.Declined++
			continue
		}
		r.InScope++
		r.Methods.add(e.Visits)
		if visited {
			r.Visited++
		}
		if e.Visits.Remote > 0 {
			r.Remote++
			if !visited {
				r.RemoteOnly++
			}
		}
	}
	if e.Consent && !visited {
		m.NotVisited = append(m.NotVisited, NotVisited{ID: e.ID, Name: e.Name, Phone: e.Phone, Township: e.Township,
			Village: e.Village, Address: e.Address, Tier: e.Tier, GridWorker: e.GridWorker, LastContact: e.LastContact,
			Remote: e.Visits.Remote})
	}
}

// rowAt is the row of key k, made from empty when there is none yet.
func rowAt[K comparable](rows map[K]*RateRow, k K, empty RateRow) *RateRow {
	r, ok := rows[k]
	if !ok {
		r = &empty
		rows[k] = r
	}
	return r
}

// tierOrder is the report's tier order, highest risk first.
var tierOrder = map[anxin.Tier]int{anxin.TierHigh: 0, anxin.TierKey: 1, anxin.TierGeneral: 2, anxin.TierIrregular: 3}

// Finish sets every rate and orders the rows: places by name, tiers from
// high to irregular, grid workers by name.
func (m *MonthRates) Finish() {
	collect := func(rows []*RateRow, less func(a, b *RateRow) int) []RateRow {
		slices.SortFunc(rows, less)
		out := make([]RateRow, 0, len(rows))
		for _, r := range rows {
			r.Finish()
			out = append(out, *r)
		}
		return out
	}
	byTier := func(a, b *RateRow) int {
		return cmp.Compare(tierRank(anxin.Tier(a.Tier)), tierRank(anxin.Tier(b.Tier)))
	}
	place := func(a, b *RateRow) int {
		return cmp.Or(strings.Compare(a.Township, b.Township), strings.Compare(a.Village, b.Village))
	}
	m.Rows = collect(mapValues(m.rows), func(a, b *RateRow) int { return cmp.Or(place(a, b), byTier(a, b)) })
	m.ByVillage = collect(mapValues(m.villages), place)
	m.ByGridWorker = collect(mapValues(m.workers), func(a, b *RateRow) int { return strings.Compare(a.GridWorker, b.GridWorker) })
	m.ByTier = collect(mapValues(m.tiers), byTier)
	m.Total.Finish()
	slices.SortFunc(m.NotVisited, func(a, b NotVisited) int {
		return cmp.Or(strings.Compare(a.Township, b.Township), strings.Compare(a.Village, b.Village),
			cmp.Compare(tierRank(a.Tier), tierRank(b.Tier)), strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	})
	if m.NotVisited == nil {
		m.NotVisited = []NotVisited{}
	}
}

func tierRank(t anxin.Tier) int {
	if r, ok := tierOrder[t]; ok {
		return r
	}
	return len(tierOrder)
}

func mapValues[K comparable](m map[K]*RateRow) []*RateRow {
	out := make([]*RateRow, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	return out
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
