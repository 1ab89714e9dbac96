package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/influx"
	"github.com/anxin-care/anxin/words"
)

// waterDays is how many days the elder page's water chart shows.
const waterDays = 30

// maxTimeline bounds the timeline (the newest are shown, the rest counted).
const maxTimeline = 30

// silentAfter: a device whose last reading is older shows as silent on
// the elder page (alarmd's no_use rule raises device_silent on its own
// schedule; its open alarm is shown whatever the age).
const silentAfter = 25 * time.Hour

// event is one line of an elder's timeline.
type event struct {
	At     time.Time
	Alarm  bool
	What   string
	Detail string
}

// elderDevice is one device on the elder page.
type elderDevice struct {
	ID, Kind, Place string
	LastSeen        string // "" unknown
	Battery         string // "" unknown
	Status          string
	Class           string // ok, warn, bad
}

// bar is one day of the water chart, in the SVG's coordinates.
type bar struct {
	X, Y, H float64
	Title   string
	Known   bool
}

// waterChart is the 30-day chart drawn as inline SVG on the server.
type waterChart struct {
	Bars          []bar
	Max, Total    string // m³, for the labels
	From, To      string
	Known         int  // days with readings
	Unavailable   bool // the store did not answer
	None          bool // no store to read
	Width, Height float64
}

const (
	chartW, chartH = 300.0, 80.0
	barGap         = 2.0
)

// drawWater lays out days as bars scaled to the largest day.
func drawWater(days []influx.DayUse) waterChart {
	c := waterChart{Width: chartW, Height: chartH}
	if len(days) == 0 {
		return c
	}
	top, total := 0.0, 0.0
	for _, d := range days {
		if d.Known {
			top = max(top, d.M3)
			total += d.M3
			c.Known++
		}
	}
	w := chartW / float64(len(days))
	for i, d := range days {
		b := bar{X: float64(i)*w + barGap/2, Known: d.Known}
		switch {
		case !d.Known:
			b.H, b.Title = 2, d.Day.Format("01-02")+" 无读数"
		case top > 0:
			b.H = max(1, d.M3/top*(chartH-2))
			b.Title = fmt.Sprintf("%s 用水 %.2f 吨", d.Day.Format("01-02"), d.M3)
		default:
			b.H, b.Title = 1, d.Day.Format("01-02")+" 用水 0 吨"
		}
		b.Y = chartH - b.H
		c.Bars = append(c.Bars, b)
	}
	c.Max, c.Total = fmt.Sprintf("%.2f", top), fmt.Sprintf("%.2f", total)
	c.From, c.To = days[0].Day.Format("01-02"), days[len(days)-1].Day.Format("01-02")
	return c
}

// BarW is the width of one bar.
func (c waterChart) BarW() float64 {
	if len(c.Bars) == 0 {
		return 0
	}
	return chartW/float64(len(c.Bars)) - barGap
}

// series is what the elder page reads from the time-series store, fetched
// while the records are read.
type series struct {
	water []influx.DayUse
	devs  []influx.DeviceSeen
	err   error
}

func (s *Server) readSeries(ctx context.Context, household string, now time.Time, today time.Time) <-chan series {
	out := make(chan series, 1)
	if s.Series == nil {
		out <- series{err: errNoSeries}
		return out
	}
	go func() {
		var r series
		r.water, r.err = s.Series.DailyWater(ctx, household, today, waterDays)
		if r.err == nil {
			r.devs, r.err = s.Series.Devices(ctx, household, now)
		}
		out <- r
	}()
	return out
}

var errNoSeries = fmt.Errorf("no time-series store configured")

func (s *Server) elderPage(req *request) error {
	e, err := req.api.Elder(req.ctx, req.r.PathValue("id"))
	if err != nil {
		return err
	}
	now := s.Now()
	today := req.api.Plan.Day(now)
	fetched := s.readSeries(req.ctx, e.Household, now, today)
	visits, err := req.api.HouseholdVisits(req.ctx, e.Household, 50)
	if err != nil {
		return err
	}
	alarms, err := req.api.Alarms30(req.ctx, e.Household)
	if err != nil {
		return err
	}
	h, _, err := req.api.Household(req.ctx, e.Household)
	if err != nil {
		return err
	}
	timeline := make([]event, 0, len(visits)+len(alarms))
	for _, v := range visits {
		timeline = append(timeline, event{At: v.Date, What: methodName(v.Method) + "（" + v.Visitor + "）",
			Detail: joinNonEmpty(v.Health, v.Safety, v.Needs)})
	}
	book := words.Default()
	for _, a := range alarms {
		timeline = append(timeline, event{At: a.OpenedAt, Alarm: true, What: "告警：" + book.What(&a, &h), Detail: words.AlarmState(a.State)})
	}
	slices.SortStableFunc(timeline, func(a, b event) int { return b.At.Compare(a.At) })
	older := max(0, len(timeline)-maxTimeline)
	timeline = timeline[:len(timeline)-older]
	got := <-fetched
	if got.err != nil && got.err != errNoSeries {
		s.Logger.Warn("elder page: time-series store not read", "err", got.err)
	}
	chart := drawWater(got.water)
	chart.Unavailable, chart.None = got.err != nil && got.err != errNoSeries, got.err == errNoSeries
	s.render(req, http.StatusOK, "elder.html", map[string]any{"Title": e.Name, "E": e, "IDNumber": maskIDLast4(e.IDNumber),
		"Tel": tel(e.Phone), "Tier": words.Tier(string(e.Tier)), "Household": h, "Timeline": timeline,
		"Devices": elderDevices(h, alarms, got, now, book), "Water": chart, "Older": older, "Relations": relations(e, book)})
	return nil
}

