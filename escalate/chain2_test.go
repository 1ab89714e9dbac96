package escalate_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

var ackLink = regexp.MustCompile(`https://alarm\.example\.org(/ack/[A-Za-z0-9_\-.]+)`)

// firstLink is the path of the ack link in the first SMS sent (step 0's).
func (e *env) firstLink() string {
	e.t.Helper()
	sms := e.timeline("sms")
	if len(sms) == 0 {
		e.t.Fatalf("no SMS sent:\n%s", e.dump())
	}
	m := ackLink.FindStringSubmatch(sms[0].ev.Body)
	if m == nil {
		e.t.Fatalf("no ack link in step 0's SMS %q:\n%s", sms[0].ev.Body, e.dump())
	}
	return m[1]
}

// ringingLink raises a critical alarm id whose call to phone1 rings on
// unanswered and returns the path of step 0's ack link, ten seconds in.
func (e *env) ringingLink(id string) string {
	e.t.Helper()
	e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Ring})
	e.raise(id, anxin.SeverityCritical)
	settle(10 * time.Second)
	return e.firstLink()
}

func (e *env) do(method, path string) (int, string) {
	req := httptest.NewRequest(method, path, nil)
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// Timeline: SMS and call to contact 1 at t=0; the call rings; at 40s the
// contact opens the link (GET: a page with a button), at 50s presses it
// (POST) → accepted by link, the ringing call is canceled.
func TestAckLinkAccepts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Ring})
		e.raise("01ALARM7", anxin.SeverityCritical)
		settle(40 * time.Second)
		link := e.firstLink()
		code, page := e.do(http.MethodGet, link)
		if code != 200 || !strings.Contains(page, `<form method="post">`) || !strings.Contains(page, "按下了呼叫按钮") || !strings.Contains(page, `href="tel:&#43;8613800000000"`) {
			t.Fatalf("GET %d %s", code, page)
		}
		if c := e.chain("01ALARM7"); c.State != anxin.ChainWalking {
			t.Fatalf("GET changed the chain: %+v", c)
		}
		settle(10 * time.Second)
		code, page = e.do(http.MethodPost, link)
		if code != 200 || !strings.Contains(page, "已确认") {
			t.Fatalf("POST %d %s", code, page)
		}
		settle(time.Minute)
		e.expect(time.Second, at(0, "sms", phone1), at(0, "call", phone1), at(50*time.Second, "cancel", phone1))
		c := e.chain("01ALARM7")
		if c.State != anxin.ChainAccepted || c.AcceptedVia != "ack_link" || c.AcceptedBy != "李明" || !c.Finished {
			t.Fatalf("chain %+v", c)
		}
		as, _ := e.db.Attempts(t.Context(), "01ALARM7")
		if as[1].Status != "canceled" {
			t.Fatalf("call attempt %+v", as[1])
		}
		// a second POST changes nothing; the page says who holds it
		code, page = e.do(http.MethodPost, link)
		if code != 200 || !strings.Contains(page, "已确认") {
			t.Fatalf("second POST %d %s", code, page)
		}
		// a forged token and an expired one
		if code, _ := e.do(http.MethodGet, link[:len(link)-2]+"AA"); code != 404 {
			t.Fatalf("forged token: %d", code)
		}
		settle(25 * time.Hour)
		if code, page := e.do(http.MethodGet, link); code != 410 || !strings.Contains(page, "过期") {
			t.Fatalf("expired token: %d %s", code, page)
		}
	})
}

// 429 on the first SMS, 500 on the first call: both retried after backoff;
// nothing is sent twice.
func TestRetryAfter429And500(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Press, After: 20 * time.Second})
		e.fake.Fault("sms", twiliotest.Fault{Status: 429})
		e.fake.Fault("call", twiliotest.Fault{Status: 500})
		e.fake.Fault("call", twiliotest.Fault{Status: 503})
		e.raise("01ALARM8", anxin.SeverityCritical)
		settle(5 * time.Minute)
		e.expect(0,
			at(0, "sms", phone1), at(0, "call", phone1), // 429, 500
			at(time.Second, "sms", phone1), at(time.Second, "call", phone1), // 201, 503
			at(3*time.Second, "call", phone1), // 201 after 2s backoff
		)
		st := []int{}
		for _, l := range e.timeline("sms", "call") {
			st = append(st, l.ev.Status)
		}
		if want := []int{429, 500, 201, 503, 201}; !equalInts(st, want) {
			t.Fatalf("statuses %v, want %v", st, want)
		}
		as, _ := e.db.Attempts(t.Context(), "01ALARM8")
		if as[0].Tries != 2 || as[1].Tries != 3 {
			t.Fatalf("attempts %+v", as)
		}
		if c := e.chain("01ALARM8"); c.State != anxin.ChainAccepted {
			t.Fatalf("chain %+v", c)
		}
	})
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The SMS request reaches Twilio but its response is lost (a reset): the
// outcome is unknown, so the message is looked up, found, and not re-sent.
func TestLostResponseIsLookedUpNotResent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// look up before Twilio's first status callback (at 1s) tells us anyway
		e := newEnv(t, func(c *escalate.Config) { c.RetryMin = 500 * time.Millisecond })
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Ring})
		e.fake.Fault("sms", twiliotest.Fault{Drop: true})
		e.fake.Fault("call", twiliotest.Fault{Drop: true})
		e.raise("01ALARM9", anxin.SeverityCritical)
		settle(30 * time.Second)
		e.expect(0, at(0, "sms", phone1), at(0, "call", phone1))
		if n := len(e.timeline("list-sms")); n != 1 {
			t.Fatalf("%d message lookups, want 1", n)
		}
		if n := len(e.timeline("list-call")); n != 1 {
			t.Fatalf("%d call lookups, want 1", n)
		}
		as, _ := e.db.Attempts(t.Context(), "01ALARM9")
		if as[0].ProviderID != e.timeline("sms")[0].ev.Sid || as[1].ProviderID != e.timeline("call")[0].ev.Sid {
			t.Fatalf("attempts %+v", as)
		}
	})
}

