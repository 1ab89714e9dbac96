// Package textwidth measures text as a terminal shows it. Workers and
// installers read anxinctl's lists and gatewayd check's table in a Windows
// console or a terminal, where a Chinese character takes two columns;
// text/tabwriter counts runes (one column each), so its columns slip by one
// column per Chinese character.
package textwidth

import (
	"unicode"

	"golang.org/x/text/width"
)

// runeWidth is the columns r takes in a terminal: 2 for East Asian wide and
// full-width characters (汉字, 全角 punctuation, ＡＢＣ), 0 for combining
// marks and control characters, 1 otherwise (ASCII, half-width katakana).
func runeWidth(r rune) int {
	switch {
	case r < 0x20 || r == 0x7f || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || r == 0x200b:
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// Width is the columns s takes.
func Width(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}
