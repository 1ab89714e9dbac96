package escalate_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// unreachable cuts Twilio's callbacks off from alarmd (the webhook cannot
// be reached: a proxy down, a wrong public URL) and makes Twilio refuse
// every call update, as when its API is down.
func unreachable(e *env) {
	e.fake.Deliver = func(*http.Request) *http.Response { return nil }
	e.fake.CancelFails(http.StatusServiceUnavailable)
}

// attempt reads an attempt from the env's store.
func (e *env) attempt(id string) anxin.Attempt {
	e.t.Helper()
	a, err := e.db.Attempt(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// checkEndedUnconfirmed asserts that the chain finished with its call
// recorded ended (status) without the provider's word, and that nothing
// of the step was sent twice.
func checkEndedUnconfirmed(t *testing.T, e *env, id, status string) {
	t.Helper()
	c := e.chain(id)
	a := e.attempt(id + "/s0/voice")
	if !c.Finished || a.Status != status || !strings.Contains(a.Error, "cancel not confirmed") {
		t.Fatalf("chain %s finished %v, call %s %q after %d refused cancels; want finished, the call %s \"cancel not confirmed\"",
			c.State, c.Finished, a.Status, a.Error, len(e.timeline("cancel")), status)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "cancel not confirmed") {
		t.Fatalf("no log line says the cancel was not confirmed:\n%s", logs)
	}
	onlyStepZeroSent(t, e)
}

// Contact 1's call rings; our webhook becomes unreachable and Twilio
// refuses every cancel; contact 1 accepts by the link. Before, the chain's
// finish pass asked for the cancel every second for good (no callback
// would ever report the call's end) and the chain never finished. A call
// that is not answered cannot outlive its ring timeout: past it (plus a
// margin) the call is recorded ended and the chain finishes.
func TestUncancelableRingingCallOfADecidedChainEndsAtItsRingTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		const id = "01NOCANCEL"
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Ring})
		e.raise(id, anxin.SeverityCritical)
		settle(5 * time.Second)
		if a := e.attempt(id + "/s0/voice"); a.Status != "ringing" {
			t.Fatalf("step 0's call is %s, want ringing", a.Status)
		}
		unreachable(e)
		if code, page := e.do(http.MethodPost, e.firstLink()); code != http.StatusOK {
			t.Fatalf("accept by link: %d\n%s", code, page)
		}
		settle(30 * time.Minute)
		checkEndedUnconfirmed(t, e, id, "canceled")
	})
}

// The same with contact 1 on the phone (answered, no key) when contact 1
// accepts by the link: an answered call may last up to its time limit
// (4 h by default), so it is asked to hang up until then, not only for its
// ring timeout; then it is recorded ended and the chain finishes.
func TestUncancelableAnsweredCallOfADecidedChainEndsAtItsTimeLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		const id = "01NOHANGUP"
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Silent, After: 20 * time.Second})
		e.raise(id, anxin.SeverityCritical)
		settle(25 * time.Second)
		if a := e.attempt(id + "/s0/voice"); a.Status != "in-progress" {
			t.Fatalf("step 0's call is %s, want in-progress", a.Status)
		}
		unreachable(e)
		if code, page := e.do(http.MethodPost, e.firstLink()); code != http.StatusOK {
			t.Fatalf("accept by link: %d\n%s", code, page)
		}
		settle(30 * time.Minute)
		if c, a := e.chain(id), e.attempt(id+"/s0/voice"); c.Finished || a.Status != anxin.AttemptHangingUp {
			t.Fatalf("after 30 min: chain finished %v, call %s %q; want the answered call still being hung up",
				c.Finished, a.Status, a.Error)
		}
		settle(4 * time.Hour)
		checkEndedUnconfirmed(t, e, id, "completed")
	})
}

