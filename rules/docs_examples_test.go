package rules_test

import (
	"os"
	"strings"
	"testing"

	"github.com/anxin-care/anxin/rules"
)

// TestDocsRulesExamplesParse: every rules example in docs/rules.md is
// what an operator copies into the rules file, so each must load as
// written (a reference block with `silent_after: ""` was refused).
// A block is a whole file (with rules:) or rules to put under rules:.
func TestDocsRulesExamplesParse(t *testing.T) {
	b, err := os.ReadFile("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(b), "```yaml\n")
	checked := 0
	for i, p := range parts[1:] {
		end := strings.Index(p, "```")
		if end < 0 {
			t.Fatalf("yaml block %d is not closed", i+1)
		}
		blk := p[:end]
		lines := strings.Split(strings.TrimRight(blk, "\n"), "\n")
		doc := blk
		switch first := strings.TrimSpace(lines[0]); {
		case strings.HasPrefix(first, "- "):
			indent := len(lines[0]) - len(strings.TrimLeft(lines[0], " "))
			var sb strings.Builder
			sb.WriteString("timezone: Asia/Shanghai\nrules:\n")
			for _, l := range lines {
				sb.WriteString("  " + l[min(indent, len(l)-len(strings.TrimLeft(l, " "))):] + "\n")
			}
			doc = sb.String()
		case !strings.Contains(blk, "\nrules:") && !strings.HasPrefix(blk, "rules:"):
			continue // not rules (a households or alarmd.yaml excerpt)
		}
		if _, err := rules.Parse([]byte(doc)); err != nil {
			t.Errorf("docs/rules.md yaml block %d does not load: %v\n%s", i+1, err, blk)
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d rules examples found in docs/rules.md", checked)
	}
}
