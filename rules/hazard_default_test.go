package rules

import (
	"strings"
	"testing"

	"github.com/anxin-care/anxin"
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

// TestHazardTierChangeMidPeriod: kind hazard keeps a household's counts
// when its tier changes (one layout for the rule's variants), but the
// alarm time of the quiet period under way was chosen by the old variant
// at its last use. A home of 21 ordinary days whose tier changes at 23:45,
// after its 21:00 use, then uses no water: made high (alarm_times
// [8h, 12h]) it is rung for 12 h after the use, not at the general 24 h
// step it no longer has; made general after 21 days as high, at its 24 h
// step, not at the high tier's 12 h. The period's alarm time is chosen
// again, from the counts kept, at the first reading the new variant
// cannot ring at it.
func TestHazardTierChangeMidPeriod(t *testing.T) {
	for _, c := range []struct {
		name     string
		from, to anxin.Tier
		want     string
	}{
		{"general made high", anxin.TierGeneral, anxin.TierHigh, "09:00"},
		{"high made general", anxin.TierHigh, anxin.TierGeneral, "21:00"},
	} {
		tl := newTimeline(t, hazardDefault(t))
		tl.e.SetHousehold("hh-1", c.from)
		v := routine(tl, "hh-1", 0, 21, 100)
		tl.ds, tl.log = nil, nil
		tl.advance(at(20, "23:45"))
		tl.e.SetHousehold("hh-1", c.to)
		tl.meter("hh-1", at(21, "00:00"), at(21, "23:00"), v, 0)
		var o []Decision
		for _, d := range opens(tl) {
			if d.Rule == "no_water" {
				o = append(o, d)
			}
		}
		if len(o) != 1 || !o[0].At.Equal(at(21, c.want)) || !strings.HasPrefix(o[0].Reason, "no water used since 21:00 yesterday") {
			t.Errorf("%s: alarms %v, want one at %s", c.name, tl.log, c.want)
		}
	}
}
