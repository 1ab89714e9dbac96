package escalate_test

import (
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/twilio/twiliotest"
	"github.com/anxin-care/anxin/words"
)

// settle lets time pass in the bubble and waits until everything is idle.
func settle(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// Timeline: button at t=0 → SMS and call to contact 1 at t=0; the call is
// answered at 20s and 1 pressed at 25s → accepted, chain stops, visit written.
func TestAcceptAtStepOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Press, After: 20 * time.Second})
		e.raise("01ALARM1", anxin.SeverityCritical)
		settle(10 * time.Minute)

		e.expect(time.Second, at(0, "sms", phone1), at(0, "call", phone1))
		c := e.chain("01ALARM1")
		if c.State != anxin.ChainAccepted || c.AcceptedBy != "李明" || c.AcceptedVia != "key_press" || !c.Finished {
			t.Fatalf("chain %+v", c)
		}
		if got := c.AcceptedAt.Sub(e.t0); got != 25*time.Second {
			t.Fatalf("accepted after %v, want 25s", got)
		}
		a, _ := e.alarms.Alarm(t.Context(), "01ALARM1")
		if a.State != anxin.AlarmAccepted || a.AcceptedBy != "李明" {
			t.Fatalf("alarm %+v", a)
		}
		replies := e.timeline("reply-twiml")
		if len(replies) != 1 || !strings.Contains(replies[0].ev.Body, "已确认") {
			t.Fatalf("gather replies %+v", replies)
		}
		needs, visitor, date, due := e.visit("01ALARM1")
		if needs != "李*（子女）25秒后通过电话按键接收处理" || visitor != "李明" || due.Sub(date) != 24*time.Hour {
			t.Fatalf("visit needs=%q visitor=%q date=%v due=%v", needs, visitor, date, due)
		}
		// the SMS and the call carry what a family member needs
		sms := e.timeline("sms")[0].ev.Body
		for _, w := range []string{"张桂兰", "善广乡幸福村3组", "按下了呼叫按钮", publicURL + "/ack/"} {
			if !strings.Contains(sms, w) {
				t.Errorf("SMS %q lacks %q", sms, w)
			}
		}
		if n, _ := words.SMSLength(sms); n > words.MaxSMSChars || !words.SMSFits(sms) {
			t.Errorf("SMS of %d characters: %q", n, sms)
		}
		call := e.timeline("call")[0].ev.Body
		for _, w := range []string{`<Say voice="Polly.Zhiyu" language="cmn-CN"`, `numDigits="1"`, `action="` + publicURL + `/twilio/gather?attempt=`, "按1"} {
			if !strings.Contains(call, w) {
				t.Errorf("TwiML %q lacks %q", call, w)
			}
		}
	})
}

// Timeline: contact 1 does not answer (no-answer at 30s → next step at once);
// contact 2 answers but presses nothing (waits for the 3m ack timeout);
// contact 3 (the grid worker) presses 1. The two others are told who took it.
func TestNoAnswerUntilStepThree(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.NoAnswer, After: 30 * time.Second})
		e.fake.Script(phone2, twiliotest.Script{Call: twiliotest.Silent, After: 10 * time.Second})
		e.fake.Script(phone3, twiliotest.Script{Call: twiliotest.Press, After: 15 * time.Second})
		e.raise("01ALARM2", anxin.SeverityCritical)
		settle(20 * time.Minute)

		step3 := 30*time.Second + 3*time.Minute
		e.expect(time.Second,
			at(0, "sms", phone1), at(0, "call", phone1),
			at(30*time.Second, "sms", phone2), at(30*time.Second, "call", phone2),
			at(step3, "sms", phone3), at(step3, "call", phone3),
			at(step3+20*time.Second, "sms", phone1), at(step3+20*time.Second, "sms", phone2), // who took it
		)
		taken := e.timeline("sms")[3].ev.Body
		if !strings.Contains(taken, "已由王芳接手") {
			t.Fatalf("notice %q", taken)
		}
		c := e.chain("01ALARM2")
		if c.State != anxin.ChainAccepted || c.AcceptedBy != "王芳" || c.Step != 2 {
			t.Fatalf("chain %+v", c)
		}
		needs, _, _, _ := e.visit("01ALARM2")
		if needs != "王*（网格员）3分50秒后通过电话按键接收处理" {
			t.Fatalf("visit needs %q", needs)
		}
	})
}

// A busy line moves on at once.
func TestBusyMovesOnAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Busy, After: 3 * time.Second})
		e.fake.Script(phone2, twiliotest.Script{Call: twiliotest.Press, After: 10 * time.Second})
		e.raise("01ALARM3", anxin.SeverityCritical)
		settle(10 * time.Minute)
		e.expect(time.Second,
			at(0, "sms", phone1), at(0, "call", phone1),
			at(3*time.Second, "sms", phone2), at(3*time.Second, "call", phone2),
			at(18*time.Second, "sms", phone1), // told that 李华 took it
		)
		if c := e.chain("01ALARM3"); c.AcceptedBy != "李华" {
			t.Fatalf("chain %+v", c)
		}
	})
}

