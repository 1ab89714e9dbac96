package api

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/ledger"
	"github.com/anxin-care/anxin/ledger/ledgertest"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/storetest"
)

// importResult is the answer to POST elders/import.
type importResult struct {
	Checked   int             `json:"checked"`
	Imported  int             `json:"imported"`
	Created   int             `json:"created"`
	Changed   int             `json:"changed"`
	Unchanged int             `json:"unchanged"`
	Unmapped  []string        `json:"unmapped_columns"`
	DryRun    bool            `json:"dry_run"`
	Changes   []ledger.Change `json:"changes"`
}

// shanguangLedger is a 附件3 ledger of 善广村 as a worker keeps it, with a
// column nobody maps (微信号).
func shanguangLedger(note string, badSecond bool) []byte {
	second := idNumber("19450101", 21)
	if badSecond {
		second = second[:17] + string("0123456789"[(strings.IndexByte("0123456789X", second[17])+1)%10])
	}
	headers := append(slices.Clone(ledgertest.Form3Headers), "微信号")
	return ledgertest.Workbook([]string{"禄劝县屏山街道特殊困难老年人信息台账", "乡镇街道：屏山街道  填报人：李芳  联系电话;0871-8891234"},
		[][]string{headers}, nil, [][]any{
			{1, "张桂兰", "女", idNumber("19400506", 2), "禄劝县屏山街道善广村3组12号", "中度失能", "低保", "独居老年人、重点对象", "王芳", "每周送餐", 0, note, "zgl1940"},
			{2, "李四", "男", second, "禄劝县屏山街道善广村5组", "能力完好", "", "空巢老年人、一般对象", "王芳", "", 0, "", ""},
		})
}

