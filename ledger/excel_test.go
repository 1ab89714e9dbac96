package ledger

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
)

// Dates as Excel and WPS hand them over: a date-time cell (a serial with
// a fraction, or text with the time after the day) is that day.
func TestImportDatesWithTime(t *testing.T) {
	want := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	for _, s := range []string{"2026-03-05", "2026/3/5", "2026.3.5", "2026年3月5日", "2026年03月05日", "20260305", "46086",
		"46086.5", "46086.999988", "2026-03-05 00:00:00", "2026/3/5 8:30", "2026-03-05T08:30:00"} {
		got, err := parseDay(s, time.UTC)
		if err != nil || !got.Equal(want) {
			t.Errorf("%q → %v %v, want 2026-03-05", s, got, err)
		}
	}
	for _, s := range []string{"2026-13-05", "46086.5.1", "2026-03-05 午", "三月五日"} {
		if _, err := parseDay(s, time.UTC); err == nil {
			t.Errorf("%q is read as a day", s)
		}
	}
}

// A template numbered down the page (序号 1…100 before anyone is entered)
// leaves rows with only their 序号: they are blank rows, not elders whose
// name is missing.
func TestImportRowsWithOnlyTheirNumber(t *testing.T) {
	rows := [][]string{
		{"序号", "姓名", "身份证号码", "村(社区)"},
		{"1", "张桂兰", idNumber("1942-03-05", 12), "大河村"},
		{"2"}, {"3", "", "", ""}, {" 4 "},
	}
	imp, errs := Parse(rows, today, Options{})
	if len(errs) > 0 || len(imp.Elders) != 1 {
		t.Fatalf("numbered empty rows: %d elders, %+v", len(imp.Elders), errs)
	}
	// a row with anything more than its number is an elder, checked as one
	rows = append(rows, []string{"5", "李四"})
	if _, errs = Parse(rows, today, Options{}); len(errs) == 0 || errs[0].Row != 6 {
		t.Fatalf("a row with a name and no ID number: %+v", errs)
	}
}

// A row without its ID number (the card was not at hand) says so under
// 身份证号码, once: not "姓名：只能是 1 到 64 个字母、数字" for the 档案编号
// and 户编号 that would have been made from it, nor "应为 18 位，这里是 0 位".
func TestImportRowWithoutIDNumber(t *testing.T) {
	rows := [][]string{{"序号", "姓名", "身份证号码", "村(社区)"}, {"1", "李四", "", "大河村"}}
	_, errs := Parse(rows, today, Options{})
	if len(errs) != 1 || errs[0].Row != 2 || errs[0].Column != "身份证号码" || !strings.Contains(errs[0].Message, "必填") {
		t.Fatalf("a row without its ID number: %+v", errs)
	}
	// with its 档案编号 the row still needs the ID number
	rows = [][]string{{"档案编号", "姓名", "身份证号码", "村(社区)"}, {"e-7", "李四", "", "大河村"}}
	_, errs = Parse(rows, today, Options{})
	if len(errs) != 1 || errs[0].Column != "身份证号码" || !strings.Contains(errs[0].Message, "必填") {
		t.Fatalf("a row with 档案编号 but without its ID number: %+v", errs)
	}
}

// The title row's 乡镇街道：屏山街道 is the township of every elder whose
// row leaves it out, in the eight address columns too (not only in one 地址
// cell): an elder stored without it is outside every worker's area
// 屏山街道/大河村 and never on a due list.
func TestTitleTownshipFillsSplitAddress(t *testing.T) {
	for _, hdr := range [][]string{{"姓名", "身份证号码", "乡镇(街道)", "村(社区)"}, {"姓名", "身份证号码", "村(社区)"}} {
		rows := [][]string{{"屏山街道特殊困难老年人信息台账"}, {"乡镇街道：屏山街道    填报人：李芳"}, hdr}
		if len(hdr) == 4 {
			rows = append(rows, []string{"张桂兰", idNumber("1942-03-05", 12), "", "大河村"}, []string{"李四", idNumber("1950-07-01", 21), "龙井镇", "小河村"})
		} else {
			rows = append(rows, []string{"张桂兰", idNumber("1942-03-05", 12), "大河村"})
		}
		imp, errs := Parse(rows, today, Options{})
		if len(errs) > 0 {
			t.Fatalf("%v: %+v", hdr, errs)
		}
		if got := imp.Elders[0].Current; got.Township != "屏山街道" || got.Village != "大河村" {
			t.Errorf("%v: address %+v, want the title's 屏山街道", hdr, got)
		}
		if len(imp.Elders) > 1 && imp.Elders[1].Current.Township != "龙井镇" {
			t.Errorf("a township given in the row is replaced: %+v", imp.Elders[1].Current)
		}
	}
}

