package care

import (
	"strings"
	"testing"
)

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
