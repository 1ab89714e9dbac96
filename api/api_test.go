package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/ledger"
	"github.com/anxin-care/anxin/sqlite"
)

const (
	districtToken = "district-token-0123456789abcdef"
	shanguangTok  = "shanguang-token-0123456789abcdef"
	dongcunTok    = "dongcun-token-0123456789abcdef"
)

// now is the fake clock: 23 Nov 2026, 10:00 in Beijing.
var now = time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)

type env struct {
	t      testing.TB
	srv    *httptest.Server
	db     *sqlite.DB
	api    *Server
	logs   *syncBuffer
	alarms *fakeAlarms
}

type syncBuffer = testenv.SyncBuffer

func newEnv(t testing.TB) *env {
	t.Helper()
	db, err := sqlite.Open(context.Background(), t.TempDir()+"/alarmd.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	logs := &syncBuffer{}
	fa := &fakeAlarms{byID: map[string]anxin.Alarm{}}
	s := &Server{Store: db, Plan: care.DefaultPlan(), Now: func() time.Time { return now },
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Tokens: []Token{{Name: "district", Token: districtToken}, {Name: "shanguang", Token: shanguangTok, Area: "善广村"},
			{Name: "dongcun", Token: dongcunTok, Area: "东村"}},
		Alarms: fa, Escalation: db,
		Households: HouseholdList{{ID: "hh-1", Elder: anxin.Elder{Name: "张桂兰", Phone: "+8613800001234", Tier: "key"}},
			{ID: "hh-2", Elder: anxin.Elder{Name: "李四", Tier: "general"}}}}
	srv := httptest.NewServer(s.Handler()) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, db: db, api: s, logs: logs, alarms: fa}
}

// do sends a request and decodes a JSON answer into out (if not nil).
func (e *env) do(method, path, token string, body any, out any) int {
	e.t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ct = bytes.NewReader(b), "application/octet-stream"
	case string:
		rd, ct = strings.NewReader(b), "text/csv"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if out != nil {
		if p, ok := out.(*[]byte); ok {
			*p = data
		} else if err := json.Unmarshal(data, out); err != nil {
			e.t.Fatalf("%s %s: %d %s: %v", method, path, res.StatusCode, data, err)
		}
	}
	return res.StatusCode
}

func idNumber(birth string, seq int) string {
	s := "530128" + birth + fmt.Sprintf("%03d", seq)
	return s + string(care.CheckDigit(s))
}

func elderJSON(id, village string, seq int) map[string]any {
	return map[string]any{
		"id": id, "household": "hh-" + id, "name": "张桂兰", "id_number": idNumber("19400506", seq), "phone": "13800001234",
		"current_address": map[string]any{"county": "禄劝县", "township": "屏山街道", "village": village},
		"categories":      []string{"独居"},
		"assessment":      map[string]any{"guardianship": "独居", "self_care": "中度失能", "health": "正常", "assessed_on": "2026-03-01T00:00:00Z"},
		"contacts":        []map[string]any{{"name": "李明", "relation": "child", "phone": "13900000001"}},
		"grid_worker":     "王芳", "consent": true,
	}
}

type errBody struct {
	Error apiError `json:"error"`
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	var eb errBody
	for _, tok := range []string{"", "wrong-token-0123456789abcdef", districtToken + "x", strings.ToUpper(districtToken)} {
		if code := e.do("GET", "/api/v1/elders", tok, nil, &eb); code != 401 || eb.Error.Code != "unauthorized" {
			t.Errorf("token %q: %d %+v", tok, code, eb)
		}
	}
	if code := e.do("GET", "/api/v1/elders", districtToken, nil, nil); code != 200 {
		t.Errorf("district token: %d", code)
	}
	if code := e.do("GET", "/api/v1/nothing", districtToken, nil, &eb); code != 404 || eb.Error.Code != "not_found" {
		t.Errorf("unknown endpoint: %d %+v", code, eb)
	}
	if strings.Contains(e.logs.String(), districtToken) || strings.Contains(e.logs.String(), "wrong-token") {
		t.Error("a token reached the log")
	}
}