// Ages and scores as ledgers write them: 84周岁, 84 岁, 9分.
func TestImportAgeAndScoreWithUnits(t *testing.T) {
	for _, age := range []string{"84", "84岁", "84周岁", "84 周岁", "８４周岁"} {
		rows := [][]string{{"姓名", "身份证号码", "村(社区)", "年龄"}, {"张桂兰", idNumber("1942-03-05", 12), "大河村", age}}
		imp, errs := Parse(rows, today, Options{})
		if len(errs) > 0 || imp.Elders[0].Assessment.Age != 84 {
			t.Errorf("年龄 %q: %+v", age, errs)
		}
	}
	rows := [][]string{{"姓名", "身份证号码", "村(社区)", "监护情况", "自理能力", "健康状况", "评估分值"},
		{"张桂兰", idNumber("1942-03-05", 12), "大河村", "独居", "中度失能", "正常", ""}}
	imp, errs := Parse(rows, today, Options{})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	rows[1][6] = fmt.Sprintf("%d分", imp.Elders[0].Score)
	if _, errs = Parse(rows, today, Options{}); len(errs) > 0 {
		t.Errorf("评估分值 %q: %+v", rows[1][6], errs)
	}
}

// An ID number copied from a printed form in groups (530128 19420305 0125)
// is the same number, found again by a re-import.
func TestImportIDNumberInGroups(t *testing.T) {
	id := idNumber("1942-03-05", 12)
	grouped := id[:6] + " " + id[6:14] + "\u3000" + id[14:]
	var prefetched []string
	rows := [][]string{{"姓名", "身份证号码", "村(社区)"}, {"张桂兰", grouped, "大河村"}}
	imp, errs := Parse(rows, today, Options{
		Prefetch: func(_, numbers []string) error { prefetched = numbers; return nil },
		NewID:    func(n string) string { return "e-" + n },
	})
	if len(errs) > 0 || imp.Elders[0].IDNumber != id || imp.Elders[0].ID != "e-"+id || len(prefetched) != 1 || prefetched[0] != id {
		t.Fatalf("%q: %+v, prefetched %q, %+v", grouped, imp.Elders, prefetched, errs)
	}
}

// 性别 as ledgers write it: 男, 女, 男性, 女性.
func TestImportGenderWords(t *testing.T) {
	for word, want := range map[string]anxin.Gender{"男": anxin.Male, "男性": anxin.Male, " 男 ": anxin.Male} {
		rows := [][]string{{"姓名", "性别", "身份证号码", "村(社区)"}, {"李四", word, idNumber("1950-07-01", 21), "大河村"}}
		imp, errs := Parse(rows, today, Options{})
		if len(errs) > 0 || imp.Elders[0].Gender != want {
			t.Errorf("性别 %q: %+v", word, errs)
		}
	}
	rows := [][]string{{"姓名", "性别", "身份证号码", "村(社区)"}, {"张桂兰", "女性", idNumber("1942-03-05", 12), "大河村"}}
	if imp, errs := Parse(rows, today, Options{}); len(errs) > 0 || imp.Elders[0].Gender != anxin.Female {
		t.Errorf("性别 女性: %+v", errs)
	}
}

// Headers wrapped in their cell (Alt+Enter in Excel, 自动换行 typed in
// WPS: "身份证\n号码"), or with a full-width space or a trailing colon,
// are the same headers.
func TestImportWrappedHeaders(t *testing.T) {
	rows := [][]string{{"姓  名", "身份证\n号码", "联系\r\n电话", "村（社区）：", "是否同意\n探访"},
		{"张桂兰", idNumber("1942-03-05", 12), "13800138000", "大河村", "是"}}
	imp, errs := Parse(rows, today, Options{})
	if len(errs) > 0 || len(imp.Unmapped) > 0 {
		t.Fatalf("wrapped headers: %+v unmapped %q", errs, imp.Unmapped)
	}
	if e := imp.Elders[0]; e.Phone != "+8613800138000" || e.Current.Village != "大河村" {
		t.Fatalf("%+v", e)
	}
}

