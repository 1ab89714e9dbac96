package escalate_test

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// flakyHouseholds answers like households until down is set, then fails
// every look-up as a store that does not answer would.
type flakyHouseholds struct {
	households
	down atomic.Bool
}

func (f *flakyHouseholds) Household(ctx context.Context, id string) (anxin.Household, error) {
	if f.down.Load() {
		return anxin.Household{}, anxin.Errorf(anxin.EINTERNAL, "store not answering")
	}
	return f.households.Household(ctx, id)
}

// A step whose requests cannot be made (what its words need cannot be
// read) for longer than the ack timeout is not skipped: nobody was rung, so
// the chain stays on that contact, retries with backoff, and once the store
// answers rings them and waits a full ack timeout before the next. Moving on
// would skip a contact for an error that every later step shares.
func TestStepNotSkippedWhileItCannotBeSent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hh := &flakyHouseholds{households: households{household.ID: household}}
		e := newEnvWith(t, hh)
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Ring})
		e.fake.Script(phone2, twiliotest.Script{Call: twiliotest.Ring})
		e.raise("01FLAKY", anxin.SeverityCritical)
		synctest.Wait()
		hh.down.Store(true) // step 0 was sent; step 1 (at 3 min) cannot be
		settle(10 * time.Minute)
		for _, l := range e.timeline("sms", "call") {
			if l.to != phone1 {
				t.Fatalf("sent to %s while its step could not be built:\n%s", l.to, e.dump())
			}
		}
		if c := e.chain("01FLAKY"); c.Step != 1 || !c.Deadline.IsZero() {
			t.Fatalf("chain at step %d with deadline %v, want step 1 not yet waited on", c.Step, c.Deadline)
		}
		healed := time.Since(e.t0)
		hh.down.Store(false)
		settle(time.Minute) // the backoff is at most 30 s
		var at2 time.Duration
		for _, l := range e.timeline("sms", "call") {
			if l.to == phone2 {
				at2 = l.at
				break
			}
		}
		if at2 < healed {
			t.Fatalf("contact 2 not rung once the store answered (healed at %v):\n%s", healed, e.dump())
		}
		settle(3*time.Minute + time.Minute)
		for _, l := range e.timeline("sms", "call") {
			if l.to == phone3 && l.at < at2+3*time.Minute {
				t.Fatalf("contact 3 rung at %v, before contact 2's full ack timeout from %v:\n%s", l.at, at2, e.dump())
			}
		}
		rung3 := false
		for _, l := range e.timeline("sms") {
			rung3 = rung3 || l.to == phone3
		}
		if !rung3 {
			t.Fatalf("the chain did not move on to contact 3 after contact 2's ack timeout:\n%s", e.dump())
		}
	})
}
