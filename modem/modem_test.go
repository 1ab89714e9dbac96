package modem_test

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/aliyun"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/modem"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/twilio"
)

func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(15 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

// spy records replies and call reports.
type spy struct {
	replies chan string
	reports chan anxin.StatusReport
	answer  string // what LocalReply asks to send back
}

func newSpy() *spy {
	return &spy{replies: make(chan string, 10), reports: make(chan anxin.StatusReport, 10)}
}

func (s *spy) LocalReply(_ context.Context, from, body string) (string, error) {
	s.replies <- from + " " + body
	return s.answer, nil
}

func (s *spy) Report(_ context.Context, r anxin.StatusReport) error {
	s.reports <- r
	return nil
}

func (s *spy) Press(context.Context, string, string, string) (anxin.KeyPress, error) {
	return anxin.KeyPress{}, nil
}

func (s *spy) Reply(context.Context, string, string) (string, error) { return "", nil }

func open(t *testing.T, f *fakeModem, r modem.Replies, rep anxin.DeliveryReports) *modem.Modem {
	t.Helper()
	m, err := modem.Open(modem.Config{Port: f.tty, Timeout: 5 * time.Second, RingFor: time.Hour}, r, rep, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// A long Chinese SMS goes out in PDU mode as UCS-2 parts that reassemble
// into the same text.
func TestSendsLongChineseSMS(t *testing.T) {
	f := newFakeModem(t)
	s := newSpy()
	m := open(t, f, s, s)
	body := strings.Repeat("张桂兰家按下了呼叫按钮，请尽快联系。", 5) // 90 characters: two UCS-2 parts
	pid, retry, err := m.Send(context.Background(), anxin.Notification{AttemptID: "01A/s0/sms@modem", To: "+8613900000001", Channel: anxin.ChannelSMS, Body: body})
	if err != nil || retry || pid != "01A/s0/sms@modem" {
		t.Fatalf("send: %q %v %v", pid, retry, err)
	}
	if got := within(t, f.sms, "the SMS"); got != "+8613900000001 "+body {
		t.Fatalf("modem got %q (%d characters)", got, utf8.RuneCountInString(got))
	}
}

// Replies that come in on the SIM reach LocalReply with the sender in E.164.
func TestIncomingReply(t *testing.T) {
	f := newFakeModem(t)
	s := newSpy()
	open(t, f, s, s)
	for _, text := range []string{"1", "好", "收到"} {
		f.deliver("+8613900000001", text)
		if got := within(t, s.replies, "the reply"); got != "+8613900000001 "+text {
			t.Fatalf("reply %q", got)
		}
	}
}

// A reply the escalation answers (it fits several alarms) is answered by
// SMS to its sender, from the SIM it came in on.
func TestIncomingReplyAnswered(t *testing.T) {
	f := newFakeModem(t)
	s := newSpy()
	s.answer = "【安心】您有2个告警待确认，短信回复分不清是哪一个"
	open(t, f, s, s)
	f.deliver("+8613900000001", "1")
	within(t, s.replies, "the reply")
	if got := within(t, f.sms, "the answer"); got != "+8613900000001 "+s.answer {
		t.Fatalf("modem sent %q", got)
	}
}

// A dial rings; BUSY ends the call as busy, NO CARRIER as completed (an
// answered ring is not an acceptance).
func TestDialProgress(t *testing.T) {
	f := newFakeModem(t)
	s := newSpy()
	m := open(t, f, s, s)
	for _, tc := range []struct{ ind, want string }{{"BUSY", "busy"}, {"NO CARRIER", "completed"}, {"NO ANSWER", "no-answer"}} {
		id := "01A/s0/voice@modem-" + tc.want
		if _, _, err := m.Send(context.Background(), anxin.Notification{AttemptID: id, To: "+8613900000001", Channel: anxin.ChannelVoice, Body: "x"}); err != nil {
			t.Fatal(err)
		}
		if n := within(t, f.dialed, "the dial"); n != "+8613900000001" {
			t.Fatalf("dialled %q", n)
		}
		if r := within(t, s.reports, "ringing"); r.Status != "ringing" || r.AttemptID != id {
			t.Fatalf("report %+v", r)
		}
		f.indicate(tc.ind)
		if r := within(t, s.reports, tc.ind); r.Status != tc.want || r.AttemptID != id {
			t.Fatalf("after %s: %+v", tc.ind, r)
		}
	}
}

// BUSY as ATD's own answer: the call was made and is over (busy), no error.
func TestDialAnsweredBusy(t *testing.T) {
	f := newFakeModem(t)
	s := newSpy()
	m := open(t, f, s, s)
	f.setDial("BUSY")
	pid, _, err := m.Send(context.Background(), anxin.Notification{AttemptID: "01A/s0/voice@modem", To: "+8613900000001", Channel: anxin.ChannelVoice, Body: "x"})
	if err != nil || pid != "01A/s0/voice@modem" {
		t.Fatalf("send: %q %v", pid, err)
	}
	if r := within(t, s.reports, "busy"); r.Status != "busy" {
		t.Fatalf("report %+v", r)
	}
	f.setDial("OK")
	if _, _, err := m.Send(context.Background(), anxin.Notification{AttemptID: "01B/s0/voice@modem", To: "+8613900000001", Channel: anxin.ChannelVoice, Body: "x"}); err != nil {
		t.Fatalf("the next dial: %v", err)
	}
}

type households map[string]anxin.Household

func (h households) Household(_ context.Context, id string) (anxin.Household, error) {
	if x, ok := h[id]; ok {
		return x, nil
	}
	return anxin.Household{}, anxin.Errorf(anxin.ENOTFOUND, "no household")
}

type alarms struct {
	mu sync.Mutex
	m  map[string]anxin.Alarm
}

func (a *alarms) Alarm(_ context.Context, id string) (anxin.Alarm, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	x, ok := a.m[id]
	if !ok {
		return x, anxin.Errorf(anxin.ENOTFOUND, "no alarm")
	}
	return x, nil
}

func (a *alarms) SetAlarmState(_ context.Context, id string, st anxin.AlarmState, by string, _ time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	x := a.m[id]
	x.State, x.AcceptedBy = st, by
	a.m[id] = x
	return nil
}

func (a *alarms) AlarmsAwaitingChain(context.Context, int, bool) ([]anxin.Alarm, error) {
	return nil, nil
}

var hh = anxin.Household{ID: "hh-0001", Elder: anxin.Elder{Name: "张桂兰", Address: "善广乡幸福村3组"},
	Contacts: []anxin.Contact{
		{Name: "李明", Relation: "child", Phone: "+8613900000001"},
		{Name: "李华", Relation: "child", Phone: "+8613900000002"},
	}}

// replyHook passes replies to the service and signals each one handled.
type replyHook struct {
	svc  *escalate.Service
	done chan struct{}
}

func (r *replyHook) LocalReply(ctx context.Context, from, body string) (string, error) {
	defer func() { r.done <- struct{}{} }()
	return r.svc.LocalReply(ctx, from, body)
}

// deadAddr is a loopback address nobody listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	return l.Addr().String()
}

// Internet down: Aliyun and Twilio both unreachable. Every step of the
// chain still goes out by the modem (SMS and call, contact after contact;
// step 1's call ends NO ANSWER), and the second contact's SMS reply "1" on
// the modem's SIM, from a +86 number, accepts the alarm.
func TestInternetDownModemCarriesTheChain(t *testing.T) {
	f := newFakeModem(t)
	dead := deadAddr(t)
	ali, err := aliyun.New(aliyun.Config{AccessKeyID: "k", AccessKeySecret: "s", SignName: "安心守护", SMSTemplate: "SMS_1",
		TTSTemplate: "TTS_1", CalledShowNumber: "057100000000", SMSEndpoint: dead, VoiceEndpoint: dead, Protocol: "http", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tw, err := twilio.New(twilio.Config{AccountSID: "AC00000000000000000000000000000000", AuthToken: "token0", From: "+15005550006",
		PublicURL: "https://alarm.example.org", APIBaseURL: "http://" + dead})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	hook := &replyHook{done: make(chan struct{}, 10)}
	var svc *escalate.Service
	m := open(t, f, hook, reportsOf(func() anxin.DeliveryReports { return svc }))
	now := time.Now()
	al := &alarms{m: map[string]anxin.Alarm{"01NET": {ID: "01NET", Household: hh.ID, Rule: "button", Device: "btn1",
		Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, State: anxin.AlarmOpen, OpenedAt: now, UpdatedAt: now,
		Cause: anxin.Cause{Code: anxin.CauseButton, Device: anxin.KindCallButton, At: now}}}}
	sms := []escalate.Route{{Provider: "aliyun", Notifier: ali}, {Provider: "twilio", Notifier: tw}, {Provider: "modem", Notifier: m}}
	voice := []escalate.Route{{Provider: "aliyun", Notifier: ali}, {Provider: "twilio", Notifier: tw}, {Provider: "modem", Notifier: m}}
	svc, err = escalate.New(escalate.Options{
		Config: escalate.Config{PublicURL: "https://alarm.example.org", AckSecret: []byte("0123456789abcdef0123456789abcdef"),
			AckTimeout: 2 * time.Second, Rounds: 1, SMSReplies: true, RetryMin: 10 * time.Millisecond, RetryMax: 10 * time.Millisecond, RouteTries: 1},
		Store: db, Alarms: al, Households: households{hh.ID: hh}, Visits: db,
		Routes: map[anxin.Channel][]escalate.Route{anxin.ChannelSMS: sms, anxin.ChannelVoice: voice},
	})
	if err != nil {
		t.Fatal(err)
	}
	hook.svc = svc
	t.Cleanup(func() { _ = svc.Close() })
	if err := svc.Escalate(context.Background(), al.m["01NET"]); err != nil {
		t.Fatal(err)
	}
	for _, phone := range []string{"+8613900000001", "+8613900000002"} { // step 2 after step 1's ack timeout
		if got := within(t, f.sms, "a step's SMS by modem"); !strings.HasPrefix(got, phone+" ") || !strings.Contains(got, "呼叫") {
			t.Fatalf("modem SMS %q, want one to %s", got, phone)
		}
		if got := within(t, f.dialed, "a step's call by modem"); got != phone {
			t.Fatalf("modem dialled %q, want %s", got, phone)
		}
		if phone == "+8613900000001" {
			f.indicate("NO ANSWER") // step 1's call ends: step 2 at once
		}
	}
	f.deliver("+8613900000002", "1")
	within(t, hook.done, "the reply to be handled")
	c, err := db.Chain(context.Background(), "01NET")
	if err != nil || c.AcceptedBy != "李华" || c.AcceptedVia != escalate.ViaSMSReply {
		t.Fatalf("chain %+v %v", c, err)
	}
	for _, id := range []string{"01NET/s0/sms@aliyun", "01NET/s0/sms@twilio", "01NET/s0/sms@modem"} {
		if a, err := db.Attempt(context.Background(), id); err != nil || (id != "01NET/s0/sms@modem") != (a.Status == anxin.AttemptFailed) {
			t.Fatalf("attempt %s: %+v %v", id, a, err)
		}
	}
}

// reportsOf defers to a DeliveryReports built after the modem.
type reportsOf func() anxin.DeliveryReports

func (r reportsOf) Report(ctx context.Context, s anxin.StatusReport) error { return r().Report(ctx, s) }
func (r reportsOf) Press(ctx context.Context, a, p, d string) (anxin.KeyPress, error) {
	return r().Press(ctx, a, p, d)
}
func (r reportsOf) Reply(ctx context.Context, from, body string) (string, error) {
	return r().Reply(ctx, from, body)
}

// One line, two alarms: the second alarm's dial hangs up the first alarm's
// call while it still rings. That call was cut by us, not left unanswered:
// reported no-answer, it ended the first chain's step at once, whose next
// step's dial then cut the second chain's call the same way, and two
// alarms at once (smoke and gas in one kitchen) raced each other through
// their chains in seconds. It ends as a call that rang and ended without a
// key (completed), which leaves the step to its ack timeout.
func TestDialOfAnotherAlarmDoesNotEndTheRingingCallsStep(t *testing.T) {
	f := newFakeModem(t)
	s := newSpy()
	m := open(t, f, s, s)
	x := anxin.Notification{AttemptID: "01X/s0/voice@modem", To: "+8613900000001", Channel: anxin.ChannelVoice, Body: "x"}
	if _, _, err := m.Send(context.Background(), x); err != nil {
		t.Fatal(err)
	}
	within(t, f.dialed, "the first dial")
	if r := within(t, s.reports, "ringing"); r.Status != "ringing" || r.AttemptID != x.AttemptID {
		t.Fatalf("report %+v", r)
	}
	y := anxin.Notification{AttemptID: "01Y/s0/voice@modem", To: "+8613900000009", Channel: anxin.ChannelVoice, Body: "y"}
	if _, _, err := m.Send(context.Background(), y); err != nil {
		t.Fatal(err)
	}
	r := within(t, s.reports, "the first call's end")
	if r.AttemptID != x.AttemptID || r.Status != "completed" {
		t.Fatalf("the first alarm's call, hung up for the second's dial, was reported %+v; want completed (its step waits its ack timeout)", r)
	}
	if r := within(t, s.reports, "the second call ringing"); r.Status != "ringing" || r.AttemptID != y.AttemptID {
		t.Fatalf("report %+v", r)
	}
}

// TestCutShortSMSIsCompletedWithItsLink: a two-part step SMS whose second
// part the network refused left the contact with the first part — the
// alarm without the link, which comes last — and the step's SMS failed.
// Now the send is completed with a one-part SMS carrying the link.
func TestCutShortSMSIsCompletedWithItsLink(t *testing.T) {
	f := newFakeModem(t)
	f.failAt = 2
	s := newSpy()
	m := open(t, f, s, s)
	link := "https://alarm.example.org/ack/Ab3dE6gH9k"
	body := strings.Repeat("张桂兰家按下了呼叫按钮，请尽快联系。", 3) + "由您处理请点：" + link // two UCS-2 parts
	rest := "【安心】告警短信未发全，由您处理请点：" + link
	pid, _, err := m.Send(context.Background(), anxin.Notification{AttemptID: "01A/s0/sms@modem", To: "+8613900000001",
		Channel: anxin.ChannelSMS, Body: body, AckURL: link, Rest: rest})
	if err != nil || pid != "01A/s0/sms@modem" {
		t.Fatalf("send with its second part refused: %q %v, want sent (completed by the link)", pid, err)
	}
	if got := within(t, f.sms, "the SMS with the link"); got != "+8613900000001 "+rest {
		t.Fatalf("modem got %q", got)
	}
}
