package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/ledger/ledgertest"
	"github.com/anxin-care/anxin/sqlite"
)

var today = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// idNumber makes a valid resident ID number.
func idNumber(birth string, seq int) string {
	s := "530128" + strings.ReplaceAll(birth, "-", "") + fmt.Sprintf("%03d", seq%1000)
	return s + string(care.CheckDigit(s))
}

// sampleElders is a small register covering every column: all tiers, 0–4
// contacts, responders, no consent, no phone.
func sampleElders(t testing.TB, n int) []anxin.ElderRecord {
	gs := []anxin.Guardianship{"孤寡", "计划生育特殊家庭", "独居", "留守", "其他"}
	ss := []anxin.SelfCare{"完好", "轻度失能", "中度失能", "重度失能"}
	hs := []anxin.HealthStatus{"正常", "残疾或严重慢性病", "重残或重病"}
	var out []anxin.ElderRecord
	for i := range n {
		birth := fmt.Sprintf("%d-%02d-%02d", 1926+i%40, 1+i%12, 1+i%28)
		e := anxin.ElderRecord{ID: fmt.Sprintf("e%05d", i), Name: "张桂兰", IDNumber: idNumber(birth, i),
			Phone:      fmt.Sprintf("138%08d", i),
			Registered: anxin.Address{County: "禄劝县", Township: "屏山街道", Village: "善广村", Detail: fmt.Sprintf("%d组%d号", i%9, i)},
			Current:    anxin.Address{County: "禄劝县", Township: "屏山街道", Village: []string{"善广村", "东村", "西村"}[i%3]},
			Ability:    "能力完好", Illness: "高血压, \"糖尿病\"", Economic: "低保",
			Categories: [][]anxin.Category{{"独居"}, {"空巢", "失能"}, nil, {"计划生育特殊家庭", "重残"}}[i%4],
			Assessment: anxin.Assessment{Guardianship: gs[i%5], SelfCare: ss[i%4], Health: hs[i%3], AssessedOn: time.Date(2026, 3, 1+i%20, 0, 0, 0, 0, time.UTC)},
			GridWorker: "王芳", Consent: i%7 != 3,
			CreatedAt: time.Date(2026, 3, 2, 9, 0, 0, 0, care.DefaultLocation())}
		if i%5 == 4 {
			e.Phone = ""
		}
		for c := range i % 5 {
			e.Contacts = append(e.Contacts, anxin.Contact{Name: fmt.Sprintf("联系人%d", c), Relation: []string{"child", "spouse", "relative", "侄子"}[c],
				Phone: fmt.Sprintf("+86139%08d", i*10+c)})
		}
		if i%2 == 0 {
			e.Responders = []anxin.Contact{{Name: "王芳", Role: "grid_worker", Phone: "+8613700000002"}, {Name: "李主任", Role: "村支书", Phone: "+868712345678"}}
		}
		if errs := care.Normalize(&e, today); len(errs) > 0 {
			t.Fatalf("sample %d: %v", i, errs)
		}
		out = append(out, e)
	}
	return out
}

