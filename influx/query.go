package influx

// The query side of the archive: what the web app's elder page reads back
// from the time-series store (a household's daily water use, each device's
// last reading and battery). VictoriaMetrics does not speak Flux: it serves
// the Prometheus query API for points written through the v2 write API,
// with series named <measurement>_<field> (water_meter_total_m3) and the
// tags as labels. Answers are read into a bounded buffer and parsed by
// ParsePromResponse (fuzzed).

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/anxin-care/anxin"
)

// Series reads a household's history from the time-series store.
type Series interface {
	// DailyWater is the water used on each of the days days ending with
	// the day that starts at today (a local midnight), oldest first:
	// the increase of the household's meters' totals (m³) over each day.
	DailyWater(ctx context.Context, household string, today time.Time, days int) ([]DayUse, error)
	// Devices is each device's last reading and battery in the last 30
	// days, as of now, ordered by device id.
	Devices(ctx context.Context, household string, now time.Time) ([]DeviceSeen, error)
}

// DayUse is one day's water use.
type DayUse struct {
	Day   time.Time // local midnight
	M3    float64
	Known bool // false: no reading that day
}

// DeviceSeen is what the store last heard from one device.
type DeviceSeen struct {
	Device     string
	LastSeen   time.Time
	BatteryPct float64 // -1: the device reports no percentage
	BatteryLow bool    // the device's own low-battery flag (battery_low)
}

// QueryConfig is where the archive is read back (the Prometheus query API
// of VictoriaMetrics, e.g. http://127.0.0.1:8428).
type QueryConfig struct {
	URL      string
	Token    string        // sent as a bearer token when set
	Timeout  time.Duration // per query (default 2 s)
	MaxBytes int64         // largest answer read (default 1 MiB); a larger one is an error
}

// VictoriaMetrics is a Series reading VictoriaMetrics' Prometheus API.
type VictoriaMetrics struct {
	cfg    QueryConfig
	client *http.Client
}

// NewVictoriaMetrics makes a reader of the store at cfg.URL.
func NewVictoriaMetrics(cfg QueryConfig) (*VictoriaMetrics, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("influx: query url must be http(s)://host[:port]")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 20
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	return &VictoriaMetrics{cfg: cfg, client: &http.Client{Timeout: cfg.Timeout}}, nil
}

// maxDays bounds DailyWater's range.
const maxDays = 366

// DailyWater asks query_range for the increase of the household's water
// meter totals over one day, at each local day's end. The last point (today)
// is the use so far. A day without a reading is not Known.
func (v *VictoriaMetrics) DailyWater(ctx context.Context, household string, today time.Time, days int) ([]DayUse, error) {
	if !anxin.ValidID(household) {
		return nil, errors.New("influx: household id is not [A-Za-z0-9_-]{1,64}")
	}
	if days < 1 || days > maxDays {
		return nil, fmt.Errorf("influx: days %d not in 1..%d", days, maxDays)
	}
	out := make([]DayUse, days)
	ends := make([]int64, days) // each day's end in unix seconds
	for i := range out {
		d := today.AddDate(0, 0, i-days+1)
		out[i].Day = d
		ends[i] = d.AddDate(0, 0, 1).Unix()
	}
	// Calendar days are 24 h in China (no daylight saving); a zone with
	// DST shifts some points by an hour, which the step cannot follow.
	// "and count_over_time": a day without a reading has no point (increase
	// alone says 0). The range starts a day early: VictoriaMetrics reads the
	// sample before a window (the baseline) only for points after the first.
	m := `water_meter_total_m3{household="` + household + `"}`
	q := url.Values{
		"query": {`sum(increase(` + m + `[1d])) and sum(count_over_time(` + m + `[1d]))`},
		"start": {strconv.FormatInt(ends[0]-86400, 10)}, "end": {strconv.FormatInt(ends[days-1], 10)},
		"step": {"1d"}, "nocache": {"1"}, // nocache: VictoriaMetrics aligns start to the step otherwise
	}
	res, err := v.get(ctx, "/api/v1/query_range", q)
	if err != nil {
		return nil, err
	}
	if res.Type != "matrix" {
		return nil, fmt.Errorf("influx: query_range answered a %q, not a matrix", res.Type)
	}
	for _, s := range res.Series {
		for _, p := range s.Points {
			// the point at a day's end is that day's use; points come at ends[0]+k·step
			i, found := slices.BinarySearch(ends, p.T.Unix())
			if !found || math.IsNaN(p.V) || math.IsInf(p.V, 0) {
				continue
			}
			out[i].M3 += max(p.V, 0)
			out[i].Known = true
		}
	}
	return out, nil
}

