package rules

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/configs"
)

// status feeds a device status at t, dated t.
func (tl *timeline) status(t time.Time, hh, dev, state string) {
	tl.t.Helper()
	tl.advance(t)
	tl.record(tl.e.ObserveStatus(t, hh, dev, anxin.Status{State: state, TS: t}))
}

const deviceOfflineRules = `
rules:
  - {name: device_offline, kind: offline, severity: warning, route: installer, target: device, trigger: status, for: 30m}
`

// TestDeviceOfflineStatusTimeline: an offline status at 10:00 raises at
// 10:30, not before; an online status closes it; a message from the device
// closes it too; a status older than what is known (a retained one sent
// again) changes nothing; the bridge, which never sends a message, has no
// kind and is still watched.
func TestDeviceOfflineStatusTimeline(t *testing.T) {
	tl := newTimeline(t, deviceOfflineRules)
	tl.event(at(0, "09:00"), "hh-1", "btn1", anxin.KindCallButton, anxin.EventLowBattery) // a known call button
	// an offline of 08:00 reaching alarmd only now: the 09:00 message was later (the rule kept no
	// slot for btn1 then; the device table knows when it was last heard)
	tl.record(tl.e.ObserveStatus(at(0, "09:05"), "hh-1", "btn1", anxin.Status{State: "offline", TS: at(0, "08:00")}))
	tl.status(at(0, "10:00"), "hh-1", "btn1", "offline")
	tl.status(at(0, "10:15"), "hh-1", "btn1", "offline") // said again (gatewayd restarted): the timer keeps 10:00
	tl.advance(at(0, "10:29"))
	if len(tl.log) != 0 {
		t.Fatalf("raised before 30 min: %v", tl.log)
	}
	tl.advance(at(0, "11:00"))
	tl.status(at(0, "11:10"), "hh-1", "btn1", "online")
	// a message closes it as well
	tl.status(at(0, "12:00"), "hh-1", "btn1", "offline")
	tl.advance(at(0, "12:45"))
	tl.event(at(0, "12:50"), "hh-1", "btn1", anxin.KindCallButton, anxin.EventButtonPressed)
	// the retained 12:00 offline delivered again after a reconnect: older than the press
	tl.record(tl.e.ObserveStatus(at(0, "13:00"), "hh-1", "btn1", anxin.Status{State: "offline", TS: at(0, "12:00")}))
	// an online status older than the offline it would end changes nothing
	tl.status(at(0, "14:00"), "hh-1", "btn1", "offline")
	// a reading of the same second (sent before the status, taken after it) does not end it
	tl.reading(at(0, "14:00"), "hh-1", "btn1", anxin.KindCallButton, "battery_pct", 80)
	tl.record(tl.e.ObserveStatus(at(0, "14:05"), "hh-1", "btn1", anxin.Status{State: "online", TS: at(0, "13:59")}))
	// the zigbee2mqtt bridge: no kind, only statuses
	tl.status(at(0, "15:00"), "hh-1", "zigbee2mqtt", "offline")
	tl.advance(at(0, "16:00"))
	tl.expect(
		"Mon 10:30 open hh-1 device_offline btn1: The call button (btn1) has been offline since 10:00 (30 min)",
		"Mon 11:10 close hh-1 device_offline btn1: The call button (btn1) is back online (11:10)",
		"Mon 12:30 open hh-1 device_offline btn1: The call button (btn1) has been offline since 12:00 (30 min)",
		"Mon 12:50 close hh-1 device_offline btn1: The call button (btn1) is back online (12:50)",
		"Mon 14:30 open hh-1 device_offline btn1: The call button (btn1) has been offline since 14:00 (30 min)",
		"Mon 15:30 repeat hh-1 device_offline zigbee2mqtt: The device (zigbee2mqtt) has been offline since 15:00 (30 min)",
	)
	// a status-only rule keeps no slot for devices that never reported a status
	tl.reading(at(0, "16:10"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 1.0)
	for _, s := range tl.e.get("hh-1").slots {
		if tl.e.get("hh-1").deviceID(s.dev) == "wm1" {
			t.Errorf("a slot for wm1, which never reported a status")
		}
	}
}

// TestDeviceOfflineTriggers: trigger any (the default) raises on silence
// or status, silence ignores statuses as before, device_kinds needs a known
// kind.
func TestDeviceOfflineTriggers(t *testing.T) {
	tl := newTimeline(t, `
rules:
  - {name: any_offline, kind: offline, target: device, for: 2h}
  - {name: silent_only, kind: offline, device_kinds: [smoke_detector], trigger: silence, for: 3h}
  - {name: buttons_offline, kind: offline, device_kinds: [call_button], trigger: status, for: 1h}
`)
	tl.status(at(0, "08:00"), "hh-1", "btn9", "offline") // kind not known yet: only the rule without device_kinds
	tl.event(at(0, "09:00"), "hh-1", "sd1", anxin.KindSmokeDetector, anxin.EventSmokeClear)
	tl.status(at(0, "09:30"), "hh-1", "sd1", "online") // silence ignores statuses: still silent since 09:00
	tl.advance(at(0, "13:00"))
	tl.expect(
		"Mon 10:00 open hh-1 any_offline btn9: The device (btn9) has been offline since 08:00 (2 h)",
		"Mon 11:30 repeat hh-1 any_offline sd1: The smoke detector (sd1) has sent nothing since 09:30 (2 h)",
		"Mon 12:00 open hh-1 silent_only sd1: The smoke detector (sd1) has sent nothing since 09:00 (3 h)",
	)
	if _, err := Parse([]byte("rules:\n  - {name: g, kind: offline, target: gateway, trigger: status, for: 1h}\n")); err == nil ||
		!strings.Contains(err.Error(), "trigger") {
		t.Errorf("trigger with target gateway: %v", err)
	}
	if _, err := Parse([]byte("rules:\n  - {name: d, kind: offline, trigger: will, for: 1h}\n")); err == nil ||
		!strings.Contains(err.Error(), "trigger") {
		t.Errorf("bad trigger: %v", err)
	}
}

// TestDeviceOfflineSurvivesRestart: alarmd stops 20 min into an offline
// status and starts again with the saved state: the alarm comes at 30 min,
// not 30 min after the restart (nor never, if the status is not sent again).
func TestDeviceOfflineSurvivesRestart(t *testing.T) {
	tl := newTimeline(t, string(configs.RulesYAML))
	tl.event(at(0, "09:00"), "hh-1", "btn1", anxin.KindCallButton, anxin.EventLowBattery)
	tl.status(at(0, "10:00"), "hh-1", "btn1", "offline")
	tl.advance(at(0, "10:20"))
	store := saved(tl.e)

	tl2 := newTimeline(t, string(configs.RulesYAML))
	tl2.now = tl.now
	if err := tl2.e.RestoreState("hh-1", store["hh-1"]); err != nil {
		t.Fatal(err)
	}
	if again := tl2.e.encode(tl2.e.get("hh-1")); !bytes.Equal(again, store["hh-1"]) {
		t.Error("encode(decode(state)) differs")
	}
	tl2.advance(at(0, "11:00"))
	tl2.status(at(0, "11:30"), "hh-1", "btn1", "online")
	tl2.expect(
		"Mon 10:30 open hh-1 device_offline btn1: The call button (btn1) has been offline since 10:00 (30 min)",
		"Mon 11:30 close hh-1 device_offline btn1: The call button (btn1) is back online (11:30)",
	)
}

// TestGatewayStatusThroughObserveStatus: one entry point takes every
// status topic. Device "gateway" is the gateway's own status: it raises
// gateway_offline and is no device (no device_offline, no device called
// gateway).
func TestGatewayStatusThroughObserveStatus(t *testing.T) {
	tl := newTimeline(t, deviceOfflineRules+`
  - {name: gateway_offline, kind: offline, severity: info, route: installer, target: gateway, for: 30m}
`)
	tl.advance(at(0, "09:00"))
	tl.record(tl.e.ObserveStatus(at(0, "09:00"), "hh-1", anxin.GatewayDevice, anxin.Status{State: "offline", TS: at(0, "09:00")}))
	tl.record(tl.e.ObserveStatus(at(0, "09:00"), "hh-2", anxin.GatewayDevice, anxin.Status{State: "offline", TS: at(0, "09:00")}))
	tl.advance(at(0, "10:00"))
	tl.expect(
		"Mon 09:30 open hh-1 gateway_offline : The home gateway has been offline since 09:00 (30 min)",
		"Mon 09:30 open hh-2 gateway_offline : The home gateway has been offline since 09:00 (30 min)",
	)
	for _, hh := range []string{"hh-1", "hh-2"} {
		for _, d := range tl.e.get(hh).devs {
			t.Errorf("%s: device %q made by the gateway's status", hh, d.id)
		}
	}
}
