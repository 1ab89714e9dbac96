package care

import "testing"

// Phones as ledgers and people write them: spaces, dashes, brackets, the
// country code with +, 00 or in brackets. Anything that is not digits and
// separators stays as written (and is then refused by the record's check).
func TestNormalizePhoneAsWritten(t *testing.T) {
	for in, want := range map[string]string{
		"13800138000":        "+8613800138000",
		"138 0013 8000":      "+8613800138000",
		"138-0013-8000":      "+8613800138000",
		"+86 138 0013 8000":  "+8613800138000",
		"86 138 0013 8000":   "+8613800138000",
		"(+86)13800138000":   "+8613800138000",
		"（+86）138 0013 8000": "+8613800138000",
		"0086 138 0013 8000": "+8613800138000",
		"0086-23-5458-1234":  "+862354581234",
		"(023)54581234":      "+862354581234",
		"023-5458 1234":      "+862354581234",
		"+852 9123 4567":     "+85291234567",
		"00852 9123 4567":    "+85291234567",
		"138001380００":        "138001380００",
		"13800138000 女儿":     "13800138000 女儿",
		"+86+13800138000":    "+86+13800138000",
	} {
		if got := NormalizePhone(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}
