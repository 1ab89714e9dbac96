package care

import (
	"strings"
	"testing"

	"github.com/anxin-care/anxin"
)

// A cell with two numbers gets the same advice wherever a phone is
// written: the elder's, an emergency contact's, a community responder's
// and a family member's (附件1's family table) say which number to keep,
// by its last four digits, never "不是电话号码"; no number is quoted whole.
func TestTwoPhonesAdviceEverywhere(t *testing.T) {
	const cell = "13800138000/13900139000"
	for _, field := range []string{"phone", "contacts[0].phone", "responders[0].phone", "form.family[0].phone"} {
		e := anxin.ElderRecord{ID: "e1", Name: "张桂兰", IDNumber: "11010519491231002x", Phone: "13700137000",
			Current:    anxin.Address{Village: "善广村"},
			Contacts:   []anxin.Contact{{Name: "李明", Relation: "child", Phone: "13600136000"}},
			Responders: []anxin.Contact{{Name: "王芳", Role: "网格员", Phone: "13500135000"}},
			Form:       &anxin.RegisterForm{Family: []anxin.FamilyMember{{Name: "李明", Relation: "子", Phone: "13600136000"}}}}
		switch field {
		case "phone":
			e.Phone = cell
		case "contacts[0].phone":
			e.Contacts[0].Phone = cell
		case "responders[0].phone":
			e.Responders[0].Phone = cell
		default:
			e.Form.Family[0].Phone = cell
		}
		errs := Normalize(&e, today)
		if len(errs) != 1 || errs[0].Field != field {
			t.Errorf("%s: %v", field, errs)
			continue
		}
		zh := errs[0].Zh
		if want := "写了 2 个号码，一格只能写一个：请只留尾号 8000 的手机号"; !strings.Contains(zh, want) {
			t.Errorf("%s: %q lacks %q", field, zh, want)
		}
		if strings.Contains(zh, "13800138000") || strings.Contains(zh, "13900139000") {
			t.Errorf("%s: %q shows a number", field, zh)
		}
		if errs[0].Message != "holds more than one phone number; keep one" {
			t.Errorf("%s: English %q", field, errs[0].Message)
		}
	}
}

// TestTwoPhonesKeepsAMobile: a cell with two numbers is told to keep the
// first mobile, the number an alarm's SMS reaches. A Beijing landline
// (010…, +8610…) starts like a mobile in E.164 (+861…) and was named as
// the 手机号 to keep.
func TestTwoPhonesKeepsAMobile(t *testing.T) {
	for cell, keep := range map[string]string{
		"010-62345678/13900139000":  "尾号 9000 的手机号",
		"(010)62345678、13900139000": "尾号 9000 的手机号",
		"13800138000/010-62345678":  "尾号 8000 的手机号",
		"010-62345678/023-54581234": "尾号 5678 的号码",
	} {
		if got := twoPhonesZh(cell); !strings.Contains(got, keep) {
			t.Errorf("%s: %q lacks %q", cell, got, keep)
		}
	}
}
