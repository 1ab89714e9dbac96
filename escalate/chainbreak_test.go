package escalate_test

import (
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// A clock that NTP set back after a step began (a host whose clock ran an
// hour ahead) leaves that step's stored deadline an hour ahead of the
// corrected clock. Before, the chain waited the whole hour on one contact;
// a deadline further ahead than one ack timeout can only come from such a
// jump, so it counts as one ack timeout from now.
func TestClockSetBackDoesNotHoldTheStep(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock, setBack := hourAheadClock()
		e := newFailoverEnvWith(t, nil, func(o *escalate.Options) { o.Clock = clock })
		e.raise(t, "01JUMP")
		settle(time.Second)
		if got := e.a.sent(); !equal(got, []string{"01JUMP/s0/sms@a", "01JUMP/s0/voice@a"}) {
			t.Fatalf("step 0: a sent %v", got)
		}
		setBack()
		settle(2*3*time.Minute + time.Second)
		if !slices.Contains(e.a.sent(), "01JUMP/s1/sms@a") {
			t.Fatalf("six minutes after the clock went back an hour, step 1 is not sent: a sent %v (chain deadline %v)",
				e.a.sent(), e.chainOf(t, "01JUMP").Deadline)
		}
	})
}

// Two contacts accept at the same moment: contact 1 by the link of step
// 0's SMS, contact 2 by the key 1 in step 1's call. One wins; the other is
// told who took it (page 409, or the call's "taken by"); one outcome
// visit; the loser gets one "taken" SMS, the winner none.
func TestTwoContactsAcceptAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone2, twiliotest.Script{Call: twiliotest.Ring})
		e.raise("01RACE", anxin.SeverityCritical)
		settle(3*time.Minute + 10*time.Second) // step 0 unanswered; contact 2's call rings
		link := e.firstLink()
		var code int
		var kp anxin.KeyPress
		var perr error
		done := make(chan struct{}, 2)
		go func() { code, _ = e.do(http.MethodPost, link); done <- struct{}{} }()
		go func() { kp, perr = e.svc.Press(t.Context(), "01RACE/s1/voice", "", "1"); done <- struct{}{} }()
		<-done
		<-done
		settle(time.Minute)
		if perr != nil {
			t.Fatal(perr)
		}
		c := e.chain("01RACE")
		if c.State != anxin.ChainAccepted || !c.Finished {
			t.Fatalf("chain %+v", c)
		}
		winner, loser := phone1, phone2
		switch {
		case c.AcceptedBy == "李明" && code == http.StatusOK && !kp.Accepted && kp.TakenBy == "李明":
		case c.AcceptedBy == "李华" && code == http.StatusConflict && kp.Accepted:
			winner, loser = phone2, phone1
		default:
			t.Fatalf("chain accepted by %q; link POST %d; press %+v", c.AcceptedBy, code, kp)
		}
		taken := map[string]int{}
		for _, l := range e.timeline("sms")[2:] { // after the two steps' SMS
			taken[l.to]++
		}
		if taken[winner] != 0 || taken[loser] != 1 || len(taken) != 1 {
			t.Fatalf("notices after the acceptance %v; want one to %s (winner %s):\n%s", taken, loser, winner, e.dump())
		}
		e.visit("01RACE")
	})
}

// alarmd is killed after Twilio made a step's SMS but before its sid was
// stored (the answer never came), and started again on the same store: the
// new process looks the SMS up and adopts it; the SMS and the call go out
// once each. (A row stored whose request never arrived is looked up, not
// found and sent once: TestRestartAfterDeadlinePassed, and the second
// pass of an Unsent call in process.)
func TestRestartMidSendSendsEachOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Ring})
		e.fake.Fault("sms", twiliotest.Fault{Hang: true})
		e.raise("01KILL", anxin.SeverityCritical)
		settle(100 * time.Millisecond)
		if a, err := e.db.Attempt(t.Context(), "01KILL/s0/sms"); err != nil || a.Status != anxin.AttemptSending || a.ProviderID != "" {
			t.Fatalf("before the kill: %+v %v", a, err)
		}
		e.restart()
		settle(time.Minute)
		made := map[string][]string{}
		for _, l := range e.timeline("sms", "call") {
			made[l.kind] = append(made[l.kind], l.ev.Sid)
		}
		if len(made["sms"]) != 1 || len(made["call"]) != 1 {
			t.Fatalf("made %v, want one SMS and one call:\n%s", made, e.dump())
		}
		for kind, id := range map[string]string{"sms": "01KILL/s0/sms", "call": "01KILL/s0/voice"} {
			if a, _ := e.db.Attempt(t.Context(), id); a.ProviderID != made[kind][0] {
				t.Fatalf("attempt %+v does not hold the %s made (%s)", a, kind, made[kind][0])
			}
		}
	})
}

