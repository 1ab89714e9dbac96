package aliyun_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/aliyun"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/sqlite"
)

const pathSecret = "s3cr3t-path-0123456789"

func newNotifier(t *testing.T, f *fakeAliyun) *aliyun.Notifier {
	t.Helper()
	n, err := aliyun.New(aliyun.Config{
		AccessKeyID: keyID, AccessKeySecret: keySecret, SignName: "安心守护", SMSTemplate: "SMS_0001",
		TTSTemplate: "TTS_0001", CalledShowNumber: "057100000000",
		SMSEndpoint: f.endpoint(), VoiceEndpoint: f.endpoint(), Protocol: "http", Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The SMS request is signed (v1), names the action, the signature name and
// template, carries the words as TemplateParam JSON and our attempt id as
// OutId; the number goes without +86.
func TestSendSMSRequestShape(t *testing.T) {
	f := newFakeAliyun(t)
	n := newNotifier(t, f)
	pid, retry, err := n.Send(context.Background(), anxin.Notification{AttemptID: "01A/s0/sms@aliyun", To: "+8613900000001",
		Channel: anxin.ChannelSMS, Body: "【安心】张*兰家按下了呼叫按钮"})
	if err != nil || retry || pid != "biz-01A/s0/sms@aliyun" {
		t.Fatalf("send: %q %v %v", pid, retry, err)
	}
	p := <-f.sent
	var tp map[string]string
	_ = json.Unmarshal([]byte(p.Get("TemplateParam")), &tp)
	if p.Get("Action") != "SendSms" || p.Get("PhoneNumbers") != "13900000001" || p.Get("SignName") != "安心守护" ||
		p.Get("TemplateCode") != "SMS_0001" || p.Get("OutId") != "01A/s0/sms@aliyun" || tp["text"] != "【安心】张*兰家按下了呼叫按钮" {
		t.Fatalf("request %v", p)
	}
}

// A 503 is retryable and certainly not sent; a refused connection too.
func TestSendErrors(t *testing.T) {
	f := newFakeAliyun(t)
	n := newNotifier(t, f)
	f.setDown(true)
	_, retry, err := n.Send(context.Background(), anxin.Notification{AttemptID: "x", To: "+8613900000001", Channel: anxin.ChannelSMS, Body: "t"})
	if err == nil || !retry || errors.Is(err, anxin.ErrMaybeSent) {
		t.Fatalf("503: retry=%v err=%v", retry, err)
	}
	if strings.Contains(err.Error(), keySecret) {
		t.Fatalf("secret in error %v", err)
	}
	f.srv.Close()
	_, retry, err = n.Send(context.Background(), anxin.Notification{AttemptID: "x", To: "+8613900000001", Channel: anxin.ChannelSMS, Body: "t"})
	if err == nil || !retry {
		t.Fatalf("refused: retry=%v err=%v", retry, err)
	}
}

// A request signed with the wrong secret is refused for the account's sake
// (ErrAccount, retry false): the same notice goes once the key is mended.
// A provider outage is not the account's fault. Neither error quotes the
// secret.
func TestWrongKeyIsAccountFault(t *testing.T) {
	f := newFakeAliyun(t)
	bad, err := aliyun.New(aliyun.Config{
		AccessKeyID: keyID, AccessKeySecret: "not-the-secret-0000", SignName: "安心守护", SMSTemplate: "SMS_0001",
		TTSTemplate: "TTS_0001", CalledShowNumber: "057100000000",
		SMSEndpoint: f.endpoint(), VoiceEndpoint: f.endpoint(), Protocol: "http", Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []anxin.Channel{anxin.ChannelSMS, anxin.ChannelVoice} {
		_, retry, err := bad.Send(context.Background(), anxin.Notification{AttemptID: "x", To: "+8613900000001", Channel: ch, Body: "t",
			Params: map[string]string{"what": "t"}})
		if err == nil || retry || !errors.Is(err, anxin.ErrAccount) || strings.Contains(err.Error(), "not-the-secret") {
			t.Fatalf("%s with a wrong key: retry=%v err=%v", ch, retry, err)
		}
	}
	f.setDown(true)
	_, _, err = newNotifier(t, f).Send(context.Background(), anxin.Notification{AttemptID: "x", To: "+8613900000001", Channel: anxin.ChannelSMS, Body: "t"})
	if err == nil || errors.Is(err, anxin.ErrAccount) {
		t.Fatalf("503 taken for the account's fault: %v", err)
	}
}

// A number Aliyun refuses (isv.MOBILE_NUMBER_ILLEGAL) is the number's
// fault, not the provider's or the account's (ErrNumber, retry false):
// escalate does not count it toward marking Aliyun down.
func TestIllegalNumberIsTheNumbersFault(t *testing.T) {
	f := newFakeAliyun(t)
	f.mu.Lock()
	f.refuse = map[string]string{"057100000001": "isv.MOBILE_NUMBER_ILLEGAL"}
	f.mu.Unlock()
	n := newNotifier(t, f)
	for _, ch := range []anxin.Channel{anxin.ChannelSMS, anxin.ChannelVoice} {
		_, retry, err := n.Send(context.Background(), anxin.Notification{AttemptID: "x", To: "+86057100000001", Channel: ch, Body: "t",
			Params: map[string]string{"what": "t"}})
		if err == nil || retry || !errors.Is(err, anxin.ErrNumber) || errors.Is(err, anxin.ErrAccount) {
			t.Fatalf("%s to a refused number: retry=%v err=%v", ch, retry, err)
		}
	}
}

// A request that gets no answer may have gone through; its error names
// neither the number nor the key (the SDK's error holds the request URL).
func TestTimeoutIsMaybeSentAndMasked(t *testing.T) {
	f := newFakeAliyun(t)
	f.mu.Lock()
	f.hang = true
	f.mu.Unlock()
	n, err := aliyun.New(aliyun.Config{AccessKeyID: keyID, AccessKeySecret: keySecret, SignName: "安心守护", SMSTemplate: "SMS_0001",
		SMSEndpoint: f.endpoint(), Protocol: "http", Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, retry, err := n.Send(context.Background(), anxin.Notification{AttemptID: "x", To: "+8613900000001", Channel: anxin.ChannelSMS, Body: "t"})
	if err == nil || !retry || !errors.Is(err, anxin.ErrMaybeSent) {
		t.Fatalf("timeout: retry=%v err=%v", retry, err)
	}
	for _, secret := range []string{"13900000001", keyID, keySecret, "Signature"} {
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error %q holds %q", err, secret)
		}
	}
}

// reportsSpy records what the webhooks pass on.
type reportsSpy struct {
	mu      sync.Mutex
	reports []anxin.StatusReport
	presses []string
}

func (s *reportsSpy) Report(_ context.Context, r anxin.StatusReport) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports = append(s.reports, r)
	return nil
}

func (s *reportsSpy) Press(_ context.Context, attemptID, providerID, digits string) (anxin.KeyPress, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.presses = append(s.presses, attemptID+" "+providerID+" "+digits)
	return anxin.KeyPress{Accepted: true}, nil
}

func (s *reportsSpy) Reply(context.Context, string, string) (string, error) { return "", nil }

func push(t *testing.T, mux http.Handler, path, body string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("POST", path, strings.NewReader(body)))
	return rec.Code
}

func hooks(t *testing.T, n *aliyun.Notifier, r anxin.DeliveryReports) *http.ServeMux {
	t.Helper()
	h, err := aliyun.NewWebhooks(pathSecret, r, n.Confirm, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Mount(mux)
	return mux
}

// The same report pushed twice has one effect; a wrong path secret is 404.
func TestDuplicatedReportHasNoEffect(t *testing.T) {
	f := newFakeAliyun(t)
	spy := &reportsSpy{}
	mux := hooks(t, newNotifier(t, f), spy)
	body := `[{"phone_number":"13900000001","success":true,"err_code":"DELIVERED","biz_id":"biz-1","out_id":"01A/s0/sms@aliyun"}]`
	for range 2 {
		if code := push(t, mux, "/aliyun/"+pathSecret+"/sms_report", body); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if len(spy.reports) != 1 || spy.reports[0].Status != "delivered" || spy.reports[0].AttemptID != "01A/s0/sms@aliyun" {
		t.Fatalf("reports %+v", spy.reports)
	}
	if code := push(t, mux, "/aliyun/wrong-secret-0000000000/sms_report", body); code != 404 {
		t.Fatalf("wrong secret: %d", code)
	}
	if code := push(t, mux, "/aliyun/"+pathSecret+"/sms_report", `{"not":"an array"}`); code != 400 {
		t.Fatalf("bad body: %d", code)
	}
}

// A key press report that Aliyun cannot confirm (a call it never placed, or
// one without the key) accepts nothing; a confirmed one does.
func TestForgedReportCannotAccept(t *testing.T) {
	f := newFakeAliyun(t)
	n := newNotifier(t, f)
	spy := &reportsSpy{}
	mux := hooks(t, n, spy)
	forged := `[{"call_id":"call-forged","status_code":"200000","out_id":"01A/s0/voice@aliyun","dtmf":"1"}]`
	push(t, mux, "/aliyun/"+pathSecret+"/voice_call_report", forged)
	if len(spy.presses) != 0 {
		t.Fatalf("forged press passed: %v", spy.presses)
	}
	pid, _, err := n.Send(context.Background(), anxin.Notification{AttemptID: "01A/s0/voice@aliyun", To: "+8613900000001", Channel: anxin.ChannelVoice, Body: "请按1"})
	if err != nil {
		t.Fatal(err)
	}
	<-f.sent
	real := `[{"call_id":"` + pid + `","status_code":"200000","out_id":"01A/s0/voice@aliyun","dtmf":"1"}]`
	// answered but no key yet at Aliyun: cannot tell, so an error answer
	// makes Aliyun push the report again (it is not taken as handled)
	if code := push(t, mux, "/aliyun/"+pathSecret+"/voice_call_report", real); code < 500 || len(spy.presses) != 0 {
		t.Fatalf("unconfirmed press: %d %v", code, spy.presses)
	}
	f.answer(pid, "1")
	push(t, mux, "/aliyun/"+pathSecret+"/voice_call_report", real) // the same report, pushed again
	if len(spy.presses) != 1 || spy.presses[0] != "01A/s0/voice@aliyun "+pid+" 1" {
		t.Fatalf("presses %v", spy.presses)
	}
}

// households of the escalation tests.
type households map[string]anxin.Household

func (h households) Household(_ context.Context, id string) (anxin.Household, error) {
	if x, ok := h[id]; ok {
		return x, nil
	}
	return anxin.Household{}, anxin.Errorf(anxin.ENOTFOUND, "no household %s", id)
}

type alarmsOne struct {
	mu sync.Mutex
	a  anxin.Alarm
}

func (a *alarmsOne) Alarm(_ context.Context, id string) (anxin.Alarm, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if id != a.a.ID {
		return anxin.Alarm{}, anxin.Errorf(anxin.ENOTFOUND, "no alarm")
	}
	return a.a, nil
}

func (a *alarmsOne) SetAlarmState(_ context.Context, _ string, st anxin.AlarmState, by string, _ time.Time) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.a.State, a.a.AcceptedBy = st, by
	return nil
}

func (a *alarmsOne) AlarmsAwaitingChain(context.Context, int, bool) ([]anxin.Alarm, error) {
	return nil, nil
}

// backup is the route after Aliyun: it signals every send.
type backup struct {
	escalate.LogNotifier
	sent chan anxin.Notification
}

func (b *backup) Send(ctx context.Context, n anxin.Notification) (string, bool, error) {
	b.sent <- n
	return b.LogNotifier.Send(ctx, n)
}

var hh = anxin.Household{ID: "hh-0001",
	Elder:    anxin.Elder{Name: "张桂兰", Address: "善广乡幸福村3组"},
	Contacts: []anxin.Contact{{Name: "李明", Relation: "child", Phone: "+8613900000001"}}}

func newChain(t *testing.T, f *fakeAliyun) (*escalate.Service, *sqlite.DB, *backup, *http.ServeMux) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	n := newNotifier(t, f)
	b := &backup{LogNotifier: escalate.LogNotifier{Logger: slog.New(slog.DiscardHandler)}, sent: make(chan anxin.Notification, 10)}
	rs := []escalate.Route{{Provider: "aliyun", Notifier: n}, {Provider: "backup", Notifier: b}}
	now := time.Now()
	al := &alarmsOne{a: anxin.Alarm{ID: "01ALIYUN", Household: hh.ID, Rule: "button", Device: "btn1", Severity: anxin.SeverityCritical,
		Route: anxin.RouteFamily, State: anxin.AlarmOpen, OpenedAt: now, UpdatedAt: now,
		Cause: anxin.Cause{Code: anxin.CauseButton, Device: anxin.KindCallButton, At: now}}}
	svc, err := escalate.New(escalate.Options{
		Config: escalate.Config{PublicURL: "https://alarm.example.org", AckSecret: []byte("0123456789abcdef0123456789abcdef"),
			RetryMin: 10 * time.Millisecond, RetryMax: 10 * time.Millisecond, RouteTries: 2},
		Store: db, Alarms: al, Households: households{hh.ID: hh}, Visits: db,
		Routes: map[anxin.Channel][]escalate.Route{anxin.ChannelSMS: rs, anxin.ChannelVoice: rs},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	if err := svc.Escalate(context.Background(), al.a); err != nil {
		t.Fatal(err)
	}
	return svc, db, b, hooks(t, n, svc)
}

// End to end: the alarm's SMS and call go out by Aliyun; the call's report
// with key 1, confirmed by Aliyun, accepts the alarm.
func TestAliyunKeyPressAccepts(t *testing.T) {
	f := newFakeAliyun(t)
	_, db, _, mux := newChain(t, f)
	var callID string
	for range 2 {
		p := <-f.sent
		if p.Get("Action") == "SingleCallByTts" {
			callID = "call-" + p.Get("OutId")
			continue
		}
		// the template's variables are the step's words, from package words
		var tp map[string]string
		if err := json.Unmarshal([]byte(p.Get("TemplateParam")), &tp); err != nil || tp["name"] != "张桂兰" ||
			tp["where"] != "善广乡幸福村3组" || !strings.Contains(tp["what"], "按下了呼叫按钮") ||
			!strings.HasPrefix(tp["link"], "https://alarm.example.org/ack/") {
			t.Fatalf("TemplateParam %q", p.Get("TemplateParam"))
		}
	}
	f.answer(callID, "1")
	report := `[{"call_id":"` + callID + `","status_code":"200000","out_id":"01ALIYUN/s0/voice@aliyun","dtmf":"1"}]`
	if code := push(t, mux, "/aliyun/"+pathSecret+"/voice_call_report", report); code != 200 {
		t.Fatalf("report %d", code)
	}
	c, err := db.Chain(context.Background(), "01ALIYUN")
	if err != nil || c.State != anxin.ChainAccepted || c.AcceptedBy != "李明" || c.AcceptedVia != escalate.ViaKeyPress {
		t.Fatalf("chain %+v %v", c, err)
	}
}

// Aliyun down (503 on every request): after its tries, each of the step's
// SMS and call goes out on the next route, once.
func TestAliyunDownNextRouteSends(t *testing.T) {
	f := newFakeAliyun(t)
	f.setDown(true)
	_, db, b, _ := newChain(t, f)
	got := map[string]bool{}
	for range 2 {
		select {
		case n := <-b.sent:
			got[n.AttemptID] = true
		case <-time.After(30 * time.Second):
			t.Fatalf("backup got %v", got)
		}
	}
	if !got["01ALIYUN/s0/sms@backup"] || !got["01ALIYUN/s0/voice@backup"] {
		t.Fatalf("backup got %v", got)
	}
	a, err := db.Attempt(context.Background(), "01ALIYUN/s0/sms@aliyun")
	if err != nil || a.Status != anxin.AttemptFailed || a.Tries != 2 {
		t.Fatalf("aliyun attempt %+v %v", a, err)
	}
	// once: each backup attempt was tried once, and nothing more was sent
	for _, id := range []string{"01ALIYUN/s0/sms@backup", "01ALIYUN/s0/voice@backup"} {
		if a, err := db.Attempt(context.Background(), id); err != nil || a.Tries != 1 {
			t.Fatalf("backup attempt %+v %v", a, err)
		}
	}
	select {
	case n := <-b.sent:
		t.Fatalf("a third send on the backup route: %s", n.AttemptID)
	default:
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
