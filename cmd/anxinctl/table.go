package main

import (
	"io"
	"strings"

	"github.com/anxin-care/anxin/internal/textwidth"
)

// table pads by display width (textwidth): text/tabwriter counts runes,
// and a Chinese character takes two columns in a terminal.

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
			widths[i] = max(widths[i], textwidth.Width(c))
		}
	}
	var sb strings.Builder
	for _, r := range t.rows {
		for i, c := range r {
			sb.WriteString(c)
			if i < len(r)-1 {
				sb.WriteString(strings.Repeat(" ", widths[i]-textwidth.Width(c)+2))
			}
		}
		sb.WriteString("\n")
	}
	_, err := io.WriteString(w, sb.String())
	return err
}
