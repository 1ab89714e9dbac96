package escalate_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
)

// A call whose create answer was lost reports in (ringing) after its chain
// was accepted and finished, and the report's reopening of the chain meets
// a write conflict (another report of the same chain writing it at once).
// Before, endLateCall reopened the chain with a save of its own, returned
// the conflict and the report was answered 500, which Twilio does not send
// again by default: the call rang on for an alarm already taken. It now
// reopens through holdOpen, which reads again and retries a conflict.
func TestLateCallReportMeetingAWriteConflictStillEndsTheCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		const id = "01REOPENCONFLICT"
		acceptWhileCallUnknown(t, e, id, false)
		synctest.Wait()
		if c := e.chain(id); !c.Finished {
			t.Fatalf("chain %s not finished before the call reported in", c.State)
		}
		calls := e.timeline("call")
		if len(calls) != 1 || calls[0].ev.Sid == "" {
			t.Fatalf("%d calls made, want 1 with a sid:\n%s", len(calls), e.dump())
		}
		e.conflicts.Store(1)
		if err := e.svc.Report(t.Context(), anxin.StatusReport{AttemptID: id + "/s0/voice", ProviderID: calls[0].ev.Sid,
			Channel: anxin.ChannelVoice, Status: "ringing"}); err != nil {
			t.Fatalf("late ringing report of a finished chain's call, one write conflict: %v", err)
		}
		settle(time.Minute)
		checkCallEndedOnce(t, e, id)
	})
}