// elderDevices is the household's kit (the gateway first) with the store's
// last reading and battery, and a status: an open maintenance alarm's words
// (alarmd's rules: silent, offline, low battery, tamper), else silent when
// the last reading is older than silentAfter, else online.
func elderDevices(h anxin.Household, alarms []anxin.Alarm, got series, now time.Time, book *words.Book) []elderDevice {
	seen := map[string]influx.DeviceSeen{}
	for _, d := range got.devs {
		seen[d.Device] = d
	}
	open := map[string]anxin.Alarm{}
	for _, a := range alarms {
		if a.Route == anxin.RouteInstaller && a.State != anxin.AlarmResolved {
			dev := a.Device
			if dev == "" {
				dev = anxin.GatewayDevice // gateway offline names no device
			}
			open[dev] = a
		}
	}
	var out []elderDevice
	devs := h.Devices
	if len(devs) > 0 {
		devs = append([]anxin.Device{{ID: anxin.GatewayDevice}}, devs...)
	}
	// the gateway sends no readings of its own: it was last heard of when
	// the last of its devices' readings came through it
	var gw influx.DeviceSeen
	for _, d := range got.devs {
		if d.LastSeen.After(gw.LastSeen) {
			gw.LastSeen = d.LastSeen
		}
	}
	for _, d := range devs {
		row := elderDevice{ID: d.ID, Kind: words.KindName("zh-CN", d.Kind), Place: d.Place}
		sd, ok := seen[d.ID]
		if d.ID == anxin.GatewayDevice {
			row.Kind, row.ID = "网关", h.ID // the box is known by its household, not the pseudo-device "gateway"
			sd, ok = influx.DeviceSeen{LastSeen: gw.LastSeen, BatteryPct: -1}, true
		}
		if ok && !sd.LastSeen.IsZero() {
			row.LastSeen = whenOf(sd.LastSeen)
		}
		switch {
		case ok && sd.BatteryPct >= 0 && sd.BatteryLow:
			row.Battery = fmt.Sprintf("%.0f%%（电量低）", sd.BatteryPct)
		case ok && sd.BatteryPct >= 0:
			row.Battery = fmt.Sprintf("%.0f%%", sd.BatteryPct)
		case ok && sd.BatteryLow:
			row.Battery = "电量低"
		}
		a, bad := open[d.ID]
		switch {
		case bad:
			row.Status, row.Class = book.What(&a, &h), "bad"
		case got.err == errNoSeries:
			row.Status, row.Class = "无维护告警", "ok"
		case got.err != nil:
			row.Status, row.Class = "状态未知", "warn"
		case row.LastSeen == "" && d.Kind == anxin.KindCallButton:
			row.Status, row.Class = "无维护告警（按钮只上报按键）", "ok"
		case row.LastSeen == "":
			row.Status, row.Class = "30天内无读数", "warn"
		case now.Sub(sd.LastSeen) > silentAfter:
			row.Status, row.Class = fmt.Sprintf("静默（%d 小时无读数）", int(now.Sub(sd.LastSeen).Hours())), "warn"
		default:
			row.Status, row.Class = "在线", "ok"
		}
		out = append(out, row)
	}
	return out
}

// maskIDLast4 shows only the last 4 characters of an ID number.
func maskIDLast4(id string) string {
	n := utf8.RuneCountInString(id)
	if n <= 4 {
		return strings.Repeat("*", n)
	}
	r := []rune(id)
	return strings.Repeat("*", n-4) + string(r[n-4:])
}

// relations are the words of the elder's contacts' relations.
func relations(e anxin.ElderRecord, book *words.Book) map[string]string {
	out := map[string]string{}
	for _, c := range e.Contacts {
		out[c.Relation] = book.Relation(c.Relation)
	}
	return out
}
