package main

import (
	"io"
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

// Workers read anxinctl's lists in a Windows console or a terminal, where
// a Chinese character takes two columns. text/tabwriter counts runes (one
// column each), so its columns slip by one column per Chinese character;
// table pads by display width instead.

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

// textWidth is the columns s takes.
func textWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

// table is rows of cells printed with columns aligned by display width,
// two spaces apart; the first row is the header.
type table struct{ rows [][]string }

func (t *table) row(cells ...string) {
	for i, c := range cells {
		// one line per row: a newline or tab in a record would break the columns
		cells[i] = strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == '\t' {
				return ' '
			}
			return r
		}, c)
	}
	t.rows = append(t.rows, cells)
}

func (t *table) write(w io.Writer) error {
	var widths []int
	for _, r := range t.rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], textWidth(c))
		}
	}
	var sb strings.Builder
	for _, r := range t.rows {
		for i, c := range r {
			sb.WriteString(c)
			if i < len(r)-1 {
				sb.WriteString(strings.Repeat(" ", widths[i]-textWidth(c)+2))
			}
		}
		sb.WriteString("\n")
	}
	_, err := io.WriteString(w, sb.String())
	return err
}
