package anxin

import (
	"strings"
	"unicode/utf8"
)

// MaskPhone hides all but the country prefix and last four digits:
// +8613800001234 → +86*******1234.
// It counts characters, not bytes: a number typed in full-width digits
// (１３８…, a Chinese input method's) keeps its last four whole.
func MaskPhone(p string) string {
	r := []rune(p)
	if len(r) <= 4 {
		return strings.Repeat("*", len(r))
	}
	keep := 0
	if strings.HasPrefix(p, "+") && len(r) > 9 {
		keep = 3
	}
	return string(r[:keep]) + strings.Repeat("*", len(r)-keep-4) + string(r[len(r)-4:])
}

// MaskName keeps a name's first character: 张桂兰 → 张**.
func MaskName(n string) string {
	r, size := utf8.DecodeRuneInString(n)
	if r == utf8.RuneError {
		return ""
	}
	return string(r) + strings.Repeat("*", utf8.RuneCountInString(n[size:]))
}

// MaskRecordID is a record id (an elder's, which a district may make its
// resident ID number) fit for a log line: masked as an ID number when it
// looks like one (15 or 18 characters, digits but a final X), else as is.
func MaskRecordID(id string) string {
	if len(id) != 15 && len(id) != 18 {
		return id
	}
	for i, c := range id {
		if (c < '0' || c > '9') && !(i == len(id)-1 && (c == 'X' || c == 'x')) {
			return id
		}
	}
	return MaskIDNumber(id)
}

// MaskIDNumber keeps the first four and last four characters of a resident
// ID number: 110101199003071234 → 1101**********1234.
func MaskIDNumber(id string) string {
	if len(id) <= 8 {
		return strings.Repeat("*", len(id))
	}
	return id[:4] + strings.Repeat("*", len(id)-8) + id[len(id)-4:]
}
