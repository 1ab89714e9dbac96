package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"gopkg.in/yaml.v3"
)

func visitFilterForAlarm(id string) anxin.VisitFilter { return anxin.VisitFilter{AlarmID: id} }

// monthFormat refuses a ?month= that is not a month.
const monthFormat = "month 须为 YYYY-MM 格式，如 2026-11"

// month reads ?month=2026-11 (default: the current month) as its bounds in the plan's location.
func (s *Server) month(r *http.Request) (string, time.Time, time.Time, error) {
	m := r.URL.Query().Get("month")
	if m == "" {
		m = s.Now().In(s.Plan.Location).Format("2006-01")
	}
	t, err := time.ParseInLocation("2006-01", m, s.Plan.Location)
	if err != nil {
		return "", time.Time{}, time.Time{}, anxin.Errorf(anxin.EINVALID, monthFormat)
	}
	from, to := care.Month(t.Year(), t.Month(), s.Plan.Location)
	return m, from, to, nil
}

// VisitRateReport is the monthly report a township submits: the header
// (title, 乡镇(街道), month, 填报人, 联系电话, 制表日期), the visit rate by
// community and tier, by village, by grid worker, by tier and in total, with
// visit records counted by method, and 本月未探访名单 as of the month's end.
// In scope: elders registered before the month ended who consent to visits;
// visited: those with at least one visit that counts (care.Counts: by a
// community worker, never remote monitoring) dated in the month.
type VisitRateReport struct {
	Title    string `json:"title"`
	Township string `json:"township"` // 乡镇(街道): the area's, or the one township of its rows
	Month    string `json:"month"`
	Filler   string `json:"filler"` // 填报人 (?filler=)
	Phone    string `json:"phone"`  // 联系电话 (?phone=)
	Made     string `json:"made"`   // 制表日期, today in care.timezone
	Area     string `json:"area"`
	care.MonthRates
	NotVisitedCount int         `json:"not_visited_count"` // all of 本月未探访名单 (the web page lists the first ones)
	Alarms          *AlarmStats `json:"alarms,omitempty"`
}

// maxHeaderText bounds ?filler= and ?phone=.
const maxHeaderText = 64

// reportHeader reads ?filler= and ?phone= into the report's header.
func reportHeader(r *http.Request) (filler, phone string, err error) {
	q := r.URL.Query()
	filler, phone = strings.TrimSpace(q.Get("filler")), strings.TrimSpace(q.Get("phone"))
	for name, v := range map[string]string{"filler": filler, "phone": phone} {
		if len([]rune(v)) > maxHeaderText || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
			return "", "", anxin.Errorf(anxin.EINVALID, "%s 须为不超过 %d 个字的文字（不能有换行等控制字符）", name, maxHeaderText)
		}
	}
	return filler, phone, nil
}

// reportArea is the caller's area, narrowed by ?area= for a district token.
func reportArea(r *http.Request) (anxin.Area, error) {
	area := scope(r.Context())
	if area.All() {
		return areaParam(r)
	}
	return area, nil
}

// monthRates counts the elders of area registered before the month ended
// and their visits in [from, to); computed months are kept (reportCache)
// until the register changes.
func (s *Server) monthRates(ctx context.Context, area anxin.Area, from, to time.Time) (care.MonthRates, error) {
	key := reportKey{store: s.Store, area: area, from: from.UnixMilli(), to: to.UnixMilli()}
	version, err := s.Store.RecordsVersion(ctx)
	if err != nil {
		return care.MonthRates{}, err
	}
	if m, ok := reports.get(key, version); ok {
		return m, nil
	}
	es, err := s.Store.MonthVisits(ctx, area, from, to)
	if err != nil {
		return care.MonthRates{}, err
	}
	m := care.NewMonthRates()
	for _, e := range es {
		m.Add(care.ElderMonth{ID: e.ID, Household: e.Household, Name: e.Name, Phone: e.Phone, Township: e.Township,
			Village: e.Village, Address: e.Address, Tier: e.Tier, GridWorker: e.GridWorker, Consent: e.Consent,
			LastContact: e.LastContact, Visits: care.MethodCounts{Home: e.Home, Phone: e.PhoneCalls,
				AudioVideo: e.AudioVideo, Other: e.Other, Remote: e.Remote}})
	}
	m.Finish()
	reports.put(key, version, *m)
	return *m, nil
}