func TestEldersAndAreaAccess(t *testing.T) {
	e := newEnv(t)
	var got anxin.ElderRecord
	if code := e.do("POST", "/api/v1/elders", shanguangTok, elderJSON("e1", "善广村", 1), &got); code != 201 {
		t.Fatalf("create: %d %+v", code, got)
	}
	if got.Score != 3+3+0+3 || got.Tier != anxin.TierKey || got.Assessment.Age != 85 || got.Phone != "+8613800001234" {
		t.Fatalf("computed fields: %+v", got)
	}
	var eb errBody
	// a community cannot register an elder in another community
	if code := e.do("POST", "/api/v1/elders", shanguangTok, elderJSON("e2", "东村", 2), &eb); code != 403 || eb.Error.Code != "forbidden" {
		t.Fatalf("create outside area: %d %+v", code, eb)
	}
	if code := e.do("POST", "/api/v1/elders", dongcunTok, elderJSON("e2", "东村", 2), nil); code != 201 {
		t.Fatalf("create e2: %d", code)
	}
	// the same ID number twice
	dup := elderJSON("e3", "东村", 2)
	if code := e.do("POST", "/api/v1/elders", districtToken, dup, &eb); code != 409 || eb.Error.Code != "conflict" {
		t.Fatalf("duplicate ID number: %d %+v", code, eb)
	}
	// every invalid field at once
	bad := elderJSON("e4", "东村", 4)
	bad["id_number"], bad["phone"] = "110105194912310021", "12"
	bad["assessment"] = map[string]any{"guardianship": "?", "self_care": "完好", "health": "正常"}
	if code := e.do("POST", "/api/v1/elders", districtToken, bad, &eb); code != 400 || len(eb.Error.Fields) != 3 {
		t.Fatalf("invalid: %d %+v", code, eb)
	}
	// ACCESS: a community token cannot read another community's elder: 404, as if it did not exist
	if code := e.do("GET", "/api/v1/elders/e2", shanguangTok, nil, &eb); code != 404 || eb.Error.Code != "not_found" {
		t.Fatalf("善广村 reads 东村's elder: %d", code)
	}
	if code := e.do("PUT", "/api/v1/elders/e2", shanguangTok, elderJSON("e2", "善广村", 2), &eb); code != 404 {
		t.Fatalf("善广村 takes over 东村's elder: %d %+v", code, eb)
	}
	if got, _ := e.db.Elder(context.Background(), "e2"); got.Current.Village != "东村" {
		t.Fatal("elder moved by another community")
	}
	if code := e.do("GET", "/api/v1/elders/e2", districtToken, nil, &got); code != 200 || got.IDNumber != idNumber("19400506", 2) {
		t.Fatalf("district reads e2: %d %+v", code, got)
	}
	var list struct {
		Elders []anxin.ElderRecord `json:"elders"`
		Total  int                 `json:"total"`
	}
	if code := e.do("GET", "/api/v1/elders", shanguangTok, nil, &list); code != 200 || list.Total != 1 || list.Elders[0].ID != "e1" {
		t.Fatalf("list: %d %+v", code, list)
	}
	if list.Elders[0].IDNumber != anxin.MaskIDNumber(idNumber("19400506", 1)) || !strings.Contains(list.Elders[0].IDNumber, "**********") {
		t.Fatalf("list shows %q, not a masked ID number", list.Elders[0].IDNumber)
	}
	if code := e.do("GET", "/api/v1/elders?area=东村", shanguangTok, nil, &list); list.Total != 1 || list.Elders[0].ID != "e1" {
		t.Fatalf("a community widened its area with ?area=: %d %+v", code, list)
	}
	if code := e.do("GET", "/api/v1/elders", districtToken, nil, &list); list.Total != 2 {
		t.Fatalf("district list: %d %+v", code, list)
	}
	// update keeps created_at, recomputes the tier
	upd := elderJSON("e1", "善广村", 1)
	upd["assessment"] = map[string]any{"guardianship": "孤寡", "self_care": "重度失能", "health": "重残或重病", "assessed_on": "2026-03-01T00:00:00Z"}
	if code := e.do("PUT", "/api/v1/elders/e1", shanguangTok, upd, &got); code != 200 || got.Tier != anxin.TierHigh || !got.CreatedAt.Equal(now) {
		t.Fatalf("update: %d %+v", code, got)
	}
	logs := e.logs.String()
	for _, secret := range []string{idNumber("19400506", 1), "13800001234", "张桂兰", shanguangTok} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds %q", secret)
		}
	}
}