func openStore(t testing.TB) *sqlite.DB {
	db, err := sqlite.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func exportXLSX(t *testing.T, db *sqlite.DB, opt Options) []byte {
	es, err := db.Elders(context.Background(), sqlite.ElderFilter{Limit: -1})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteXLSX(&buf, LedgerSheet(es, opt)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTripXLSX(t *testing.T) {
	ctx := context.Background()
	opt := Options{Location: care.DefaultLocation()}
	src := openStore(t)
	if err := src.ImportElders(ctx, sampleElders(t, 60), today); err != nil {
		t.Fatal(err)
	}
	first := exportXLSX(t, src, opt)
	rows1, err := ReadXLSXRows(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows1) != 61 || !slices.Equal(rows1[0], Headers()) {
		t.Fatalf("%d rows, header %v", len(rows1), rows1[0])
	}
	imp, errs := Parse(rows1, today, opt)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	dst := openStore(t)
	if err := dst.ImportElders(ctx, imp.Elders, today); err != nil {
		t.Fatal(err)
	}
	rows2, err := ReadXLSXRows(bytes.NewReader(exportXLSX(t, dst, opt)))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows1) != len(rows2) {
		t.Fatalf("%d rows then %d", len(rows1), len(rows2))
	}
	for r := range rows1 {
		// trailing empty cells are not stored in XLSX: compare padded rows
		a, b := pad(rows1[r]), pad(rows2[r])
		if !slices.Equal(a, b) {
			t.Fatalf("row %d differs:\n%q\n%q", r+1, a, b)
		}
	}
	// the cells hold what was stored: full ID number, phone as dialled, labels
	if rows1[1][5] != imp.Elders[0].IDNumber || rows1[1][6] != "13800000000" || rows1[2][3] != "张桂兰" {
		t.Fatalf("row 2: %q", rows1[1])
	}
}

func pad(r []string) []string {
	out := make([]string, len(columns))
	copy(out, r)
	return out
}

func TestRoundTripCSV(t *testing.T) {
	opt := Options{Location: care.DefaultLocation()}
	es := sampleElders(t, 30)
	var buf bytes.Buffer
	if err := WriteCSV(&buf, Rows(es, opt)); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadCSVRows(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	imp, errs := Parse(rows, today, opt)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for i := range es {
		es[i].CreatedAt = care.DefaultPlan().Day(es[i].CreatedAt) // the ledger keeps the day
	}
	for i := range es {
		if !reflect.DeepEqual(imp.Elders[i], es[i]) {
			t.Fatalf("round trip of %d:\n%#v\n%#v", i, imp.Elders[i], es[i])
		}
	}
}

func TestImportReportsEveryBadRow(t *testing.T) {
	opt := Options{Location: care.DefaultLocation()}
	es := sampleElders(t, 8)
	rows := Rows(es, opt)
	col := func(h string) int { return slices.Index(Headers(), h) }
	// rows[0] is the header (spreadsheet row 1); rows[i] is spreadsheet row i+1
	rows[1][col(hIDNumber)] = rows[1][col(hIDNumber)][:17] + "0" // check digit (unless it was 0)
	if es[0].IDNumber[17] == '0' {
		rows[1][col(hIDNumber)] = rows[1][col(hIDNumber)][:17] + "1"
	}
	rows[3][col("监护情况")] = "有人照顾"
	rows[3][col("紧急联系人1电话")] = "12345"
	rows[4][col("评估分值")] = "19"
	rows[5] = slices.Clone(rows[2]) // same person twice under another 档案编号
	rows[5][col(hID)] = "e-other"
	rows[6][col("年龄")] = "一百"
	rows[8][col("紧急联系人1姓名")], rows[8][col("紧急联系人1关系")], rows[8][col("紧急联系人1电话")] = "", "", ""
	rows[7][col(hIDNumber)] = anxin.MaskIDNumber(es[6].IDNumber)
	rows = append(rows, make([]string, 3)) // a blank row is skipped, not an error
	imp, errs := Parse(rows, today, opt)
	got := map[string]bool{}
	for _, e := range errs {
		got[fmt.Sprintf("%d/%s", e.Row, e.Column)] = true
		if strings.Contains(e.Message, es[0].IDNumber) {
			t.Errorf("message repeats an ID number: %v", e)
		}
	}
	for _, want := range []string{"2/身份证号", "4/监护情况", "4/紧急联系人1电话", "5/评估分值", "6/身份证号", "7/年龄",
		"9/紧急联系人1姓名", "8/身份证号"} {
		if !got[want] {
			t.Errorf("no error at %s; got %v", want, errs)
		}
	}
	if len(got) != 8 {
		t.Errorf("errors at %v, want exactly the 8 bad cells", errs)
	}
	// all or nothing: the caller stores nothing when there are errors
	db := openStore(t)
	if len(errs) == 0 {
		t.Fatal("no errors")
	}
	if n, _ := db.CountElders(context.Background(), sqlite.ElderFilter{}); n != 0 || len(imp.Elders) != 1 {
		t.Fatalf("%d stored, %d good rows", n, len(imp.Elders))
	}
}

// A 评估分值 of 0 is a filled cell like any other: no item combination sums
// to 0, so it is always wrong; an empty cell is not checked.
func TestImportChecksGivenScoreZero(t *testing.T) {
	opt := Options{Location: care.DefaultLocation()}
	rows := Rows(sampleElders(t, 2), opt)
	score := slices.Index(Headers(), "评估分值")
	rows[1][score], rows[2][score] = "0", ""
	imp, errs := Parse(rows, today, opt)
	if len(errs) != 1 || errs[0].Row != 2 || errs[0].Column != "评估分值" || len(imp.Elders) != 1 || imp.Rows[0] != 3 {
		t.Fatalf("errors %v, accepted rows %v", errs, imp.Rows)
	}
}

func TestImportHeaderProblems(t *testing.T) {
	for name, rows := range map[string][][]string{
		"no header":       {{"a", "b"}, {"c"}},
		"missing columns": {{"姓名", "身份证号"}},
		"twice":           {{"姓名", "身份证号", "姓名", "村(社区)", "监护情况", "自理能力", "健康状况"}},
	} {
		if _, errs := Parse(rows, today, Options{}); len(errs) == 0 {
			t.Errorf("%s: no error", name)
		}
	}
	// a title row above, full-width parentheses, columns in another order, extra columns
	rows := [][]string{{"善广村独居老人台账"}, {"备注", "健康状况", "自理能力", "监护情况", "村（社区）", "身份证号", "姓名"},
		{"x", "正常", "完好", "独居", "善广村", idNumber("1940-05-06", 1), "李四"}}
	imp, errs := Parse(rows, today, Options{NewID: func(string) string { return "e-new" }})
	if len(errs) > 0 || len(imp.Elders) != 1 || imp.Rows[0] != 3 || imp.Elders[0].ID != "e-new" || imp.Elders[0].Assessment.Age != 86 {
		t.Fatalf("%v %+v", errs, imp)
	}
}

func TestReadRejectsNonLedgers(t *testing.T) {
	if _, err := ReadXLSXRows(strings.NewReader("PK\x03\x04 not really")); anxin.ErrorCode(err) != anxin.EINVALID {
		t.Errorf("xlsx: %v", err)
	}
	if _, err := ReadCSVRows(strings.NewReader("a,\"b\nc")); err != nil {
		t.Logf("csv lazy quotes: %v", err)
	}
}

func FuzzParseCSV(f *testing.F) {
	var buf bytes.Buffer
	es := sampleElders(f, 3)
	_ = WriteCSV(&buf, Rows(es, Options{}))
	f.Add(buf.Bytes())
	f.Add([]byte("姓名,身份证号,村(社区),监护情况,自理能力,健康状况\n张三,11010519491231002X,善广村,独居,完好,正常\n"))
	f.Add([]byte("\ufeff序号\n1"))
	// 附件3 as kept: title rows, one 地址 cell, the form's words, a column nobody maps
	f.Add([]byte("忠县善广乡特殊困难老年人信息台账\n乡镇街道：善广乡  填报人：李芳\n序号,姓名,性别,身份证号码,地址,健康状况,经济情况,对象类别,帮扶责任人,帮扶措施,已完成探访次数,备注,微信号\n" +
		"1,张桂兰,女,11010519491231002X,忠县善广乡大河村3组,中度失能、高血压,低保,独居老年人、重点对象,王芳,送餐,2,耳背，需大声说话,zgl\n"))
	f.Add([]byte("\xd0\xd5\xc3\xfb,\xc9\xed\xb7\xdd\xd6\xa4\xba\xc5\r\n")) // GBK
	f.Add([]byte(strings.Repeat(",", 300) + "a\n" + strings.Repeat("a\n", 100)))
	f.Fuzz(func(t *testing.T, b []byte) {
		var rows [][]string
		var err error
		memoryCap(t, 64<<20, func() { rows, err = ReadCSVRows(bytes.NewReader(b)) })
		if err != nil {
			if c := anxin.ErrorCode(err); c != anxin.EINVALID && c != ETOOLARGE {
				t.Fatalf("not an input error: %v", err)
			}
			return
		}
		imp, errs := Parse(rows, today, Options{})
		// invariant: every accepted record is valid and ledger-writable; re-parsing its row gives it back
		for i, e := range imp.Elders {
			if errs := care.Normalize(&e, today); len(errs) > 0 {
				t.Fatalf("accepted invalid record: %v", errs)
			}
			again, errs2 := Parse(Rows([]anxin.ElderRecord{e}, Options{}), today, Options{})
			if len(errs2) > 0 || len(again.Elders) != 1 || !sameJSON(again.Elders[0], e) {
				t.Fatalf("record %d does not survive a write and read: %v\n%+v\n%+v", i, errs2, e, again.Elders)
			}
		}
		for _, e := range errs {
			if e.Row < 1 || e.Column == "" || e.Message == "" {
				t.Fatalf("unhelpful error %+v", e)
			}
		}
	})
}

func FuzzReadXLSX(f *testing.F) {
	var buf bytes.Buffer
	if err := WriteXLSX(&buf, LedgerSheet(sampleElders(f, 2), Options{})); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add([]byte("PK\x03\x04"))
	// small seeds only (the bombs are TestXLSXLimits'): the fuzzer minimizes every new input
	f.Add(ledgertest.XLSXBomb(64 << 10))
	f.Add(ledgertest.XLSX(`<row r="1"><c r="A1" t="s"><v>0</v></c></row>`, func(w io.Writer) {
		io.WriteString(w, strings.Repeat("<si><t>a</t></si>", 2000))
	}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var rows [][]string
		var err error
		memoryCap(t, 128<<20, func() { rows, err = ReadXLSXRows(bytes.NewReader(b)) })
		if err != nil {
			if c := anxin.ErrorCode(err); c != anxin.EINVALID && c != ETOOLARGE {
				t.Fatalf("not an input error: %v", err)
			}
			return
		}
		Parse(rows, today, Options{})
	})
}

// memoryCap fails t when fn allocates more than limit bytes: reading an
// upload must take memory in proportion to the limits, never to what the
// file claims or inflates to.
func memoryCap(t *testing.T, limit uint64, fn func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > limit {
		t.Fatalf("allocated %d MiB reading one file (cap %d MiB)", n>>20, limit>>20)
	}
}

// LIMITS: every way an XLSX can inflate is refused as too large before
// excelize decodes it, within a small allocation.
func TestXLSXLimits(t *testing.T) {
	header := `<row r="1"><c r="A1" t="s"><v>0</v></c></row>`
	for name, c := range map[string]struct {
		xlsx []byte
		want string
	}{
		"500 MB of shared strings": {ledgertest.XLSXBomb(500 << 20), "共享字符串解压后超过"},
		"too many shared strings": {ledgertest.XLSX(header, func(w io.Writer) {
			io.WriteString(w, strings.Repeat("<si><t>a</t></si>", maxSharedStrings+1))
		}), "共享字符串超过 1048576 个"},
		"a long shared string in runs": {ledgertest.XLSX(header, func(w io.Writer) {
			io.WriteString(w, "<si>"+strings.Repeat("<r><t>张桂兰</t></r>", 8000)+"</si>")
		}), "有一个共享字符串超过"},
		"a long text": {ledgertest.XLSX(`<row r="1"><c r="A1" t="inlineStr"><is><t>`+strings.Repeat("x", 100<<10)+`</t></is></c></row>`, nil),
			"标签或文字"},
		"a long row": {ledgertest.XLSX(`<row r="1">`+strings.Repeat(`<c r="A1"/>`, 100<<10)+`</row>`, nil), "有一行超过"},
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			memoryCap(t, 32<<20, func() { _, err = ReadXLSXRows(bytes.NewReader(c.xlsx)) })
			if anxin.ErrorCode(err) != ETOOLARGE || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%d-byte file: %v", len(c.xlsx), err)
			}
		})
	}
	// a real ledger passes the same checks
	var buf bytes.Buffer
	if err := WriteXLSX(&buf, LedgerSheet(sampleElders(t, 50), Options{})); err != nil {
		t.Fatal(err)
	}
	if rows, err := ReadXLSXRows(&buf); err != nil || len(rows) != 51 {
		t.Fatalf("%d rows, %v", len(rows), err)
	}
}

