package escalate_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// A warning rings the elder first, and the elder answers and presses 1 ("如果
// 您平安，请按1"): the elder is safe. The chain goes no further — no SMS or
// call to anyone else, ever, and nobody to tell — the alarm is accepted by
// the elder and the outcome visit says the elder answered.
func TestElderAcceptsWarning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phoneElder, twiliotest.Script{Call: twiliotest.Press, After: 10 * time.Second})
		e.raise("01ALARMJ", anxin.SeverityWarning)
		settle(time.Hour)

		e.expect(0, at(0, "call", phoneElder))
		if tw := e.timeline("call")[0].ev.Body; !strings.Contains(tw, "如果您平安，请按1") {
			t.Fatalf("elder's call %q", tw)
		}
		c := e.chain("01ALARMJ")
		if c.State != anxin.ChainAccepted || c.AcceptedBy != "张桂兰" || c.AcceptedVia != "key_press" || c.Step != 0 || !c.Finished {
			t.Fatalf("chain %+v", c)
		}
		if got := c.AcceptedAt.Sub(e.t0); got != 15*time.Second {
			t.Fatalf("accepted after %v, want 15s", got)
		}
		if a, _ := e.alarms.Alarm(t.Context(), "01ALARMJ"); a.State != anxin.AlarmAccepted || a.AcceptedBy != "张桂兰" {
			t.Fatalf("alarm %+v", a)
		}
		as, err := e.db.Attempts(t.Context(), "01ALARMJ")
		if err != nil {
			t.Fatal(err)
		}
		if len(as) != 1 || as[0].ID != "01ALARMJ/s0/voice" || as[0].Status != "completed" {
			t.Fatalf("attempts %+v, want the elder's call only", as)
		}
		var reply string
		for _, ev := range e.fake.Events() {
			if ev.Kind == "reply-twiml" {
				reply = ev.Body
			}
		}
		if !strings.Contains(reply, "平安") || strings.Contains(reply, "其他联系人") {
			t.Fatalf("the elder heard %q, want to be told they are known to be safe (nobody else was rung)", reply)
		}
		needs, _, date, due := e.visit("01ALARMJ")
		if needs != "老人本人15秒后按1确认平安，未呼叫联系人" || due.Sub(date) != 24*time.Hour {
			t.Fatalf("visit needs=%q date=%v due=%v", needs, date, due)
		}
	})
}

// On the final step of the last round a person answers and hangs up without
// a key: that is not acceptance and does not end the step early (the link
// still works until the ack timeout). At the step's deadline the chain is
// unanswered and the community duty contact is told.
func TestSilentHangUpOnLastStepIsUnanswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		// phone1, phone2: no answer after 20s; phone3 (the grid worker, last
		// in the chain) answers at 10s and hangs up at 30s, pressing nothing
		e.fake.Script(phone3, twiliotest.Script{Call: twiliotest.Silent, After: 10 * time.Second})
		e.raise("01ALARMK", anxin.SeverityCritical)

		last := 40*time.Second + 3*time.Minute + 40*time.Second // round 2's phone3 step begins
		settle(last + time.Minute)                              // the call was answered and hung up 30s into the step
		as, err := e.db.Attempts(t.Context(), "01ALARMK")
		if err != nil {
			t.Fatal(err)
		}
		call := as[len(as)-1]
		if call.ID != "01ALARMK/s5/voice" || call.Status != "completed" || call.AnsweredBy != "human" {
			t.Fatalf("last call %+v", call)
		}
		if c := e.chain("01ALARMK"); c.State != anxin.ChainWalking || c.Step != 5 {
			t.Fatalf("the hang-up ended the last step early: %+v", c)
		}

		settle(time.Hour)
		e.expect(time.Second,
			at(0, "sms", phone1), at(0, "call", phone1),
			at(20*time.Second, "sms", phone2), at(20*time.Second, "call", phone2),
			at(40*time.Second, "sms", phone3), at(40*time.Second, "call", phone3), // silent: waits the full 3m
			at(last-40*time.Second, "sms", phone1), at(last-40*time.Second, "call", phone1),
			at(last-20*time.Second, "sms", phone2), at(last-20*time.Second, "call", phone2),
			at(last, "sms", phone3), at(last, "call", phone3),
			at(last+3*time.Minute, "sms", phone3), // duty: nobody accepted
		)
		if duty := e.timeline("sms")[6].ev.Body; !strings.Contains(duty, "无人接收") || !strings.Contains(duty, "/ack/") {
			t.Fatalf("duty SMS %q", duty)
		}
		c := e.chain("01ALARMK")
		if c.State != anxin.ChainUnanswered || !c.Finished || c.AcceptedBy != "" {
			t.Fatalf("chain %+v", c)
		}
		if a, _ := e.alarms.Alarm(t.Context(), "01ALARMK"); a.State != anxin.AlarmUnanswered {
			t.Fatalf("alarm %+v", a)
		}
		needs, _, date, _ := e.visit("01ALARMK")
		if needs != "无人接收：共6步、2轮（呼叫6次）无人确认，已通知社区值班人员" ||
			date.Sub(e.t0) != last+3*time.Minute {
			t.Fatalf("visit %q at %v", needs, date.Sub(e.t0))
		}
	})
}