func (s *Server) visitRateReport(ctx context.Context, area anxin.Area, month string, from, to time.Time) (VisitRateReport, error) {
	m, err := s.monthRates(ctx, area, from, to)
	if err != nil {
		return VisitRateReport{}, err
	}
	rep := VisitRateReport{Month: month, Area: area.String(), MonthRates: m, Township: area.Township,
		Made: s.Plan.Day(s.Now()).Format(time.DateOnly)}
	if rep.Township == "" {
		for i, v := range m.ByVillage {
			if i == 0 {
				rep.Township = v.Township
			} else if v.Township != rep.Township {
				rep.Township = ""
				break
			}
		}
	}
	// NotVisited is the kept month's list: callers mask a copy (maskNotVisited)
	rep.NotVisitedCount = len(m.NotVisited)
	y, mo, _ := from.Date()
	rep.Title = fmt.Sprintf("%s特殊困难老年人探访关爱服务月报表（%d年%d月）", rep.Township, y, mo)
	return rep, nil
}

// visitRate: GET reports/visit-rate?month=2026-11[&format=xlsx][&filler=][&phone=][&area=][&unmasked=1].
// The XLSX has the sheets 月报 (by tier and total), 按村(社区), 按网格员,
// 本月未探访名单 and 告警统计, each under the report's title and header;
// counts are number cells and rates percent number cells ("—" when
// nobody is in scope), so Excel sums them.
func (s *Server) visitRate(w http.ResponseWriter, r *http.Request) error {
	m, from, to, err := s.month(r)
	if err != nil {
		return err
	}
	filler, phone, err := reportHeader(r)
	if err != nil {
		return err
	}
	area, err := reportArea(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	rep, err := s.visitRateReport(ctx, area, m, from, to)
	if err != nil {
		return err
	}
	rep.Filler, rep.Phone = filler, phone
	if rep.Alarms, err = s.alarmStats(ctx, from, to); err != nil {
		return err
	}
	if rep.NotVisited, err = s.maskNotVisited(r, rep.NotVisited, len(rep.NotVisited)); err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	if format == "" && strings.Contains(r.Header.Get("Accept"), "spreadsheetml") {
		format = "xlsx"
	}
	switch format {
	case "", "json":
		writeJSON(w, http.StatusOK, rep)
		return nil
	case "xlsx":
	default:
		return anxin.Errorf(anxin.EINVALID, "format 须为 json 或 xlsx")
	}
	var buf bytes.Buffer
	if err := writeReportXLSX(&buf, rep, s.Plan.Location); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", `attachment; filename="visit-rate-`+m+`.xlsx"; filename*=UTF-8''`+
		url.PathEscape(rep.Month+"探访月报.xlsx"))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes()) // headers are sent: a failed write means the client went away
	return nil
}

// maskNotVisited is a copy of the first n of 本月未探访名单 (a kept
// month's list, never changed) with names and phone numbers masked, or,
// with ?unmasked=1, in full with their read audited.
func (s *Server) maskNotVisited(r *http.Request, items []care.NotVisited, n int) ([]care.NotVisited, error) {
	out := slices.Clone(items[:min(n, len(items))])
	if unmasked(r) {
		ids := make([]string, len(out))
		for i := range out {
			ids[i] = out[i].ID
		}
		return out, s.audit(r.Context(), auditReportRead, "", ids...)
	}
	for i := range out {
		out[i].Name, out[i].Phone = anxin.MaskName(out[i].Name), anxin.MaskPhone(out[i].Phone)
	}
	return out, nil
}

func day(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	if loc == nil {
		loc = time.UTC // as care.Plan.Day does
	}
	return t.In(loc).Format(time.DateOnly)
}

