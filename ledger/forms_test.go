package ledger

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/ledger/ledgertest"
)

// The seed forms' exact headers and option words (shared/seeds/000_*.txt
// 附件1 and 附件3, 003_*.txt the 孝善邻里 assessment form) are all known to
// the synonym table.
func TestSynonymsCoverSeedForms(t *testing.T) {
	for _, h := range ledgertest.Form3Headers { // 附件3 as printed
		if findColumn(canonicalHeader(h)) == nil {
			t.Errorf("附件3 header %s maps to no column", h)
		}
	}
	// 附件1's labels that are columns of a ledger made from it
	for h, want := range map[string]string{"姓名": hName, "性别": "性别", "居民身份证号码": hIDNumber, "联系电话": "联系电话",
		"紧急联系人": "紧急联系人1姓名", "居住地址": hAddress, "能力程度": "能力等级", "曾患病史": "疾病史",
		"经济情况": "经济状况", "对象类别": "人员类别", "建档日期": "登记日期", "帮扶措施": hHelpMeasures,
		"帮扶责任人": "网格员", "（户籍）村（社区）": "（户籍）村（社区）"} {
		if got := canonicalHeader(h); got != normHeader(want) {
			t.Errorf("附件1 %s → %s, want %s", h, got, want)
		}
	}
	// the 003 form's items
	for h, want := range map[string]string{"特殊困难老年人监护人情况": "监护情况", "生活自理能力情况": "自理能力",
		"健康状况": "健康状况", "评估分合计": "评估分值", "身份证号": hIDNumber} {
		if got := canonicalHeader(h); got != want {
			t.Errorf("003 %s → %s, want %s", h, got, want)
		}
	}
	// 附件1 对象类别 boxes
	for _, w := range []string{"独居老年人", "空巢老年人", "留守老年人", "失能老年人", "重残老年人", "计划生育特殊家庭老年人"} {
		if c := canonCategory(w); !slices.Contains(care.Categories(), c) {
			t.Errorf("附件1 对象类别 %s → %q, not a category", w, c)
		}
	}
	for w, want := range map[string]string{"重点对象": "重点", "一般对象": "一般"} {
		if formTierSynonyms[w] != want {
			t.Errorf("附件1 %s → %q", w, formTierSynonyms[w])
		}
	}
	// 附件1 能力程度 and the 003 form's 生活自理能力
	for _, w := range []string{"能力完好", "轻度失能", "中度失能", "重度失能", "自理能力完好"} {
		if _, ok := care.SelfCarePoints(canonSelfCare(w)); !ok {
			t.Errorf("self-care %s → %q", w, canonSelfCare(w))
		}
	}
	// the 003 form's 监护人情况 (孤寡 5 … 正常 1) and 健康状况
	for w, pts := range map[string]int{"孤寡": 5, "计划生育特殊家庭": 4, "独居": 3, "留守": 2, "正常": 1} {
		if p, ok := care.GuardianshipPoints(canonGuardianship(w)); !ok || p != pts {
			t.Errorf("监护情况 %s → %d %v, want %d", w, p, ok, pts)
		}
	}
	for w, pts := range map[string]int{"重残或重病": 5, "残疾或患有严重慢性病": 3, "正常": 0} {
		if p, ok := care.HealthPoints(canonHealth(w)); !ok || p != pts {
			t.Errorf("健康状况 %s → %d %v, want %d", w, p, ok, pts)
		}
	}
}

// form3Rows is 善广乡's ledger as kept: one 地址 cell, 附件1's option
// words, 备注, and a column nobody maps (微信号).
func form3File(t *testing.T, extraHeader string, data [][]any) []byte {
	t.Helper()
	headers := slices.Clone(ledgertest.Form3Headers)
	if extraHeader != "" {
		headers = append(headers, extraHeader)
	}
	return ledgertest.Workbook([]string{ledgertest.Form3Title, ledgertest.Form3Info}, [][]string{headers}, nil, data)
}

