package jt808

import (
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// TestSecondPressWithFrozenDeviceClockHasItsOwnID: a tracker indoors with
// no GPS fix keeps sending the time of its last fix (or its RTC default,
// 2000-01-01). Two SOS presses hours apart, with the button released in
// between, are two presses: they must not share an id, or alarmd's
// de-duplication by id drops the second one.
func TestSecondPressWithFrozenDeviceClockHasItsOwnID(t *testing.T) {
	for _, frozen := range []time.Time{
		time.Date(2000, 1, 1, 0, 0, 0, 0, chinaTime),         // RTC never set
		time.Now().Add(-3 * time.Hour).Truncate(time.Second), // last fix, 3 h ago
	} {
		d, out, _ := startDriver(t, time.Minute)
		term, err := Dial(d.server.WaitAddr(t.Context()), "013800138000", false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := term.Login(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		f := Fix{Lat: 30.5, Lon: 114.3, Time: frozen, BatteryPct: 55}
		var presses []anxin.Message
		for _, alarm := range []uint32{AlarmSOS, 0, AlarmSOS} {
			f.Alarm = alarm
			if err := term.Report(f, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if alarm != 0 {
				term.Read(5 * time.Second) // the alarm confirmation
			}
		}
		for range 5 { // 3 readings, 2 presses
			if m := next(t, out); m.Event == anxin.EventButtonPressed {
				presses = append(presses, m)
			}
		}
		term.Close()
		if len(presses) != 2 {
			t.Fatalf("device time %v: %d presses, want 2", frozen, len(presses))
		}
		if presses[0].ID == presses[1].ID {
			t.Errorf("device time %v: two presses share id %s: alarmd drops the second as a duplicate", frozen, presses[0].ID)
		}
	}
}