func TestImportExportRoundTrip(t *testing.T) {
	e := newEnv(t)
	for i, v := range []string{"善广村", "东村", "善广村"} {
		if code := e.do("POST", "/api/v1/elders", districtToken, elderJSON(fmt.Sprintf("e%d", i), v, i), nil); code != 201 {
			t.Fatal(code)
		}
	}
	var first []byte
	if code := e.do("GET", "/api/v1/elders/export?format=xlsx", districtToken, nil, &first); code != 200 {
		t.Fatalf("export: %d %s", code, first)
	}
	// into an empty store, by API
	e2 := newEnv(t)
	var res importResult
	if code := e2.do("POST", "/api/v1/elders/import", districtToken, first, &res); code != 200 || res.Imported != 3 {
		t.Fatalf("import: %d %v", code, res)
	}
	var second []byte
	e2.do("GET", "/api/v1/elders/export", districtToken, nil, &second)
	if a, b := cells(t, first), cells(t, second); !slices.EqualFunc(a, b, slices.Equal) {
		t.Fatalf("export differs after import:\n%v\n%v", a, b)
	}
	// a community imports only its own rows: a file with another community's rows is refused whole
	var eb errBody
	e3 := newEnv(t)
	if code := e3.do("POST", "/api/v1/elders/import", shanguangTok, first, &eb); code != 400 || len(eb.Error.Rows) != 1 || eb.Error.Rows[0].Row != 3 {
		t.Fatalf("import outside area: %d %+v", code, eb)
	}
	if n, _ := e3.db.CountElders(context.Background(), sqlite.ElderFilter{}); n != 0 {
		t.Fatalf("%d elders stored from a refused file", n)
	}
	// CSV with a bad row: every problem reported, nothing stored
	var csvOut []byte
	e.do("GET", "/api/v1/elders/export?format=csv&mask=1", districtToken, nil, &csvOut)
	if !strings.Contains(string(csvOut), "5301**********") {
		t.Fatalf("masked export: %s", csvOut)
	}
	if code := e3.do("POST", "/api/v1/elders/import", districtToken, string(csvOut), &eb); code != 400 {
		t.Fatalf("import of a masked file: %d %+v", code, eb)
	}
	masked := 0
	for _, r := range eb.Error.Rows {
		if r.Column == "身份证号" && strings.Contains(r.Message, "打码") {
			masked++
		}
	}
	if masked != 3 {
		t.Fatalf("import of a masked file: %+v", eb)
	}
	// a second import of the same ledger updates, it does not duplicate
	if code := e2.do("POST", "/api/v1/elders/import", districtToken, first, &res); code != 200 {
		t.Fatalf("re-import: %d", code)
	}
	if n, _ := e2.db.CountElders(context.Background(), sqlite.ElderFilter{}); n != 3 {
		t.Fatalf("%d elders after re-import", n)
	}
}

