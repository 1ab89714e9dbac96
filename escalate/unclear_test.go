package escalate_test

import (
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// TestUnclearSMSReplyIsAnswered: a contact waited on who answers the step's
// SMS in their own words ("马上到") has taken nothing, and must be told so
// with the way that does take it (reply 1, or the link) — not left
// believing they did while the chain rings the others. Once: an
// auto-responder that answers every SMS must not start a loop. A number
// no chain waits on gets no answer. A later alarm within the hour is
// answered again.
func TestUnclearSMSReplyIsAnswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnvWith(t, households{abroad.ID: abroad})
		e.fake.Script("+14155550101", twiliotest.Script{Call: twiliotest.Ring})
		e.raiseIn(abroad.ID, "01ALARMU", anxin.SeverityCritical)
		settle(10 * time.Second) // the first step's SMS is read
		reply := e.smsReplies(t, "7")
		answer := reply("+14155550101", "马上到")
		if c := e.chain("01ALARMU"); c.State != anxin.ChainWalking {
			t.Fatalf("an unclear reply decided the chain: %s", c.State)
		}
		links := ackLink.FindAllStringSubmatch(answer, -1)
		if !strings.Contains(answer, "<Message>") || !strings.Contains(answer, "未能识别") || !strings.Contains(answer, "回复1") || len(links) != 1 {
			t.Fatalf("the unclear reply was not answered with how to take the alarm:\n%s", answer)
		}
		if again := reply("+14155550101", "在路上了"); strings.Contains(again, "<Message>") {
			t.Fatalf("a second unclear reply within the hour was answered again (an auto-responder would loop):\n%s", again)
		}
		if other := reply("+14155550199", "马上到"); strings.Contains(other, "<Message>") {
			t.Fatalf("a number no chain waits on was answered:\n%s", other)
		}
		reply("+14155550101", "1")
		if c := e.chain("01ALARMU"); c.State != anxin.ChainAccepted {
			t.Fatalf("reply 1 after the answer: chain %s, want accepted", c.State)
		}

		// The once-an-hour limit stops an auto-responder's loop on one
		// alarm; it must not silence the same contact's unclear reply to
		// another alarm raised within that hour (a second press after the
		// first was taken), or they believe they took it while the chain
		// walks on.
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
		if strings.Contains(e.logs.String(), "+14155550101") {
			t.Fatal("the sender's number is in the log")
		}
	})
}

// smsReplies posts inbound SMS to the Twilio webhook, each with a
// MessageSid of its own (mark tells tests' ids apart), lets the service
// settle, and returns the TwiML answer.
func (e *env) smsReplies(t *testing.T, mark string) func(from, body string) string {
	sid := 0
	return func(from, body string) string {
		t.Helper()
		sid++
		v := url.Values{"From": {from}, "Body": {body}, "MessageSid": {"SM" + strings.Repeat(mark, 31) + string(rune('0'+sid))}, "To": {twiliotest.From}}
		code, answer := e.do2(twiliotest.SignedRequest(publicURL+"/twilio/sms", v, twiliotest.AuthToken))
		if code != 200 {
			t.Fatalf("inbound SMS %q: %d", body, code)
		}
		settle(time.Second)
		return answer
	}
}