func TestImportForm3AsKept(t *testing.T) {
	a, b := idNumber("1942-03-05", 12), idNumber("1950-07-01", 21)
	file := form3File(t, "微信号", [][]any{
		{1, "张桂兰", "女", a, "忠县善广乡大河村3组12号", "中度失能", "低保", "独居老年人、重点对象", "王芳", "每周送餐", 3, "耳背，需大声说话", "zgl1942"},
		{2, "李四", "男", b, "大河村5组", "能力完好、正常", "特困人员", "空巢老年人、一般对象", "王芳", "", 0, "", ""},
	})
	rows, err := ReadXLSXRows(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	imp, errs := Parse(rows, today, Options{})
	if len(errs) > 0 {
		t.Fatalf("the ledger as kept is refused: %+v", errs)
	}
	if len(imp.Elders) != 2 || !slices.Equal(imp.Unmapped, []string{"微信号"}) {
		t.Fatalf("imported %d, unmapped %v", len(imp.Elders), imp.Unmapped)
	}
	e := imp.Elders[0]
	want := anxin.Address{County: "忠县", Township: "善广乡", Village: "大河村", Detail: "3组12号"}
	if e.Current != want || e.Economic != "低保" || e.GridWorker != "王芳" || e.Note != "耳背，需大声说话" ||
		e.Form == nil || e.Form.HelpMeasures != "每周送餐" || e.FormTier != "重点" ||
		!slices.Equal(e.Categories, []anxin.Category{anxin.CategoryAlone}) || e.Assessment.SelfCare != anxin.SelfCareModerate ||
		!slices.Equal(e.Extra, []anxin.Attribute{{Name: "微信号", Value: "zgl1942"}}) {
		t.Fatalf("first row: %+v", e)
	}
	if e.Tier != anxin.TierKey || e.Score != 0 { // no score: the form's 重点 gives the tier
		t.Errorf("an elder without 监护情况: score %d tier %s, want 0 and the form's 重点", e.Score, e.Tier)
	}
	// the township comes from the title row 乡镇街道：善广乡
	e = imp.Elders[1]
	if e.Current.Township != "善广乡" || e.Current.Village != "大河村" || e.FormTier != "一般" || e.Extra != nil ||
		e.Assessment.Health != anxin.HealthNormal || e.Assessment.SelfCare != anxin.SelfCareIntact {
		t.Fatalf("second row: %+v", e)
	}
}

// One bad row rejects the file: Parse reports it in Chinese with its row
// and the header as written.
func TestForm3BadRowInChinese(t *testing.T) {
	bad := idNumber("1942-03-05", 11)
	bad = bad[:17] + string("0123456789"[(strings.IndexByte("0123456789X", bad[17])+1)%10])
	file := form3File(t, "", [][]any{
		{1, "张桂兰", "女", idNumber("1942-03-05", 12), "忠县善广乡大河村", "正常", "", "独居老年人", "", "", 0, ""},
		{2, "李四", "男", bad, "忠县善广乡大河村", "正常", "", "独居老年人", "", "", 0, ""},
		{3, "王五", "男", idNumber("1945-01-01", 13), "忠县善广乡", "正常", "", "孤儿", "", "", 0, ""},
	})
	rows, err := ReadXLSXRows(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	_, errs := Parse(rows, today, Options{})
	want := []RowError{
		{5, "身份证号码", "居民身份证号码校验位不对（可能输错了一位）"},
		{6, "地址", "地址中找不到村(社区)：请写成 县 乡镇 村(社区) 门牌，如 忠县善广乡大河村3组；小区名里没有“村”“社区”字样时，用空格把各级隔开，如 忠县 善广乡 幸福小区 5栋"},
		{6, "对象类别", "“孤儿”不是独居、空巢、留守、失能、重残、计划生育特殊家庭之一"},
	}
	if !reflect.DeepEqual(errs, want) {
		t.Fatalf("errors:\n%+v\nwant\n%+v", errs, want)
	}
}

// A ledger made from 附件1: 居住地址 and 户籍地址 merged over 区(县),
// 乡镇(街道), 村(社区) in a second header row.
func TestTwoHeaderRows(t *testing.T) {
	top := []string{"序号", "姓名", "性别", "居民身份证号码", "户籍地址", "", "", "居住地址", "", "", "能力程度", "对象类别"}
	sub := []string{"", "", "", "", "区(县)", "乡镇(街道)", "村(社区)", "区(县)", "乡镇(街道)", "村(社区)", "", ""}
	file := ledgertest.Workbook([]string{"忠县善广乡特殊困难老年人信息登记表"}, [][]string{top, sub},
		[]string{"E1:G1", "H1:J1", "A1:A2", "B1:B2"},
		[][]any{{1, "张桂兰", "女", idNumber("1942-03-05", 12), "忠县", "善广乡", "石桥村", "忠县", "善广乡", "大河村", "轻度失能", "留守老年人"}})
	rows, err := ReadXLSXRows(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	imp, errs := Parse(rows, today, Options{})
	if len(errs) > 0 || len(imp.Elders) != 1 {
		t.Fatalf("%+v", errs)
	}
	e := imp.Elders[0]
	if e.Registered.Village != "石桥村" || e.Current.Village != "大河村" || e.Current.County != "忠县" ||
		e.Ability != "轻度失能" || len(imp.Unmapped) != 0 {
		t.Fatalf("%+v unmapped %v", e, imp.Unmapped)
	}
}

// A cell of an unmapped column that is too long is reported under that column.
func TestUnmappedCellError(t *testing.T) {
	rows := [][]string{{"姓名", "身份证号码", "村", "微信号"}, {"张桂兰", idNumber("1942-03-05", 12), "大河村", strings.Repeat("长", 400)}}
	_, errs := Parse(rows, today, Options{})
	if len(errs) != 1 || errs[0].Row != 2 || errs[0].Column != "微信号" || !strings.Contains(errs[0].Message, "超过") {
		t.Fatalf("%+v", errs)
	}
}

// A data row whose cells happen to be header words is not a second header row.
func TestDataRowIsNoSubHeader(t *testing.T) {
	rows := [][]string{{"姓名", "身份证号码", "村"}, {"张三", "123", "社区"}}
	_, errs := Parse(rows, today, Options{})
	if len(errs) != 1 || errs[0].Row != 2 || errs[0].Column != "身份证号码" {
		t.Fatalf("%+v", errs)
	}
}

func TestParseAddress(t *testing.T) {
	for in, want := range map[string]anxin.Address{
		"忠县善广乡大河村3组12号":    {County: "忠县", Township: "善广乡", Village: "大河村", Detail: "3组12号"},
		"善广乡大河村市场路5号":      {Township: "善广乡", Village: "大河村", Detail: "市场路5号"},
		"禄劝县屏山街道新村社区2栋":    {County: "禄劝县", Township: "屏山街道", Village: "新村社区", Detail: "2栋"},
		"忠县 善广乡 大河村 3组":    {County: "忠县", Township: "善广乡", Village: "大河村", Detail: "3组"},
		"忠县 善广乡 大河村3组 12号": {County: "忠县", Township: "善广乡", Village: "大河村", Detail: "3组 12号"},
		"忠县 善广乡 幸福小区 5栋":   {County: "忠县", Township: "善广乡", Village: "幸福小区", Detail: "5栋"},
		"善广乡 幸福小区":         {Township: "善广乡", Village: "幸福小区"},
		"大河村":              {Township: "默认乡", Village: "大河村"},
	} {
		got, err := ParseAddress(in, "默认乡")
		if want.Township == "" {
			want.Township = "默认乡"
		}
		if err != nil || got != want {
			t.Errorf("%s → %+v %v, want %+v", in, got, err, want)
		}
	}
	if _, err := ParseAddress("忠县善广乡", ""); err == nil {
		t.Error("an address without a village is accepted")
	}
}

// import(export(x)) == x for the 附件3 layout, and the export is the
// printed form: merged title rows, numbers as numbers.
func TestForm3RoundTrip(t *testing.T) {
	es := []anxin.ElderRecord{
		{ID: "e-1", Name: "张桂兰", IDNumber: idNumber("1942-03-05", 11), Consent: true,
			Current:    anxin.Address{County: "忠县", Township: "善广乡", Village: "大河村", Detail: "3组12号"},
			Assessment: anxin.Assessment{SelfCare: anxin.SelfCareModerate, Health: anxin.HealthNormal},
			Illness:    "高血压", Ability: "中度失能", Economic: "低保", Categories: []anxin.Category{anxin.CategoryAlone, anxin.CategoryDisabled},
			FormTier: "重点", GridWorker: "王芳", Note: "耳背，需大声说话", Form: &anxin.RegisterForm{HelpMeasures: "每周送餐"},
			Extra: []anxin.Attribute{{Name: "微信号", Value: "zgl1942"}}},
		{ID: "e-2", Name: "李四", IDNumber: idNumber("1950-07-01", 22), Consent: true,
			Current: anxin.Address{County: "忠县", Township: "善广乡", Village: "新村社区"}, FormTier: "一般"},
	}
	for i := range es {
		if errs := care.Normalize(&es[i], today); len(errs) > 0 {
			t.Fatal(errs)
		}
	}
	var buf bytes.Buffer
	meta := Form3Meta{Township: "善广乡", Filler: "李芳", Phone: "023-54581234", Date: today}
	if err := WriteForm3XLSX(&buf, es, map[string]int{"e-1": 3}, meta, Options{}); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	merged, _ := f.GetMergeCells(SheetName)
	var ranges []string
	for _, m := range merged {
		ranges = append(ranges, m.GetStartAxis()+":"+m.GetEndAxis())
	}
	if !slices.Equal(ranges, []string{"A1:M1", "A2:M2"}) {
		t.Errorf("merged %v", ranges)
	}
	title, _ := f.GetCellValue(SheetName, "A1")
	info, _ := f.GetCellValue(SheetName, "A2")
	head, _ := f.GetRows(SheetName)
	if title != "忠县善广乡特殊困难老年人信息台账" || !strings.Contains(info, "填报人：李芳") ||
		!slices.Equal(head[2][:12], ledgertest.Form3Headers) {
		t.Errorf("title %q info %q header %v", title, info, head[2])
	}
	// a number cell has no type attribute (or t="n"); text is a string
	for cell, number := range map[string]bool{"A4": true, "K4": true, "D4": false, "K3": false} {
		ct, _ := f.GetCellType(SheetName, cell)
		if isNumber := ct == excelize.CellTypeUnset || ct == excelize.CellTypeNumber; isNumber != number {
			t.Errorf("%s is of type %v, want a number: %v", cell, ct, number)
		}
	}
	if v, _ := f.GetCellValue(SheetName, "K4"); v != "3" {
		t.Errorf("已完成探访次数 %q", v)
	}
	f.Close()

	rows, err := ReadXLSXRows(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	byNumber := map[string]string{es[0].IDNumber: "e-1", es[1].IDNumber: "e-2"}
	imp, errs := Parse(rows, today, Options{NewID: func(n string) string { return byNumber[n] }})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for i := range es {
		got, _ := json.Marshal(imp.Elders[i])
		want, _ := json.Marshal(es[i])
		if !bytes.Equal(got, want) {
			t.Errorf("round trip:\n got %s\nwant %s", got, want)
		}
	}
	if !slices.Equal(imp.Unmapped, []string{"微信号"}) {
		t.Errorf("unmapped %v", imp.Unmapped)
	}
}

// A row updates only what the file has: a 附件3 import over a record with
// contacts and an assessment keeps them, and says what changed.
func TestForm3UpdatesOnlyItsColumns(t *testing.T) {
	old := anxin.ElderRecord{ID: "e-1", Name: "张桂兰", IDNumber: idNumber("1942-03-05", 12), Consent: true, Phone: "13800001234",
		Current:    anxin.Address{County: "忠县", Township: "善广乡", Village: "大河村"},
		Assessment: anxin.Assessment{Guardianship: anxin.GuardianAlone, SelfCare: anxin.SelfCareModerate, Health: anxin.HealthNormal},
		Contacts:   []anxin.Contact{{Name: "李明", Relation: "child", Phone: "13900000001"}}}
	if errs := care.Normalize(&old, today); len(errs) > 0 {
		t.Fatal(errs)
	}
	file := form3File(t, "", [][]any{{1, "张桂兰", "女", old.IDNumber, "忠县善广乡大河村", "中度失能、正常", "", "独居老年人", "", "", 0, "耳背"}})
	rows, err := ReadXLSXRows(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	imp, errs := Parse(rows, today, Options{NewID: func(string) string { return "e-1" },
		Existing: func(id string) (anxin.ElderRecord, bool) { return old, id == "e-1" }})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	e := imp.Elders[0]
	if e.Phone != old.Phone || len(e.Contacts) != 1 || e.Tier != old.Tier || e.Score != old.Score || e.Note != "耳背" {
		t.Fatalf("%+v", e)
	}
	// 中度失能 is the stored self-care item: 能力等级 is left as it was
	// (TestForm3ReimportLeavesAbilityAlone)
	if c := imp.Changes[0]; c.Action != Changed || !slices.Equal(c.Fields, []string{"categories", "note"}) {
		t.Fatalf("%+v", c)
	}
}

// 附件3 saved by Excel as CSV on a Chinese Windows (GBK) still imports.
func TestForm3GBKCSV(t *testing.T) {
	utf := ledgertest.Form3Title + "\r\n" + ledgertest.Form3Info + "\r\n" + strings.Join(ledgertest.Form3Headers, ",") + "\r\n" +
		"1,张桂兰,女," + idNumber("1942-03-05", 12) + ",忠县善广乡大河村3组,中度失能,低保,独居老年人、重点对象,王芳,送餐,2,耳背\r\n"
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(utf)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ReadCSVRows(strings.NewReader(gbk))
	if err != nil {
		t.Fatal(err)
	}
	imp, errs := Parse(rows, today, Options{})
	if len(errs) > 0 || len(imp.Elders) != 1 {
		t.Fatal(errs)
	}
	if e := imp.Elders[0]; e.Name != "张桂兰" || e.Current.Village != "大河村" || e.Note != "耳背" || e.FormTier != "重点" {
		t.Fatalf("%+v", e)
	}
}

// The form words the register refused (issue 14: 独居老年人, 正常, 中度失能)
// are read in an assessment ledger, and the score follows from them.
func TestFormWordsInAssessmentLedger(t *testing.T) {
	rows := [][]string{
		{"姓名", "居民身份证号码", "村（社区）", "特殊困难老年人监护人情况", "生活自理能力情况", "健康状况", "对象类别", "是否同意探访"},
		{"张桂兰", idNumber("1942-03-05", 12), "大河村", "独居老年人", "中度失能", "残疾或患有严重慢性病", "独居老年人、失能老年人", "√"},
		{"李四", idNumber("1960-03-05", 21), "大河村", "正常", "自理能力完好", "正常", "空巢老年人", "否"},
	}
	imp, errs := Parse(rows, today, Options{})
	if len(errs) > 0 || len(imp.Elders) != 2 {
		t.Fatal(errs)
	}
	// 独居 3 + 中度失能 3 + 残疾或严重慢性病 3 + age 84 → 3 = 12: 重点
	if e := imp.Elders[0]; e.Score != 12 || e.Tier != anxin.TierKey || !e.Consent ||
		!slices.Equal(e.Categories, []anxin.Category{anxin.CategoryAlone, anxin.CategoryDisabled}) {
		t.Fatalf("%+v", e)
	}
	// 正常 (其他) 1 + 完好 0 + 正常 0 + age 66 → 0 = 1: 不定期
	if e := imp.Elders[1]; e.Score != 1 || e.Tier != anxin.TierIrregular || e.Consent {
		t.Fatalf("%+v", e)
	}
}