func cells(t *testing.T, xlsx []byte) [][]string {
	f, err := excelize.OpenReader(bytes.NewReader(xlsx))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := f.GetRows(ledger.SheetName)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestVisitsDueAndReport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// registered at `now` (23 Nov): e0 key tier in 善广村, e1 in 东村, e2 declines visits
	for i, v := range []string{"善广村", "东村", "善广村"} {
		ej := elderJSON(fmt.Sprintf("e%d", i), v, i)
		ej["consent"] = i != 2
		if code := e.do("POST", "/api/v1/elders", districtToken, ej, nil); code != 201 {
			t.Fatal(code)
		}
	}
	var v anxin.Visit
	visit := map[string]any{"household": "hh-e0", "date": "2026-11-20T03:00:00Z", "method": "home", "health": "精神好",
		"safety": "燃气正常", "needs": "代购药品", "visitor": "王芳"}
	if code := e.do("POST", "/api/v1/visits", shanguangTok, visit, &v); code != 201 || v.ID == "" {
		t.Fatalf("visit: %d %+v", code, v)
	}
	var eb errBody
	visit["household"] = "hh-e1"
	if code := e.do("POST", "/api/v1/visits", shanguangTok, visit, &eb); code != 404 {
		t.Fatalf("visit to another community's elder: %d", code)
	}
	visit["method"] = "fax"
	if code := e.do("POST", "/api/v1/visits", districtToken, visit, &eb); code != 400 {
		t.Fatalf("bad method: %d", code)
	}
	// an alarm outcome, as the escalation records it: remote monitoring, follow-up due tomorrow
	alarmVisit := anxin.Visit{Household: "hh-e1", Date: now.Add(-time.Hour), Method: anxin.VisitRemoteMonitoring,
		Visitor: "李明", AlarmID: "01ALARM", FollowUpDue: now.Add(23 * time.Hour)}
	if err := e.db.CreateVisit(ctx, &alarmVisit); err != nil {
		t.Fatal(err)
	}
	var vl struct{ Visits []anxin.Visit }
	if e.do("GET", "/api/v1/visits", dongcunTok, nil, &vl); len(vl.Visits) != 1 || vl.Visits[0].AlarmID != "01ALARM" {
		t.Fatalf("东村 visits: %+v", vl)
	}
	var due struct {
		Today  string
		Count  int
		Elders []DueItem
	}
	// e0 (key: phone 5, home 15): home visit on 20 Nov → phone due 25 Nov, home 5 Dec; e1 never contacted: due today
	due.Elders = nil
	e.do("GET", "/api/v1/due?within=1", districtToken, nil, &due)
	if due.Today != "2026-11-23" || due.Count != 1 || due.Elders[0].ID != "e1" {
		t.Fatalf("due within 2 days: %+v", due)
	}
	due.Elders = nil
	due.Elders = nil
	e.do("GET", "/api/v1/due?within=1&visitor=王芳&village=善广村", districtToken, nil, &due)
	if due.Count != 0 {
		t.Fatalf("due for 王芳 in 善广村: %+v", due)
	}
	due.Elders = nil
	e.do("GET", "/api/v1/due?within=3", shanguangTok, nil, &due)
	if due.Count != 1 || due.Elders[0].PhoneDue != "2026-11-25" || due.Elders[0].HomeDue != "2026-12-05" {
		t.Fatalf("due within 3 days: %+v", due)
	}
	due.Elders = nil
	e.do("GET", "/api/v1/follow-ups", districtToken, nil, &due)
	if due.Count != 1 || due.Elders[0].FollowUpAlarm != "01ALARM" {
		t.Fatalf("follow-ups: %+v", due)
	}
	due.Elders = nil
	e.do("GET", "/api/v1/follow-ups", shanguangTok, nil, &due)
	if due.Count != 0 {
		t.Fatalf("善广村 sees 东村's follow-up: %+v", due)
	}
	// a month later nobody has been seen: both consenting elders are overdue
	e.api.Now = func() time.Time { return now.AddDate(0, 1, 0) }
	due.Elders = nil
	e.do("GET", "/api/v1/overdue", districtToken, nil, &due)
	if due.Count != 2 || due.Elders[0].ID != "e1" || due.Elders[0].DaysOverdue != 30 {
		t.Fatalf("overdue: %+v", due)
	}
	e.api.Now = func() time.Time { return now }

	var rep VisitRateReport
	if code := e.do("GET", "/api/v1/reports/visit-rate?month=2026-11", districtToken, nil, &rep); code != 200 {
		t.Fatalf("report: %d", code)
	}
	// in scope: e0 and e1 (e2 declined); visited: e0 (home) only — e1's alarm outcome is remote monitoring
	if rep.Total.InScope != 2 || rep.Total.Visited != 1 || rep.Total.Declined != 1 || rep.Total.Rate == nil ||
		*rep.Total.Rate != 0.5 || len(rep.Rows) != 2 || rep.Total.Remote != 1 || rep.Total.RemoteOnly != 1 ||
		rep.Total.Methods != (care.MethodCounts{Home: 1, Remote: 1}) {
		t.Fatalf("total: %+v", rep.Total)
	}
	if len(rep.NotVisited) != 1 || rep.NotVisited[0].ID != "e1" || rep.NotVisited[0].Name != "张**" || rep.NotVisited[0].Remote != 1 {
		t.Fatalf("not visited: %+v", rep.NotVisited)
	}
	e.do("GET", "/api/v1/reports/visit-rate?month=2026-10", districtToken, nil, &rep)
	if rep.Total.InScope != 0 || rep.Total.Rate != nil {
		t.Fatalf("October, before anyone registered: %+v", rep.Total)
	}
	e.do("GET", "/api/v1/reports/visit-rate?month=2026-11", shanguangTok, nil, &rep)
	if rep.Total.InScope != 1 || rep.Total.Declined != 1 || len(rep.Rows) != 1 {
		t.Fatalf("善广村 report: %+v", rep)
	}
	if code := e.do("GET", "/api/v1/reports/visit-rate?month=2026-13", districtToken, nil, &eb); code != 400 {
		t.Fatalf("bad month: %d", code)
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
	if got := f.GetSheetList(); !slices.Equal(got, []string{"月报", "按村(社区)", "按网格员", "本月未探访名单", "告警统计"}) {
		t.Fatalf("sheets %v", got)
	}
	rows, _ := f.GetRows("月报")
	last := rows[len(rows)-1]
	if last[0] != "合计" || last[1] != "2" || last[2] != "1" || last[3] != "50.0%" || last[len(last)-1] != "1" {
		t.Fatalf("total row %v", last)
	}
}

// fakeAlarms stands in for the ingest store's alarms.
type fakeAlarms struct {
	byID map[string]anxin.Alarm
}

func (f *fakeAlarms) Alarm(_ context.Context, id string) (anxin.Alarm, error) {
	a, ok := f.byID[id]
	if !ok {
		return a, anxin.Errorf(anxin.ENOTFOUND, "no alarm %s", id)
	}
	return a, nil
}

func (f *fakeAlarms) AlarmsOpened(_ context.Context, since, until time.Time, hh map[string]bool, limit int) ([]anxin.Alarm, error) {
	var out []anxin.Alarm
	for _, a := range f.byID {
		if !a.OpenedAt.Before(since) && a.OpenedAt.Before(until) && (hh == nil || hh[a.Household]) {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b anxin.Alarm) int { return strings.Compare(a.ID, b.ID) })
	return out[:min(len(out), limit)], nil
}

func TestAlarmsTimelineAndStats(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i, v := range []string{"善广村", "东村"} {
		if code := e.do("POST", "/api/v1/elders", districtToken, elderJSON(fmt.Sprintf("e%d", i), v, i), nil); code != 201 {
			t.Fatal(code)
		}
	}
	t0 := now.Add(-24 * time.Hour)
	add := func(id, hh, rule string, st anxin.AlarmState, acceptAfter time.Duration) {
		a := anxin.Alarm{ID: id, Household: hh, Rule: rule, Severity: anxin.SeverityCritical, Route: anxin.RouteFamily,
			State: st, OpenedAt: t0, UpdatedAt: t0.Add(acceptAfter), Reason: "button pressed"}
		if st == anxin.AlarmAccepted {
			a.AcceptedBy = "李明"
		}
		e.alarms.byID[id] = a
	}
	add("A1", "hh-e0", "button", anxin.AlarmAccepted, 30*time.Second)
	add("A2", "hh-e0", "button", anxin.AlarmAccepted, 90*time.Second)
	add("A3", "hh-e1", "smoke", anxin.AlarmUnanswered, 0)
	add("A4", "hh-e1", "button", anxin.AlarmAccepted, 10*time.Minute)
	// the escalation's chain for A1: accepted by key press after 45 s (wins over updated_at)
	chain := anxin.Chain{AlarmID: "A1", Household: "hh-e0", Severity: anxin.SeverityCritical, State: "accepted",
		Targets: []anxin.ChainTarget{{Name: "李明", Phone: "+8613900000001", Relation: "child"}}, Steps: []int{0},
		StartedAt: t0, UpdatedAt: t0.Add(45 * time.Second), Deadline: t0.Add(3 * time.Minute),
		AcceptedBy: "李明", AcceptedVia: "key_press", AcceptedAt: t0.Add(45 * time.Second)}
	if _, err := e.db.CreateChain(ctx, &chain); err != nil {
		t.Fatal(err)
	}
	att := anxin.Attempt{ID: "A1/call/0/voice", AlarmID: "A1", Purpose: "call", Step: 0, Target: 0, Channel: "voice",
		Provider: "log", Status: "completed", CreatedAt: t0.Add(time.Second), UpdatedAt: t0.Add(45 * time.Second)}
	if _, err := e.db.CreateAttempt(ctx, &att); err != nil {
		t.Fatal(err)
	}
	var one struct {
		Alarm    anxin.Alarm
		Timeline []TimelineEntry
	}
	if code := e.do("GET", "/api/v1/alarms/A1", shanguangTok, nil, &one); code != 200 || len(one.Timeline) != 3 {
		t.Fatalf("A1: %d %+v", code, one)
	}
	if tl := one.Timeline; tl[0].What != "opened" || tl[1].What != "attempt" || tl[1].To != "李明" ||
		tl[1].Phone != "+86*******0001" || tl[2].What != "accepted" {
		t.Fatalf("timeline %+v", tl)
	}
	if code := e.do("GET", "/api/v1/alarms/A3", shanguangTok, nil, nil); code != 404 {
		t.Fatalf("善广村 reads 东村's alarm: %d", code)
	}
	var list struct{ Alarms []anxin.Alarm }
	if e.do("GET", "/api/v1/alarms", dongcunTok, nil, &list); len(list.Alarms) != 2 {
		t.Fatalf("东村 alarms %+v", list)
	}
	if e.do("GET", "/api/v1/alarms?household=hh-e0", dongcunTok, nil, &list); len(list.Alarms) != 0 {
		t.Fatalf("东村 asks for 善广村's household: %+v", list)
	}
	var rep struct {
		Alarms AlarmStats
	}
	e.do("GET", "/api/v1/reports/alarms?month=2026-11", districtToken, nil, &rep)
	st := rep.Alarms
	if st.Total.Count != 4 || st.Total.Accepted != 3 || st.Total.Unanswered != 1 || len(st.ByRule) != 2 {
		t.Fatalf("stats %+v", st)
	}
	// button: 45 s (chain), 90 s, 600 s → p50 90 s, p90 600 s
	if b := st.ByRule[0]; b.Rule != "button" || b.P50Seconds != 90 || b.P90Seconds != 600 {
		t.Fatalf("button %+v", b)
	}
	var hh struct{ Households []anxin.Household }
	if e.do("GET", "/api/v1/households", districtToken, nil, &hh); len(hh.Households) != 2 || hh.Households[0].Elder.Phone != "+86*******1234" {
		t.Fatalf("households %+v", hh)
	}
	if code := e.do("GET", "/api/v1/households/hh-2", shanguangTok, nil, nil); code != 404 {
		t.Fatalf("household outside area: %d", code)
	}
}

func TestSurgeMakesContactDaily(t *testing.T) {
	e := newEnv(t)
	e.api.Plan.Surges = []care.Surge{{From: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), Reason: "寒潮"}}
	if code := e.do("POST", "/api/v1/elders", districtToken, elderJSON("e0", "善广村", 0), nil); code != 201 {
		t.Fatal(code)
	}
	// phoned yesterday: key tier would wait 5 days, the cold wave makes it today
	if code := e.do("POST", "/api/v1/visits", districtToken, map[string]any{"household": "hh-e0", "date": "2026-11-22T02:00:00Z", "method": "home"}, nil); code != 201 {
		t.Fatal(code)
	}
	var due struct {
		Count  int
		Elders []DueItem
	}
	e.do("GET", "/api/v1/due", districtToken, nil, &due)
	if due.Count != 1 || due.Elders[0].PhoneDue != "2026-11-23" || due.Elders[0].Surge != "寒潮" || due.Elders[0].HomeDue != "2026-12-07" {
		t.Fatalf("due in a surge: %+v", due)
	}
}

