package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/configs"
)

func TestDefaultParses(t *testing.T) {
	c := Default()
	if c.Timezone != "Asia/Shanghai" || c.Location().String() != "Asia/Shanghai" {
		t.Fatalf("timezone %q", c.Timezone)
	}
	want := map[string]string{"button": "event", "fall": "event", "smoke": "event", "gas": "event",
		"water_leak": "event", "no_water": "steps", "water_running_2h": "continuous",
		"battery_low": "threshold", "battery_low_flag": "threshold", "device_trouble": "event",
		"gateway_offline": "offline"}
	got := map[string]string{}
	for _, r := range c.Rules {
		got[r.Name] = r.Kind
	}
	for n, k := range want {
		if got[n] != k {
			t.Errorf("rule %s: kind %q, want %q", n, got[n], k)
		}
	}
	nw := c.Rules[5]
	if p := nw.Params.(*StepsParams); p.Fallback != Duration(24*time.Hour) || p.MinDelta != 0.003 || p.LifeDelta != 0.001 || p.SilentAfter.Dur != Duration(25*time.Hour) ||
		p.SilentRule != "device_silent" || fmt.Sprint(p.AlarmTimes) != "[8h0m0s 24h0m0s 36h0m0s]" || p.LateShare != 0.04 {
		t.Errorf("no_water params %+v", p)
	}
	// the high tier rings at 8 h or 12 h, never later: late_share off,
	// or the 12 h step would be chosen only where the home often stays away
	if p := nw.Tier[anxin.TierHigh].Params.(*StepsParams); p.Fallback != Duration(12*time.Hour) || fmt.Sprint(p.AlarmTimes) != "[8h0m0s 12h0m0s]" ||
		p.LateShare != 0 || p.MinDelta != 0.003 || p.LifeDelta != 0.001 {
		t.Errorf("high tier override %+v", p)
	}
}

// TestDefaultFixedAlternativeParses: the fixed 24 h rule that
// configs/rules.yaml offers operators in a comment, put in no_water's
// place, is a valid rules file with the same alarm names.
func TestDefaultFixedAlternativeParses(t *testing.T) {
	var alt []string
	in := false
	for _, l := range strings.Split(string(configs.RulesYAML), "\n") {
		switch {
		case strings.HasPrefix(l, "  #  - name: no_water_24h"):
			in = true
		case in && !strings.HasPrefix(l, "  #  "):
			in = false
		}
		if in {
			alt = append(alt, "  "+strings.TrimPrefix(l, "  # "))
		}
	}
	if len(alt) < 10 {
		t.Fatalf("configs/rules.yaml: the fixed alternative is not there (%d lines)", len(alt))
	}
	c, err := Parse([]byte("rules:\n" + strings.Join(alt, "\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := c.Rules[0]
	if p := r.Params.(*NoUseParams); p.For != Duration(24*time.Hour) || p.SilentRule != "device_silent" ||
		r.Tier[anxin.TierHigh].Params.(*NoUseParams).For != Duration(12*time.Hour) {
		t.Errorf("fixed alternative %+v", p)
	}
}

func TestParseErrorsNameRuleAndKey(t *testing.T) {
	base := "rules:\n  - {name: button, kind: event, events: [button_pressed]}\n"
	cases := []struct{ yaml, want string }{
		{base + "  - {name: no_water_24h, kind: no_use, field: total_m3, min_delta: 0.01, for: \"24\"}\n",
			`rules[1] (no_water_24h).for: "24" is not a duration`},
		{base + "  - {name: x, kind: no_use, field: total_m3, min_delta: 0.01, for: 24h, above: 3}\n",
			`rules[1] (x).above: unknown key`},
		{base + "  - {name: x, kind: nonsense}\n", `rules[1] (x).kind: "nonsense" is not one of`},
		{"timezone: Mars/Olympus\n" + base, `timezone: "Mars/Olympus" is not a known time zone`},
		{base + "bogus: 1\n", `bogus: unknown key`},
		{base + "  - {name: x, kind: event, events: [smoke_clear]}\n", `rules[1] (x).events[0]: "smoke_clear" clears`},
		{base + "  - {name: x, kind: no_use, field: total_m3, min_delta: 0.01, for: 24h, overrides: {tier: {high: {for: soon}}}}\n",
			`rules[1] (x).overrides.tier.high.for: "soon" is not a duration`},
		{base + "  - {name: x, kind: no_use, field: total_m3, min_delta: 0.01, for: 24h, overrides: {tier: {vip: {for: 1h}}}}\n",
			`rules[1] (x).overrides.tier.vip: not a tier`},
		{base + "  - {name: button, kind: event, events: [fall]}\n", `alarm name "button" is already used`},
		{base + "  - {name: x, kind: threshold, field: battery_pct, below: 15, clear_above: 10}\n", `rules[1] (x).clear_above`},
		{base + "  - {name: x, kind: event, window: \"25:00-06:00\", events: [fall]}\n", `rules[1] (x).window: "25:00-06:00" is not a window`},
		{base + "  - {name: x, kind: geofence, center: {lat: 31, lon: 121}, for: 15m}\n", `rules[1] (x).radius_m`},
		{base + "  - &a {name: x, kind: event, events: [fall]}\n  - *a\n", `rules[2]`},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q)\n error %v\n want  %q", c.yaml, err, c.want)
		}
		if err != nil && anxin.ErrorCode(err) != anxin.EINVALID {
			t.Errorf("error code %q", anxin.ErrorCode(err))
		}
	}
}

func TestParseBoundsRuleCount(t *testing.T) {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := 0; i <= maxRules; i++ {
		fmt.Fprintf(&b, "  - {name: r%d, kind: event, events: [fall]}\n", i)
	}
	if _, err := Parse([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("error %v", err)
	}
}
