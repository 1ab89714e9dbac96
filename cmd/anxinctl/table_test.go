package main

import (
	"strings"
	"testing"

	"github.com/anxin-care/anxin/internal/textwidth"
)

// Columns line up on screen: every cell of a column starts at the same
// display column, whatever mix of Chinese and ASCII is before it.
func TestTableAlignsChinese(t *testing.T) {
	var tb table
	tb.row("姓名", "村(社区)", "电话")
	tb.row("张桂兰", "善广村", "+8613800001234")
	tb.row("Li", "东村\n2组", "-")
	var sb strings.Builder
	if err := tb.write(&sb); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(sb.String(), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("%q", lines)
	}
	for _, col := range []string{"村(社区)|善广村|东村 2组", "电话|+8613800001234|-"} {
		cells := strings.Split(col, "|")
		var at []int
		for i, l := range lines {
			i := strings.Index(l, cells[i])
			if i < 0 {
				t.Fatalf("%q not in %q", cells, lines)
			}
			at = append(at, textwidth.Width(l[:i]))
		}
		if at[0] != at[1] || at[1] != at[2] {
			t.Errorf("column %q starts at display columns %v:\n%s", cells[0], at, sb.String())
		}
	}
}
