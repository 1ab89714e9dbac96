package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/configs"
)

// invariantRules add a geofence, a device offline rule and a window to the
// defaults, so every kind takes part.
var invariantRules = string(configs.RulesYAML) + `
  - {name: wander, kind: geofence, center: {lat: 31, lon: 121}, radius_m: 500, for: 10m}
  - {name: button_offline, kind: offline, device_kinds: [call_button], for: 3h}
  - {name: night_fall, kind: event, events: [fall], window: "22:00-06:00"}
`

// FuzzEngineDecisions drives the engine with arbitrary input sequences and
// checks the alarm life cycle the store relies on: per (household, rule)
// "open" only when none is open, "repeat" and "close" only when one is;
// decisions never dated before their input; no panic.
func FuzzEngineDecisions(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("\x00\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0\x01\x11\x21"))
	cfg := invariantConfig(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) <= 4096 {
			runInvariant(t, cfg, b)
		}
	})
}

func invariantConfig(t testing.TB) *Config {
	cfg, err := Parse([]byte(invariantRules))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestEngineDecisionsInvariantLong runs a long deterministic sequence
// through the same checks.
func TestEngineDecisionsInvariantLong(t *testing.T) {
	b := make([]byte, 30000)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
		if i%3 == 2 {
			b[i] %= 8 // small time steps so timers interleave with input
		}
	}
	seen := runInvariant(t, invariantConfig(t), b)
	// The sequence must have exercised the life cycle of most kinds.
	for _, k := range []string{"button open", "button repeat", "smoke open", "smoke close", "no_water open",
		"no_water close", "device_silent open", "device_silent close", "gateway_offline open", "device_offline open", "device_offline close", "wander open",
		"wander close", "battery_low open", "battery_low_flag open", "night_fall open"} {
		if seen[k] == 0 {
			t.Errorf("no %q in %v", k, seen)
		}
	}
}

func runInvariant(t testing.TB, cfg *Config, b []byte) map[string]int {
	seen := map[string]int{}
	e := New(cfg)
	open := map[string]bool{}
	now := day0
	check := func(ds []Decision) {
		for _, d := range ds {
			k := d.Household + "/" + d.Rule
			seen[d.Rule+" "+string(d.Op)]++
			switch d.Op {
			case OpOpen:
				if open[k] {
					t.Fatalf("open while open: %+v", d)
				}
				open[k] = true
			case OpRepeat, OpClose:
				if !open[k] {
					t.Fatalf("%s while not open: %+v", d.Op, d)
				}
				if d.Op == OpClose {
					delete(open, k)
				}
			default:
				t.Fatalf("op %q", d.Op)
			}
			if d.At.Before(now.Add(-time.Second)) || d.Reason == "" || d.Severity == "" || d.Route == "" {
				t.Fatalf("decision %+v at %v", d, now)
			}
		}
	}
	for i := 0; i+2 < len(b); i += 3 {
		op, arg, adv := b[i], b[i+1], b[i+2]
		now = now.Add(time.Duration(adv) * 3 * time.Minute)
		hh := fmt.Sprintf("hh-%d", op&3)
		v := float64(arg) / 16
		msg := func(dev string, k anxin.Kind, ev anxin.EventType, f anxin.Fields) {
			check(e.Observe(now, &anxin.Message{ID: "x", TS: now.Add(-time.Duration(arg&7) * time.Minute),
				Household: hh, Device: dev, Kind: k, Event: ev, Fields: f}))
		}
		switch op >> 2 % 12 {
		case 0:
			msg("wm1", anxin.KindWaterMeter, "", anxin.Fields{"total_m3": anxin.Num(v), "flow_lpm": anxin.Num(v)})
		case 1:
			msg("wm1", anxin.KindWaterMeter, "", anxin.Fields{"total_m3": anxin.Num(v), "battery_low": anxin.Bool(arg&1 == 1)})
		case 2:
			msg("btn1", anxin.KindCallButton, []anxin.EventType{anxin.EventButtonPressed, anxin.EventFall}[arg&1], nil)
		case 3:
			msg(fmt.Sprintf("sd%d", arg&1), anxin.KindSmokeDetector, []anxin.EventType{anxin.EventSmoke, anxin.EventSmokeClear}[arg>>1&1], nil)
		case 4:
			msg("tr1", anxin.KindTracker, "", anxin.Fields{"lat": anxin.Num(31 + v/1000), "lon": anxin.Num(121), "battery_pct": anxin.Num(v * 4)})
		case 5:
			check(e.ObserveStatus(now, hh, anxin.GatewayDevice, anxin.GatewayStatus{State: []string{"online", "offline"}[arg&1], TS: now}))
		case 6:
			check(e.SetAway(now, hh, arg&1 == 1))
		case 7:
			rule := []string{"button", "no_water", "smoke", "device_silent", "wander", "battery_low", "device_offline"}[int(arg)%7]
			e.Closed(hh, rule)
			delete(open, hh+"/"+rule)
		case 8:
			e.SetHousehold(hh, []anxin.Tier{anxin.TierGeneral, anxin.TierHigh}[arg&1])
		case 9:
			// a device's own status: a known button, a detector, the bridge (no kind)
			dev := []string{"btn1", "sd0", "zigbee2mqtt", "btn1"}[arg>>1&3]
			check(e.ObserveStatus(now, hh, dev, anxin.Status{State: []string{"online", "offline"}[arg&1],
				TS: now.Add(-time.Duration(arg>>3&7) * time.Minute)}))
		default:
			check(e.Tick(now))
			if d := e.NextDeadline(); !d.IsZero() && !d.After(now) {
				t.Fatalf("after Tick(%v) the next deadline is %v", now, d)
			}
		}
	}
	check(e.Tick(now.Add(72 * time.Hour)))
	return seen
}
