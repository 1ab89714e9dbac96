package escalate_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// The host's clock ran an hour ahead when contact 1 accepted and Twilio
// refused the cancel of their ringing call (the webhook unreachable); NTP
// then sets the clock back the hour. The give-up time was recorded by the
// clock that ran ahead: before, the chain asked Twilio to cancel the call
// every RetryMin (the backoff counts from the record, an hour ahead, so it
// never grew) for the whole hour and stayed unfinished, for a call that
// Twilio ended by itself at its ring timeout. A give-up further ahead than
// the call's own limit can only come from such a jump: it counts from now.
func TestClockSetBackDoesNotHoldAnUncancelableCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		clock, setBack := hourAheadClock()
		e.clock = clock
		e.restart()
		const id = "01CANCELNTP"
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Ring})
		e.raise(id, anxin.SeverityCritical)
		settle(5 * time.Second)
		unreachable(e)
		if code, page := e.do(http.MethodPost, e.firstLink()); code != http.StatusOK {
			t.Fatalf("accept by link: %d\n%s", code, page)
		}
		synctest.Wait()
		setBack()
		settle(30 * time.Minute)
		checkEndedUnconfirmed(t, e, id, "canceled")
		if n := len(e.timeline("cancel")); n > 100 {
			t.Fatalf("%d refused cancel requests in the 30 minutes after the clock went back, want a bounded few", n)
		}
	})
}

// A call whose create answer was lost reports in (ringing) after its chain
// was accepted and finished, and Twilio refuses the cancel. The status
// report records the end and reopens the finished chain, whose pass asks
// again until Twilio takes the cancel; the chain then finishes again.
func TestLateCallOfAFinishedChainWhoseCancelIsRefusedIsEndedByThePass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		const id = "01LATEREFUSED"
		e.fake.CancelFails(http.StatusServiceUnavailable)
		acceptWhileCallUnknown(t, e, id, false)
		synctest.Wait()
		if c := e.chain(id); !c.Finished {
			t.Fatalf("chain %s not finished before the call reported in", c.State)
		}
		settle(10 * time.Second) // the call's callbacks: initiated, ringing
		if c, a := e.chain(id), e.attempt(id+"/s0/voice"); c.Finished || a.Status != anxin.AttemptCanceling {
			t.Fatalf("after a refused cancel of a late call: chain finished %v, call %s; want unfinished, %s",
				c.Finished, a.Status, anxin.AttemptCanceling)
		}
		e.fake.CancelFails(0)
		settle(time.Minute)
		c, a := e.chain(id), e.attempt(id+"/s0/voice")
		if !c.Finished || a.Status != "canceled" || strings.Contains(a.Error, "cancel not confirmed") {
			t.Fatalf("chain finished %v, call %s %q; want finished, canceled", c.Finished, a.Status, a.Error)
		}
		ok := 0
		for _, l := range e.timeline("cancel") {
			if l.ev.Status == http.StatusOK {
				ok++
			}
		}
		if ok != 1 {
			t.Fatalf("%d cancels taken, want 1:\n%s", ok, e.dump())
		}
		onlyStepZeroSent(t, e)
	})
}

// A call whose create answer was lost reports in (initiated, ringing)
// while its accepted chain's pass is finishing: the pass had read the
// attempts (the call unknown, its lookups failing) and not yet saved the
// chain finished; the report records the call's end, Twilio refuses the
// cancel. Before, the pass then saved the chain finished over the recorded
// end, nothing asked for the cancel again, and contact 1's phone rang on
// for an alarm already taken (until the call's own ring timeout). A report
// that records an end leaves the chain unfinished for its pass.
func TestLateCallReportedWhileThePassFinishesIsStillEnded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		const id = "01LATERACE"
		release := make(chan struct{})
		e.alarms.mu.Lock()
		e.alarms.onSetState = func() { <-release } // the pass waits here, after its read of the attempts
		e.alarms.mu.Unlock()
		e.fake.CancelFails(http.StatusServiceUnavailable)
		acceptWhileCallUnknown(t, e, id, false)
		settle(5 * time.Second) // the call's callbacks come in while the pass waits
		if a := e.attempt(id + "/s0/voice"); a.Status != anxin.AttemptCanceling {
			t.Fatalf("call %s after its late callbacks with the cancel refused, want %s:\n%s", a.Status, anxin.AttemptCanceling, e.dump())
		}
		close(release)
		synctest.Wait()
		e.fake.CancelFails(0)
		settle(time.Minute)
		ok := 0
		for _, l := range e.timeline("cancel") {
			if l.ev.Status == http.StatusOK {
				ok++
			}
		}
		c, a := e.chain(id), e.attempt(id+"/s0/voice")
		if ok != 1 || a.Status != "canceled" || !c.Finished {
			t.Fatalf("a minute after Twilio takes cancels again: %d taken, call %s, chain finished %v; want 1, canceled, finished:\n%s",
				ok, a.Status, c.Finished, e.dump())
		}
	})
}

// Contact 1 accepts by the link while their call rings and Twilio refuses
// cancels; the chain's pass asks again, and while that cancel is under
// way the call is answered: the status report turns the record into a
// hang-up, which Twilio refuses too. Then Twilio answers the pass's cancel
// 200 — a cancel of a call in progress, which ends nothing. Before, that
// answer was taken as the end of the hang-up the report had recorded: the
// call was recorded completed, nothing asked for the hang-up again, and the
// call went on. A request's answer confirms only the end it asked for.
func TestCancelTakenAfterTheCallWasAnsweredDoesNotConfirmTheHangUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		const id = "01CANCELVSHANGUP"
		acceptWhileCancelsFail(t, e, id)
		settle(7500 * time.Millisecond) // the pass's refused cancels: at 5 s, 6 s, 7 s, 9 s; the next at 13 s
		var mu sync.Mutex
		armed, held, release := true, make(chan struct{}), make(chan struct{})
		e.svc.BeforeCancel(func(string) error {
			mu.Lock()
			hold := armed
			armed = false
			mu.Unlock()
			if hold { // the pass's cancel at 13 s waits here until the call is answered at 20 s
				close(held)
				<-release
			}
			return nil
		})
		<-held
		settle(8 * time.Second) // 21 s: answered; the report's hang-up refused
		if a := e.attempt(id + "/s0/voice"); a.Status != anxin.AttemptHangingUp {
			t.Fatalf("call %s after it was answered with its hang-up refused, want %s:\n%s", a.Status, anxin.AttemptHangingUp, e.dump())
		}
		e.fake.CancelFails(0)
		close(release)
		settle(4 * time.Second) // the call's TwiML alone would end it at 40 s
		hungUp := 0
		for _, l := range e.timeline("cancel") {
			if l.ev.Body == "completed" && l.ev.Status == http.StatusOK {
				hungUp++
			}
		}
		if a := e.attempt(id + "/s0/voice"); hungUp == 0 {
			t.Fatalf("call recorded %s %q with no hang-up taken by Twilio (its pass's cancel of a call in progress was taken as its end):\n%s",
				a.Status, a.Error, e.dump())
		}
		settle(time.Minute)
		if c, a := e.chain(id), e.attempt(id+"/s0/voice"); !c.Finished || a.Status != "completed" {
			t.Fatalf("chain finished %v, call %s %q; want finished and completed", c.Finished, a.Status, a.Error)
		}
	})
}
