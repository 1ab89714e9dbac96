package escalate_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// Contact 1 answers and presses 1; while the call says thank you, its
// "ringing" callback arrives late (Twilio posts each event in its own
// request, so they may come out of order). The report is older than what
// is recorded (in-progress): it must not be taken for a call still ringing
// on a decided chain. Before, endLateCall went by the report's status: the
// acceptor's call was "canceled" (Twilio ignores canceled for a call in
// progress) and its attempt recorded canceled although it was answered and
// accepted the alarm.
func TestLateRingingOfTheAcceptorsCallEndsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Press, After: 20 * time.Second})
		e.raise("01LATERING", anxin.SeverityCritical)
		settle(25*time.Second + time.Millisecond)
		a, err := e.db.Attempt(t.Context(), "01LATERING/s0/voice")
		if err != nil || a.Status != "in-progress" || e.chain("01LATERING").State != anxin.ChainAccepted {
			t.Fatalf("before the late report: attempt %+v %v, chain %s; want in-progress, accepted", a, err, e.chain("01LATERING").State)
		}
		if err := e.svc.Report(t.Context(), anxin.StatusReport{AttemptID: a.ID, ProviderID: a.ProviderID,
			Channel: anxin.ChannelVoice, Status: "ringing"}); err != nil {
			t.Fatalf("late ringing report: %v", err)
		}
		synctest.Wait()
		if n := len(e.timeline("cancel")); n != 0 {
			t.Fatalf("%d cancel requests for the acceptor's own call after a late ringing report:\n%s", n, e.dump())
		}
		if a, _ := e.db.Attempt(t.Context(), a.ID); a.Status != "in-progress" {
			t.Fatalf("the acceptor's call recorded %q after a late ringing report; want in-progress", a.Status)
		}
	})
}
