package escalate_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// TestLateAcceptanceIsToldWhoTookIt: a contact who replies 1 after another
// contact took the alarm (they were in a meeting, the "taken" notice is
// unread or lost) was answered nothing and believed they had taken it.
// Now they are told who did, once; the chain stays with whoever took it.
func TestLateAcceptanceIsToldWhoTookIt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		two := abroad
		two.Contacts = []anxin.Contact{
			{Name: "陈刚", Relation: "child", Phone: "+14155550101"},
			{Name: "陈丽", Relation: "child", Phone: "+14155550102"},
		}
		e := newEnvWith(t, households{two.ID: two})
		e.fake.Script("+14155550101", twiliotest.Script{Call: twiliotest.Ring})
		e.fake.Script("+14155550102", twiliotest.Script{Call: twiliotest.Ring})
		reply := e.smsReplies(t, "L")
		e.raiseIn(two.ID, "01ALARML", anxin.SeverityCritical)
		settle(4 * time.Minute) // 陈刚's step timed out; 陈丽's SMS is out
		reply("+14155550102", "1")
		if c := e.chain("01ALARML"); c.State != anxin.ChainAccepted || c.AcceptedBy != "陈丽" {
			t.Fatalf("陈丽's reply 1: chain %s accepted by %q", c.State, c.AcceptedBy)
		}
		settle(10 * time.Minute) // notices sent, visit written: the chain is finished

		answer := reply("+14155550101", "1")
		if !strings.Contains(answer, "<Message>") || !strings.Contains(answer, "已由陈丽接手") {
			t.Fatalf("a late reply 1 was not told who took the alarm:\n%s", answer)
		}
		if c := e.chain("01ALARML"); c.AcceptedBy != "陈丽" {
			t.Fatalf("the late reply changed who took the alarm: %q", c.AcceptedBy)
		}
		if again := reply("+14155550101", "1"); strings.Contains(again, "<Message>") {
			t.Fatalf("a second late reply within the hour was answered again (an auto-responder would loop):\n%s", again)
		}
		if other := reply("+14155550199", "1"); strings.Contains(other, "<Message>") {
			t.Fatalf("a number the alarm never reached was answered:\n%s", other)
		}
		if log := e.logs.String(); strings.Contains(log, "+14155550101") || strings.Contains(log, "陈丽") {
			t.Fatal("a number or a name is in the log")
		}
	})
}

// TestSMSAcceptanceAfterAnUnansweredChainCounts: after a chain ran out
// unanswered (and finished: duty notices sent, the outcome recorded), a
// contact's ack link still takes the alarm; their reply 1 was ignored
// (only unfinished chains were searched), so the person on their way was
// not recorded as such. Now it counts as the link does.
func TestSMSAcceptanceAfterAnUnansweredChainCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := unansweredAbroad(t, "01ALARMN")
		reply := e.smsReplies(t, "U")
		reply("+14155550101", "1")
		settle(time.Minute)
		if c := e.chain("01ALARMN"); c.State != anxin.ChainAccepted || c.AcceptedBy != "陈刚" || c.AcceptedVia != escalate.ViaSMSReply || !c.Finished {
			t.Fatalf("reply 1 after an unanswered chain: %s accepted by %q via %q, finished %v", c.State, c.AcceptedBy, c.AcceptedVia, c.Finished)
		}
		if a, _ := e.alarms.Alarm(t.Context(), "01ALARMN"); a.State != anxin.AlarmAccepted {
			t.Fatalf("the alarm after the late acceptance: %s", a.State)
		}
	})
}

// TestUnansweredVisitCountsOnlyCallsPlaced: the visit record of an
// unanswered alarm said "呼叫6次" when no call was ever placed (the
// provider refused every call: a voice account not enabled): it counted
// the attempts stored, not the calls made. The programme's ledger reads
// this record. The duty staff's SMS said "已呼叫6次无人确认" too (it
// counted the chain's steps): they read it as a family called six times.
func TestUnansweredVisitCountsOnlyCallsPlaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		for range 20 {
			e.fake.Fault("call", twiliotest.Fault{Status: 400})
		}
		e.raise("01ALARMV", anxin.SeverityCritical)
		settle(2 * time.Hour)
		if c := e.chain("01ALARMV"); c.State != anxin.ChainUnanswered || !c.Finished {
			t.Fatalf("chain %s finished %v", c.State, c.Finished)
		}
		needs, _, _, _ := e.visit("01ALARMV")
		if !strings.Contains(needs, "呼叫0次") {
			t.Fatalf("the visit of an alarm whose calls were all refused: %q, want 呼叫0次", needs)
		}
		var duty string
		for _, l := range e.timeline("sms") {
			if strings.Contains(l.ev.Body, "无人接收") {
				duty = l.ev.Body
			}
		}
		if !strings.Contains(duty, "已呼叫0次") {
			t.Fatalf("the duty SMS of an alarm whose calls were all refused: %q, want 已呼叫0次\n%s", duty, e.dump())
		}
	})
}

// TestSMSAcceptanceOfAResolvedUnansweredAlarmIsNotAFailure: a reply 1 to
// an unanswered chain whose alarm was closed meanwhile (staff closed it, or
// the device cleared, before Resolve reached the chain: its hand-over
// queued or lost) takes nothing — accept refuses it as over. That refusal
// is the answer, not a failure of the webhook: answered 500, Twilio would
// be asked to retry a request that can only fail the same way, and the
// on-call log would say an inbound SMS was lost.
func TestSMSAcceptanceOfAResolvedUnansweredAlarmIsNotAFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, a := unansweredAbroad(t, "01ALARMR")
		reply := e.smsReplies(t, "R")
		a.State = anxin.AlarmResolved // closed; Resolve has not reached the chain
		e.alarms.put(a)
		reply("+14155550101", "1") // fails the test on a non-200
		if c := e.chain("01ALARMR"); c.State == anxin.ChainAccepted {
			t.Fatalf("a resolved alarm was taken by a late reply: %+v", c)
		}
	})
}

