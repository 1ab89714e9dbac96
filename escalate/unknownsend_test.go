package escalate_test

import (
	"testing"
	"testing/synctest"
	"time"
)

// With delivery_timeout 0 (an accepted send counts as delivered), a send
// whose outcome is unknown on a provider that cannot look sends up is not
// accepted: before, route a held the step's SMS and call for the whole
// step and route b never got them. Such a send gives way after half the
// ack timeout, and is never sent again on a.
func TestUnknownSendWithoutDeliveryTimeoutFailsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFailoverEnv(t, nil) // DeliveryTimeout 0, AckTimeout 3m
		e.a.setFail("maybe")
		e.a.mu.Lock()
		e.a.cannotTell = true
		e.a.mu.Unlock()
		e.raise(t, "01NODT")
		settle(90*time.Second - time.Millisecond)
		if got := e.b.sent(); len(got) != 0 {
			t.Fatalf("b sent %v before half the ack timeout", got)
		}
		settle(time.Millisecond + 100*time.Millisecond)
		if got := e.b.sent(); !equal(got, []string{"01NODT/s0/sms@b", "01NODT/s0/voice@b"}) {
			t.Fatalf("b sent %v at half the ack timeout; want step 0's SMS and call", got)
		}
		if c := e.chainOf(t, "01NODT"); c.Step != 0 {
			t.Fatalf("chain at step %d, want 0 (the failover is within the step)", c.Step)
		}
		settle(10 * time.Minute)
		// every send asked of a once, never again after its unknown outcome
		as, err := e.db.Attempts(t.Context(), "01NODT")
		if err != nil {
			t.Fatal(err)
		}
		onA := 0
		for _, a := range as {
			if a.Provider == "a" && a.Error != "not sent: provider down" { // a is down after five unknown sends
				onA++
				if a.Tries != 1 {
					t.Fatalf("%s tried %d times on a", a.ID, a.Tries)
				}
			}
		}
		e.a.mu.Lock()
		calls := e.a.calls
		e.a.mu.Unlock()
		if calls != onA {
			t.Fatalf("a was asked %d times for %d attempts; want each once", calls, onA)
		}
	})
}
