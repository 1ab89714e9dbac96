package anxin

import (
	"strings"
	"unicode/utf8"
)

// MaskPhone hides all but the country prefix and last four digits:
// +8613800001234 → +86*******1234.
func MaskPhone(p string) string {
	if len(p) <= 4 {
		return strings.Repeat("*", len(p))
	}
	keep := 0
	if strings.HasPrefix(p, "+") && len(p) > 9 {
		keep = 3
	}
	return p[:keep] + strings.Repeat("*", len(p)-keep-4) + p[len(p)-4:]
}

// MaskName keeps a name's first character: 张桂兰 → 张**.
func MaskName(n string) string {
	r, size := utf8.DecodeRuneInString(n)
	if r == utf8.RuneError {
		return ""
	}
	return string(r) + strings.Repeat("*", utf8.RuneCountInString(n[size:]))
}

// MaskIDNumber keeps the first four and last four characters of a resident
// ID number: 110101199003071234 → 1101**********1234.
func MaskIDNumber(id string) string {
	if len(id) <= 8 {
		return strings.Repeat("*", len(id))
	}
	return id[:4] + strings.Repeat("*", len(id)-8) + id[len(id)-4:]
}
