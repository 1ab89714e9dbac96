package escalate_test

import (
	"slices"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin/escalate"
)

// A clock that NTP set back after a step began (a host whose clock ran an
// hour ahead) leaves that step's stored deadline an hour ahead of the
// corrected clock. Before, the chain waited the whole hour on one contact;
// a deadline further ahead than one ack timeout can only come from such a
// jump, so it counts as one ack timeout from now.
func TestClockSetBackDoesNotHoldTheStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ahead atomic.Int64
		ahead.Store(int64(time.Hour))
		clock := escalate.SystemClock{NowFunc: func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }}
		e := newFailoverEnvWith(t, nil, func(o *escalate.Options) { o.Clock = clock })
		e.raise(t, "01JUMP")
		settle(time.Second)
		if got := e.a.sent(); !equal(got, []string{"01JUMP/s0/sms@a", "01JUMP/s0/voice@a"}) {
			t.Fatalf("step 0: a sent %v", got)
		}
		ahead.Store(0) // the clock is set back by an hour
		settle(2*3*time.Minute + time.Second)
		if !slices.Contains(e.a.sent(), "01JUMP/s1/sms@a") {
			t.Fatalf("six minutes after the clock went back an hour, step 1 is not sent: a sent %v (chain deadline %v)",
				e.a.sent(), e.chainOf(t, "01JUMP").Deadline)
		}
	})
}
