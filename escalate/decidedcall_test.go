package escalate_test

import (
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// acceptWhileCallUnknown raises an alarm whose step 0 call is made at
// Twilio but its answer lost (the attempt stays "sending", no call sid:
// lookups fail meanwhile), and accepts the alarm by the SMS link at once,
// before the call's first status callback (at 1 s). lookups says whether
// Twilio's lists answer again from the acceptance on.
func acceptWhileCallUnknown(t *testing.T, e *env, id string, lookups bool) {
	t.Helper()
	e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Ring})
	e.fake.Fault("call", twiliotest.Fault{Drop: true})
	e.fake.ListFails(http.StatusServiceUnavailable)
	e.raise(id, anxin.SeverityCritical)
	synctest.Wait()
	if a, err := e.db.Attempt(t.Context(), id+"/s0/voice"); err != nil || a.Status != anxin.AttemptSending || a.ProviderID != "" {
		t.Fatalf("step 0's call before the acceptance: %+v %v; want sending without a sid", a, err)
	}
	if lookups {
		e.fake.ListFails(0)
	}
	if code, page := e.do(http.MethodPost, e.firstLink()); code != http.StatusOK {
		t.Fatalf("accept by link: %d\n%s", code, page)
	}
}

// checkCallEndedOnce asserts that the one call made was ended once through
// Twilio, the attempt says so, and the log names the number masked.
func checkCallEndedOnce(t *testing.T, e *env, id string) {
	t.Helper()
	if c := e.chain(id); c.State != anxin.ChainAccepted || !c.Finished {
		t.Fatalf("chain %s finished %v, want accepted and finished", c.State, c.Finished)
	}
	cancels := e.timeline("cancel")
	if len(cancels) != 1 || cancels[0].to != phone1 || cancels[0].ev.Sid != e.timeline("call")[0].ev.Sid {
		t.Fatalf("%d cancel requests for the call of a finished chain, want 1 (it rang on for an alarm already taken):\n%s",
			len(cancels), e.dump())
	}
	if a, _ := e.db.Attempt(t.Context(), id+"/s0/voice"); a.Status != "canceled" {
		t.Fatalf("call attempt %+v, want canceled", a)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"to":"`+anxin.MaskPhone(phone1)+`"`) || strings.Contains(logs, phone1) {
		t.Fatalf("the ended call is not logged with the masked number (or the number is in clear):\n%s", logs)
	}
}

// The call's create answer is lost and the chain is accepted before any of
// its status callbacks; lookups of the call cannot tell either (Twilio's
// list answers 503). Before, the callbacks that came after the chain finished
// only recorded "initiated", "ringing": contact 1's phone rang for ten
// minutes for an alarm already taken. The first callback of a decided
// chain's live call ends it, once.
func TestLateCallbackOfADecidedChainEndsTheCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		acceptWhileCallUnknown(t, e, "01RINGON", false)
		settle(15 * time.Minute)
		checkCallEndedOnce(t, e, "01RINGON")
	})
}

// The same, with the lookup working: finishing the chain looks the
// unknown call up, finds it and ends it before it rings.
func TestUnknownCallOfADecidedChainIsLookedUpAndEnded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		acceptWhileCallUnknown(t, e, "01RINGUP", true)
		synctest.Wait()
		if n := len(e.timeline("cancel")); n != 1 {
			t.Fatalf("%d cancels when the chain finished, want 1:\n%s", n, e.dump())
		}
		settle(15 * time.Minute)
		checkCallEndedOnce(t, e, "01RINGUP")
	})
}