// AlarmRuleStats counts one rule's alarms in a period.
type AlarmRuleStats struct {
	Rule       string  `json:"rule"`
	Count      int     `json:"count"`
	Accepted   int     `json:"accepted"`
	Unanswered int     `json:"unanswered"`
	P50Seconds float64 `json:"accept_p50_s"` // time from opening to acceptance
	P90Seconds float64 `json:"accept_p90_s"`
}

// AlarmStats is the alarm part of the monthly report.
type AlarmStats struct {
	ByRule []AlarmRuleStats `json:"by_rule"`
	Total  AlarmRuleStats   `json:"total"`
	// Truncated is true when the alarm source could give only the first
	// maxReportAlarms alarms of the period and that many were read: the
	// counts may then be low. The store (anxin.AlarmStore) gives every alarm.
	Truncated bool `json:"truncated"`
}

// maxReportAlarms bounds the alarms read for one report from an alarm
// source that cannot stream them all (not the store: see AlarmOutcomeSource).
const maxReportAlarms = 10000

// alarmTally adds up the alarms of a report.
type alarmTally struct {
	byRule map[string]*AlarmRuleStats
	waits  map[string][]time.Duration
	all    []time.Duration
	total  AlarmRuleStats
}

func (t *alarmTally) add(rule string, st anxin.AlarmState, wait time.Duration, accepted bool) {
	r := t.byRule[rule]
	if r == nil {
		r = &AlarmRuleStats{Rule: rule}
		t.byRule[rule] = r
	}
	for _, x := range []*AlarmRuleStats{r, &t.total} {
		x.Count++
		if st == anxin.AlarmUnanswered {
			x.Unanswered++
		}
		if accepted {
			x.Accepted++
		}
	}
	if accepted {
		t.waits[rule] = append(t.waits[rule], wait)
		t.all = append(t.all, wait)
	}
}

func (t *alarmTally) stats() *AlarmStats {
	st := &AlarmStats{ByRule: []AlarmRuleStats{}, Total: t.total}
	st.Total.Rule = "合计"
	for rule, r := range t.byRule {
		r.P50Seconds = care.Percentile(t.waits[rule], 50).Seconds()
		r.P90Seconds = care.Percentile(t.waits[rule], 90).Seconds()
		st.ByRule = append(st.ByRule, *r)
	}
	st.Total.P50Seconds, st.Total.P90Seconds = care.Percentile(t.all, 50).Seconds(), care.Percentile(t.all, 90).Seconds()
	slices.SortFunc(st.ByRule, func(a, b AlarmRuleStats) int { return strings.Compare(a.Rule, b.Rule) })
	return st
}

// alarmStats counts the family-route alarms opened in [from, to) in the
// caller's area. From the store every alarm is counted, in one scan; from
// another alarm source at most maxReportAlarms, and Truncated says when the
// limit was reached.
func (s *Server) alarmStats(ctx context.Context, from, to time.Time) (*AlarmStats, error) {
	if s.Alarms == nil {
		return nil, nil
	}
	hh, err := s.areaHouseholds(ctx)
	if err != nil {
		return nil, err
	}
	t := &alarmTally{byRule: map[string]*AlarmRuleStats{}, waits: map[string][]time.Duration{}}
	// the store joins the escalation's acceptance times itself: only when they are the ones this server reads
	if src, ok := s.Alarms.(AlarmOutcomeSource); ok && (s.Escalation == nil || any(s.Escalation) == any(s.Alarms)) {
		err := src.EachAlarmOutcome(ctx, from, to, hh, func(o anxin.AlarmOutcome) error {
			if s.Escalation == nil {
				o.ChainAcceptedAt = time.Time{}
			}
			d, ok := acceptWait(o.State, o.AcceptedBy, o.OpenedAt, o.UpdatedAt, o.ChainAcceptedAt)
			t.add(o.Rule, o.State, d, ok)
			return nil
		})
		if err != nil {
			return nil, err
		}
		return t.stats(), nil
	}
	as, err := s.Alarms.AlarmsOpened(ctx, from, to, hh, maxReportAlarms)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		if a.Route == anxin.RouteInstaller {
			continue // maintenance, not people
		}
		d, ok, err := s.acceptedAfter(ctx, a)
		if err != nil {
			return nil, err
		}
		t.add(a.Rule, a.State, d, ok)
	}
	st := t.stats()
	st.Truncated = len(as) >= maxReportAlarms
	return st, nil
}

