package escalate_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// TestUnclearReplyToALaterAlarmIsAnswered: the once-an-hour limit on
// telling a sender how to accept stops an auto-responder's loop on one
// alarm; it must not silence the same contact's unclear reply to another
// alarm raised within that hour (a second press after the first was taken),
// or they believe they took it while the chain walks on.
func TestUnclearReplyToALaterAlarmIsAnswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnvWith(t, households{abroad.ID: abroad})
		e.fake.Script("+14155550101", twiliotest.Script{Call: twiliotest.Ring})
		reply := e.smsReplies(t, "8")
		e.raiseIn(abroad.ID, "01ALARMA", anxin.SeverityCritical)
		settle(10 * time.Second)
		if answer := reply("+14155550101", "马上到"); !strings.Contains(answer, "<Message>") {
			t.Fatalf("the first unclear reply was not answered:\n%s", answer)
		}
		reply("+14155550101", "1")
		if c := e.chain("01ALARMA"); c.State != anxin.ChainAccepted {
			t.Fatalf("reply 1: chain %s, want accepted", c.State)
		}
		settle(10 * time.Minute)
		e.raiseIn(abroad.ID, "01ALARMB", anxin.SeverityCritical)
		settle(10 * time.Second)
		if answer := reply("+14155550101", "马上到"); !strings.Contains(answer, "<Message>") || !strings.Contains(answer, "回复1") {
			t.Fatalf("an unclear reply to a later alarm within the hour was not answered:\n%s", answer)
		}
		if c := e.chain("01ALARMB"); c.State != anxin.ChainWalking {
			t.Fatalf("the unclear reply decided the later chain: %s", c.State)
		}
		if again := reply("+14155550101", "在路上了"); strings.Contains(again, "<Message>") {
			t.Fatalf("a second unclear reply on the same alarm was answered again (an auto-responder would loop):\n%s", again)
		}
	})
}