// 本月未探访名单's last-contact days are days where care.timezone puts them.
func TestReportSheetDaysInPlanLocation(t *testing.T) {
	late := time.Date(2026, 11, 30, 17, 0, 0, 0, time.UTC) // 1 Dec 01:00 in Beijing
	rep := VisitRateReport{MonthRates: care.MonthRates{NotVisited: []care.NotVisited{{ID: "e1", LastContact: late}}}}
	for loc, want := range map[*time.Location]string{care.DefaultLocation(): "2026-12-01", time.UTC: "2026-11-30"} {
		var buf bytes.Buffer
		if err := writeReportXLSX(&buf, rep, loc); err != nil {
			t.Fatal(err)
		}
		f, err := excelize.OpenReader(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := f.GetCellValue("本月未探访名单", "J5"); got != want {
			t.Errorf("%s: last contact %q, want %s", loc, got, want)
		}
		f.Close()
	}
}

// ACCESS: a community registering a person already registered in another
// community is refused (409) without learning that elder's record id.
func TestConflictDoesNotNameAnotherAreasElder(t *testing.T) {
	e := newEnv(t)
	if code := e.do("POST", "/api/v1/elders", dongcunTok, elderJSON("e2", "东村", 2), nil); code != 201 {
		t.Fatal(code)
	}
	if code := e.do("POST", "/api/v1/elders", shanguangTok, elderJSON("e1", "善广村", 1), nil); code != 201 {
		t.Fatal(code)
	}
	var eb errBody
	for _, try := range []struct{ tok, id, village string }{{shanguangTok, "e9", "善广村"}, {dongcunTok, "e9", "东村"}, {districtToken, "e9", "东村"}} {
		code := e.do("POST", "/api/v1/elders", try.tok, elderJSON(try.id, try.village, 2), &eb)
		named := strings.Contains(eb.Error.Message, "e2")
		if code != 409 || named != (try.tok != shanguangTok) {
			t.Errorf("%s: %d %q", try.village, code, eb.Error.Message)
		}
	}
	// the same in an import: the row is reported, the other area's elder is not named
	rec := anxin.ElderRecord{ID: "e9", Name: "张桂兰", IDNumber: idNumber("19400506", 2), Current: anxin.Address{Village: "善广村"},
		Assessment: anxin.Assessment{Guardianship: "独居", SelfCare: "完好", Health: "正常"}}
	if code := e.do("POST", "/api/v1/elders/import", shanguangTok, ledgerCSV(t, rec), &eb); code != 409 || len(eb.Error.Rows) != 1 ||
		strings.Contains(eb.Error.Rows[0].Message, "e2") {
		t.Fatalf("import: %d %+v", code, eb)
	}
}
