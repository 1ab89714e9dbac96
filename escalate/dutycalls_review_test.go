package escalate_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// TestDutySMSCountsOnlyCallsPlaced: the visit of an unanswered alarm
// counts the calls placed (ed11574), but the duty staff's SMS still said
// "已呼叫6次无人确认" when the provider refused every call: it counted the
// chain's steps. Duty staff read it as a family called six times that did
// not answer, when nobody was called at all.
func TestDutySMSCountsOnlyCallsPlaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		for range 20 {
			e.fake.Fault("call", twiliotest.Fault{Status: 400})
		}
		e.raise("01ALARMW", anxin.SeverityCritical)
		settle(2 * time.Hour)
		if c := e.chain("01ALARMW"); c.State != anxin.ChainUnanswered || !c.Finished {
			t.Fatalf("chain %s finished %v", c.State, c.Finished)
		}
		var duty string
		for _, l := range e.timeline("sms") {
			if strings.Contains(l.ev.Body, "无人接收") {
				duty = l.ev.Body
			}
		}
		if duty == "" {
			t.Fatalf("no duty SMS:\n%s", e.dump())
		}
		if !strings.Contains(duty, "已呼叫0次") {
			t.Fatalf("the duty SMS of an alarm whose calls were all refused: %q, want 已呼叫0次", duty)
		}
	})
}