// A header with a note in brackets (身份证号码（18位）, 联系电话(手机)) is
// the header before the note; headers whose brackets are part of them
// (村(社区), 户籍县(市、区)) stay as they are.
func TestImportHeadersWithANote(t *testing.T) {
	rows := [][]string{{"姓名", "身份证号码（18位）", "联系电话(手机)", "村（社区）", "户籍县(市、区)"},
		{"张桂兰", idNumber("1942-03-05", 12), "13800138000", "大河村", "忠县"}}
	imp, errs := Parse(rows, today, Options{})
	if len(errs) > 0 || len(imp.Unmapped) > 0 {
		t.Fatalf("%+v unmapped %q", errs, imp.Unmapped)
	}
	if e := imp.Elders[0]; e.Phone != "+8613800138000" || e.Registered.County != "忠县" || e.Current.Village != "大河村" {
		t.Fatalf("%+v", e)
	}
}

// A 附件3 export read back leaves 疾病史 as it was written: 健康状况 is
// the self-care word, the health word and the illness in one cell, and the
// illness itself may hold commas, spaces or slashes. Only the form's words
// are taken out of the cell, in any order; the rest stays verbatim (no
// "changed" row on re-importing one's own export).
func TestForm3KeepsIllnessAsWritten(t *testing.T) {
	for _, ill := range []string{"高血压, 糖尿病", "2019年脑梗，左侧偏瘫", "高血压/糖尿病", "高血压"} {
		e := anxin.ElderRecord{ID: "e-1", Name: "张桂兰", IDNumber: idNumber("1942-03-05", 11), Consent: true, Ability: "中度失能",
			Current:    anxin.Address{County: "忠县", Township: "善广乡", Village: "大河村"},
			Assessment: anxin.Assessment{SelfCare: anxin.SelfCareModerate, Health: anxin.HealthNormal}, Illness: ill}
		if errs := care.Normalize(&e, today); len(errs) > 0 {
			t.Fatal(errs)
		}
		imp, errs := reimportForm3(t, e)
		if len(errs) > 0 || imp.Elders[0].Illness != ill || imp.Changes[0].Action != Unchanged {
			t.Errorf("疾病史 %q read back as %q (%s %v) %+v", ill, imp.Elders[0].Illness, imp.Changes[0].Action, imp.Changes[0].Fields, errs)
		}
	}
	// a hand-written cell, the form's words after the illness
	e := anxin.ElderRecord{}
	setFormHealth(&e, "高血压 糖尿病、中度失能")
	if e.Illness != "高血压 糖尿病" || e.Assessment.SelfCare != anxin.SelfCareModerate {
		t.Errorf("hand-written: %+v", e)
	}
}

// An elder registered with the assessment's self-care item and no 能力等级
// (the API, the register layout) comes back from her 附件3 export
// unchanged: the cell's self-care word is the one stored, so it sets
// nothing. A word that differs sets both, as before.
func TestForm3ReimportLeavesAbilityAlone(t *testing.T) {
	e := anxin.ElderRecord{ID: "e-1", Name: "张桂兰", IDNumber: idNumber("1942-03-05", 11), Consent: true,
		Current:    anxin.Address{County: "忠县", Township: "善广乡", Village: "大河村"},
		Assessment: anxin.Assessment{Guardianship: anxin.GuardianAlone, SelfCare: anxin.SelfCareModerate, Health: anxin.HealthNormal}}
	if errs := care.Normalize(&e, today); len(errs) > 0 {
		t.Fatal(errs)
	}
	var buf bytes.Buffer
	if err := WriteForm3XLSX(&buf, []anxin.ElderRecord{e}, nil, Form3Meta{Township: "善广乡"}, Options{}); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadXLSXRows(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	opt := Options{NewID: func(string) string { return "e-1" }, Existing: func(id string) (anxin.ElderRecord, bool) { return e, id == "e-1" }}
	imp, errs := Parse(rows, today, opt)
	if len(errs) > 0 || imp.Changes[0].Action != Unchanged {
		t.Fatalf("own export re-imported: %s %v %+v", imp.Changes[0].Action, imp.Changes[0].Fields, errs)
	}
	// the operator changes the word: both the item and 能力等级 follow
	for _, r := range rows {
		for i, c := range r {
			r[i] = strings.Replace(c, "中度失能", "重度失能", 1)
		}
	}
	imp, errs = Parse(rows, today, opt)
	if len(errs) > 0 || imp.Elders[0].Assessment.SelfCare != anxin.SelfCareSevere || imp.Elders[0].Ability != "重度失能" {
		t.Fatalf("a changed word: %+v %+v", imp.Elders[0], errs)
	}
}
