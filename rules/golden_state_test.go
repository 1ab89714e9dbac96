package rules

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/anxin-care/anxin"
)

// goldenDefaultRun runs the default rules for 20 days over two homes:
// hh-1 (no tier) with a water meter that also reports flow and battery, a
// call button pressed once, a smoke detector that went offline, and its
// gateway; hh-2 (high risk) away for two days. It returns the timeline on
// day 20 and the meters' totals then.
func goldenDefaultRun(t *testing.T) (*timeline, [2]float64) {
	tl := &timeline{t: t, e: New(Default()), now: day0}
	tl.e.SetHousehold("hh-2", anxin.TierHigh)
	tl.record(tl.e.ObserveStatus(at(0, "00:05"), "hh-1", anxin.GatewayDevice, anxin.Status{State: "online", TS: at(0, "00:05")}))
	var v [2]float64
	v[0], v[1] = 100, 50
	for d := 0; d < 20; d++ {
		if d == 5 {
			tl.record(tl.e.SetAway(at(5, "09:00"), "hh-2", true))
		}
		if d == 7 {
			tl.record(tl.e.SetAway(at(7, "09:00"), "hh-2", false))
		}
		for m := 0; m < 24*60; m += 30 {
			clock := hzClock(m)
			if clock == "07:00" || clock == "12:00" || clock == "19:00" {
				v[0] += 0.02
			}
			if clock == "08:00" || (clock == "18:30" && d%3 != 0) {
				v[1] += 0.015
			}
			battery := 80 - d*4 // low from day 17
			tl.reading(at(d, clock), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v[0], "flow_lpm", 0.0, "battery_pct", battery)
			if d < 5 || d >= 7 {
				tl.reading(at(d, clock), "hh-2", "wm2", anxin.KindWaterMeter, "total_m3", v[1], "battery_low", false)
			}
		}
		if d == 3 {
			tl.msg(at(3, "23:59"), anxin.Message{Household: "hh-1", Device: "btn1", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed})
		}
		if d == 9 {
			tl.record(tl.e.ObserveStatus(at(9, "23:59"), "hh-1", "sd1", anxin.Status{State: "offline", TS: at(9, "23:58")}))
		}
	}
	tl.advance(at(20, "00:00"))
	return tl, v
}

// goldenDefaultRest runs days 20 … 23 of goldenDefaultRun: one use each in
// the morning of day 20, then the meters go quiet and fall silent, the
// gateway says offline.
func goldenDefaultRest(tl *timeline, v [2]float64) {
	for m := 0; m < 12*60; m += 30 {
		clock := hzClock(m)
		if clock == "07:00" {
			v[0] += 0.02
			v[1] += 0.02
		}
		tl.reading(at(20, clock), "hh-1", "wm1", anxin.KindWaterMeter, "total_m3", v[0], "flow_lpm", 0.0, "battery_pct", 3)
		tl.reading(at(20, clock), "hh-2", "wm2", anxin.KindWaterMeter, "total_m3", v[1], "battery_low", true)
	}
	tl.record(tl.e.ObserveStatus(at(20, "12:00"), "hh-1", anxin.GatewayDevice, anxin.Status{State: "offline", TS: at(20, "12:00")}))
	tl.advance(at(23, "00:00"))
}

// TestDefaultStateFromMain: the states the code before packed slots
// (commit ddb50d8) saved for goldenDefaultRun's homes on day 20
// (testdata/default_v2_*.state) are what this code saves for them, byte
// for byte; restored, they re-encode to the same bytes, and the restored
// engine decides over days 20 … 23 what that code's did
// (testdata/default_v2.log). ANXIN_WRITE_GOLDEN=1 writes the files anew.
func TestDefaultStateFromMain(t *testing.T) {
	tl, v := goldenDefaultRun(t)
	hhs := []string{"hh-1", "hh-2"}
	if os.Getenv("ANXIN_WRITE_GOLDEN") != "" {
		for _, hh := range hhs {
			if err := os.WriteFile("testdata/default_v2_"+hh+".state", tl.e.State(hh), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tl2 := &timeline{t: t, e: New(Default()), now: tl.now}
	tl2.e.SetHousehold("hh-2", anxin.TierHigh)
	for _, hh := range hhs {
		golden, err := os.ReadFile("testdata/default_v2_" + hh + ".state")
		if err != nil {
			t.Fatal(err)
		}
		if got := tl.e.State(hh); !bytes.Equal(got, golden) {
			t.Errorf("%s: state after 20 days differs from the golden one (%d bytes, golden %d)", hh, len(got), len(golden))
		}
		if err := tl2.e.RestoreState(hh, golden); err != nil {
			t.Fatalf("%s: %v", hh, err)
		}
		if again := tl2.e.State(hh); !bytes.Equal(again, golden) {
			t.Errorf("%s: restored golden state re-encodes differently", hh)
		}
	}
	goldenDefaultRest(tl2, v)
	got := strings.Join(tl2.log, "\n") + "\n"
	if os.Getenv("ANXIN_WRITE_GOLDEN") != "" {
		if err := os.WriteFile("testdata/default_v2.log", []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/default_v2.log")
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("restored golden state decides:\n%s\nwant:\n%s", got, want)
	}
	if len(tl2.log) < 4 {
		t.Errorf("only %d decisions over days 20 … 23: the golden run tests little", len(tl2.log))
	}
}
