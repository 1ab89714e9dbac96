package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/ledger"
)

func visitFilterForAlarm(id string) anxin.VisitFilter { return anxin.VisitFilter{AlarmID: id} }

// month reads ?month=2026-11 (default: the current month) as its bounds in the plan's location.
func (s *Server) month(r *http.Request) (string, time.Time, time.Time, error) {
	m := r.URL.Query().Get("month")
	if m == "" {
		m = s.Now().In(s.Plan.Location).Format("2006-01")
	}
	t, err := time.ParseInLocation("2006-01", m, s.Plan.Location)
	if err != nil {
		return "", time.Time{}, time.Time{}, anxin.Errorf(anxin.EINVALID, "month must be YYYY-MM")
	}
	from, to := care.Month(t.Year(), t.Month(), s.Plan.Location)
	return m, from, to, nil
}

// VisitRateReport is the monthly visit rate: elders registered before the
// month ended who consent to visits are in scope; those with at least one
// visit (any method, alarm outcomes included) in the month are visited.
type VisitRateReport struct {
	Month   string         `json:"month"`
	Area    string         `json:"area"`
	Rows    []care.RateRow `json:"rows"`    // by township, village and tier
	ByTier  []care.RateRow `json:"by_tier"` // whole area by tier
	Total   care.RateRow   `json:"total"`
	Overdue []DueItem      `json:"overdue,omitempty"` // as of today, whatever the month (docs/care.md)
	Alarms  *AlarmStats    `json:"alarms,omitempty"`
}

func (s *Server) visitRateReport(ctx context.Context, area anxin.Area, from, to time.Time) (VisitRateReport, error) {
	counts, err := s.Store.VisitCounts(ctx, area, from, to)
	if err != nil {
		return VisitRateReport{}, err
	}
	rep := VisitRateReport{Area: area.String(), Total: care.RateRow{Township: "合计", Village: "合计", Tier: "all"}}
	rows := map[[3]string]*care.RateRow{}
	tiers := map[string]*care.RateRow{}
	var order [][3]string
	for _, c := range counts {
		k := [3]string{c.Township, c.Village, string(c.Tier)}
		row := rows[k]
		if row == nil {
			row = &care.RateRow{Township: c.Township, Village: c.Village, Tier: string(c.Tier)}
			rows[k] = row
			order = append(order, k)
		}
		tr := tiers[string(c.Tier)]
		if tr == nil {
			tr = &care.RateRow{Township: "合计", Village: "合计", Tier: string(c.Tier)}
			tiers[string(c.Tier)] = tr
		}
		for _, r := range []*care.RateRow{row, tr, &rep.Total} {
			if c.Consent {
				r.InScope += c.Elders
				r.Visited += c.Visited
			} else {
				r.Declined += c.Elders
			}
		}
	}
	for _, k := range order {
		rows[k].Finish()
		rep.Rows = append(rep.Rows, *rows[k])
	}
	for _, t := range []anxin.Tier{anxin.TierHigh, anxin.TierKey, anxin.TierGeneral, anxin.TierIrregular} {
		if tr := tiers[string(t)]; tr != nil {
			tr.Finish()
			rep.ByTier = append(rep.ByTier, *tr)
		}
	}
	rep.Total.Finish()
	if rep.Rows == nil {
		rep.Rows = []care.RateRow{}
	}
	return rep, nil
}