// alarmReport: GET reports/alarms?month=2026-11.
func (s *Server) alarmReport(w http.ResponseWriter, r *http.Request) error {
	m, from, to, err := s.month(r)
	if err != nil {
		return err
	}
	st, err := s.alarmStats(r.Context(), from, to)
	if err != nil {
		return err
	}
	if st == nil {
		st = &AlarmStats{ByRule: []AlarmRuleStats{}, Total: AlarmRuleStats{Rule: "合计"}}
	}
	writeJSON(w, http.StatusOK, map[string]any{"month": m, "alarms": st})
	return nil
}

func (s *Server) listHouseholds(w http.ResponseWriter, r *http.Request) error {
	out := []anxin.Household{}
	if s.Households == nil {
		writeJSON(w, http.StatusOK, map[string]any{"households": out})
		return nil
	}
	list, err := s.visibleHouseholds(r.Context())
	if err != nil {
		return err
	}
	for _, h := range list {
		out = append(out, maskHousehold(h))
	}
	writeJSON(w, http.StatusOK, map[string]any{"households": out})
	return nil
}

// exportHouseholds writes the area's households in households_file's format
// (YAML, phones in full, audited): the register's households as alarmd
// runs them, to edit and load back, or to keep.
func (s *Server) exportHouseholds(w http.ResponseWriter, r *http.Request) error {
	var list []anxin.Household
	if s.Households != nil {
		var err error
		if list, err = s.visibleHouseholds(r.Context()); err != nil {
			return err
		}
	}
	slices.SortFunc(list, func(a, b anxin.Household) int { return strings.Compare(a.ID, b.ID) })
	ids := make([]string, len(list))
	for i := range list {
		ids[i] = list[i].ID
	}
	if err := s.audit(r.Context(), auditHouseholdRead, "export", ids...); err != nil {
		return err
	}
	body, err := yaml.Marshal(map[string]any{"households": list})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="households.yaml"`)
	_, err = w.Write(body)
	return err
}

// maskHousehold hides phone numbers in a list.
func maskHousehold(h anxin.Household) anxin.Household {
	h.Elder.Phone = anxin.MaskPhone(h.Elder.Phone)
	h.Contacts, h.Community = slices.Clone(h.Contacts), slices.Clone(h.Community)
	for i := range h.Contacts {
		h.Contacts[i].Phone = anxin.MaskPhone(h.Contacts[i].Phone)
	}
	for i := range h.Community {
		h.Community[i].Phone = anxin.MaskPhone(h.Community[i].Phone)
	}
	return h
}

// visibleHousehold is a household of this alarmd the caller's area may
// see; anything else is "not found" (never "forbidden": that would say it
// exists).
func (s *Server) visibleHousehold(ctx context.Context, id string) (anxin.Household, error) {
	if s.Households != nil {
		if ok, err := s.Store.HouseholdInArea(ctx, id, scope(ctx)); err != nil {
			return anxin.Household{}, err
		} else if ok {
			h, err := s.Households.Household(ctx, id)
			if anxin.ErrorCode(err) != anxin.ENOTFOUND {
				return h, err
			}
		}
	}
	return anxin.Household{}, anxin.Errorf(anxin.ENOTFOUND, "没有找到住户 %q", clip(id))
}

func (s *Server) getHousehold(w http.ResponseWriter, r *http.Request) error {
	h, err := s.visibleHousehold(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := s.audit(r.Context(), auditHouseholdRead, "", h.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, h)
	return nil
}