// Devices asks one instant query for three things per device: when it was
// last heard of (any field), its last battery percentage, its last
// battery-low flag.
func (v *VictoriaMetrics) Devices(ctx context.Context, household string, now time.Time) ([]DeviceSeen, error) {
	if !anxin.ValidID(household) {
		return nil, errors.New("influx: household id is not [A-Za-z0-9_-]{1,64}")
	}
	hh := `household="` + household + `"`
	expr := `label_set(max by (device) (tlast_over_time({` + hh + `}[30d])), "q", "seen")` +
		` or label_set(max by (device) (last_over_time({` + hh + `,__name__=~".+_battery_pct"}[30d])), "q", "pct")` +
		` or label_set(max by (device) (last_over_time({` + hh + `,__name__=~".+_battery_low"}[30d])), "q", "low")`
	res, err := v.get(ctx, "/api/v1/query", url.Values{"query": {expr}, "time": {strconv.FormatInt(now.Unix(), 10)}, "nocache": {"1"}})
	if err != nil {
		return nil, err
	}
	if res.Type != "vector" {
		return nil, fmt.Errorf("influx: query answered a %q, not a vector", res.Type)
	}
	byDev := map[string]*DeviceSeen{}
	for _, s := range res.Series {
		dev := s.Labels["device"]
		if dev == "" || len(s.Points) == 0 {
			continue
		}
		d := byDev[dev]
		if d == nil {
			d = &DeviceSeen{Device: dev, BatteryPct: -1}
			byDev[dev] = d
		}
		x := s.Points[0].V
		if math.IsNaN(x) || math.IsInf(x, 0) {
			continue
		}
		switch s.Labels["q"] {
		case "seen":
			if x > 0 && x < 1e11 {
				d.LastSeen = time.UnixMilli(int64(x * 1000))
			}
		case "pct":
			d.BatteryPct = min(max(x, 0), 100)
		case "low":
			d.BatteryLow = x > 0.5
		}
	}
	out := make([]DeviceSeen, 0, len(byDev))
	for _, d := range byDev {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b DeviceSeen) int { return strings.Compare(a.Device, b.Device) })
	return out, nil
}

func (v *VictoriaMetrics) get(ctx context.Context, path string, q url.Values) (PromResult, error) {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.URL+path+"?"+q.Encode(), nil)
	if err != nil {
		return PromResult{}, err
	}
	if v.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+v.cfg.Token)
	}
	resp, err := v.client.Do(req)
	if err != nil {
		return PromResult{}, fmt.Errorf("influx: query: %w", errors.Unwrap(err)) // the URL without the query
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, v.cfg.MaxBytes+1))
	if err != nil {
		return PromResult{}, fmt.Errorf("influx: query: reading the answer: %w", err)
	}
	if int64(len(body)) > v.cfg.MaxBytes {
		return PromResult{}, fmt.Errorf("influx: query: answer larger than %d bytes", v.cfg.MaxBytes)
	}
	if resp.StatusCode != http.StatusOK {
		res, perr := ParsePromResponse(body)
		if perr == nil && res.Error != "" {
			return PromResult{}, fmt.Errorf("influx: query: %d: %s", resp.StatusCode, clipText(res.Error, 200))
		}
		return PromResult{}, fmt.Errorf("influx: query: HTTP %d", resp.StatusCode)
	}
	res, err := ParsePromResponse(body)
	if err != nil {
		return PromResult{}, err
	}
	if res.Error != "" {
		return PromResult{}, fmt.Errorf("influx: query: %s", clipText(res.Error, 200))
	}
	return res, nil
}

