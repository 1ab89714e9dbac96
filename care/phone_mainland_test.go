package care

import (
	"testing"

	"github.com/anxin-care/anxin"
)

// The trunk 0 of an area code is not dialled after +86: "0086 0871…",
// "+86 (0)871…" and "(+86)0871…" are 0871-1234567, not +86 0871…, a
// number no call or SMS reaches (the alarm's call to it fails, silently
// for the worker who entered it).
func TestNormalizePhoneDropsTrunkZero(t *testing.T) {
	for _, in := range []string{"0086 0871 1234567", "+86 (0)871 1234567", "(+86)0871-1234567", "+8608711234567", "86 0871 1234567"} {
		if got := NormalizePhone(in); got != "+868711234567" {
			t.Errorf("%q → %q, want +868711234567", in, got)
		}
	}
}

// A mainland mobile (1 and 10 more digits) written with its country code
// and digits missing or one too many is refused, as it is without the
// country code: it would be another person's number, or none. So is a
// landline with an extension run into it (more than 11 digits after +86).
func TestMainlandMobileLength(t *testing.T) {
	for in, ok := range map[string]bool{
		"138 0013 800":        false, // refused before: 10 digits
		"0086 138 0013 800":   false,
		"+86 138 0013 800":    false,
		"+861380013800":       false,
		"(+86)138 0013 80001": false,
		"+86 138 0013":        false, // several digits short: no mobile has fewer than 11
		"0086 139 0000 00":    false,
		"+86 138 0013 8000":   true,
		"+86 10 6552 9988":    true, // Beijing: area code 10 and 8 digits
		"010-6552 9988":       true,
		"0086 23 5458 1234":   true,
		"+852 9123 4567":      true,
		"+86 871-1234567-12":  false, // an extension run into the number
		"0086 871-1234567-12": false,
		"(+86)0871-8765 4321": true,
	} {
		e := anxin.ElderRecord{ID: "e1", Name: "张桂兰", IDNumber: "11010519491231002x", Phone: in,
			Current: anxin.Address{Village: "善广村"}}
		errs := Normalize(&e, today)
		bad := false
		for _, fe := range errs {
			bad = bad || fe.Field == "phone"
		}
		if bad == ok {
			t.Errorf("%q (→ %q): phone refused %v, want %v", in, e.Phone, bad, !ok)
		}
	}
}