// A warning (no water used) rings the elder first: a call only, with words
// for the elder; the chain follows when the elder does not answer.
func TestWarningRingsElderFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phoneElder, twiliotest.Script{Call: twiliotest.NoAnswer, After: 30 * time.Second})
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Press, After: 10 * time.Second})
		e.raise("01ALARMA", anxin.SeverityWarning)
		settle(10 * time.Minute)
		e.expect(time.Second, at(0, "call", phoneElder), at(30*time.Second, "sms", phone1), at(30*time.Second, "call", phone1))
		if tw := e.timeline("call")[0].ev.Body; !strings.Contains(tw, "如果您平安") {
			t.Fatalf("elder's call %q", tw)
		}
		if c := e.chain("01ALARMA"); c.AcceptedBy != "李明" || len(c.Steps) != 7 {
			t.Fatalf("chain %+v", c)
		}
	})
}

// Info and installer alarms are not escalated to family.
func TestInfoAndInstallerNotEscalated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.raise("01ALARMB", anxin.SeverityInfo)
		a := anxin.Alarm{ID: "01ALARMC", Household: household.ID, Severity: anxin.SeverityCritical, Route: anxin.RouteInstaller}
		if err := e.svc.Escalate(t.Context(), a); err != nil {
			t.Fatal(err)
		}
		settle(time.Hour)
		if n := len(e.fake.Events()); n != 0 {
			t.Fatalf("%d requests for info/installer alarms", n)
		}
		if _, err := e.db.Chain(t.Context(), "01ALARMB"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
			t.Fatalf("chain for an info alarm: %v", err)
		}
	})
}

// Escalate twice (alarmd does so at start-up for open alarms): one chain.
// Resolve stops it, ends the ringing call, and the contact already told
// hears that the alarm is over.
func TestEscalateIdempotentAndResolve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Ring})
		a := e.raise("01ALARMD", anxin.SeverityCritical)
		settle(10 * time.Second)
		if err := e.svc.Escalate(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		settle(10 * time.Second)
		if err := e.svc.Resolve(context.Background(), a.ID, "smoke_clear"); err != nil {
			t.Fatal(err)
		}
		settle(time.Hour)
		e.expect(0, at(0, "sms", phone1), at(0, "call", phone1), at(20*time.Second, "cancel", phone1), at(20*time.Second, "sms", phone1))
		if c := e.chain(a.ID); c.State != anxin.ChainResolved || !c.Finished {
			t.Fatalf("chain %+v", c)
		}
		over := e.timeline("sms")[1].ev.Body
		if !strings.Contains(over, "已结束，无需再确认") || !strings.Contains(over, "张桂兰") || asciiWord.MatchString(over) {
			t.Fatalf("the closed notice: %s", over)
		}
	})
}

func (e *env) do2(req *http.Request) (int, string) {
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// Contact 1 is on the phone (answered, no key yet) and accepts by the link
// instead: the call is hung up (completed), not canceled.
func TestAckLinkDuringAnsweredCallHangsUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Silent, After: 5 * time.Second})
		e.raise("01ALARME", anxin.SeverityCritical)
		settle(10 * time.Second)
		link := e.firstLink()
		if code, _ := e.do(http.MethodPost, link); code != 200 {
			t.Fatalf("POST %d", code)
		}
		settle(time.Minute)
		e.expect(0, at(0, "sms", phone1), at(0, "call", phone1), at(10*time.Second, "cancel", phone1))
		if c := e.timeline("cancel")[0]; c.ev.Body != "completed" {
			t.Fatalf("the answered call was ended with %q, want completed", c.ev.Body)
		}
	})
}

