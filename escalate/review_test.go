package escalate_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// An unanswered chain whose alarm staff then closed (or whose device
// cleared) is over: the duty contact's link must not offer to take it,
// must not accept it, and the family must not be told someone took an
// alarm that is closed. Resolve only stops a walking chain, so an
// unanswered one stays acceptable after the close.
func TestAckAfterUnansweredAlarmClosedIsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *escalate.Config) { c.Rounds = 1 })
		e.raise("01ALARMZ", anxin.SeverityCritical)
		settle(10 * time.Minute)
		if c := e.chain("01ALARMZ"); c.State != anxin.ChainUnanswered {
			t.Fatalf("chain %+v", c)
		}
		sms := e.timeline("sms")
		m := ackLink.FindStringSubmatch(sms[len(sms)-1].ev.Body)
		if m == nil {
			t.Fatalf("no link in the duty SMS %q", sms[len(sms)-1].ev.Body)
		}
		// staff close the alarm (what alarmd's closer does: the store, then Resolve)
		a, _ := e.alarms.Alarm(t.Context(), "01ALARMZ")
		a.State = anxin.AlarmResolved
		e.alarms.put(a)
		if err := e.svc.Resolve(t.Context(), "01ALARMZ", "closed by staff"); err != nil {
			t.Fatal(err)
		}
		settle(time.Minute)
		before := len(e.timeline("sms"))

		code, page := e.do(http.MethodGet, m[1])
		if strings.Contains(page, "<form") {
			t.Errorf("GET of a closed alarm's link offers to accept it (%d):\n%s", code, page)
		}
		code, page = e.do(http.MethodPost, m[1])
		if code != http.StatusConflict {
			t.Errorf("POST on a closed alarm's link: %d, want 409:\n%s", code, page)
		}
		settle(time.Minute)
		if c := e.chain("01ALARMZ"); c.State == anxin.ChainAccepted {
			t.Errorf("a closed alarm's chain was accepted after the close: %+v", c)
		}
		for _, l := range e.timeline("sms")[before:] {
			if strings.Contains(l.ev.Body, "接手") {
				t.Errorf("\"taken\" notice for a closed alarm to %s: %q", l.to, l.ev.Body)
			}
		}
		vs, _ := e.db.Visits(t.Context(), sqlite.VisitFilter{AlarmID: "01ALARMZ"})
		if len(vs) != 1 {
			t.Errorf("%d outcome visits for a closed alarm, want 1", len(vs))
		}
	})
}

// A contact on two walking chains (a grid worker of two homes, a child of
// two parents) who replies "1" cannot be read as taking either: before,
// the latest chain was accepted and the person told nothing, while the
// alarm they meant walked on. Now neither is accepted, both chains walk
// on, and the reply is answered with each alarm's elder and link; a link
// from that answer takes its own alarm only.
func TestSMSReplyWithTwoWalkingChainsIsNotGuessed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		other := abroad
		other.ID, other.Elder.Name = "hh-0003", "陈玉兰"
		e := newEnvWith(t, households{abroad.ID: abroad, other.ID: other})
		e.fake.Script("+14155550101", twiliotest.Script{Call: twiliotest.Ring})
		e.raiseIn(abroad.ID, "01ALARMA", anxin.SeverityCritical)
		settle(10 * time.Second) // the SMS of the first alarm is read…
		e.raiseIn(other.ID, "01ALARMB", anxin.SeverityCritical)
		settle(5 * time.Second) // …and the second arrives just before the reply
		v := url.Values{"From": {"+14155550101"}, "Body": {"1"}, "MessageSid": {"SM" + strings.Repeat("8", 32)}, "To": {twiliotest.From}}
		code, body := e.do2(twiliotest.SignedRequest(publicURL+"/twilio/sms", v, twiliotest.AuthToken))
		if code != 200 {
			t.Fatalf("inbound SMS: %d", code)
		}
		settle(time.Second)
		a, b := e.chain("01ALARMA"), e.chain("01ALARMB")
		if a.State != anxin.ChainWalking || b.State != anxin.ChainWalking {
			t.Fatalf("an ambiguous reply decided a chain: A %s, B %s", a.State, b.State)
		}
		if !strings.Contains(body, "<Message>") || !strings.Contains(body, "2个告警") ||
			!strings.Contains(body, abroad.Elder.Name) || !strings.Contains(body, other.Elder.Name) {
			t.Fatalf("the reply was not answered with both alarms:\n%s", body)
		}
		links := ackLink.FindAllStringSubmatch(body, -1)
		if len(links) != 2 {
			t.Fatalf("want two ack links in the answer, got %q", links)
		}
		// the first listed is the latest alarm (B): its link takes B only
		if code, page := e.do(http.MethodPost, links[0][1]); code != http.StatusOK || !strings.Contains(page, "已确认") {
			t.Fatalf("the answer's link: %d %s", code, page)
		}
		settle(time.Second)
		if a, b := e.chain("01ALARMA"), e.chain("01ALARMB"); b.State != anxin.ChainAccepted || a.State != anxin.ChainWalking {
			t.Fatalf("after the first link: A %s, B %s; want A walking, B accepted", a.State, b.State)
		}
		if strings.Contains(e.logs.String(), "+14155550101") {
			t.Fatal("the sender's number is in the log")
		}
	})
}
