package watch3g

import (
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/tcpserver"
)

// TestSecondSOSWithFrozenWatchClockHasItsOwnID: a watch indoors without a
// fix sends the time of its last fix in every frame. Two SOS frames hours
// apart are two presses: their events must not share an id (alarmd drops
// a repeated id), while a resend of the same frame soon after keeps it.
func TestSecondSOSWithFrozenWatchClockHasItsOwnID(t *testing.T) {
	now := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	frozen := now.Add(-3 * time.Hour).Truncate(time.Second)
	f, err := Parse(Encode("SG", "8800000015", "", PositionContent("AL", Fix{Time: frozen, Lat: 22.5, Lon: 113.9, BatteryPct: 60, Status: AlarmSOS})))
	if err != nil {
		t.Fatal(err)
	}
	tg := tcpserver.Target{Household: "hh-1", Device: "watch1", Kind: anxin.KindTracker}
	press := func(at time.Time) anxin.Message {
		t.Helper()
		ms, err := messages(tg, f, at, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Event == anxin.EventButtonPressed {
				return m
			}
		}
		t.Fatalf("no press in %+v", ms)
		return anxin.Message{}
	}
	first, later := press(now), press(now.Add(2*time.Hour))
	if first.ID == later.ID {
		t.Errorf("two SOS two hours apart share id %s: alarmd drops the second as a duplicate", first.ID)
	}
	if resend := press(now); resend.ID != first.ID {
		t.Errorf("the same frame stamped alike got another id: %s, %s", resend.ID, first.ID)
	}
}