// Staff closed the alarm, but its Resolve never reached the chain (alarmd
// died between the store's close and the hand-over, or Resolve failed):
// the walking chain learns it at its next pass. A contact who taps the link
// before that must not take a closed alarm: before, the chain was accepted,
// the family told someone took it and an "accepted" visit written for an
// alarm that was over. As with an unanswered chain, the link says it is
// over, and the chain stops.
func TestAckOfWalkingChainWhoseAlarmIsClosedIsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		link := e.ringingLink("01SHUT")
		a, _ := e.alarms.Alarm(t.Context(), "01SHUT")
		a.State = anxin.AlarmResolved // closed in the store; no Resolve
		e.alarms.put(a)
		if code, page := e.do(http.MethodGet, link); strings.Contains(page, "<form") {
			t.Errorf("GET of a closed alarm's link offers to accept it (%d):\n%s", code, page)
		}
		code, page := e.do(http.MethodPost, link)
		settle(time.Minute)
		if c := e.chain("01SHUT"); code != http.StatusConflict || c.State == anxin.ChainAccepted {
			t.Fatalf("POST on the link of a closed alarm: %d, chain %s by %q:\n%s", code, c.State, c.AcceptedBy, page)
		}
		if c := e.chain("01SHUT"); c.State != anxin.ChainResolved {
			t.Fatalf("chain %s, want resolved", c.State)
		}
		for _, l := range e.timeline("sms")[1:] {
			if strings.Contains(l.ev.Body, "接手") {
				t.Fatalf("\"taken\" notice for a closed alarm to %s: %q", l.to, l.ev.Body)
			}
		}
	})
}

// The one provider refuses the account at night (balance used up, account
// suspended: ErrAccount). Before, each step's call "failed for good" and
// ended its step at once: the whole chain, duty SMS included, was walked
// and given up as unanswered within the second, and when the operator
// mended the account minutes later nobody was rung. On a channel's last
// route an account refusal is retried like an outage: steps keep their
// pace, and once the account works the step's SMS and call go out.
func TestAccountRefusedOnLastRouteHoldsTheChain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		for _, p := range []string{phone1, phone2, phone3} {
			e.fake.Script(p, twiliotest.Script{APIError: 20005}) // account not active
		}
		e.raise("01ACCT", anxin.SeverityCritical)
		settle(time.Minute)
		if c := e.chain("01ACCT"); c.State != anxin.ChainWalking || c.Step != 0 {
			t.Fatalf("a minute after the alarm, with the account refused, the chain is %s at step %d; want walking at step 0:\n%s",
				c.State, c.Step, e.dump())
		}
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Ring}) // the operator mends the account
		settle(time.Minute)
		made := map[string]int{}
		for _, l := range e.timeline("sms", "call") {
			if l.ev.Sid != "" {
				made[l.kind+" "+l.to]++
			}
		}
		if made["sms "+phone1] != 1 || made["call "+phone1] != 1 || len(made) != 2 {
			t.Fatalf("after the account was mended: made %v, want step 0's SMS and call once:\n%s", made, e.dump())
		}
	})
}

