package alarmd

import (
	"strings"
	"testing"

	"github.com/anxin-care/anxin/internal/configerr"
	"github.com/anxin-care/anxin/rules"
)

// TestRuleErrorsInMandarin walks every error a rules file's keys can get
// (each check of each kind, the overrides, the decoder): the Mandarin line
// names the key and says what is wrong; none falls back to "值不对…原因见
// 下面的英文说明", which a district operator cannot act on.
func TestRuleErrorsInMandarin(t *testing.T) {
	const (
		water = "device_kinds: [water_meter]"
		gps   = "device_kinds: [tracker]"
	)
	rule := func(kind, rest string) string {
		return "timezone: Asia/Shanghai\nrules:\n  - {name: r1, kind: " + kind + ", " + rest + "}\n"
	}
	for _, c := range []struct {
		name, yaml, key, zh string
	}{
		// continuous
		{"continuous no field", rule("continuous", water+", for: 30m"), "field", "没有填写"},
		{"continuous field name", rule("continuous", water+", field: 流量, for: 30m"), "field", "不能用作名字或编号"},
		{"continuous counter name", rule("continuous", water+", counter: 'a b', min_rate: 1, for: 30m"), "counter", "不能用作名字或编号"},
		{"continuous min rate", rule("continuous", water+", counter: total_m3, for: 30m"), "min_rate", "超出允许的范围（允许：> 0）"},
		{"continuous intervals", rule("continuous", water+", field: flow_lpm, intervals: -1, for: 30m"), "intervals", "“-1” 超出允许的范围"},
		{"continuous for", rule("continuous", water+", field: flow_lpm"), "for", "“0s” 超出允许的范围（允许：> 0s）"},
		{"continuous max gap", rule("continuous", water+", field: flow_lpm, for: 30m, max_gap: -1h"), "max_gap", "不是时长"},
		// event
		{"event none", rule("event", "events: []"), "events", "没有填写"},
		{"event clears", rule("event", "events: [smoke, smoke_clear]"), "events[1]", "解除告警的事件"},
		{"event unknown", rule("event", "events: [tumble]"), "events[0]", "“tumble” 不是可用的值"},
		// geofence
		{"geofence datum", rule("geofence", gps+", datum: bd09, center: {lat: 39.9, lon: 116.4}, radius_m: 300"), "datum", "只能写：wgs84、gcj02"},
		{"geofence both", rule("geofence", gps+", center: {lat: 39.9, lon: 116.4}, radius_m: 300, polygon: [{lat: 1, lon: 1}]"), "center", "与 polygon 不能这样同时写"},
		{"geofence center", rule("geofence", gps+", center: {lat: 139.9, lon: 116.4}, radius_m: 300"), "center", "不是经纬度"},
		{"geofence radius", rule("geofence", gps+", center: {lat: 39.9, lon: 116.4}"), "radius_m", "超出允许的范围"},
		{"geofence polygon short", rule("geofence", gps+", polygon: [{lat: 1, lon: 1}, {lat: 2, lon: 2}]"), "polygon", "至少要写 3 个点"},
		{"geofence polygon point", rule("geofence", gps+", polygon: [{lat: 1, lon: 1}, {lat: 2, lon: 2}, {lat: 2, lon: 200}]"), "polygon[2]", "不是经纬度"},
		{"geofence polygon radius", rule("geofence", gps+", polygon: [{lat: 1, lon: 1}, {lat: 2, lon: 2}, {lat: 2, lon: 3}], radius_m: 5"), "radius_m", "与 polygon 不能这样同时写"},
		{"geofence nothing", rule("geofence", gps), "center", "没有填写"},
		{"geofence for", rule("geofence", gps+", center: {lat: 39.9, lon: 116.4}, radius_m: 300, for: -5m"), "for", "不是时长"},
		// hazard and steps (their shared learner, cells and alarm checks)
		{"hazard quiet", rule("hazard", water+", min_quiet: 10m"), "min_quiet", "“10m” 超出允许的范围（允许：30m ≤ min_quiet ≤ max_quiet ≤ 36h）"},
		{"hazard times count", rule("hazard", water+", alarm_times: [30m, 1h, 1h30m, 2h, 3h, 4h, 5h, 6h, 8h, 10h, 12h, 16h, 20h, 24h, 36h, 36h, 36h]"), "alarm_times", "告警时刻要写 1 到 16 个"},
		{"hazard time", rule("hazard", water+", alarm_times: [7h]"), "alarm_times", "“7h” 不是可用的值（只能写：1h、1h30m、2h"},
		{"quiet field", rule("hazard", water+", field: 'total m3'"), "field", "不能用作名字或编号"},
		{"quiet also field", rule("hazard", water+", also_field: total_m3"), "also_field", "与 field 不能这样同时写"},
		{"quiet also field name", rule("hazard", water+", also_field: 'a b'"), "also_field", "不能用作名字或编号"},
		{"quiet min delta", rule("hazard", water+", min_delta: -1"), "min_delta", "超出允许的范围（允许：> 0）"},
		{"quiet cost", rule("hazard", water+", cost: 30m"), "cost", "“30m” 超出允许的范围（允许：1h..1000000h）"},
		{"quiet shrink", rule("hazard", water+", shrink: 0.01"), "shrink", "超出允许的范围（允许：0.1..1000）"},
		{"quiet tail", rule("hazard", water+", tail: 101"), "tail", "超出允许的范围（允许：0..100）"},
		{"quiet warm up", rule("hazard", water+", warm_up: 90d"), "warm_up", "“90d” 超出允许的范围（允许：1d..60d）"},
		{"quiet memory", rule("hazard", water+", memory: 1d"), "memory", "“1d” 超出允许的范围（允许：7d..365d）"},
		{"quiet gaps", rule("hazard", water+", gaps: skip"), "gaps", "只能写：bridge、restart"},
		{"quiet after gap", rule("hazard", water+", after_gap: 25h"), "after_gap", "超出允许的范围（允许：0..24h）"},
		{"quiet split", rule("hazard", water+", split: week"), "split", "只能写：weekend、before、none"},
		{"steps split", rule("steps", water+", alarm_times: [8h], split: month"), "split", "只能写：weekend、before、none、week"},
		{"quiet neighbours", rule("hazard", water+", neighbours: 2"), "neighbours", "超出允许的范围（允许：0..1）"},
		{"quiet fallback", rule("hazard", water+", fallback: 40h"), "fallback", "超出允许的范围（允许：1h..36h）"},
		{"quiet silent with also", rule("hazard", water+", also_field: energy_kwh, silent_after: 25h"), "silent_after", "与 also_field 不能这样同时写"},
		{"quiet silent rule", rule("hazard", water+", silent_rule: other"), "silent_rule", "还必须写 silent_after"},
		{"quiet silence", rule("hazard", water+", silent_after: 3y"), "silent_after", "要写成 25h 这样的时长，或 2x 这样的倍数"},
		{"quiet silence list", rule("hazard", water+", silent_after: [25h]"), "silent_after", "要写成 25h 这样的时长，或 2x 这样的倍数"},
		{"steps times none", rule("steps", water+", alarm_times: []"), "alarm_times", "告警时刻要写 1 到"},
		{"steps times order", rule("steps", water+", alarm_times: [24h, 8h]"), "alarm_times", "从短到长排列"},
		{"steps per quiet", rule("steps", water+", alarm_times: [8h], per_quiet: 2000"), "per_quiet", "超出允许的范围（允许：0..1000）"},
		{"steps late share", rule("steps", water+", alarm_times: [8h], late_share: 0.5"), "late_share", "“0.5” 不对：要写 0 到 1 之间的小数"},
		{"steps life delta", rule("steps", water+", alarm_times: [8h], life_delta: 5"), "life_delta", "“5” 不对：要大于 0，且小于 min_delta（现在是 0.01）"},
		{"steps drip needs", rule("steps", water+", alarm_times: [8h], drip_run: 2h"), "drip_run", "还必须写 life_delta"},
		{"steps drip range", rule("steps", water+", alarm_times: [8h], life_delta: 0.001, drip_run: 40h"), "drip_run", "超出允许的范围（允许：1h..36h）"},
		{"steps drip also", rule("steps", water+", alarm_times: [8h], life_delta: 0.001, drip_run: 2h, also_field: energy_kwh"), "drip_run", "与 also_field 不能这样同时写"},
		// learned
		{"learned field", rule("learned", water+", field: 'a b'"), "field", "不能用作名字或编号"},
		{"learned min delta", rule("learned", water+", min_delta: -1"), "min_delta", "超出允许的范围"},
		{"learned sensitivity", rule("learned", water+", sensitivity: 0.2"), "sensitivity", "“0.2” 超出允许的范围（允许：0.5..0.99999）"},
		{"learned warm up", rule("learned", water+", warm_up: 20d"), "warm_up", "超出允许的范围（允许：1d..14d）"},
		{"learned memory", rule("learned", water+", memory: 400d"), "memory", "超出允许的范围（允许：7d..365d）"},
		{"learned min quiet", rule("learned", water+", min_quiet: 50h"), "min_quiet", "超出允许的范围（允许：0..48h）"},
		// no_use
		{"no use field", rule("no_use", water+", for: 24h"), "field", "没有填写"},
		{"no use field name", rule("no_use", water+", field: 'a b', for: 24h"), "field", "不能用作名字或编号"},
		{"no use min delta", rule("no_use", water+", field: total_m3, min_delta: -1, for: 24h"), "min_delta", "超出允许的范围"},
		{"no use for", rule("no_use", water+", field: total_m3, min_delta: 0.01"), "for", "超出允许的范围（允许：> 0s）"},
		{"no use silent rule name", rule("no_use", water+", field: total_m3, min_delta: 0.01, for: 24h, silent_rule: 'a b'"), "silent_rule", "不能用作名字或编号"},
		{"no use silent rule same", rule("no_use", water+", field: total_m3, min_delta: 0.01, for: 24h, silent_rule: r1"), "silent_rule", "不能与这条规则自己的 name 相同"},
		// offline
		{"offline target", rule("offline", "target: hub, for: 1h"), "target", "只能写：device、gateway"},
		{"offline trigger gateway", rule("offline", "target: gateway, trigger: status, for: 1h"), "trigger", "只用于 target: device"},
		{"offline trigger", rule("offline", "trigger: never, for: 1h"), "trigger", "只能写：any、status、silence"},
		{"offline for", rule("offline", "target: device"), "for", "超出允许的范围"},
		{"offline silent after", rule("offline", "target: device, for: 1h, silent_after: 2h"), "silent_after", "只用于 target: gateway"},
		{"offline kinds", rule("offline", "target: gateway, for: 1h, device_kinds: [call_button]"), "device_kinds", "与 target: gateway 不能这样同时写"},
		// threshold
		{"threshold field", rule("threshold", "above: 35"), "field", "没有填写"},
		{"threshold field name", rule("threshold", "field: 'a b', above: 35"), "field", "不能用作名字或编号"},
		{"threshold neither", rule("threshold", "field: temperature_c"), "below", "没有填写"},
		{"threshold both", rule("threshold", "field: temperature_c, above: 35, below: 5"), "below", "与 above 不能这样同时写"},
		{"threshold clear above", rule("threshold", "field: battery_pct, below: 20, clear_above: 10"), "clear_above", "要不小于 below 的值"},
		{"threshold clear below", rule("threshold", "field: temperature_c, above: 35, clear_below: 40"), "clear_below", "要不大于 above 的值"},
		{"threshold for", rule("threshold", "field: temperature_c, above: 35, for: -1m"), "for", "不是时长"},
		// every kind: severity, route, window, overrides, the decoder
		{"window", rule("event", "events: [button_pressed], window: 22-06"), "window", "时段要写成 22:00-06:00 这样"},
		{"overrides not a mapping", rule("event", "events: [button_pressed], overrides: [1]"), "overrides", "这里应写下一级的若干项"},
		{"overrides scope", rule("event", "events: [button_pressed], overrides: {district: {}}"), "overrides.district", "没有这一项"},
		{"overrides scope list", rule("event", "events: [button_pressed], overrides: {tier: [1]}"), "overrides.tier", "这里应写下一级的若干项"},
		{"overrides tier", rule("event", "events: [button_pressed], overrides: {tier: {urgent: {disabled: true}}}"), "overrides.tier.urgent", "“urgent” 不是可用的值（只能写：irregular、general、key、high）"},
		{"overrides household", rule("event", "events: [button_pressed], overrides: {household: {'一号': {disabled: true}}}"), "overrides.household.一号", "不能用作名字或编号"},
		{"overrides value", rule("event", "events: [button_pressed], overrides: {tier: {high: 1}}"), "overrides.tier.high", "这里应写下一级的若干项"},
		{"overrides name", rule("event", "events: [button_pressed], overrides: {tier: {high: {name: x}}}"), "overrides.tier.high.name", "不能在 overrides 里改"},
		{"overrides check", rule("event", "events: [button_pressed], overrides: {tier: {high: {events: [gas_clear]}}}"), "overrides.tier.high.events[0]", "解除告警的事件"},
		{"plain keys", "timezone: Asia/Shanghai\nrules:\n  - name: r1\n    kind: event\n    events: [button_pressed]\n    ? [a, b]\n    : 1\n", "rules[0]", "项名要写成普通文字"},
		{"list too long", rule("event", "events: ["+strings.Repeat("button_pressed, ", 1001)+"button_pressed]"), "events", "列表太长，最多写"},
		{"rules not a list", "timezone: Asia/Shanghai\nrules: {a: 1}\n", "rules", "这里应写列表"},
		// the key written wrong is the one named, with its value, not its
		// partner (max_quiet: 48h once read as min_quiet 项：“1h”); a duration
		// is shown in the unit of its range (fallback: 48h is not “2d”)
		{"hazard max quiet", rule("hazard", water+", max_quiet: 48h"), "max_quiet", "“48h” 超出允许的范围"},
		{"hazard min above max", rule("hazard", water+", min_quiet: 2h, max_quiet: 1h"), "min_quiet", "“2h” 超出允许的范围"},
		{"hazard min quiet", rule("hazard", water+", min_quiet: 10m"), "min_quiet", "“10m” 超出允许的范围"},
		{"hours stay hours", rule("hazard", water+", fallback: 48h"), "fallback", "“48h” 超出允许的范围（允许：1h..36h）"},
		{"days stay days", rule("hazard", water+", warm_up: 90d"), "warm_up", "“90d” 超出允许的范围（允许：1d..60d）"},
		{"also min delta", rule("hazard", water+", also_field: energy_kwh, also_min_delta: -1"), "also_min_delta", "“-1” 超出允许的范围"},
		{"clear below with below", rule("threshold", "field: battery_pct, below: 20, clear_below: 25"), "clear_below", "与 below 不能这样同时写"},
		{"clear above with above", rule("threshold", "field: temperature_c, above: 35, clear_above: 30"), "clear_above", "与 above 不能这样同时写"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := rules.Parse([]byte(c.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			zh := ConfigErrorText(err, AtCheck)
			t.Logf("\n%s\n%s", zh, err)
			if strings.Contains(zh, "原因见下面的英文说明") {
				t.Errorf("falls back to the English line:\n%s\n%s", zh, err)
			}
			key := c.key
			if !strings.HasPrefix(key, "rules") {
				key = "rules[0]." + key
			}
			if !strings.Contains(zh, key+" 项：") {
				t.Errorf("does not name %s:\n%s\n%s", key, zh, err)
			}
			if !strings.Contains(zh, c.zh) {
				t.Errorf("lacks %q:\n%s\n%s", c.zh, zh, err)
			}
		})
	}
}

// TestRuleReasonsHaveWords: every reason the rules package gives a problem
// has its Mandarin, and nothing else is worded.
func TestRuleReasonsHaveWords(t *testing.T) {
	for _, r := range rules.ErrorReasons {
		if ruleReasons[r] == "" {
			t.Errorf("rules reason %q has no Mandarin in ruleReasons", r)
		}
		e := &configerr.ConfigError{Kind: configerr.ValueBad, Key: "rules[0].x", Reason: r}
		if zh := ConfigErrorText(e, AtCheck); strings.Contains(zh, "英文说明") {
			t.Errorf("%s: %s", r, zh)
		}
	}
	for r := range ruleReasons {
		if !strings.HasPrefix(r, "rule-") || !contains(rules.ErrorReasons, r) {
			t.Errorf("ruleReasons has %q, which no rule error carries", r)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
