package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// shanghai is the zone of the default rules; timelines are written in it.
var shanghai = mustZone("Asia/Shanghai")

func mustZone(n string) *time.Location {
	l, err := time.LoadLocation(n)
	if err != nil {
		panic(err)
	}
	return l
}

// day0 is Monday 23 Nov 2026, 00:00 Shanghai time.
var day0 = time.Date(2026, 11, 23, 0, 0, 0, 0, shanghai)

// at is day0 + days and a clock time "HH:MM".
func at(days int, clock string) time.Time {
	var h, m int
	if _, err := fmt.Sscanf(clock, "%d:%d", &h, &m); err != nil {
		panic(err)
	}
	return day0.AddDate(0, 0, days).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

// timeline drives an engine the way alarmd does: inputs at their times and
// Tick at every deadline in between. It records decisions as one line each.
type timeline struct {
	t   *testing.T
	e   *Engine
	now time.Time
	log []string
	ds  []Decision
	n   int
}

func newTimeline(t *testing.T, yaml string) *timeline {
	t.Helper()
	cfg, err := Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return &timeline{t: t, e: New(cfg), now: day0}
}

func (tl *timeline) record(ds []Decision) {
	for _, d := range ds {
		tl.ds = append(tl.ds, d)
		tl.log = append(tl.log, fmt.Sprintf("%s %s %s %s %s: %s", d.At.In(shanghai).Format("Mon 15:04"),
			d.Op, d.Household, d.Rule, d.Device, d.Reason))
	}
}

// advance runs the engine's timers up to and including t.
func (tl *timeline) advance(t time.Time) {
	tl.t.Helper()
	if t.Before(tl.now) {
		tl.t.Fatalf("timeline goes back: %v < %v", t, tl.now)
	}
	idle := 0
	for {
		d := tl.e.NextDeadline()
		if d.IsZero() || d.After(t) {
			break
		}
		if d.Before(tl.now) {
			d = tl.now
		}
		tl.now = d
		ds := tl.e.Tick(d)
		tl.record(ds)
		// A deadline that fires nothing and comes straight back is a kind
		// whose deadline and tick disagree: alarmd would spin on it.
		if next := tl.e.NextDeadline(); len(ds) == 0 && !next.IsZero() && next.Sub(d) <= time.Second {
			if idle++; idle > 10 {
				tl.t.Fatalf("timer spins at %v", d)
			}
		} else {
			idle = 0
		}
	}
	tl.now = t
}

func (tl *timeline) msg(t time.Time, m anxin.Message) {
	tl.t.Helper()
	tl.advance(t)
	tl.n++
	m.ID = fmt.Sprintf("m%d", tl.n)
	m.TS = t
	if err := m.Validate(); err != nil {
		tl.t.Fatal(err)
	}
	tl.record(tl.e.Observe(t, &m))
}

func (tl *timeline) reading(t time.Time, hh, dev string, kind anxin.Kind, kv ...any) {
	f := anxin.Fields{}
	for i := 0; i+1 < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case float64:
			f[kv[i].(string)] = anxin.Num(v)
		case int:
			f[kv[i].(string)] = anxin.Num(float64(v))
		case bool:
			f[kv[i].(string)] = anxin.Bool(v)
		}
	}
	tl.msg(t, anxin.Message{Household: hh, Device: dev, Kind: kind, Fields: f})
}

func (tl *timeline) event(t time.Time, hh, dev string, kind anxin.Kind, ev anxin.EventType) {
	tl.msg(t, anxin.Message{Household: hh, Device: dev, Kind: kind, Event: ev})
}

// meter sends hourly water readings from..to (exclusive) at minute :00,
// with the counter rising by perHour.
func (tl *timeline) meter(hh string, from, to time.Time, start, perHour float64) float64 {
	v := start
	for t := from; t.Before(to); t = t.Add(time.Hour) {
		tl.reading(t, hh, "wm1", anxin.KindWaterMeter, "total_m3", v)
		v += perHour
	}
	return v
}

// expect compares the recorded decisions with want, line by line.
func (tl *timeline) expect(want ...string) {
	tl.t.Helper()
	got := strings.Join(tl.log, "\n")
	w := strings.Join(want, "\n")
	if got != w {
		tl.t.Errorf("decisions:\n%s\n\nwant:\n%s", got, w)
	}
	tl.log = nil
}