// TestUnansweredVisitOfAHomeWithoutDutyContact: the record of an
// unanswered alarm said "已通知社区值班人员" for a household that has no
// community duty contact, when nobody at all had been told.
func TestUnansweredVisitOfAHomeWithoutDutyContact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, _ := unansweredAbroad(t, "01ALARMD") // contacts only, no community staff
		needs, _, _, _ := e.visit("01ALARMD")
		if strings.Contains(needs, "已通知社区值班人员") || !strings.Contains(needs, "没有社区值班人员") {
			t.Fatalf("the visit of an unanswered alarm with nobody on duty: %q", needs)
		}
	})
}

// unansweredAbroad raises alarm id in the abroad household, whose one
// contact's calls ring unanswered, and lets its chain run out unanswered
// and finish (duty notices sent, the outcome recorded).
func unansweredAbroad(t *testing.T, id string) (*env, anxin.Alarm) {
	t.Helper()
	e := newEnvWith(t, households{abroad.ID: abroad})
	e.fake.Script("+14155550101", twiliotest.Script{Call: twiliotest.Ring})
	a := e.raiseIn(abroad.ID, id, anxin.SeverityCritical)
	settle(time.Hour)
	if c := e.chain(id); c.State != anxin.ChainUnanswered || !c.Finished {
		t.Fatalf("chain %s finished %v, want unanswered and finished", c.State, c.Finished)
	}
	return e, a
}

// TestReplyDuringAStoreFailureAsksToReplyAgain: a contact's "1" that
// alarmd could not record (the store busy) was lost without a word — the
// Twilio webhook answered 500, which Twilio does not send again by
// default, and the modem answered nothing — and the contact believed the
// alarm taken. They are asked to reply again; the next "1" takes it.
func TestReplyDuringAStoreFailureAsksToReplyAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnvWith(t, households{abroad.ID: abroad})
		e.fake.Script(abroad.Contacts[0].Phone, twiliotest.Script{Call: twiliotest.Ring})
		reply := e.smsReplies(t, "F")
		e.raiseIn(abroad.ID, "01ALARMF", anxin.SeverityCritical)
		settle(time.Second)

		e.unreadable.Store(true)
		if answer := reply(abroad.Contacts[0].Phone, "1"); !strings.Contains(answer, "系统繁忙，您的回复未能处理") {
			t.Fatalf("a reply the store refused (Twilio) was not asked to come again:\n%s", answer)
		}
		// another sender (one sender is asked once an hour, whatever the channel)
		if answer, err := e.svc.LocalReply(context.Background(), "+8613800000009", "1"); err == nil || !strings.Contains(answer, "请稍后再回复1") {
			t.Fatalf("a reply the store refused (modem): answer %q, err %v; want the ask to reply again and the error", answer, err)
		}
		if c := e.chain("01ALARMF"); c.State != anxin.ChainWalking {
			t.Fatalf("chain %s after replies that were not recorded", c.State)
		}
		e.unreadable.Store(false)
		reply(abroad.Contacts[0].Phone, "1")
		if c := e.chain("01ALARMF"); c.State != anxin.ChainAccepted {
			t.Fatalf("the reply sent again: chain %s", c.State)
		}
	})
}

// TestReplyFailedAnsweredOncePerSender: while the store fails, every SMS
// the modem's SIM receives fails — the carrier's 10086 notices, spam, an
// auto-responder — and each was answered "system busy, reply 1 again".
// A sender that answers every SMS (10086 answers an unknown text with its
// menu) looped with alarmd for as long as the store was down, one SMS
// each way per turn, on the SIM that carries the alarms. The ask to reply
// again goes to a sender once an hour, as the "how to accept" answer does.
func TestReplyFailedAnsweredOncePerSender(t *testing.T) {
	for _, via := range []struct {
		name, auto string // the channel; a sender that answers every SMS
		reply      func(*escalate.Service, context.Context, string, string) (string, error)
	}{{"modem", "+8610086", (*escalate.Service).LocalReply}, {"twilio", "+14155550199", (*escalate.Service).Reply}} {
		t.Run(via.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnvWith(t, households{abroad.ID: abroad})
				e.unreadable.Store(true)
				ctx := context.Background()
				for i, want := range []bool{true, false, false} {
					answer, err := via.reply(e.svc, ctx, via.auto, "您发送的指令有误，请回复 0 查看菜单")
					if err == nil || strings.Contains(answer, "请稍后再回复1") != want {
						t.Fatalf("failed reply %d from one sender: answer %q, err %v; want the ask to reply again: %v", i+1, answer, err, want)
					}
				}
				if answer, _ := via.reply(e.svc, ctx, abroad.Contacts[0].Phone, "1"); !strings.Contains(answer, "请稍后再回复1") {
					t.Fatalf("another sender's failed reply: answer %q", answer)
				}
				time.Sleep(time.Hour) // synctest: the fake clock
				if answer, _ := via.reply(e.svc, ctx, via.auto, "x"); !strings.Contains(answer, "请稍后再回复1") {
					t.Fatalf("an hour later: answer %q", answer)
				}
			})
		})
	}
}