func countElders(t *testing.T, e *env) int {
	t.Helper()
	n, err := e.db.CountElders(context.Background(), sqlite.ElderFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestImportForm3DryRunAndUnmapped(t *testing.T) {
	e := newEnv(t)
	file := shanguangLedger("耳背，需大声说话", false)
	var res importResult
	if code := e.do("POST", "/api/v1/elders/import?dry_run=1", shanguangTok, file, &res); code != 200 {
		t.Fatalf("dry run: %d %+v", code, res)
	}
	if !res.DryRun || res.Created != 2 || res.Imported != 0 || len(res.Changes) != 2 || !slices.Equal(res.Unmapped, []string{"微信号"}) {
		t.Fatalf("dry run: %+v", res)
	}
	if n := countElders(t, e); n != 0 {
		t.Fatalf("a dry run stored %d elders", n)
	}
	if code := e.do("POST", "/api/v1/elders/import", shanguangTok, file, &res); code != 200 || res.Imported != 2 || res.Created != 2 ||
		!slices.Equal(res.Unmapped, []string{"微信号"}) {
		t.Fatalf("import: %d %+v", code, res)
	}
	es, err := e.db.Elders(context.Background(), sqlite.ElderFilter{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	var zgl anxin.ElderRecord
	for _, x := range es {
		if x.Name == "张桂兰" {
			zgl = x
		}
	}
	if zgl.Note != "耳背，需大声说话" || zgl.FormTier != "重点" || zgl.Economic != "低保" || zgl.GridWorker != "王芳" ||
		zgl.Form == nil || zgl.Form.HelpMeasures != "每周送餐" || zgl.Current.Village != "善广村" ||
		!slices.Equal(zgl.Extra, []anxin.Attribute{{Name: "微信号", Value: "zgl1940"}}) || zgl.Tier != anxin.TierKey {
		t.Fatalf("stored %+v", zgl)
	}
	// the same file again changes nothing; a new 备注 changes one record's note
	if code := e.do("POST", "/api/v1/elders/import?dry_run=1", shanguangTok, file, &res); code != 200 || res.Unchanged != 2 || res.Changed != 0 {
		t.Fatalf("again: %d %+v", code, res)
	}
	if code := e.do("POST", "/api/v1/elders/import?dry_run=1", shanguangTok, shanguangLedger("耳背", false), &res); code != 200 ||
		res.Changed != 1 || res.Unchanged != 1 || len(res.Changes) != 1 || !slices.Equal(res.Changes[0].Fields, []string{"note"}) {
		t.Fatalf("a changed note: %d %+v", code, res)
	}
	if got, _ := e.db.Elder(context.Background(), zgl.ID); got.Note != "耳背，需大声说话" {
		t.Fatalf("a dry run wrote: %+v", got)
	}
}

// One bad row rejects the whole file, with the row, the column as written
// and what is wrong in Chinese.
func TestImportForm3AllOrNothing(t *testing.T) {
	e := newEnv(t)
	var eb errBody
	if code := e.do("POST", "/api/v1/elders/import", shanguangTok, shanguangLedger("", true), &eb); code != 400 {
		t.Fatalf("%d %+v", code, eb)
	}
	if len(eb.Error.Rows) != 1 || eb.Error.Rows[0] != (rowError{Row: 5, Column: "身份证号码", Message: "居民身份证号码校验位不对（可能输错了一位）"}) ||
		!strings.Contains(eb.Error.Message, "没有导入任何记录") {
		t.Fatalf("%+v", eb)
	}
	if n := countElders(t, e); n != 0 {
		t.Fatalf("%d elders stored from a rejected file", n)
	}
}

// The 附件3 export counts the visits done, and importing it back changes nothing.
func TestExportForm3(t *testing.T) {
	e := newEnv(t)
	if code := e.do("POST", "/api/v1/elders/import", shanguangTok, shanguangLedger("耳背", false), nil); code != 200 {
		t.Fatal(code)
	}
	es, _ := e.db.Elders(context.Background(), sqlite.ElderFilter{Limit: -1})
	var zgl anxin.ElderRecord
	for _, x := range es {
		if x.Name == "张桂兰" {
			zgl = x
		}
	}
	for _, day := range []string{"2026-11-02T03:00:00Z", "2026-11-20T03:00:00Z"} {
		visit := map[string]any{"household": zgl.Household, "date": day, "method": "home", "visitor": "王芳"}
		if code := e.do("POST", "/api/v1/visits", shanguangTok, visit, nil); code != 201 {
			t.Fatalf("visit: %d", code)
		}
	}
	var out []byte
	if code := e.do("GET", "/api/v1/elders/export?layout=form3&filler=李芳", shanguangTok, nil, &out); code != 200 {
		t.Fatalf("export: %d %s", code, out)
	}
	rows := cells(t, out)
	if len(rows) != 5 || rows[0][0] != "禄劝县屏山街道特殊困难老年人信息台账" || !strings.Contains(rows[1][0], "填报人：李芳") ||
		!slices.Equal(rows[2][:12], ledgertest.Form3Headers) {
		t.Fatalf("%v", rows)
	}
	counts := map[string]string{}
	for _, r := range rows[3:] {
		counts[r[1]] = r[10]
	}
	if counts["张桂兰"] != "2" || counts["李四"] != "0" {
		t.Fatalf("已完成探访次数 %v", counts)
	}
	var res importResult
	if code := e.do("POST", "/api/v1/elders/import?dry_run=1", shanguangTok, out, &res); code != 200 || res.Unchanged != 2 {
		t.Fatalf("import(export): %d %+v", code, res)
	}
}

// The 附件1 form travels through the API.
func TestRegisterFormThroughAPI(t *testing.T) {
	e := newEnv(t)
	ej := elderJSON("e0", "善广村", 0)
	lives := true
	form := anxin.RegisterForm{FiledOn: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Poverty: "低保、低保边缘", MonthlyIncome: "800",
		IncomeSource: "养老金", Family: []anxin.FamilyMember{{Name: "张桂兰", Relation: "户主", Health: "中度失能", Assistance: "低保", Visits: "是"},
			{Name: "李明", Gender: anxin.Male, Relation: "子", Phone: "13900000001", Visits: "否", LivesWith: &lives}},
		WaterSafe: "是", PowerSafe: "否", HousingSafe: "是", HouseholdIncome: "1200", Pension: "150", Subsidies: "300",
		HelpUnits: []string{"乡镇（街道）、村（居）民委员会", "志愿者"}, HelpMeasures: "每周送餐", Clerk: "李芳"}
	ej["form"], ej["form_tier"], ej["note"] = form, "重点", "耳背"
	ej["extra"] = []anxin.Attribute{{Name: "微信号", Value: "zgl"}}
	if code := e.do("POST", "/api/v1/elders", districtToken, ej, nil); code != 201 {
		t.Fatal(code)
	}
	var got anxin.ElderRecord
	e.do("GET", "/api/v1/elders/e0", districtToken, nil, &got)
	form.Family[1].Phone = "+8613900000001"
	if got.Form == nil || !reflect.DeepEqual(*got.Form, form) || got.FormTier != "重点" || got.Note != "耳背" || len(got.Extra) != 1 {
		t.Fatalf("read back %+v %+v", got, got.Form)
	}
	// a list masks the family members
	var list struct{ Elders []anxin.ElderRecord }
	e.do("GET", "/api/v1/elders", districtToken, nil, &list)
	if m := list.Elders[0].Form.Family[1]; m.Name == "李明" || strings.Contains(m.Phone, "0000000") {
		t.Fatalf("list shows a family member: %+v", m)
	}
	// an invalid form field is refused
	ej["form_tier"] = "特别"
	var eb errBody
	if code := e.do("PUT", "/api/v1/elders/e0", districtToken, ej, &eb); code != 400 {
		t.Fatalf("%d", code)
	}
}

// BenchmarkImportForm3_10k imports a 附件3 ledger of 10,000 elders (XLSX,
// title rows, one 地址 cell, an unmapped column) through the API into an
// empty SQLite store: read, check, look up each row, store in one transaction.
func BenchmarkImportForm3_10k(b *testing.B) {
	const n = 10000
	data := make([][]any, n)
	for i := range n {
		data[i] = []any{i + 1, "张桂兰", "", "", "", "中度失能",
			"低保", "独居老年人、重点对象", "王芳", "每周送餐", 0, "耳背，需大声说话", "zgl"}
		// 40 birth years × 1000 sequence numbers: unique ID numbers
		data[i][3] = idNumber(fmt.Sprintf("19%02d0506", 30+i/1000), i%1000)
		data[i][4] = fmt.Sprintf("禄劝县屏山街道善广村%d组%d号", i%12+1, i)
	}
	file := ledgertest.Workbook([]string{"禄劝县屏山街道特殊困难老年人信息台账", "乡镇街道：屏山街道  填报人：李芳"},
		[][]string{append(slices.Clone(ledgertest.Form3Headers), "微信号")}, nil, data)
	b.ReportAllocs()
	var cpu time.Duration // the process's CPU time during the imports: wall time on a shared machine says little
	for b.Loop() {
		b.StopTimer()
		e := newEnv(b)
		c0 := testenv.SelfCPU()
		b.StartTimer()
		var res importResult
		if code := e.do("POST", "/api/v1/elders/import", districtToken, file, &res); code != 200 || res.Imported != n {
			b.Fatalf("%d %+v", code, res.Imported)
		}
		b.StopTimer()
		cpu += testenv.SelfCPU() - c0
		b.StartTimer()
	}
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
}

// An area's worker cannot overwrite, through a ledger, an elder registered
// outside their area: the row that matches her (here by ID number) is
// refused and nothing is written.
func TestImportRefusesAnotherAreasElder(t *testing.T) {
	e := newEnv(t)
	other := storetest.Elder("e-dongcun", idNumber("19400506", 2), "东村")
	other.Assessment.Age = 85 // as her ID number says on the test clock
	if err := e.db.PutElder(context.Background(), &other); err != nil {
		t.Fatal(err)
	}
	var eb errBody
	if code := e.do("POST", "/api/v1/elders/import", shanguangTok, shanguangLedger("", false), &eb); code != 400 {
		t.Fatalf("%d %+v", code, eb)
	}
	found := false
	for _, r := range eb.Error.Rows {
		found = found || r.Column == "档案编号" && r.Message == "属于您辖区以外的老年人"
	}
	if !found {
		t.Fatalf("no refusal of the other area's elder: %+v", eb)
	}
	if got, _ := e.db.Elder(context.Background(), "e-dongcun"); got.Current.Village != "东村" {
		t.Fatalf("the other area's elder was moved: %+v", got.Current)
	}
	if n := countElders(t, e); n != 1 {
		t.Fatalf("%d elders after a refused import", n)
	}
}