const waterRules = `
rules:
  - name: no_water_24h
    kind: no_use
    device_kinds: [water_meter]
    field: total_m3
    min_delta: 0.01
    for: 24h
    fresh_within: 2x
    silent_after: 25h
    overrides:
      tier: {high: {for: 12h}}
      household: {hh-8: {for: 8h}, hh-off: {disabled: true}}
`

func TestNoUseTimeline(t *testing.T) {
	tl := newTimeline(t, waterRules)
	// Water used until 06:40, then nothing: the alarm comes at 06:40 + 24 h.
	tl.reading(at(0, "05:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 100.0)
	tl.reading(at(0, "06:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 100.02)
	tl.reading(at(0, "06:40"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 100.05)
	v := tl.meter("hh-1", at(0, "07:00"), at(1, "09:00"), 100.055, 0.0001) // a drip below min_delta
	tl.expect("Tue 06:40 open hh-1 no_water_24h wm1: no water used since 06:40 yesterday (24 h)")
	if d := tl.ds[0]; d.Op != OpOpen || d.RuleKind != "no_use" || d.Severity != anxin.SeverityWarning || d.Route != anxin.RouteFamily || !d.At.Equal(at(1, "06:40")) {
		t.Errorf("decision %+v", d)
	}
	// Water used again: the alarm closes, the timer restarts.
	tl.reading(at(1, "09:12"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v+0.03)
	tl.expect("Tue 09:12 close hh-1 no_water_24h wm1: Water used again at 09:12")
	if tl.e.NextDeadline().IsZero() {
		t.Error("no timer after use")
	}
}

func TestNoUseOverridesTierAndHousehold(t *testing.T) {
	tl := newTimeline(t, waterRules)
	tl.e.SetHousehold("hh-high", anxin.TierHigh)
	tl.e.SetHousehold("hh-gen", anxin.TierGeneral)
	for t0 := at(0, "07:00"); t0.Before(at(1, "08:00")); t0 = t0.Add(time.Hour) {
		for _, hh := range []string{"hh-high", "hh-gen", "hh-8", "hh-off"} {
			tl.reading(t0, hh, "wm1", anxin.KindWaterMeter, "total_m3", 5.0)
		}
	}
	tl.expect(
		"Mon 15:00 open hh-8 no_water_24h wm1: no water used since 07:00 (8 h)",
		"Mon 19:00 open hh-high no_water_24h wm1: no water used since 07:00 (12 h)",
		"Tue 07:00 open hh-gen no_water_24h wm1: no water used since 07:00 yesterday (24 h)",
	)
}

func TestNoUseSilentMeterRaisesDeviceSilent(t *testing.T) {
	tl := newTimeline(t, waterRules)
	tl.reading(at(0, "06:00"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 7.0)
	tl.reading(at(0, "06:40"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 7.1)
	tl.meter("hh-1", at(0, "07:00"), at(0, "11:00"), 7.1, 0) // quiet, then the meter dies at 10:00
	tl.advance(at(2, "00:00"))
	// 06:40 + 24 h would be "no water", but the last reading is 20 h old then:
	// no data is not no use. At 10:00 + 25 h the installers hear of it.
	tl.expect("Tue 11:00 open hh-1 device_silent wm1: The water meter (wm1) has sent no reading since 10:00 yesterday (25 h); it may need a new battery or a visit")
	if d := tl.ds[0]; d.RuleKind != "device_silent" || d.Route != anxin.RouteInstaller || d.Severity != anxin.SeverityInfo {
		t.Errorf("decision %+v", d)
	}
	// Readings return without use: device_silent closes, the quiet period
	// restarts at the return (the gap proves nothing).
	tl.meter("hh-1", at(2, "00:00"), at(3, "01:00"), 7.1, 0)
	tl.expect(
		"Wed 00:00 close hh-1 device_silent wm1: The water meter (wm1) is sending readings again (00:00)",
		"Thu 00:00 open hh-1 no_water_24h wm1: no water used since 00:00 yesterday (24 h)",
	)
}

func TestNoUseGapIsNoDataAndBridgeGaps(t *testing.T) {
	for _, bridge := range []bool{false, true} {
		t.Run(fmt.Sprint("bridge=", bridge), func(t *testing.T) {
			tl := newTimeline(t, waterRules+fmt.Sprintf("    bridge_gaps: %v\n", bridge))
			v := tl.meter("hh-1", at(0, "06:00"), at(0, "10:00"), 1, 0.02) // last use 09:00
			// 4 h gap 10:00..14:00, then the same counter.
			tl.meter("hh-1", at(0, "14:00"), at(1, "16:00"), v-0.02, 0)
			if bridge {
				tl.expect("Tue 09:00 open hh-1 no_water_24h wm1: no water used since 09:00 yesterday (24 h)")
			} else {
				tl.expect("Tue 14:00 open hh-1 no_water_24h wm1: no water used since 14:00 yesterday (24 h)")
			}
		})
	}
}

func TestNoUseDecreasingReadingIsNotUse(t *testing.T) {
	tl := newTimeline(t, waterRules)
	tl.meter("hh-1", at(0, "06:00"), at(0, "08:00"), 500, 0.5) // use at 07:00
	tl.meter("hh-1", at(0, "08:00"), at(0, "12:00"), 0.2, 0)   // meter swapped at 08:00
	tl.meter("hh-1", at(0, "12:00"), at(1, "08:00"), 0.205, 0) // +5 l: below min_delta from the new baseline
	tl.expect("Tue 07:00 open hh-1 no_water_24h wm1: no water used since 07:00 yesterday (24 h)")
}

func TestNoUseAwaySuppressesAndRebaselines(t *testing.T) {
	tl := newTimeline(t, waterRules)
	tl.meter("hh-1", at(0, "06:00"), at(1, "07:00"), 3, 0) // quiet since 06:00 → alarm Tue 06:00
	tl.expect("Tue 06:00 open hh-1 no_water_24h wm1: no water used since 06:00 yesterday (24 h)")
	tl.record(tl.e.SetAway(at(1, "07:00"), "hh-1", true))
	tl.expect("Tue 07:00 close hh-1 no_water_24h wm1: the elder is away: no_water_24h paused")
	if !tl.e.Away("hh-1") {
		t.Error("not away")
	}
	tl.meter("hh-1", at(1, "07:00"), at(4, "10:00"), 3, 0) // three quiet days away
	tl.expect()
	tl.record(tl.e.SetAway(at(4, "10:00"), "hh-1", false))
	tl.meter("hh-1", at(4, "10:00"), at(5, "11:00"), 3, 0)
	tl.expect("Sat 10:00 open hh-1 no_water_24h wm1: no water used since 10:00 yesterday (24 h)")
}

func TestNoUseWindowDelaysToWindowStart(t *testing.T) {
	tl := newTimeline(t, waterRules+"    window: \"08:00-20:00\"\n")
	tl.meter("hh-1", at(0, "02:00"), at(1, "09:00"), 3, 0)
	tl.expect("Tue 08:00 open hh-1 no_water_24h wm1: no water used since 02:00 yesterday (30 h)")
}

func TestNoUseClosedByPeopleStaysQuietUntilUse(t *testing.T) {
	tl := newTimeline(t, waterRules)
	tl.meter("hh-1", at(0, "06:00"), at(1, "07:00"), 3, 0)
	tl.expect("Tue 06:00 open hh-1 no_water_24h wm1: no water used since 06:00 yesterday (24 h)")
	tl.e.Closed("hh-1", "no_water_24h")
	tl.meter("hh-1", at(1, "07:00"), at(3, "07:00"), 3, 0)
	tl.expect() // same episode: no new alarm
	tl.meter("hh-1", at(3, "07:00"), at(4, "08:00"), 3.1, 0)
	tl.expect("Fri 07:00 open hh-1 no_water_24h wm1: no water used since 07:00 yesterday (24 h)")
}

func TestEventTimeline(t *testing.T) {
	tl := newTimeline(t, `
rules:
  - {name: button, kind: event, severity: critical, events: [button_pressed]}
  - {name: smoke, kind: event, severity: critical, events: [smoke]}
  - {name: night_fall, kind: event, severity: critical, events: [fall], window: "22:00-06:00"}
`)
	tl.event(at(0, "07:02"), "hh-1", "btn1", anxin.KindCallButton, anxin.EventButtonPressed)
	tl.event(at(0, "07:03"), "hh-1", "btn1", anxin.KindCallButton, anxin.EventButtonPressed)
	tl.event(at(0, "08:00"), "hh-1", "sd1", anxin.KindSmokeDetector, anxin.EventSmoke)
	tl.event(at(0, "08:01"), "hh-1", "sd2", anxin.KindSmokeDetector, anxin.EventSmoke)
	tl.event(at(0, "08:05"), "hh-1", "sd1", anxin.KindSmokeDetector, anxin.EventSmokeClear)
	tl.event(at(0, "08:09"), "hh-1", "sd2", anxin.KindSmokeDetector, anxin.EventSmokeClear)
	tl.event(at(0, "12:00"), "hh-1", "fd1", anxin.KindCallButton, anxin.EventFall) // outside the window
	tl.event(at(0, "23:30"), "hh-1", "fd1", anxin.KindCallButton, anxin.EventFall)
	tl.expect(
		"Mon 07:02 open hh-1 button btn1: The call button was pressed at 07:02 (the call button (btn1))",
		"Mon 07:03 repeat hh-1 button btn1: The call button was pressed at 07:03 (the call button (btn1))",
		"Mon 08:00 open hh-1 smoke sd1: Smoke detected at 08:00 (the smoke detector (sd1))",
		"Mon 08:01 repeat hh-1 smoke sd2: Smoke detected at 08:01 (the smoke detector (sd2))",
		"Mon 08:09 close hh-1 smoke sd2: the smoke detector (sd2): smoke cleared at 08:09",
		"Mon 23:30 open hh-1 night_fall fd1: A fall was detected at 23:30 (the call button (fd1))",
	)
	if tl.ds[0].MessageID != "m1" || tl.ds[0].Severity != anxin.SeverityCritical {
		t.Errorf("decision %+v", tl.ds[0])
	}
	// The button is closed by people; the next press is a new alarm.
	tl.e.Closed("hh-1", "button")
	tl.event(at(1, "09:00"), "hh-1", "btn1", anxin.KindCallButton, anxin.EventButtonPressed)
	tl.expect("Tue 09:00 open hh-1 button btn1: The call button was pressed at 09:00 (the call button (btn1))")
}

func TestContinuousLevelTimeline(t *testing.T) {
	tl := newTimeline(t, `
rules:
  - {name: water_running_2h, kind: continuous, field: flow_lpm, above: 0.5, for: 2h, max_gap: 30m}
`)
	// A tap opened at 07:00 reported every 15 min: alarm at 09:00.
	for t0 := at(0, "07:00"); t0.Before(at(0, "09:40")); t0 = t0.Add(15 * time.Minute) {
		tl.reading(t0, "hh-1", "wm1", anxin.KindWaterMeter, "flow_lpm", 6.0)
	}
	tl.reading(at(0, "09:40"), "hh-1", "wm1", anxin.KindWaterMeter, "flow_lpm", 0.0)
	// A flow sensor that reports on change: one reading, then silence for
	// longer than max_gap: no claim of 2 h.
	tl.reading(at(0, "12:00"), "hh-1", "wm1", anxin.KindWaterMeter, "flow_lpm", 3.0)
	tl.advance(at(0, "15:00"))
	tl.expect(
		"Mon 09:00 open hh-1 water_running_2h wm1: water running for 2 h (since 07:00)",
		"Mon 09:40 close hh-1 water_running_2h wm1: Water running stopped by 09:40",
	)
}

func TestContinuousRisingCounterTimeline(t *testing.T) {
	tl := newTimeline(t, `
rules:
  - {name: water_running_2h, kind: continuous, counter: total_m3, min_rate: 0.01, intervals: 2, for: 2h}
`)
	v := tl.meter("hh-1", at(0, "06:00"), at(0, "07:00"), 10, 0)
	v = tl.meter("hh-1", at(0, "07:00"), at(0, "09:00"), v, 0.02) // 07:00→08:00 rose, 08:00→09:00 rose …
	tl.expect()                                                   // only 1 rising interval by 08:00
	v = tl.meter("hh-1", at(0, "09:00"), at(0, "11:00"), v, 0.02)
	tl.meter("hh-1", at(0, "11:00"), at(0, "13:00"), v, 0) // 11:00 still rose; 12:00 did not
	tl.expect(
		"Mon 09:00 open hh-1 water_running_2h wm1: water running for 2 h (since 07:00)",
		"Mon 12:00 close hh-1 water_running_2h wm1: Water running stopped by 12:00",
	)
}

func TestThresholdHysteresis(t *testing.T) {
	tl := newTimeline(t, `
rules:
  - {name: battery_low, kind: threshold, severity: info, route: installer, field: battery_pct, below: 15, clear_above: 25, what: battery, unit: "%"}
  - {name: too_hot, kind: threshold, field: temperature_c, above: 35, clear_below: 32, for: 30m, what: temperature, unit: "°C"}
  - {name: battery_low_flag, kind: threshold, field: battery_low, above: 0.5, what: battery low}
`)
	for i, v := range []float64{40, 16, 14, 13, 18, 24, 26, 14} {
		tl.reading(at(0, "08:00").Add(time.Duration(i)*time.Hour), "hh-1", "tr1", anxin.KindTracker, "battery_pct", v)
	}
	tl.reading(at(0, "16:00"), "hh-1", "wm1", anxin.KindWaterMeter, "battery_low", true)
	tl.reading(at(0, "17:00"), "hh-1", "wm1", anxin.KindWaterMeter, "battery_low", true)
	tl.reading(at(0, "18:00"), "hh-1", "wm1", anxin.KindWaterMeter, "battery_low", false)
	tl.reading(at(1, "13:00"), "hh-1", "tr1", anxin.KindTracker, "temperature_c", 36.0)
	tl.reading(at(1, "13:20"), "hh-1", "tr1", anxin.KindTracker, "temperature_c", 34.0) // still above 32: not cleared
	tl.advance(at(1, "14:00"))
	tl.reading(at(1, "14:10"), "hh-1", "tr1", anxin.KindTracker, "temperature_c", 31.0)
	tl.expect(
		"Mon 10:00 open hh-1 battery_low tr1: Battery of the tracker (tr1) at 14 % (below 15 %)",
		"Mon 14:00 close hh-1 battery_low tr1: Battery of the tracker (tr1) back to 26 %",
		"Mon 15:00 open hh-1 battery_low tr1: Battery of the tracker (tr1) at 14 % (below 15 %)",
		"Mon 16:00 open hh-1 battery_low_flag wm1: The water meter (wm1) reports battery low",
		"Mon 18:00 close hh-1 battery_low_flag wm1: The water meter (wm1) no longer reports battery low",
		"Tue 13:30 open hh-1 too_hot tr1: Temperature of the tracker (tr1) at 34 °C (above 35 °C) for 30 min",
		"Tue 14:10 close hh-1 too_hot tr1: Temperature of the tracker (tr1) back to 31 °C",
	)
}

func TestOfflineTimeline(t *testing.T) {
	tl := newTimeline(t, `
rules:
  - {name: gateway_offline, kind: offline, severity: info, route: installer, target: gateway, for: 30m, silent_after: 25h}
  - {name: button_offline, kind: offline, device_kinds: [call_button], for: 26h}
`)
	tl.event(at(0, "08:00"), "hh-1", "btn1", anxin.KindCallButton, anxin.EventLowBattery)
	tl.record(tl.e.ObserveStatus(at(0, "09:00"), "hh-1", anxin.GatewayDevice, anxin.GatewayStatus{State: "offline", TS: at(0, "09:00")}))
	tl.record(tl.e.ObserveStatus(at(0, "09:20"), "hh-1", anxin.GatewayDevice, anxin.GatewayStatus{State: "online", TS: at(0, "09:20")}))
	tl.record(tl.e.ObserveStatus(at(0, "10:00"), "hh-1", anxin.GatewayDevice, anxin.GatewayStatus{State: "offline", TS: at(0, "10:00")}))
	tl.advance(at(0, "11:00"))
	tl.reading(at(0, "11:05"), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", 1.0) // a message proves it is back
	tl.advance(at(2, "00:00"))
	tl.expect(
		"Mon 10:30 open hh-1 gateway_offline : The home gateway has been offline since 10:00 (30 min)",
		"Mon 11:05 close hh-1 gateway_offline : The home gateway is back online (11:05)",
		"Tue 10:00 open hh-1 button_offline btn1: The call button (btn1) has sent nothing since 08:00 yesterday (26 h)",
		"Tue 12:05 open hh-1 gateway_offline : Nothing has come from the home since 11:05 yesterday (25 h)",
	)
}

func TestGeofenceTimeline(t *testing.T) {
	// Home picked on Amap (GCJ-02) at Shanghai's eviltransform test point.
	tl := newTimeline(t, `
rules:
  - name: wander
    kind: geofence
    datum: gcj02
    center: {lat: 31.17530398364597, lon: 121.531541859215}
    radius_m: 200
    for: 15m
`)
	home := Point{31.1774276, 121.5272106} // the same place in WGS-84, as trackers report
	pos := func(t time.Time, dNorth float64, fix int) {
		tl.reading(t, "hh-1", "tr1", anxin.KindTracker, "lat", home.Lat+dNorth/111195, "lon", home.Lon, "fix_quality", fix)
	}
	pos(at(0, "09:00"), 0, 1)
	pos(at(0, "09:05"), 190, 1)  // inside: the datum was converted
	pos(at(0, "09:10"), 1050, 1) // 850 m outside
	pos(at(0, "09:20"), 1050, 1)
	pos(at(0, "09:22"), 0, 0) // no fix: ignored
	tl.advance(at(0, "09:30"))
	pos(at(0, "09:40"), 100, 1)
	tl.expect(
		"Mon 09:25 open hh-1 wander tr1: tracker 850 m outside the home area for 15 min (since 09:10)",
		"Mon 09:40 close hh-1 wander tr1: The tracker is back in the home area (09:40)",
	)
}

func TestGCJ02KnownPairs(t *testing.T) {
	// Published test vectors (eviltransform): WGS-84 → GCJ-02.
	pairs := []struct{ wLat, wLon, gLat, gLon float64 }{
		{31.1774276, 121.5272106, 31.17530398364597, 121.531541859215}, // Shanghai
		{22.543847, 113.912316, 22.540796131694766, 113.9171764808363}, // Shenzhen
		{39.911954, 116.377817, 39.91334545536069, 116.38404722455657}, // Beijing
		{39.7392, -104.9903, 39.7392, -104.9903},                       // Denver: outside China
		{-27.4698, 153.0251, -27.4698, 153.0251},                       // Brisbane
	}
	for _, p := range pairs {
		gLat, gLon := WGS84ToGCJ02(p.wLat, p.wLon)
		if d := Haversine(gLat, gLon, p.gLat, p.gLon); d > 0.01 {
			t.Errorf("WGS84ToGCJ02(%v,%v) = %v,%v: %.3f m off", p.wLat, p.wLon, gLat, gLon, d)
		}
		wLat, wLon := GCJ02ToWGS84(p.gLat, p.gLon)
		if d := Haversine(wLat, wLon, p.wLat, p.wLon); d > 0.5 {
			t.Errorf("GCJ02ToWGS84(%v,%v) = %v,%v: %.3f m off", p.gLat, p.gLon, wLat, wLon, d)
		}
	}
	// The offset itself is hundreds of metres: converting matters.
	if d := Haversine(pairs[0].wLat, pairs[0].wLon, pairs[0].gLat, pairs[0].gLon); d < 300 {
		t.Errorf("Shanghai offset %.0f m", d)
	}
}

func TestGeofencePolygon(t *testing.T) {
	g := &geofence{poly: []Point{{31.0, 121.0}, {31.0, 121.01}, {31.01, 121.01}, {31.01, 121.0}}}
	if d := g.Outside(31.005, 121.005); d != 0 {
		t.Errorf("inside: %v", d)
	}
	// 0.005° east of the east edge at 31°N is ≈ 476 m.
	if d := g.Outside(31.005, 121.015); d < 470 || d > 482 {
		t.Errorf("outside: %v m", d)
	}
}

func TestGeofencePerHouseholdCentre(t *testing.T) {
	tl := newTimeline(t, `
rules:
  - name: wander
    kind: geofence
    center: {lat: 0, lon: 0}
    radius_m: 300
    for: 10m
    disabled: true                    # no area unless the household has one
    overrides:
      household:
        hh-7: {disabled: false, datum: gcj02, center: {lat: 39.91334545536069, lon: 116.38404722455657}}
`)
	for _, hh := range []string{"hh-7", "hh-8"} {
		tl.reading(at(0, "10:00"), hh, "tr1", anxin.KindTracker, "lat", 39.911954, "lon", 116.377817) // home, WGS-84
	}
	for _, hh := range []string{"hh-7", "hh-8"} {
		tl.reading(at(0, "10:01"), hh, "tr1", anxin.KindTracker, "lat", 39.921954, "lon", 116.377817) // 1.1 km north
	}
	tl.advance(at(0, "11:00"))
	tl.expect("Mon 10:11 open hh-7 wander tr1: tracker 812 m outside the home area for 10 min (since 10:01)")
}

func TestNoUseSilentBeforeFreshDoesNotSpin(t *testing.T) {
	tl := newTimeline(t, `
rules:
  - {name: nw, kind: no_use, field: total_m3, min_delta: 0.01, for: 3h, fresh_within: 5h, silent_after: 90m}
`)
	tl.meter("hh-1", at(0, "06:00"), at(0, "08:00"), 1, 0) // quiet since 06:00, last reading 07:00
	tl.advance(at(0, "12:00"))
	tl.expect("Mon 08:30 open hh-1 device_silent wm1: The water meter (wm1) has sent no reading since 07:00 (1 h 30 min); it may need a new battery or a visit")
}
