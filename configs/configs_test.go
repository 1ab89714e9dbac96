package configs_test

import (
	"testing"

	"github.com/anxin-care/anxin/configs"
	"github.com/anxin-care/anxin/rules"
)

// Every example config in configs/ is loaded here so none of them rots.
// (alarmd's own examples are added by their owner.)
func TestRulesYAMLParses(t *testing.T) {
	c, err := rules.Parse(configs.RulesYAML)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) == 0 {
		t.Fatal("no rules")
	}
}
