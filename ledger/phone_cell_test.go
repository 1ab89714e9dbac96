package ledger

import (
	"strings"
	"testing"
)

// A phone cell holding two numbers (the elder's mobile and a landline, or
// a child's) read as "不是电话号码", which does not say what to do. The
// programme's forms (附件1) have one 联系电话 per person and the register
// one number an alarm calls: the import still refuses the cell, and says
// which number to keep (the first mobile, by its last four digits) and
// where the other goes. No number is quoted whole.
func TestPhoneCellWithTwoNumbers(t *testing.T) {
	for _, c := range []struct {
		cell, keep string
	}{
		{"13800138000/13900139000", "8000"},
		{"13800138000 13900139000", "8000"},
		{"13800138000、13900139000", "8000"},
		{"13800138000，13900139000", "8000"},
		{"023-54321234/13900139000", "0139000"[3:]},
		{"138 0013 8000 139 0013 9000", "8000"},
	} {
		for _, col := range []string{"联系电话", "紧急联系人1电话"} {
			row := map[string]string{"姓名": "张桂兰", "身份证号码": idNumber("1942-03-05", 11), "村(社区)": "大河村",
				"联系电话": "13700137000", "紧急联系人1姓名": "李建国", "紧急联系人1关系": "子女", "紧急联系人1电话": "13600136000"}
			row[col] = c.cell
			var hdr, vals []string
			for _, h := range []string{"姓名", "身份证号码", "村(社区)", "联系电话", "紧急联系人1姓名", "紧急联系人1关系", "紧急联系人1电话"} {
				hdr, vals = append(hdr, h), append(vals, row[h])
			}
			_, errs := Parse([][]string{hdr, vals}, today, Options{Township: "善广乡"})
			if len(errs) != 1 || errs[0].Column != col {
				t.Errorf("%s %q: %v", col, c.cell, errs)
				continue
			}
			msg := errs[0].Message
			if want := "写了 2 个号码，一格只能写一个：请只留尾号 " + c.keep + " 的"; !strings.Contains(msg, want) {
				t.Errorf("%s %q: %q lacks %q", col, c.cell, msg, want)
			}
			for _, n := range []string{"13800138000", "13900139000", "54321234", "0013"} {
				if strings.Contains(msg, n) {
					t.Errorf("%s %q: %q shows %s", col, c.cell, msg, n)
				}
			}
		}
	}
}