// LIMITS: a CSV record or file past the limits is refused as too large.
func TestCSVLimits(t *testing.T) {
	for name, c := range map[string]struct {
		csv, want string
	}{
		"a 2 MB record":    {"姓名,身份证号\n\"" + strings.Repeat("x", 2<<20) + "\"\n", "第 2 行"},
		"too many columns": {strings.Repeat("a,", 1000) + "\n", "单元格"},
		"too many rows":    {strings.Repeat("a\n", MaxRows+headerSearch+1), "超过 200000 行"},
		"too many cells":   {strings.Repeat(strings.Repeat("a,", 200)+"a\n", maxCells/200+1), "单元格"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ReadCSVRows(strings.NewReader(c.csv))
			if anxin.ErrorCode(err) != ETOOLARGE || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v", err)
			}
		})
	}
}

// formulaElders are records whose cells a spreadsheet would take for
// formulas or numbers: a phone in E.164 (+…), notes beginning with =, -, @,
// + and ', contact and responder phones.
func formulaElders(t *testing.T) []anxin.ElderRecord {
	es := sampleElders(t, 3)
	es[0].Phone = "+85291234567" // not a mainland mobile: written with its +
	es[0].Illness = `=HYPERLINK("http://example.org","点击")`
	es[0].Economic = "-低保"
	es[0].Ability = "@能力完好"
	es[0].Current.Detail = "+3组12号"
	es[0].Registered.Detail = "'引号开头"
	es[0].GridWorker = "=1+2"
	es[1].Phone = "+8613800000000" // a mainland mobile: written as dialled, 13800000000
	es[1].Contacts = []anxin.Contact{{Name: "=李明", Relation: "child", Phone: "+868712345678"}}
	es[2].Phone = "+868712345678"
	for i := range es {
		if errs := care.Normalize(&es[i], today); len(errs) > 0 {
			t.Fatalf("sample %d: %v", i, errs)
		}
	}
	return es
}

