package api

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/anxin-care/anxin"
)

// A family member accepting a smoke alarm is remote monitoring (远程监测),
// not a visit by a community worker: the elder is not "visited" for it.
func TestFamilyAcceptedAlarmIsNotAVisit(t *testing.T) {
	e := newEnv(t)
	if code := e.do("POST", "/api/v1/elders", districtToken, elderJSON("e0", "善广村", 0), nil); code != 201 {
		t.Fatal(code)
	}
	// as the escalation records an alarm the family accepted
	v := anxin.Visit{Household: "hh-e0", Date: now.Add(-time.Hour), Method: anxin.VisitRemoteMonitoring,
		Visitor: "李明", AlarmID: "01SMOKE", FollowUpDue: now.Add(23 * time.Hour)}
	if err := e.db.CreateVisit(context.Background(), &v); err != nil {
		t.Fatal(err)
	}
	var rep VisitRateReport
	if code := e.do("GET", "/api/v1/reports/visit-rate?month=2026-11", districtToken, nil, &rep); code != 200 {
		t.Fatalf("report: %d", code)
	}
	if rep.Total.InScope != 1 || rep.Total.Visited != 0 {
		t.Fatalf("an alarm accepted by family counted as a visit: %+v", rep.Total)
	}
}

// The township's workbook: a header with title, 乡镇, month, 填报人, 联系电话
// and date; counts as number cells (Excel's SUM adds them up) and rates as
// percent number cells; "—" where nobody is in scope; per village and per
// 网格员; 本月未探访名单 as the month ended, not as of today.
func TestMonthlyReportWorkbook(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i, v := range []string{"善广村", "善广村", "东村"} {
		ej := elderJSON(fmt.Sprintf("e%d", i), v, i)
		ej["grid_worker"] = []string{"王芳", "李强", "李强"}[i]
		if code := e.do("POST", "/api/v1/elders", districtToken, ej, nil); code != 201 {
			t.Fatal(code)
		}
	}
	add := func(hh string, date time.Time, m anxin.VisitMethod) {
		t.Helper()
		v := anxin.Visit{Household: hh, Date: date, Method: m, Visitor: "王芳"}
		if err := e.db.CreateVisit(ctx, &v); err != nil {
			t.Fatal(err)
		}
	}
	add("hh-e0", now.Add(-time.Hour), anxin.VisitHome)
	add("hh-e0", now.Add(-2*time.Hour), anxin.VisitPhone)
	add("hh-e1", now.Add(-3*time.Hour), anxin.VisitAudioVideo)
	// e2 is seen in December only: in November's list, with no visit before the month ended
	add("hh-e2", now.AddDate(0, 0, 10), anxin.VisitPhone)
	var x []byte
	q := "month=2026-11&format=xlsx&filler=" + url.QueryEscape("赵敏") + "&phone=023-54321234"
	if code := e.do("GET", "/api/v1/reports/visit-rate?"+q, districtToken, nil, &x); code != 200 {
		t.Fatalf("xlsx: %d %s", code, x)
	}
	f, err := excelize.OpenReader(bytes.NewReader(x))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cell := func(sheet, ref string) string {
		t.Helper()
		v, err := f.GetCellValue(sheet, ref)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if got := cell("月报", "A1"); got != "屏山街道特殊困难老年人探访关爱服务月报表（2026年11月）" {
		t.Errorf("title %q", got)
	}
	for ref, want := range map[string]string{"A2": "乡镇(街道)：屏山街道", "B2": "月份：2026-11", "C2": "填报人：赵敏",
		"D2": "联系电话：023-54321234", "E2": "制表日期：2026-11-23"} {
		if got := cell("月报", ref); got != want {
			t.Errorf("%s = %q, want %q", ref, got, want)
		}
	}
	// 按村(社区): rows 5 and 6 are the villages (东村, 善广村); B..N the numbers
	if a, b := cell("按村(社区)", "B5"), cell("按村(社区)", "B6"); a != "东村" || b != "善广村" {
		t.Fatalf("villages %q %q", a, b)
	}
	for _, ref := range []string{"D5", "E5", "D6", "E6", "H6", "I6", "J6"} {
		if ty, _ := f.GetCellType("按村(社区)", ref); ty != excelize.CellTypeNumber && ty != excelize.CellTypeUnset {
			t.Errorf("%s is not a number cell: %v", ref, ty)
		}
	}
	if ty, _ := f.GetCellType("按村(社区)", "F6"); ty == excelize.CellTypeSharedString || ty == excelize.CellTypeInlineString {
		t.Errorf("rate F6 stored as text")
	}
	// Excel's SUM over the village rows: in scope 1 + 2, visited 0 + 2
	for _, c := range []struct{ formula, want string }{{"SUM(D5:D6)", "3"}, {"SUM(E5:E6)", "2"}, {"F6*100", "100"}, {"SUM(H5:H6)", "1"}} {
		if err := f.SetCellFormula("按村(社区)", "Z1", c.formula); err != nil {
			t.Fatal(err)
		}
		if got, err := f.CalcCellValue("按村(社区)", "Z1"); err != nil || got != c.want {
			t.Errorf("%s = %q (%v), want %s", c.formula, got, err, c.want)
		}
	}
	if fmt, _ := f.GetCellValue("按村(社区)", "F5"); fmt != "0.0%" {
		t.Errorf("东村 rate shown as %q, want 0.0%%", fmt)
	}
	// per 网格员: 李强 has e1 (visited) and e2 (not)
	if a, b, c := cell("按网格员", "A5"), cell("按网格员", "C5"), cell("按网格员", "D5"); a != "李强" || b != "1" || c != "50.0%" {
		t.Errorf("李强 row %q %q %q", a, b, c)
	}
	rows, _ := f.GetRows("本月未探访名单")
	if len(rows) != 5 || rows[4][1] != "e2" || rows[4][2] != "张**" || rows[4][9] != "" {
		t.Errorf("本月未探访名单 %q", rows)
	}
	// a month where nobody is in scope has no rate: "—", and JSON null
	var rep VisitRateReport
	e.do("GET", "/api/v1/reports/visit-rate?month=2026-10&format=xlsx", districtToken, nil, &x)
	if f2, err := excelize.OpenReader(bytes.NewReader(x)); err != nil {
		t.Fatal(err)
	} else if got, _ := f2.GetCellValue("月报", "D5"); got != "—" {
		t.Errorf("October total rate %q, want —", got)
	}
	e.do("GET", "/api/v1/reports/visit-rate?month=2026-10", districtToken, nil, &rep)
	if rep.Total.Rate != nil || rep.Total.RateText() != "—" {
		t.Errorf("October: %+v", rep.Total)
	}
	var eb errBody
	if code := e.do("GET", "/api/v1/reports/visit-rate?month=2026-11&filler="+strings.Repeat("长", 65), districtToken, nil, &eb); code != 400 {
		t.Errorf("a 65-character 填报人: %d", code)
	}
}

// The report of a month is kept until the register changes: a visit
// recorded afterwards is counted at the next read.
func TestMonthlyReportSeesNewVisits(t *testing.T) {
	e := newEnv(t)
	if code := e.do("POST", "/api/v1/elders", districtToken, elderJSON("e0", "善广村", 0), nil); code != 201 {
		t.Fatal(code)
	}
	var rep VisitRateReport
	e.do("GET", "/api/v1/reports/visit-rate?month=2026-11", districtToken, nil, &rep)
	if rep.Total.Visited != 0 {
		t.Fatalf("%+v", rep.Total)
	}
	v := anxin.Visit{Household: "hh-e0", Date: now, Method: anxin.VisitPhone, Visitor: "王芳"}
	if err := e.db.CreateVisit(context.Background(), &v); err != nil {
		t.Fatal(err)
	}
	e.do("GET", "/api/v1/reports/visit-rate?month=2026-11", districtToken, nil, &rep)
	if rep.Total.Visited != 1 || len(rep.NotVisited) != 0 {
		t.Fatalf("a new visit not counted: %+v", rep.Total)
	}
}
