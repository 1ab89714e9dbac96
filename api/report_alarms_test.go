package api

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
)

// More alarms in a month than the old 10,000 cap: from the store every one
// is counted (by rule, accepted, unanswered, p50/p90) and nothing says
// truncated; an area sees only its households' alarms.
func TestAlarmStatsCountEveryAlarm(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i, v := range []string{"善广村", "东村"} {
		if code := e.do("POST", "/api/v1/elders", districtToken, elderJSON(fmt.Sprintf("e%d", i), v, i), nil); code != 201 {
			t.Fatal(code)
		}
	}
	e.api.Alarms = e.db // the store, as alarmd wires it (Escalation is e.db too)
	const n = 10_050
	const layout = "2006-01-02T15:04:05.000000000Z" // the alarms table's time text
	t0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	tx, err := e.db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO alarms (id, household, rule, rule_kind, severity, route, state, opened_at, updated_at, accepted_by)
		VALUES (?, ?, ?, 'event', 'critical', ?, ?, ?, ?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	// alarm i: hh-e0 for even i, hh-e1 for odd; smoke every 10th, else button;
	// every third unanswered, the others accepted after (i%100)+1 seconds;
	// every 1000th an installer alarm (not counted); 5 in October (not counted)
	var want, wantSmoke, wantUnanswered, wantE0 int
	var waits []time.Duration
	for i := range n + 5 {
		hh, rule, route, state, by := "hh-e0", "button", "family", "accepted", "李明"
		if i%2 == 1 {
			hh = "hh-e1"
		}
		if i%10 == 0 {
			rule = "smoke"
		}
		if i%3 == 0 {
			state, by = "unanswered", ""
		}
		if i%1000 == 999 {
			route = "installer"
		}
		opened := t0.Add(time.Duration(i) * time.Minute)
		if i >= n {
			opened = t0.AddDate(0, -1, 0)
		}
		if i < n && route == "family" {
			want++
			if rule == "smoke" {
				wantSmoke++
			}
			if state == "unanswered" {
				wantUnanswered++
			}
			if hh == "hh-e0" {
				wantE0++
			}
		}
		updated := opened.Add(time.Duration(i%100+1) * time.Second)
		if i < n && route == "family" && state == "accepted" {
			if i == 1 {
				waits = append(waits, 7*time.Minute) // from its chain, below
			} else {
				waits = append(waits, updated.Sub(opened))
			}
		}
		if _, err := ins.ExecContext(ctx, fmt.Sprintf("A%05d", i), hh, rule, route, state,
			opened.UTC().Format(layout), updated.UTC().Format(layout), by); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// alarm A00001's chain says it was accepted after 7 minutes: that wins over updated_at
	chain := anxin.Chain{AlarmID: "A00001", Household: "hh-e1", Severity: anxin.SeverityCritical, State: "accepted",
		Targets: []anxin.ChainTarget{{Name: "李明", Phone: "+8613900000001"}}, Steps: []int{0}, StartedAt: t0,
		UpdatedAt: t0, Deadline: t0.Add(3 * time.Minute), AcceptedBy: "李明", AcceptedAt: t0.Add(time.Minute + 7*time.Minute)}
	if _, err := e.db.CreateChain(ctx, &chain); err != nil {
		t.Fatal(err)
	}
	if want <= 10_000 {
		t.Fatalf("only %d alarms: the test proves nothing", want)
	}
	var rep struct {
		Alarms AlarmStats
	}
	if code := e.do("GET", "/api/v1/reports/alarms?month=2026-11", districtToken, nil, &rep); code != 200 {
		t.Fatal(code)
	}
	st := rep.Alarms
	if st.Total.Count != want || st.Total.Unanswered != wantUnanswered || st.Total.Accepted != want-wantUnanswered || st.Truncated {
		t.Fatalf("total %+v truncated %v; want count %d, unanswered %d", st.Total, st.Truncated, want, wantUnanswered)
	}
	if len(st.ByRule) != 2 || st.ByRule[0].Rule != "button" || st.ByRule[1].Rule != "smoke" || st.ByRule[1].Count != wantSmoke ||
		st.ByRule[0].Count+st.ByRule[1].Count != want {
		t.Fatalf("by rule %+v, want %d smoke", st.ByRule, wantSmoke)
	}
	p50, p90 := care.Percentile(waits, 50).Seconds(), care.Percentile(waits, 90).Seconds()
	if st.Total.P50Seconds != p50 || st.Total.P90Seconds != p90 {
		t.Fatalf("p50 %v p90 %v, want %v %v", st.Total.P50Seconds, st.Total.P90Seconds, p50, p90)
	}
	// a community counts only its households' alarms
	var area struct{ Alarms AlarmStats }
	e.do("GET", "/api/v1/reports/alarms?month=2026-11", shanguangTok, nil, &area)
	if area.Alarms.Total.Count != wantE0 || area.Alarms.Truncated {
		t.Fatalf("善广村: %+v, want %d", area.Alarms.Total, wantE0)
	}
	// the chain's acceptance time wins over the alarm's last update
	if _, err := e.db.SQL().ExecContext(ctx, `DELETE FROM alarms WHERE id != 'A00001'`); err != nil {
		t.Fatal(err)
	}
	var one struct{ Alarms AlarmStats }
	e.do("GET", "/api/v1/reports/alarms?month=2026-11", districtToken, nil, &one)
	if one.Alarms.Total.Count != 1 || one.Alarms.Total.P50Seconds != 420 {
		t.Fatalf("the chain's acceptance time is not used: %+v", one.Alarms.Total)
	}
}

// From an alarm source that can only list a limited number of alarms, the
// report says the counts are truncated, in JSON and in the workbook.
func TestAlarmStatsSayTruncated(t *testing.T) {
	e := newEnv(t)
	if code := e.do("POST", "/api/v1/elders", districtToken, elderJSON("e0", "善广村", 0), nil); code != 201 {
		t.Fatal(code)
	}
	t0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for i := range maxReportAlarms + 1 {
		id := fmt.Sprintf("A%05d", i)
		e.alarms.byID[id] = anxin.Alarm{ID: id, Household: "hh-e0", Rule: "button", Route: anxin.RouteFamily,
			State: anxin.AlarmUnanswered, OpenedAt: t0.Add(time.Duration(i) * time.Second), UpdatedAt: t0.Add(time.Duration(i) * time.Second)}
	}
	var rep struct{ Alarms AlarmStats }
	e.do("GET", "/api/v1/reports/alarms?month=2026-11", districtToken, nil, &rep)
	if !rep.Alarms.Truncated || rep.Alarms.Total.Count != maxReportAlarms {
		t.Fatalf("%+v", rep.Alarms)
	}
	var x []byte
	if code := e.do("GET", "/api/v1/reports/visit-rate?month=2026-11&format=xlsx", districtToken, nil, &x); code != 200 {
		t.Fatalf("xlsx: %d", code)
	}
	f, err := excelize.OpenReader(bytes.NewReader(x))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, _ := f.GetRows("告警统计")
	if last := rows[len(rows)-1]; len(last) != 1 || last[0] == "" {
		t.Fatalf("no truncation note in the sheet: %q", rows)
	}
	// below the limit nothing is said
	delete(e.alarms.byID, "A00000")
	delete(e.alarms.byID, "A00001")
	e.do("GET", "/api/v1/reports/alarms?month=2026-11", districtToken, nil, &rep)
	if rep.Alarms.Truncated || rep.Alarms.Total.Count != maxReportAlarms-1 {
		t.Fatalf("%+v", rep.Alarms)
	}
}
