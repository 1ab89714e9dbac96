package care

import (
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

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

// The length an ID number error gives is in characters, not bytes.
func TestIDNumberLengthInCharacters(t *testing.T) {
	_, err := ParseIDNumber("身份证5301281942030501", time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))
	if zh := IDNumberErrorZh(err); zh != "居民身份证号码应为 18 位，这里是 19 位" {
		t.Errorf("%q", zh)
	}
	// 18 characters, one of them full width: not "18 位，这里是 18 位"
	_, err = ParseIDNumber("53012819420305012５", time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC))
	if zh := IDNumberErrorZh(err); !strings.Contains(zh, "只能是数字和 X") {
		t.Errorf("%q", zh)
	}
}

// FuzzNormalizePhone: any text gives either itself trimmed or "+" and
// digits, and a number once normalized stays as it is.
func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"138 0013 8000", "(+86)13800138000", "0086 23 5458 1234", "+852 9123 4567", "00", "+", "（）", "13800138000 女儿"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizePhone(s)
		if n != strings.TrimSpace(s) {
			if len(n) < 2 || n[0] != '+' || strings.Trim(n[1:], "0123456789") != "" {
				t.Fatalf("%q → %q", s, n)
			}
		}
		if anxin.ValidPhone(n) && NormalizePhone(n) != n {
			t.Fatalf("%q → %q → %q", s, n, NormalizePhone(n))
		}
	})
}