// The service stops (as by SIGKILL) after it recorded the end of contact
// 1's ringing call and before it asked Twilio for it. Before, the record
// said "canceled", a restart found nothing to end, and the phone rang on
// for an alarm already taken. The recorded end survives the restart and
// the cancel is sent on start, once.
func TestCancelRecordedBeforeACrashIsSentOnStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		const id = "01CANCELCRASH"
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Ring})
		e.raise(id, anxin.SeverityCritical)
		settle(5 * time.Second)
		old := e.svc
		old.BeforeCancel(func(string) error {
			old.Kill()
			return errors.New("killed between recording the cancel and sending it")
		})
		if code, page := e.do(http.MethodPost, e.firstLink()); code != http.StatusOK {
			t.Fatalf("accept by link: %d\n%s", code, page)
		}
		synctest.Wait()
		if n := len(e.timeline("cancel")); n != 0 {
			t.Fatalf("%d cancel requests before the crash, want 0:\n%s", n, e.dump())
		}
		e.start()
		synctest.Wait()
		cancels := e.timeline("cancel")
		if len(cancels) != 1 || cancels[0].ev.Status != http.StatusOK || cancels[0].to != phone1 {
			t.Fatalf("%d cancel requests after the restart, want 1 (the phone rang on for an alarm already taken):\n%s",
				len(cancels), e.dump())
		}
		settle(time.Minute)
		if c, a := e.chain(id), e.attempt(id+"/s0/voice"); !c.Finished || a.Status != "canceled" || a.Error != "" {
			t.Fatalf("chain finished %v, call %s %q; want finished and canceled", c.Finished, a.Status, a.Error)
		}
		onlyStepZeroSent(t, e)
	})
}

// Contact 1 accepts by the link while their call rings and Twilio refuses
// the cancel; then they answer the call. A cancel of a call in progress
// ends nothing at Twilio: the recorded end turns into a hang-up.
func TestCallAnsweredWhileItsCancelIsRefusedIsHungUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		const id = "01CANCELANSWER"
		acceptWhileCancelsFail(t, e, id)
		settle(10 * time.Second)
		if a := e.attempt(id + "/s0/voice"); a.Status != anxin.AttemptCanceling {
			t.Fatalf("call %s while its cancel is refused, want %s", a.Status, anxin.AttemptCanceling)
		}
		settle(10 * time.Second) // answered at 20 s
		hangUps := 0
		for _, l := range e.timeline("cancel") {
			if l.ev.Body == "completed" {
				hangUps++
			}
		}
		if a := e.attempt(id + "/s0/voice"); a.Status != anxin.AttemptHangingUp || hangUps == 0 {
			t.Fatalf("call %s after it was answered, %d hang-up requests; want %s and a hang-up asked for:\n%s",
				a.Status, hangUps, anxin.AttemptHangingUp, e.dump())
		}
		e.fake.CancelFails(0)
		settle(time.Minute)
		if c, a := e.chain(id), e.attempt(id+"/s0/voice"); !c.Finished || a.Status != "completed" {
			t.Fatalf("chain finished %v, call %s %q; want finished and completed", c.Finished, a.Status, a.Error)
		}
	})
}

// onlyStepZeroSent fails unless step 0's SMS and call were the only sends:
// no step went out twice, and none after the chain was decided.
func onlyStepZeroSent(t *testing.T, e *env) {
	t.Helper()
	if n := len(e.timeline("sms", "call")); n != 2 {
		t.Fatalf("%d SMS and call requests, want step 0's two:\n%s", n, e.dump())
	}
}

// acceptWhileCancelsFail raises alarm id with contact 1's call ringing (it
// would be answered at 20 s), makes Twilio refuse cancels, and has contact
// 1 accept by the link 5 s in.
func acceptWhileCancelsFail(t *testing.T, e *env, id string) {
	t.Helper()
	e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Silent, After: 20 * time.Second})
	e.raise(id, anxin.SeverityCritical)
	settle(5 * time.Second)
	e.fake.CancelFails(http.StatusServiceUnavailable)
	if code, page := e.do(http.MethodPost, e.firstLink()); code != http.StatusOK {
		t.Fatalf("accept by link: %d\n%s", code, page)
	}
}