// A send whose outcome is unknown on a provider that cannot look sends up
// (a modem that stopped answering, an Aliyun call) stays unknown: it is
// never sent again on that provider. Before, the chain asked again every
// RetryMin for the rest of the step — a pass, a lookup and a warning a
// second per such send, 180 in a 3-minute step; the asking now backs off.
func TestUnknownSendThatCannotBeLookedUpIsNotPolledEverySecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFailoverEnv(t, nil)
		e.a.setFail("permanent")
		e.b.setFail("maybe") // the last route: no failover, never re-sent
		e.b.mu.Lock()
		e.b.cannotTell = true
		e.b.mu.Unlock()
		e.raise(t, "01POLL")
		settle(3 * time.Minute)
		e.b.mu.Lock()
		n := e.b.lookups
		e.b.mu.Unlock()
		if n > 30 {
			t.Fatalf("%d lookups of two unknown sends within one 3-minute step", n)
		}
		if got := e.b.sent(); len(got) != 0 {
			t.Fatalf("b sent %v again", got)
		}
	})
}

// The same unknown send on a route with another after it fails over at
// its delivery timeout, not at the next (backed-off) check.
func TestUnknownSendThatCannotBeLookedUpFailsOverOnTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFailoverEnv(t, func(c *escalate.Config) { c.DeliveryTimeout = 45 * time.Second })
		e.a.setFail("maybe")
		e.a.mu.Lock()
		e.a.cannotTell = true
		e.a.mu.Unlock()
		e.raise(t, "01LATE")
		settle(45*time.Second + 100*time.Millisecond)
		if got := e.b.sent(); !equal(got, []string{"01LATE/s0/sms@b", "01LATE/s0/voice@b"}) {
			t.Fatalf("b sent %v at the delivery timeout", got)
		}
	})
}

// An acceptance by link that loses every write race to the chain's own
// passes (accept's tries run out) has taken nothing, but the alarm is not
// over: the page said "告警已结束" and hid the elder's number, and the
// contact, told the alarm was over, stayed home. They are asked to try
// again, and the next press takes it.
func TestAckLinkWriteConflictIsNotOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		link := e.ringingLink("01LOST")
		e.conflicts.Store(1000)
		code, page := e.do(http.MethodPost, link)
		e.conflicts.Store(0)
		if strings.Contains(page, "告警已结束") || !strings.Contains(page, "请稍后再试") {
			t.Fatalf("an acceptance that lost its write races was answered as over (%d):\n%s", code, page)
		}
		if c := e.chain("01LOST"); c.State != anxin.ChainWalking {
			t.Fatalf("chain %s after the lost acceptance, want walking", c.State)
		}
		if code, _ := e.do(http.MethodPost, link); code != 200 {
			t.Fatalf("the second press: %d", code)
		}
		if c := e.chain("01LOST"); c.State != anxin.ChainAccepted || c.AcceptedVia != escalate.ViaAckLink {
			t.Fatalf("the second press: chain %s via %q, want accepted by link", c.State, c.AcceptedVia)
		}
	})
}

// The same by key press: the call said "此告警已结束" to a contact whose
// key 1 lost its write races; an error makes it say the system is busy
// and point to the SMS link.
func TestKeyPressWriteConflictIsNotOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Ring})
		e.raise("01LOSTK", anxin.SeverityCritical)
		settle(10 * time.Second)
		e.conflicts.Store(1000)
		kp, err := e.svc.Press(t.Context(), "01LOSTK/s0/voice", "", "1")
		e.conflicts.Store(0)
		if err == nil || kp.Unknown {
			t.Fatalf("a key press that lost its write races: %+v, err %v; want an error (the call says busy), not over", kp, err)
		}
		if kp, err := e.svc.Press(t.Context(), "01LOSTK/s0/voice", "", "1"); err != nil || !kp.Accepted {
			t.Fatalf("the second press: %+v, err %v", kp, err)
		}
	})
}

// hourAheadClock is a wall clock an hour ahead of the bubble's, and the
// NTP step that sets it back by the hour.
func hourAheadClock() (escalate.SystemClock, func()) {
	var ahead atomic.Int64
	ahead.Store(int64(time.Hour))
	return escalate.SystemClock{NowFunc: func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }},
		func() { ahead.Store(0) }
}
