package words

import "unicode/utf8"

// SMS segment sizes. A message with any character outside GSM-7 is sent as
// UCS-2: 70 characters in one segment, 67 per part when concatenated (the
// rest of each part is the concatenation header). Characters outside the
// Basic Multilingual Plane take two.
const (
	ucs2Single = 70
	ucs2Part   = 67
	gsmSingle  = 160
	gsmPart    = 153
	// MaxSMSSegments is how many segments a message may take.
	MaxSMSSegments = 2
	// MaxSMSChars is the room of two UCS-2 segments: a Mandarin SMS with
	// its link fits in this many characters.
	MaxSMSChars = MaxSMSSegments * ucs2Part
)

// gsmBasic is the GSM 03.38 basic character set; gsmExt characters take
// two septets (escape + char).
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExt   = "^{}\\[~]|€\f"
)

var gsmSet = func() map[rune]int {
	m := map[rune]int{}
	for _, r := range gsmBasic {
		m[r] = 1
	}
	for _, r := range gsmExt {
		m[r] = 2
	}
	return m
}()

// SMSLength is a message's length in the units of its encoding and whether
// that encoding is UCS-2.
func SMSLength(s string) (n int, ucs2 bool) {
	gsm := 0
	for _, r := range s {
		w, ok := gsmSet[r]
		if !ok {
			ucs2 = true
		}
		gsm += w
		if r > 0xFFFF {
			n += 2
		} else {
			n++
		}
	}
	if !ucs2 {
		return gsm, false
	}
	return n, true
}

// SMSSegments is how many segments the message takes.
func SMSSegments(s string) int {
	n, ucs2 := SMSLength(s)
	single, part := gsmSingle, gsmPart
	if ucs2 {
		single, part = ucs2Single, ucs2Part
	}
	switch {
	case n == 0:
		return 0
	case n <= single:
		return 1
	}
	return (n + part - 1) / part
}

// SMSFits reports whether s fits MaxSMSSegments.
func SMSFits(s string) bool { return SMSSegments(s) <= MaxSMSSegments }

// Chars counts characters as a reader does (for reports).
func Chars(s string) int { return utf8.RuneCountInString(s) }
