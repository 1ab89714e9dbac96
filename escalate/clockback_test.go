package escalate_test

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin/escalate"
)

// NTP steps the clock back an hour after a step's SMS and call were made
// on route a, which never reports delivery. The step's ack deadline was
// bounded (TestClockSetBackDoesNotHoldTheStep), but the delivery timeout
// was not: it counted from the stored creation time, an hour ahead of the
// corrected clock, so route b waited the hour. The delivery timeout runs on
// the monotonic clock (a timer), as the ack timeout's wait does.
func TestClockSetBackDoesNotHoldTheDeliveryFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock, setBack := hourAheadClock()
		e := newFailoverEnvWith(t, func(c *escalate.Config) { c.DeliveryTimeout = 30 * time.Second },
			func(o *escalate.Options) { o.Clock = clock })
		e.raise(t, "01NTP")
		settle(time.Second)
		setBack()
		settle(29*time.Second - time.Millisecond)
		if got := e.b.sent(); len(got) != 0 {
			t.Fatalf("b sent %v before the delivery timeout", got)
		}
		settle(100 * time.Millisecond)
		// each send's timer wakes the chain: the two may fail over in either order
		if got := e.b.sent(); !equal(slices.Sorted(slices.Values(got)), []string{"01NTP/s0/sms@b", "01NTP/s0/voice@b"}) {
			t.Fatalf("30 s after the sends (the clock set back an hour meanwhile), b sent %v; want step 0's SMS and call", got)
		}
	})
}