// Voicemail (answered by a machine, no key) is not acceptance: the chain
// moves on when the machine hangs up.
func TestVoicemailIsNotAcceptance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Voicemail, After: 10 * time.Second})
		e.fake.Script(phone2, twiliotest.Script{Call: twiliotest.Ring})
		e.raise("01ALARM4", anxin.SeverityCritical)
		settle(time.Minute)
		e.expect(time.Second,
			at(0, "sms", phone1), at(0, "call", phone1),
			at(35*time.Second, "sms", phone2), at(35*time.Second, "call", phone2),
		)
		c := e.chain("01ALARM4")
		if c.State != anxin.ChainWalking || c.Step != 1 {
			t.Fatalf("chain %+v", c)
		}
		as, err := e.db.Attempts(t.Context(), "01ALARM4")
		if err != nil {
			t.Fatal(err)
		}
		if v := as[1]; v.Channel != anxin.ChannelVoice || v.Status != "completed" || v.AnsweredBy != "machine_start" {
			t.Fatalf("voicemail attempt %+v", v)
		}
		if a, _ := e.alarms.Alarm(t.Context(), "01ALARM4"); a.State != anxin.AlarmOpen {
			t.Fatalf("alarm %+v", a)
		}
	})
}

// A permanently invalid number (Twilio 21211, HTTP 400) moves on at once and
// is not retried.
func TestInvalidNumberMovesOn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{APIError: 21211})
		e.fake.Script(phone2, twiliotest.Script{Call: twiliotest.Press, After: 10 * time.Second})
		e.raise("01ALARM5", anxin.SeverityCritical)
		settle(10 * time.Minute)
		e.expect(0,
			at(0, "sms", phone1), at(0, "call", phone1),
			at(0, "sms", phone2), at(0, "call", phone2),
		)
		as, err := e.db.Attempts(t.Context(), "01ALARM5")
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as[:2] {
			if a.Status != anxin.AttemptFailed || !strings.Contains(a.Error, "error 21211 (invalid phone number)") || a.Tries != 1 {
				t.Fatalf("attempt %+v", a)
			}
		}
		if c := e.chain("01ALARM5"); c.AcceptedBy != "李华" {
			t.Fatalf("chain %+v", c)
		}
	})
}

// Nobody answers over two rounds: six steps, then the alarm is unanswered
// and the community duty contact is told by SMS; the outcome is a visit.
func TestAllUnansweredTwoRounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.raise("01ALARM6", anxin.SeverityCritical) // unscripted numbers: no-answer after 20s
		settle(time.Hour)
		var want []line
		for i, p := range []string{phone1, phone2, phone3, phone1, phone2, phone3} {
			d := time.Duration(i) * 20 * time.Second
			want = append(want, at(d, "sms", p), at(d, "call", p))
		}
		want = append(want, at(2*time.Minute, "sms", phone3)) // duty
		e.expect(time.Second, want...)
		if duty := e.timeline("sms")[6].ev.Body; !strings.Contains(duty, "无人接收") {
			t.Fatalf("duty SMS %q", duty)
		}
		c := e.chain("01ALARM6")
		if c.State != anxin.ChainUnanswered || !c.Finished {
			t.Fatalf("chain %+v", c)
		}
		if a, _ := e.alarms.Alarm(t.Context(), "01ALARM6"); a.State != anxin.AlarmUnanswered {
			t.Fatalf("alarm %+v", a)
		}
		needs, _, _, _ := e.visit("01ALARM6")
		if !strings.HasPrefix(needs, "无人接收：共6步、2轮") {
			t.Fatalf("visit %q", needs)
		}
	})
}

// After an unanswered chain the duty contact's link still accepts: the alarm
// becomes accepted, the family is told who took it, and a second outcome
// visit records it.
func TestDutyContactAcceptsAfterUnanswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *escalate.Config) { c.Rounds = 1 })
		e.raise("01ALARMH", anxin.SeverityCritical)
		settle(10 * time.Minute)
		sms := e.timeline("sms")
		duty := sms[len(sms)-1]
		m := ackLink.FindStringSubmatch(duty.ev.Body)
		if duty.to != phone3 || !strings.Contains(duty.ev.Body, "无人接收") || m == nil {
			t.Fatalf("duty SMS %+v", duty)
		}
		if code, page := e.do(http.MethodGet, m[1]); code != 200 || !strings.Contains(page, "无人接收") || !strings.Contains(page, "<form") {
			t.Fatalf("GET %d %s", code, page)
		}
		if code, _ := e.do(http.MethodPost, m[1]); code != 200 {
			t.Fatalf("POST %d", code)
		}
		settle(time.Minute)
		e.expect(time.Second,
			at(0, "sms", phone1), at(0, "call", phone1),
			at(20*time.Second, "sms", phone2), at(20*time.Second, "call", phone2),
			at(40*time.Second, "sms", phone3), at(40*time.Second, "call", phone3),
			at(time.Minute, "sms", phone3),                                       // duty
			at(10*time.Minute, "sms", phone1), at(10*time.Minute, "sms", phone2), // 王芳 took it
		)
		c := e.chain("01ALARMH")
		if c.State != anxin.ChainAccepted || c.AcceptedBy != "王芳" || !c.Finished {
			t.Fatalf("chain %+v", c)
		}
		if a, _ := e.alarms.Alarm(t.Context(), "01ALARMH"); a.State != anxin.AlarmAccepted || a.AcceptedBy != "王芳" {
			t.Fatalf("alarm %+v", a)
		}
		vs, err := e.db.Visits(t.Context(), sqlite.VisitFilter{AlarmID: "01ALARMH"})
		if err != nil || len(vs) != 2 {
			t.Fatalf("%d visits, %v", len(vs), err)
		}
		needs := vs[0].Needs + " | " + vs[1].Needs
		if !strings.Contains(needs, "无人接收：共3步、1轮") ||
			!strings.Contains(needs, "王*（网格员）10分0秒后通过短信链接接收处理，此前全链无人接收") {
			t.Fatalf("visits: %s", needs)
		}
	})
}
