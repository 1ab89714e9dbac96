package escalate_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// twilioMaxBody: Twilio refuses a <Message> body longer than 1,600
// characters (ten concatenated segments); the sender then gets nothing.
const twilioMaxBody = 1600

// A grid worker is the contact of many homes. When a reply "1" fits many
// walking chains (a storm, a power cut: several elders' alarms at once),
// the answer lists every alarm with its link, unbounded: past ~33 alarms (47 characters each) it
// is longer than one SMS reply may be, Twilio refuses it and the worker
// hears nothing, while none of the alarms was taken.
func TestSMSReplyAnswerToManyAlarmsFitsOneMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 36
		hh := households{}
		for i := range n {
			h := abroad
			h.ID = fmt.Sprintf("hh-9%03d", i)
			h.Elder.Name = "陈秀英" + string(rune('甲'+i))
			hh[h.ID] = h
		}
		e := newEnvWith(t, hh)
		e.fake.Script(abroad.Contacts[0].Phone, twiliotest.Script{Call: twiliotest.Ring})
		for i := range n {
			e.raiseIn(fmt.Sprintf("hh-9%03d", i), fmt.Sprintf("01ALARM%03d", i), anxin.SeverityCritical)
		}
		settle(10 * time.Second)
		v := url.Values{"From": {abroad.Contacts[0].Phone}, "Body": {"1"}, "MessageSid": {"SM" + strings.Repeat("7", 32)}, "To": {twiliotest.From}}
		code, body := e.do2(twiliotest.SignedRequest(publicURL+"/twilio/sms", v, twiliotest.AuthToken))
		if code != 200 {
			t.Fatalf("inbound SMS: %d", code)
		}
		msg, _, _ := strings.Cut(body, "</Message>")
		_, msg, ok := strings.Cut(msg, "<Message>")
		if !ok {
			t.Fatalf("no answer to a reply that fits %d alarms:\n%s", n, body)
		}
		t.Logf("answer: %d characters, %d links", utf8.RuneCountInString(msg), strings.Count(msg, "/ack/"))
		if c := utf8.RuneCountInString(msg); c > twilioMaxBody {
			t.Errorf("the answer to a reply that fits %d alarms is %d characters (%d links): Twilio sends at most %d",
				n, c, strings.Count(msg, "/ack/"), twilioMaxBody)
		}
	})
}
