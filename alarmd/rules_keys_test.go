package alarmd

import (
	"strings"
	"testing"

	"github.com/anxin-care/anxin/rules"
)

// TestRuleErrorsNameTheKeyWritten: when one of two related keys is wrong,
// the Mandarin line names the one the operator wrote wrong, with its value,
// not its partner (which may not be written at all): max_quiet: 48h read
// as min_quiet 项：“1h” 超出允许的范围, a negative also_min_delta as
// min_delta, a clear_below written with below as clear_above. A duration
// is shown in the unit of its range: fallback: 48h is not “2d” against
// 1h..36h.
func TestRuleErrorsNameTheKeyWritten(t *testing.T) {
	const water = "device_kinds: [water_meter]"
	rule := func(kind, rest string) string {
		return "timezone: Asia/Shanghai\nrules:\n  - {name: r1, kind: " + kind + ", " + rest + "}\n"
	}
	for _, c := range []struct {
		name, yaml, key, zh string
	}{
		{"hazard max quiet", rule("hazard", water+", max_quiet: 48h"), "max_quiet", "“48h” 超出允许的范围"},
		{"hazard min above max", rule("hazard", water+", min_quiet: 2h, max_quiet: 1h"), "min_quiet", "“2h” 超出允许的范围"},
		{"hazard min quiet", rule("hazard", water+", min_quiet: 10m"), "min_quiet", "“10m” 超出允许的范围"},
		{"hours stay hours", rule("hazard", water+", fallback: 48h"), "fallback", "“48h” 超出允许的范围（允许：1h..36h）"},
		{"days stay days", rule("hazard", water+", warm_up: 90d"), "warm_up", "“90d” 超出允许的范围（允许：1d..60d）"},
		{"also min delta", rule("hazard", water+", also_field: energy_kwh, also_min_delta: -1"), "also_min_delta", "“-1” 超出允许的范围"},
		{"clear below with below", rule("threshold", "field: battery_pct, below: 20, clear_below: 25"), "clear_below", "与 below 不能这样同时写"},
		{"clear above with above", rule("threshold", "field: temperature_c, above: 35, clear_above: 30"), "clear_above", "与 above 不能这样同时写"},
		{"clear above under below", rule("threshold", "field: battery_pct, below: 20, clear_above: 10"), "clear_above", "要不小于 below 的值"},
		{"clear below over above", rule("threshold", "field: temperature_c, above: 35, clear_below: 40"), "clear_below", "要不大于 above 的值"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := rules.Parse([]byte(c.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			zh := ConfigErrorText(err, AtCheck)
			if want := "rules[0]." + c.key + " 项："; !strings.Contains(zh, want) || !strings.Contains(zh, c.zh) {
				t.Errorf("want %s… %s:\n%s\n%s", want, c.zh, zh, err)
			}
			if strings.Contains(zh, "原因见下面的英文说明") {
				t.Errorf("falls back to the English line:\n%s", zh)
			}
		})
	}
}