// PromResult is a Prometheus query API answer.
type PromResult struct {
	Type   string // matrix, vector, scalar
	Series []PromSeries
	Error  string // status "error": the store's message
}

// PromSeries is one series of an answer.
type PromSeries struct {
	Labels map[string]string
	Points []PromPoint
}

// PromPoint is one sample.
type PromPoint struct {
	T time.Time
	V float64
}

// Limits of what ParsePromResponse accepts.
const (
	maxSeries = 10_000
	maxPoints = 100_000 // over all series
)

// ParsePromResponse parses a Prometheus query API answer (query or
// query_range): {"status":"success","data":{"resultType":"matrix",
// "result":[{"metric":{...},"values":[[<unix s>,"<v>"],...]}]}}; an
// instant answer has "value" instead of "values". Anything else is an error.
func ParsePromResponse(body []byte) (PromResult, error) {
	var raw struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  json.RawMessage   `json:"value"`
				Values []json.RawMessage `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return PromResult{}, fmt.Errorf("influx: query answer is not JSON: %w", err)
	}
	if raw.Status == "error" {
		return PromResult{Error: cleanText(raw.Error)}, nil
	}
	if raw.Status != "success" {
		return PromResult{}, fmt.Errorf("influx: query answer status %q", clipText(raw.Status, 20))
	}
	res := PromResult{Type: raw.Data.ResultType}
	switch res.Type {
	case "matrix", "vector":
	case "scalar", "string":
		return res, nil
	default:
		return PromResult{}, fmt.Errorf("influx: query answer type %q", clipText(res.Type, 20))
	}
	if len(raw.Data.Result) > maxSeries {
		return PromResult{}, fmt.Errorf("influx: query answer has more than %d series", maxSeries)
	}
	total := 0
	for _, r := range raw.Data.Result {
		s := PromSeries{Labels: r.Metric}
		vals := r.Values
		if res.Type == "vector" {
			if r.Value == nil {
				return PromResult{}, errors.New("influx: instant series without a value")
			}
			vals = []json.RawMessage{r.Value}
		}
		total += len(vals)
		if total > maxPoints {
			return PromResult{}, fmt.Errorf("influx: query answer has more than %d points", maxPoints)
		}
		for _, raw := range vals {
			p, err := parsePoint(raw)
			if err != nil {
				return PromResult{}, err
			}
			s.Points = append(s.Points, p)
		}
		res.Series = append(res.Series, s)
	}
	return res, nil
}

// parsePoint reads [<unix seconds>, "<value>"].
func parsePoint(raw json.RawMessage) (PromPoint, error) {
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return PromPoint{}, errors.New("influx: a sample is not [time, \"value\"]")
	}
	var ts float64
	if err := json.Unmarshal(pair[0], &ts); err != nil || math.IsNaN(ts) || ts < 0 || ts > 1e11 {
		return PromPoint{}, errors.New("influx: a sample's time is not unix seconds")
	}
	var vs string
	if err := json.Unmarshal(pair[1], &vs); err != nil {
		return PromPoint{}, errors.New("influx: a sample's value is not a string")
	}
	v, err := strconv.ParseFloat(vs, 64) // "NaN", "+Inf" parse too
	if err != nil {
		return PromPoint{}, fmt.Errorf("influx: a sample's value %q is not a number", clipText(vs, 20))
	}
	sec, frac := math.Modf(ts)
	return PromPoint{T: time.Unix(int64(sec), int64(math.Round(frac*1e3))*1e6), V: v}, nil
}

// cleanText keeps a store's message printable and short.
func cleanText(s string) string { return clipText(s, 200) }

func clipText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		s = s[:n]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}