// Another key than 1 is not acceptance: the call says the alarm again.
func TestOtherDigitIsNotAcceptance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Press, Digits: "5", After: 5 * time.Second})
		e.fake.Script(phone2, twiliotest.Script{Call: twiliotest.Ring})
		e.raise("01ALARMF", anxin.SeverityCritical)
		settle(time.Minute)
		r := e.timeline("reply-twiml")
		if len(r) != 1 || !strings.Contains(r[0].ev.Body, `<Gather input="dtmf" numDigits="1"`) || !strings.Contains(r[0].ev.Body, "按1") {
			t.Fatalf("reply to 5: %+v", r)
		}
		if c := e.chain("01ALARMF"); c.State != anxin.ChainWalking {
			t.Fatalf("chain %+v", c)
		}
	})
}

// alarmd died right after writing step 1's rows and stayed down past the
// step's deadline: on start the chain looks the unsent requests up (to record
// that they never went out) and goes straight on to step 2.
func TestRestartAfterDeadlinePassed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		now := time.Now()
		a := anxin.Alarm{ID: "01ALARMG", Household: household.ID, Rule: "button", Severity: anxin.SeverityCritical,
			Route: anxin.RouteFamily, State: anxin.AlarmOpen, Reason: "一键呼叫按钮被按下", OpenedAt: now.Add(-10 * time.Minute)}
		c := anxin.Chain{AlarmID: a.ID, Household: household.ID, Severity: a.Severity, State: anxin.ChainWalking,
			Targets: []anxin.ChainTarget{{Name: "李明", Phone: phone1, Relation: "child"}, {Name: "李华", Phone: phone2, Relation: "child"}},
			Steps:   []int{0, 1}, StartedAt: a.OpenedAt, UpdatedAt: a.OpenedAt, Deadline: a.OpenedAt.Add(3 * time.Minute)}
		// the chain before the alarm: the outbox sweep newEnv's Start began
		// may still be reading, and must not find an open alarm without a
		// chain (it would start a fresh one in its place)
		if created, err := e.db.CreateChain(t.Context(), &c); err != nil || !created {
			t.Fatalf("chain created %v: %v", created, err)
		}
		e.alarms.put(a)
		for _, ch := range []anxin.Channel{anxin.ChannelSMS, anxin.ChannelVoice} {
			row := anxin.Attempt{ID: a.ID + "/s0/" + string(ch), AlarmID: a.ID, Purpose: anxin.PurposeStep, Channel: ch,
				Provider: "twilio", Status: anxin.AttemptSending, Tries: 1, CreatedAt: a.OpenedAt, UpdatedAt: a.OpenedAt}
			if _, err := e.db.CreateAttempt(t.Context(), &row); err != nil {
				t.Fatal(err)
			}
		}
		e.fake.Script(phone2, twiliotest.Script{Call: twiliotest.Ring})
		if err := e.svc.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		settle(time.Second)
		e.expect(0, at(0, "sms", phone2), at(0, "call", phone2))
		if n, m := len(e.timeline("list-sms")), len(e.timeline("list-call")); n != 1 || m != 1 {
			t.Fatalf("lookups: %d messages, %d calls", n, m)
		}
		as, _ := e.db.Attempts(t.Context(), a.ID)
		for _, x := range as[:2] {
			if x.Status != anxin.AttemptFailed || !strings.HasPrefix(x.Error, "not sent: step over") {
				t.Fatalf("step 1 attempt %+v", x)
			}
		}
		if got := e.chain(a.ID); got.Step != 1 || !got.Deadline.Equal(now.Add(3*time.Minute)) {
			t.Fatalf("chain %+v", got)
		}
	})
}

// Twilio posts each call event in its own request, so a "ringing" may come
// after "in-progress": it must not undo the answer, or the acceptor's
// answered call would be "canceled" (which Twilio ignores) instead of hung up.
func TestLateRingingDoesNotUndoAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Silent, After: 5 * time.Second})
		e.raise("01ALARMI", anxin.SeverityCritical)
		settle(10 * time.Second)
		as, _ := e.db.Attempts(t.Context(), "01ALARMI")
		call := as[1]
		if call.Channel != anxin.ChannelVoice || call.Status != "in-progress" {
			t.Fatalf("call attempt %+v", call)
		}
		if err := e.svc.Report(t.Context(), anxin.StatusReport{AttemptID: call.ID, ProviderID: call.ProviderID,
			Channel: anxin.ChannelVoice, Status: "ringing"}); err != nil {
			t.Fatal(err)
		}
		if a, _ := e.db.Attempt(t.Context(), call.ID); a.Status != "in-progress" {
			t.Fatalf("a late ringing moved the call back to %q", a.Status)
		}
		link := e.firstLink()
		if code, _ := e.do(http.MethodPost, link); code != 200 {
			t.Fatalf("POST %d", code)
		}
		settle(time.Minute)
		if c := e.timeline("cancel"); len(c) != 1 || c[0].ev.Body != "completed" {
			t.Fatalf("the answered call was ended with %+v, want one completed", c)
		}
	})
}
