package rules

import (
	"strings"
	"testing"

	"github.com/anxin-care/anxin/configs"
)

// hazardNoWater is configs/rules.yaml's no_water until 2026-12-07, of
// kind hazard: the tests of kind hazard (its layout shared by the tiers,
// its saved states and recorded decisions) keep it as their rule.
const hazardNoWater = `  - name: no_water
    kind: hazard
    severity: warning
    device_kinds: [water_meter]
    field: total_m3
    min_delta: 0.01
    alarm_times: [8h, 24h]
    cost: 4800h
    neighbours: 0.5
    memory: 365d
    fallback: 24h
    fresh_within: 2x
    silent_after: 25h
    silent_rule: device_silent
    what: water
    overrides:
      tier:
        high: {alarm_times: [8h, 12h], fallback: 12h}
`

// hazardDefault is configs/rules.yaml with hazardNoWater in place of its
// no_water (the default rules when no_water was of kind hazard).
func hazardDefault(t testing.TB) string {
	t.Helper()
	y := string(configs.RulesYAML)
	i := strings.Index(y, "  - name: no_water\n")
	j := strings.Index(y, "  # The fixed rule, for operators")
	if i < 0 || j < i {
		t.Fatal("configs/rules.yaml: no_water not found")
	}
	return y[:i] + hazardNoWater + y[j:]
}
