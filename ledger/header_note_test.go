package ledger

import (
	"slices"
	"testing"
)

// A note in brackets that says whose the column is (联系电话(家属),
// 姓名(监护人)) makes it another person's column, not the elder's: the
// family's phone must not become the elder's own phone, and a ledger with
// 联系电话 and 联系电话(家属) that imported before must not be refused as
// naming one column twice. A note on the form of the value (18位, 手机,
// 本人) still reads as the header.
func TestHeaderNoteNamingAnotherPerson(t *testing.T) {
	id := idNumber("1942-03-05", 12)
	for _, c := range []struct {
		hdr   []string
		phone string
	}{
		{[]string{"姓名", "身份证号码", "村", "联系电话(家属)"}, ""},
		{[]string{"姓名", "身份证号码", "村", "电话（监护人）"}, ""},
		{[]string{"姓名", "身份证号码", "村", "手机号(子女)"}, ""},
		{[]string{"姓名", "身份证号码", "村", "联系电话(子女1)"}, ""},
		{[]string{"姓名", "身份证号码", "村", "联系电话(本人)"}, "+8613900000001"},
		{[]string{"姓名", "身份证号码(18位)", "村", "联系电话(手机)"}, "+8613900000001"},
		{[]string{"姓名", "身份证号码", "村", "联系电话（手机/座机）"}, "+8613900000001"},
	} {
		rows := [][]string{c.hdr, {"张桂兰", id, "大河村", "13900000001"}}
		imp, errs := Parse(rows, today, Options{})
		if len(errs) > 0 || len(imp.Elders) != 1 || imp.Elders[0].Phone != c.phone {
			t.Errorf("%v: %+v %+v", c.hdr, imp.Elders, errs)
			continue
		}
		if c.phone == "" && !slices.Contains(imp.Unmapped, c.hdr[3]) {
			t.Errorf("%v: another person's column not kept as an extra column: %v", c.hdr, imp.Unmapped)
		}
	}
	rows := [][]string{{"老人姓名", "姓名(监护人)", "身份证号码", "村", "联系电话", "联系电话(监护人)"},
		{"张桂兰", "李明", id, "大河村", "13900000001", "13800000002"}}
	if imp, errs := Parse(rows, today, Options{}); len(errs) > 0 || len(imp.Elders) != 1 || imp.Elders[0].Name != "张桂兰" ||
		imp.Elders[0].Phone != "+8613900000001" {
		t.Errorf("the guardian's columns beside the elder's: %+v %+v", imp.Elders, errs)
	}
}

// The printed 附件3 leaves blanks to fill in: 乡镇街道：＿＿＿＿ 填报人：＿＿.
// A title whose blank was not filled gives no township (the blank's
// underscores are not a township every elder is then registered in).
func TestTitleTownshipBlankLine(t *testing.T) {
	for _, title := range []string{"乡镇街道：＿＿＿＿＿＿    填报人：＿＿＿", "乡镇街道：______  填报人：李芳", "乡镇街道：        填报人：李芳"} {
		rows := [][]string{{"特殊困难老年人信息台账"}, {title}, {"姓名", "身份证号码", "村(社区)"},
			{"张桂兰", idNumber("1942-03-05", 12), "大河村"}}
		imp, errs := Parse(rows, today, Options{})
		if len(errs) > 0 || len(imp.Elders) != 1 || imp.Elders[0].Current.Township != "" {
			t.Errorf("%q: %+v %+v", title, imp.Elders, errs)
		}
	}
}