func TestCSVEscapesFormulaCells(t *testing.T) {
	for _, c := range []struct{ in, out string }{
		{"=1+2", "'=1+2"}, {"+8613800000000", "'+8613800000000"}, {"-低保", "'-低保"}, {"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"}, {"\r=1", "'\r=1"}, {"'=1", "''=1"}, {"'abc", "''abc"}, {"''", "'''"},
		{"abc", "abc"}, {"", ""}, {"1=2", "1=2"}, {"13800000000", "13800000000"}, {"张=", "张="},
	} {
		if got := EscapeCSVCell(c.in); got != c.out {
			t.Errorf("escape %q: %q, want %q", c.in, got, c.out)
		}
		if got := UnescapeCSVCell(c.out); got != c.in {
			t.Errorf("unescape %q: %q, want %q", c.out, got, c.in)
		}
	}
	// a ' typed before a letter or digit by hand is not an escape: kept
	for _, s := range []string{"'abc", "'1", "'", "'张"} {
		if got := UnescapeCSVCell(s); got != s {
			t.Errorf("unescape %q: %q", s, got)
		}
	}
	opt := Options{Location: care.DefaultLocation()}
	es := formulaElders(t)
	var first bytes.Buffer
	if err := WriteCSV(&first, Rows(es, opt)); err != nil {
		t.Fatal(err)
	}
	out := first.String()
	for _, want := range []string{`,'+85291234567,`, `"'=HYPERLINK(""http://example.org"",""点击"")"`, `,'-低保,`, `,'@能力完好,`,
		`,'+3组12号,`, `,''引号开头,`, `,'=1+2,`, `,13800000000,`, `,'=李明,`, `,'+868712345678,`} {
		if !strings.Contains(out, want) {
			t.Errorf("CSV lacks %s:\n%s", want, out)
		}
	}
	rows, err := ReadCSVRows(bytes.NewReader(first.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	imp, errs := Parse(rows, today, opt)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if imp.Elders[0].Phone != "+85291234567" || imp.Elders[1].Phone != "+8613800000000" || imp.Elders[0].Illness != es[0].Illness ||
		imp.Elders[0].Registered.Detail != "'引号开头" || imp.Elders[1].Contacts[0].Name != "=李明" || imp.Elders[2].Phone != "+868712345678" {
		t.Fatalf("read back %+v", imp.Elders)
	}
	var second bytes.Buffer
	if err := WriteCSV(&second, Rows(imp.Elders, opt)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Fatalf("export → import → export differs:\n%s\n%s", first.String(), second.String())
	}
}

// In XLSX every cell is an inline string in the text format, never a
// formula or a number: = and + cells need no escape and read back as written.
func TestXLSXWritesFormulaCellsAsText(t *testing.T) {
	opt := Options{Location: care.DefaultLocation()}
	es := formulaElders(t)
	var first bytes.Buffer
	if err := WriteXLSX(&first, LedgerSheet(es, opt)); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(first.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, h := range []string{"联系电话", "疾病史", "经济状况", "网格员", "紧急联系人1姓名"} {
		col := slices.Index(Headers(), h) + 1
		for r := 2; r <= 3; r++ {
			cell, _ := excelize.CoordinatesToCellName(col, r)
			typ, err := f.GetCellType(SheetName, cell)
			if err != nil {
				t.Fatal(err)
			}
			formula, _ := f.GetCellFormula(SheetName, cell)
			v, _ := f.GetCellValue(SheetName, cell)
			if v != "" && (typ != excelize.CellTypeInlineString || formula != "") {
				t.Errorf("%s (%s) %q: type %v formula %q", cell, h, v, typ, formula)
			}
		}
	}
	rows1, err := ReadXLSXRows(bytes.NewReader(first.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	col := func(h string) int { return slices.Index(Headers(), h) }
	if r := rows1[1]; r[col("联系电话")] != "+85291234567" || r[col("疾病史")] != es[0].Illness || r[col("户籍地址")] != "'引号开头" {
		t.Fatalf("row 2 %q", r)
	}
	imp, errs := Parse(rows1, today, opt)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var second bytes.Buffer
	if err := WriteXLSX(&second, LedgerSheet(imp.Elders, opt)); err != nil {
		t.Fatal(err)
	}
	rows2, err := ReadXLSXRows(bytes.NewReader(second.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	for r := range rows1 {
		if a, b := pad(rows1[r]), pad(rows2[r]); !slices.Equal(a, b) {
			t.Fatalf("row %d differs:\n%q\n%q", r+1, a, b)
		}
	}
	if imp.Elders[0].Phone != "+85291234567" || imp.Elders[1].Phone != "+8613800000000" {
		t.Fatalf("phones %q %q", imp.Elders[0].Phone, imp.Elders[1].Phone)
	}
}

// A row with a cell that cannot be read (an age in words, a masked ID
// number, a date that is no date, a responders cell in the wrong shape) is
// still checked as a record: its other problems are reported in the same
// import, but nothing that only follows from the unread cell.
func TestImportReportsRecordProblemsBesideUnreadCells(t *testing.T) {
	opt := Options{Location: care.DefaultLocation()}
	es := sampleElders(t, 7)
	rows := Rows(es, opt)
	col := func(h string) int { return slices.Index(Headers(), h) }
	// row 2: unreadable age; bad guardianship and contact phone are the record's own
	rows[1][col("年龄")] = "一百"
	rows[1][col("监护情况")] = "有人照顾"
	rows[1][col("紧急联系人1电话")] = "12345" // es[0] has no contacts: this fills slot 1 with a phone only
	// row 3: masked ID number, no 档案编号 or 户编号; gender, age and score are filled but cannot be
	// checked without it; the missing village is the record's own problem
	rows[2][col(hIDNumber)] = anxin.MaskIDNumber(es[1].IDNumber)
	rows[2][col(hID)], rows[2][col("户编号")] = "", ""
	rows[2][col("性别")] = "女" // es[1] is a man: would not match, but there is no ID number to say so
	rows[2][col("村(社区)")] = ""
	// row 4: an assessment day that is no date; the age then cannot be checked; the phone can
	rows[3][col("评估日期")] = "去年春天"
	rows[3][col("年龄")] = "60"
	rows[3][col("联系电话")] = "12"
	// row 5: responders in the wrong shape; contact 1 emptied while 2–3 are filled
	rows[4][col("社区责任人")] = "王芳"
	rows[4][col("紧急联系人1姓名")], rows[4][col("紧急联系人1关系")], rows[4][col("紧急联系人1电话")] = "", "", ""
	// row 6: a too-long name, and a bad self-care item
	rows[5][col(hName)] = strings.Repeat("张", 2000)
	rows[5][col("自理能力")] = "还行"
	// row 7: masked ID number beside a 档案编号 of its own that is bad
	rows[6][col(hIDNumber)] = anxin.MaskIDNumber(es[6].IDNumber)
	rows[6][col(hID)] = "坏 编号"
	_, errs := Parse(rows, today, opt)
	var got []string
	for _, e := range errs {
		got = append(got, fmt.Sprintf("%d/%s", e.Row, e.Column))
	}
	slices.Sort(got)
	want := []string{"2/年龄", "2/监护情况", "2/紧急联系人1姓名", "2/紧急联系人1电话", "3/村(社区)", "3/身份证号",
		"4/联系电话", "4/评估日期", "5/社区责任人", "5/紧急联系人1姓名", "6/姓名", "6/自理能力",
		"7/身份证号", "7/档案编号"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("errors at\n%v, want\n%v\n%v", got, want, errs)
	}
}

func sameJSON(a, b anxin.ElderRecord) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
