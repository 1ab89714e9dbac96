package escalate_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// A whole chain — failures, retries, an invalid number, acceptance by link,
// notices — logs no phone number, name, auth token or ack token.
func TestLogsHoldNoPhoneNumberNameOrToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{APIError: 21211})
		e.fake.Script(phone2, twiliotest.Script{Call: twiliotest.Silent, After: 5 * time.Second})
		e.fake.Fault("sms", twiliotest.Fault{Status: 500})
		e.fake.Fault("call", twiliotest.Fault{Drop: true})
		e.raise("01ALARMP", anxin.SeverityCritical)
		settle(time.Minute)
		var tokens []string
		for _, l := range e.timeline("sms") {
			if m := ackLink.FindStringSubmatch(l.ev.Body); m != nil {
				tokens = append(tokens, strings.TrimPrefix(m[1], "/ack/"))
				e.do(http.MethodGet, m[1])
			}
		}
		if len(tokens) == 0 {
			t.Fatal("no ack link was sent")
		}
		e.do(http.MethodPost, "/ack/"+tokens[len(tokens)-1])
		settle(time.Hour)
		if c := e.chain("01ALARMP"); c.State != anxin.ChainAccepted {
			t.Fatalf("chain %+v", c)
		}
		logs := e.logs.String()
		if !strings.Contains(logs, "alarm accepted") || !strings.Contains(logs, "+86*******0002") {
			t.Fatalf("the logs do not tell the story:\n%s", logs)
		}
		secret := []string{twiliotest.AuthToken, phoneElder, phone1, phone2, phone3, "张桂兰", "李明", "李华", "王芳", "善广乡"}
		for _, s := range append(secret, tokens...) {
			if strings.Contains(logs, s) {
				t.Errorf("the logs hold %q", s)
			}
		}
	})
}

// Where replies reach us (not +86), an SMS reply accepts; from China it is
// ignored, because Chinese carriers do not deliver replies to international
// senders.
func TestSMSReplyAccepts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Ring})
		e.fake.Script("+14155550101", twiliotest.Script{Call: twiliotest.Ring})
		e.raise("01ALARMQ", anxin.SeverityCritical)
		e.raiseIn(abroad.ID, "01ALARMR", anxin.SeverityCritical)
		settle(10 * time.Second)
		inbound := func(from, body string) {
			v := url.Values{"From": {from}, "Body": {body}, "MessageSid": {"SM" + strings.Repeat("9", 32)}, "To": {twiliotest.From}}
			if code, _ := e.do2(twiliotest.SignedRequest(publicURL+"/twilio/sms", v, twiliotest.AuthToken)); code != 200 {
				t.Fatalf("inbound SMS: %d", code)
			}
		}
		inbound(phone1, "1")
		inbound("+14155550101", "OK")
		settle(time.Minute)
		if c := e.chain("01ALARMQ"); c.State != anxin.ChainWalking {
			t.Fatalf("a reply from +86 accepted: %+v", c)
		}
		if c := e.chain("01ALARMR"); c.State != anxin.ChainAccepted || c.AcceptedVia != "sms_reply" || c.AcceptedBy != "陈刚" {
			t.Fatalf("chain %+v", c)
		}
	})
}
