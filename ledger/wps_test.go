package ledger

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// fullWidth writes s's ASCII digits, letters and signs as a Chinese input
// method in full-width mode types them (０-９, Ｘ, ＋).
func fullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r > ' ' && r <= '~' {
			r += 0xFF01 - '!'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Numbers typed with a Chinese input method in full-width mode (WPS keeps
// them as text) are the same numbers: the ID number, phones, age and dates
// are read as their ASCII digits, and the row updates the elder registered
// under that ID number.
func TestImportFullWidthDigits(t *testing.T) {
	id := idNumber("1942-03-05", 12)
	rows := [][]string{
		{"姓名", "身份证号码", "联系电话", "村(社区)", "年龄", "登记日期", "紧急联系人1姓名", "紧急联系人1电话"},
		{"张桂兰", fullWidth(id), fullWidth("138 0013 8000"), "大河村", "８４岁", "２０２６年３月５日", "张强", fullWidth("+86 139 0000 1111")},
	}
	var prefetched []string
	imp, errs := Parse(rows, today, Options{
		Prefetch: func(_, numbers []string) error { prefetched = numbers; return nil },
		NewID:    func(n string) string { return "e-" + n },
	})
	if len(errs) > 0 {
		t.Fatalf("full-width digits refused: %+v", errs)
	}
	e := imp.Elders[0]
	if e.IDNumber != id || e.ID != "e-"+id || e.Phone != "+8613800138000" || e.Assessment.Age != 84 ||
		len(e.Contacts) != 1 || e.Contacts[0].Phone != "+8613900001111" ||
		!e.CreatedAt.Equal(time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("read as %+v", e)
	}
	if !slices.Equal(prefetched, []string{id}) {
		t.Errorf("prefetched ID numbers %q, want %q", prefetched, id)
	}
}
