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
// two parents) who replies "1" to the first SMS has the latest chain
// accepted instead, and is told nothing of which: the first alarm goes on
// walking while the person believes they took it. An ambiguous reply must
// not accept the other alarm.
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
		if code, _ := e.do2(twiliotest.SignedRequest(publicURL+"/twilio/sms", v, twiliotest.AuthToken)); code != 200 {
			t.Fatalf("inbound SMS: %d", code)
		}
		settle(time.Second)
		a, b := e.chain("01ALARMA"), e.chain("01ALARMB")
		if b.State == anxin.ChainAccepted && a.State != anxin.ChainAccepted {
			t.Errorf("a reply of someone on two walking chains accepted the later one (%s) and left the earlier walking", b.AlarmID)
		}
	})
}

// The duty contacts of an unanswered chain were told "无人接收 … 请值班人员立即
// 处理"; when staff then close the alarm they must hear that it is over (as
// everyone told of a walking chain does when it is closed), or the duty
// worker drives out at 3 a.m. for an alarm already handled.
func TestClosingAnUnansweredAlarmTellsTheDutyContacts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *escalate.Config) { c.Rounds = 1 })
		e.raise("01ALARMY", anxin.SeverityCritical)
		settle(10 * time.Minute)
		if c := e.chain("01ALARMY"); c.State != anxin.ChainUnanswered {
			t.Fatalf("chain %+v", c)
		}
		before := len(e.timeline("sms"))
		a, _ := e.alarms.Alarm(t.Context(), "01ALARMY")
		a.State = anxin.AlarmResolved
		e.alarms.put(a)
		if err := e.svc.Resolve(t.Context(), "01ALARMY", "closed by staff"); err != nil {
			t.Fatal(err)
		}
		settle(time.Minute)
		told := false
		for _, l := range e.timeline("sms")[before:] {
			told = told || (l.to == phone3 && strings.Contains(l.ev.Body, "已结束"))
		}
		if !told {
			t.Errorf("the duty contact (told to handle it at once) was not told the alarm was closed:\n%s", e.dump())
		}
	})
}