// visitRate: GET reports/visit-rate?month=2026-11[&format=xlsx]. The XLSX
// has three sheets: 探访率, 逾期名单 (overdue elders, ID numbers masked) and
// 告警统计.
func (s *Server) visitRate(w http.ResponseWriter, r *http.Request) error {
	m, from, to, err := s.month(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	area := scope(ctx)
	// the three parts read the store on separate connections: run them side by side
	var (
		wg                     sync.WaitGroup
		rep                    VisitRateReport
		all                    []DueItem
		repErr, dueErr, almErr error
	)
	wg.Go(func() { rep, repErr = s.visitRateReport(ctx, area, from, to) })
	wg.Go(func() { all, _, dueErr = s.overdue(r) })
	stats, almErr := s.alarmStats(ctx, from, to)
	wg.Wait()
	if err := errors.Join(repErr, dueErr, almErr); err != nil {
		return err
	}
	rep.Month, rep.Overdue = m, all
	rep.Alarms = stats
	if err := s.maskDue(r, auditReportRead, rep.Overdue); err != nil {
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
		return anxin.Errorf(anxin.EINVALID, "format must be json or xlsx")
	}
	var buf bytes.Buffer
	if err := ledger.WriteXLSX(&buf, reportSheets(rep, s.Plan.Location)...); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", `attachment; filename="visit-rate-`+m+`.xlsx"`)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes()) // headers are sent: a failed write means the client went away
	return nil
}

var tierNames = map[string]string{"irregular": "不定期", "general": "一般", "key": "重点", "high": "高风险", "all": "全部"}

func pct(f float64) string { return strconv.FormatFloat(f*100, 'f', 1, 64) + "%" }

func rateRow(r care.RateRow) []string {
	return []string{r.Township, r.Village, tierNames[r.Tier], strconv.Itoa(r.InScope), strconv.Itoa(r.Visited),
		pct(r.Rate), strconv.Itoa(r.Declined)}
}

// reportSheets lays the report out as the sheets community workers hand in;
// dates are days in loc, like the due dates beside them.
func reportSheets(rep VisitRateReport, loc *time.Location) []ledger.Sheet {
	rate := [][]string{{"乡镇(街道)", "村(社区)", "风险等级", "应探访人数", "已探访人数", "探访率", "不同意探访人数"}}
	for _, r := range rep.Rows {
		rate = append(rate, rateRow(r))
	}
	for _, r := range rep.ByTier {
		rate = append(rate, rateRow(r))
	}
	rate = append(rate, rateRow(rep.Total))
	over := [][]string{{"序号", "档案编号", "姓名", "乡镇(街道)", "村(社区)", "风险等级", "网格员", "最近联系", "最近上门", "电话探访应于", "上门探访应于", "逾期天数"}}
	for i, it := range rep.Overdue {
		over = append(over, []string{strconv.Itoa(i + 1), it.ID, it.Name, it.Township, it.Village, tierNames[string(it.Tier)],
			it.GridWorker, day(it.LastContact, loc), day(it.LastHome, loc), it.PhoneDue, it.HomeDue, strconv.Itoa(it.DaysOverdue)})
	}
	alarms := [][]string{{"规则", "告警数", "已接受", "无人应答", "接受用时P50(秒)", "接受用时P90(秒)"}}
	if rep.Alarms != nil {
		for _, r := range append(slices.Clone(rep.Alarms.ByRule), rep.Alarms.Total) {
			alarms = append(alarms, []string{r.Rule, strconv.Itoa(r.Count), strconv.Itoa(r.Accepted), strconv.Itoa(r.Unanswered),
				fmt.Sprintf("%.0f", r.P50Seconds), fmt.Sprintf("%.0f", r.P90Seconds)})
		}
		if rep.Alarms.Truncated {
			alarms = append(alarms, []string{fmt.Sprintf("注意：只统计了前 %d 条告警，实际更多，以上数字偏低", maxReportAlarms)})
		}
	}
	return []ledger.Sheet{
		{Name: "探访率", Rows: rate, Width: []float64{14, 14, 10, 12, 12, 10, 16}},
		{Name: "逾期名单", Rows: over, Width: []float64{6, 16, 10, 14, 14, 10, 10, 12, 12, 14, 14, 10}},
		{Name: "告警统计", Rows: alarms, Width: []float64{20, 10, 10, 10, 18, 18}},
	}
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
	hh, err := s.areaHouseholds(r.Context())
	if err != nil {
		return err
	}
	for _, h := range s.Households() {
		if hh != nil && !hh[h.ID] {
			continue
		}
		out = append(out, maskHousehold(h))
	}
	writeJSON(w, http.StatusOK, map[string]any{"households": out})
	return nil
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
			for _, h := range s.Households() {
				if h.ID == id {
					return h, nil
				}
			}
		}
	}
	return anxin.Household{}, anxin.Errorf(anxin.ENOTFOUND, "no household %q", clip(id))
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
