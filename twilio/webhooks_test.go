package twilio_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/metrics"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/twilio"
	"github.com/anxin-care/anxin/twilio/twiliotest"
	"github.com/anxin-care/anxin/words"
	"github.com/twilio/twilio-go/client"
)

const publicURL = "https://alarm.example.org"

// reports counts what reaches escalation.
type reports struct {
	mu      sync.Mutex
	status  []anxin.StatusReport
	presses []string
	replies []string
	answer  string // what Reply asks to send back
	fail    int    // the next n reports fail
	failSMS int    // the next n replies fail
	// failAnswers: what each failing reply comes with (escalate's ask to
	// reply again, or "" once the sender was asked within the hour)
	failAnswers []string
}

func (r *reports) Report(_ context.Context, s anxin.StatusReport) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		return errors.New("store busy")
	}
	r.status = append(r.status, s)
	return nil
}

func (r *reports) Press(_ context.Context, attempt, sid, digits string) (anxin.KeyPress, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.presses = append(r.presses, attempt+"|"+sid+"|"+digits)
	if digits == "1" {
		return anxin.KeyPress{Accepted: true, AcceptedBy: "李明"}, nil
	}
	return anxin.KeyPress{Prompt: "请按1"}, nil
}

func (r *reports) Reply(_ context.Context, from, body string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replies = append(r.replies, from+"|"+body)
	if r.failSMS > 0 {
		r.failSMS--
		answer := ""
		if len(r.failAnswers) > 0 {
			answer, r.failAnswers = r.failAnswers[0], r.failAnswers[1:]
		}
		return answer, errors.New("store busy")
	}
	return r.answer, nil
}

func serve(h http.Handler, req *http.Request) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

func newMux(r *reports) *http.ServeMux {
	mux := http.NewServeMux()
	twilio.NewWebhooks(twiliotest.AuthToken, publicURL, r, nil).Mount(mux)
	return mux
}

// Our signature agrees with twilio-go's own validator.
func TestSignatureMatchesTwilioGo(t *testing.T) {
	u := publicURL + "/twilio/status?attempt=01ABC%2Fs0%2Fvoice"
	v := url.Values{"CallSid": {"CA123"}, "CallStatus": {"ringing"}, "To": {"+8613900000001"}, "Digits": {"1"}}
	params := map[string]string{}
	for k := range v {
		params[k] = v.Get(k)
	}
	sig := twilio.Signature([]byte(twiliotest.AuthToken), u, v)
	rv := client.NewRequestValidator(twiliotest.AuthToken)
	if !rv.Validate(u, params, sig) {
		t.Fatalf("twilio-go rejects our signature %s", sig)
	}
}

func TestForgedWebhooksAre403(t *testing.T) {
	r := &reports{}
	mux := newMux(r)
	v := url.Values{"CallSid": {"CA1"}, "CallStatus": {"completed"}, "To": {"+8613900000001"}}
	target := publicURL + "/twilio/status?attempt=A%2Fs0%2Fvoice"
	cases := map[string]*http.Request{
		"no signature": func() *http.Request {
			q := twiliotest.SignedRequest(target, v, twiliotest.AuthToken)
			q.Header.Del("X-Twilio-Signature")
			return q
		}(),
		"wrong token": twiliotest.SignedRequest(target, v, "someoneelsestoken0123456789abcdef"),
		"other url": func() *http.Request { // signed for another attempt
			q := twiliotest.SignedRequest(target, v, twiliotest.AuthToken)
			q.Header.Set("X-Twilio-Signature", twilio.Signature([]byte(twiliotest.AuthToken), strings.Replace(target, "A%2Fs0", "B%2Fs0", 1), v))
			return q
		}(),
		"changed param": func() *http.Request { return twiliotest.SignedRequest(target, v, twiliotest.AuthToken) }(),
	}
	// change a parameter after signing
	cr := cases["changed param"]
	v2 := url.Values{"CallSid": {"CA1"}, "CallStatus": {"in-progress"}, "To": {"+8613900000001"}}
	forged := httptest.NewRequest(http.MethodPost, cr.URL.RequestURI(), strings.NewReader(v2.Encode()))
	forged.Header = cr.Header.Clone()
	cases["changed param"] = forged
	for name, req := range cases {
		for _, path := range []string{"/twilio/status", "/twilio/gather", "/twilio/sms"} {
			q := req.Clone(context.Background())
			body, _ := io.ReadAll(req.Body)
			req.Body = io.NopCloser(strings.NewReader(string(body)))
			q.Body = io.NopCloser(strings.NewReader(string(body)))
			q.URL.Path = path
			q.RequestURI = strings.Replace(q.RequestURI, "/twilio/status", path, 1)
			if code, _ := serve(mux, q); code != http.StatusForbidden {
				t.Errorf("%s on %s: %d, want 403", name, path, code)
			}
		}
	}
	if len(r.status)+len(r.presses)+len(r.replies) != 0 {
		t.Fatalf("forged requests reached escalation: %+v", r)
	}
}

func TestReplayedWebhooksHaveNoSecondEffect(t *testing.T) {
	r := &reports{}
	mux := newMux(r)
	status := url.Values{"CallSid": {"CA1"}, "CallStatus": {"no-answer"}, "To": {"+8613900000001"}}
	gather := url.Values{"CallSid": {"CA1"}, "Digits": {"1"}, "To": {"+8613900000001"}}
	for range 3 {
		if code, _ := serve(mux, twiliotest.SignedRequest(publicURL+"/twilio/status?attempt=A%2Fs0%2Fvoice", status, twiliotest.AuthToken)); code != 204 {
			t.Fatalf("status: %d", code)
		}
		code, body := serve(mux, twiliotest.SignedRequest(publicURL+"/twilio/gather?attempt=A%2Fs0%2Fvoice", gather, twiliotest.AuthToken))
		if code != 200 || !strings.Contains(body, "<Hangup/>") {
			t.Fatalf("gather: %d %s", code, body)
		}
	}
	if len(r.status) != 1 || len(r.presses) != 1 {
		t.Fatalf("replays reached escalation: %d reports, %d presses", len(r.status), len(r.presses))
	}
	if s := r.status[0]; s.AttemptID != "A/s0/voice" || s.ProviderID != "CA1" || s.Status != "no-answer" || s.Channel != anxin.ChannelVoice {
		t.Fatalf("report %+v", s)
	}
	// a later, different status of the same call is not a replay
	status.Set("CallStatus", "completed")
	serve(mux, twiliotest.SignedRequest(publicURL+"/twilio/status?attempt=A%2Fs0%2Fvoice", status, twiliotest.AuthToken))
	if len(r.status) != 2 {
		t.Fatalf("a new status was taken for a replay")
	}
}

// Another key than 1 says the alarm again once, then ends politely.
func TestGatherOtherDigitRepromptsOnce(t *testing.T) {
	r := &reports{}
	mux := newMux(r)
	v := url.Values{"CallSid": {"CA9"}, "Digits": {"5"}}
	code, body := serve(mux, twiliotest.SignedRequest(publicURL+"/twilio/gather?attempt=A%2Fs0%2Fvoice", v, twiliotest.AuthToken))
	if code != 200 || !strings.Contains(body, `<Gather input="dtmf" numDigits="1"`) || !strings.Contains(body, "again=1") || !strings.Contains(body, "请按1") {
		t.Fatalf("reprompt: %s", body)
	}
	v.Set("Digits", "7")
	_, body = serve(mux, twiliotest.SignedRequest(publicURL+"/twilio/gather?attempt=A%2Fs0%2Fvoice&again=1", v, twiliotest.AuthToken))
	if strings.Contains(body, "<Gather") || !strings.Contains(body, "<Hangup/>") {
		t.Fatalf("second wrong key: %s", body)
	}
}

func TestInboundSMSAndMessageStatus(t *testing.T) {
	r := &reports{}
	mux := newMux(r)
	code, body := serve(mux, twiliotest.SignedRequest(publicURL+"/twilio/sms", url.Values{"From": {"+14155550100"}, "Body": {"OK"}, "MessageSid": {"SM1"}}, twiliotest.AuthToken))
	if code != 200 || !strings.Contains(body, "<Response/>") || len(r.replies) != 1 || r.replies[0] != "+14155550100|OK" {
		t.Fatalf("inbound: %d %s %v", code, body, r.replies)
	}
	serve(mux, twiliotest.SignedRequest(publicURL+"/twilio/status?attempt=A%2Fs0%2Fsms", url.Values{"MessageSid": {"SM2"}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}}, twiliotest.AuthToken))
	if s := r.status[0]; s.Channel != anxin.ChannelSMS || s.Status != "undelivered" || s.ErrorCode != "30003" || s.ProviderID != "SM2" {
		t.Fatalf("message status %+v", s)
	}
}

// A reply the escalation answers (it fits several alarms) is answered in
// the webhook's response, as the SMS Twilio sends back, XML-escaped.
func TestInboundSMSAnswered(t *testing.T) {
	r := &reports{answer: "【安心】您有2个告警待确认：张桂兰：https://a.example/ack/x?a=1&b=<2>"}
	mux := newMux(r)
	code, body := serve(mux, twiliotest.SignedRequest(publicURL+"/twilio/sms", url.Values{"From": {"+14155550100"}, "Body": {"1"}, "MessageSid": {"SM9"}}, twiliotest.AuthToken))
	want := "<Response><Message>【安心】您有2个告警待确认：张桂兰：https://a.example/ack/x?a=1&amp;b=&lt;2&gt;</Message></Response>"
	if code != 200 || !strings.Contains(body, want) {
		t.Fatalf("answer: %d %s", code, body)
	}
}

// Twilio may sign the URL with the default port spelled out.
func TestSignatureWithDefaultPort(t *testing.T) {
	r := &reports{}
	mux := newMux(r)
	v := url.Values{"MessageSid": {"SM3"}, "MessageStatus": {"sent"}}
	req := twiliotest.SignedRequest(publicURL+"/twilio/status?attempt=A%2Fs1%2Fsms", v, twiliotest.AuthToken)
	req.Header.Set("X-Twilio-Signature", twilio.Signature([]byte(twiliotest.AuthToken), "https://alarm.example.org:443/twilio/status?attempt=A%2Fs1%2Fsms", v))
	if code, _ := serve(mux, req); code != 204 {
		t.Fatalf("port 443 form: %d", code)
	}
}

func FuzzWebhookForm(f *testing.F) {
	f.Add("CallSid=CA1&CallStatus=ringing", "attempt=A%2Fs0%2Fvoice", "sig")
	f.Add("Digits=1&CallSid=CA1&CallSid=CA2", "attempt=", "")
	f.Add("%zz=1&a", "again=1&attempt=x", "AAAA")
	r := &reports{}
	mux := newMux(r)
	f.Fuzz(func(t *testing.T, form, query, sig string) {
		for _, path := range []string{"/twilio/status", "/twilio/gather", "/twilio/sms"} {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form))
			req.URL.Path, req.URL.RawQuery = path, query
			req.RequestURI = req.URL.RequestURI()
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Twilio-Signature", sig)
			code, _ := serve(mux, req)
			if code != 403 && code != 400 {
				// only a valid signature passes; a random one must not
				vals, err := url.ParseQuery(form)
				if err != nil || sig != twilio.Signature([]byte(twiliotest.AuthToken), publicURL+req.RequestURI, vals) {
					t.Fatalf("unsigned request answered %d", code)
				}
			}
			// signing it properly makes it pass the check
			if vals, err := url.ParseQuery(form); err == nil {
				req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(form))
				req.URL.Path, req.URL.RawQuery = path, query
				req.RequestURI = req.URL.RequestURI()
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-Twilio-Signature", twilio.Signature([]byte(twiliotest.AuthToken), publicURL+req.RequestURI, vals))
				if code, _ := serve(mux, req); code == 403 {
					t.Fatalf("signed request rejected: form %q query %q", form, query)
				}
			}
		}
	})
}

// replayStore is a store's replay memory as the tests see it: shared by the
// Webhooks before and after a "restart".
type replayStore struct {
	mu   sync.Mutex
	keys map[string]time.Time
}

func (s *replayStore) NoteWebhook(_ context.Context, key string, at time.Time, window time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.keys[key]; ok && t.After(at.Add(-window)) {
		return true, nil
	}
	s.keys[key] = at
	return false, nil
}

func (s *replayStore) ForgetWebhook(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, key)
	return nil
}

func (s *replayStore) ForgetWebhooksBefore(_ context.Context, t time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for k, at := range s.keys {
		if at.Before(t) {
			delete(s.keys, k)
			n++
		}
	}
	return n, nil
}

type syncBuf = testenv.SyncBuffer

// The replay memory is the store's: a webhook handled before a restart is
// a replay after it — answered (204, or TwiML that hangs up) without reaching
// escalation, counted, and logged in one line without a number. The key is
// a hash (no number, no token); the window ends it; a trim drops it.
func TestReplayMemorySurvivesRestart(t *testing.T) {
	store := &replayStore{keys: map[string]time.Time{}}
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	gather := url.Values{"CallSid": {"CA1"}, "Digits": {"1"}, "To": {"+8613900000001"}}
	status := url.Values{"CallSid": {"CA1"}, "CallStatus": {"completed"}, "To": {"+8613900000001"}}
	sms := url.Values{"From": {"+14155550100"}, "Body": {"OK"}, "MessageSid": {"SM1"}}
	send := func(mux *http.ServeMux) (g, st, sm int, gatherReply string) {
		g, gatherReply = serve(mux, twiliotest.SignedRequest(publicURL+"/twilio/gather?attempt=A%2Fs0%2Fvoice", gather, twiliotest.AuthToken))
		st, _ = serve(mux, twiliotest.SignedRequest(publicURL+"/twilio/status?attempt=A%2Fs0%2Fvoice", status, twiliotest.AuthToken))
		sm, _ = serve(mux, twiliotest.SignedRequest(publicURL+"/twilio/sms", sms, twiliotest.AuthToken))
		return
	}
	r := &reports{}
	first := http.NewServeMux()
	twilio.NewWebhooks(twiliotest.AuthToken, publicURL, r, nil, twilio.WithReplayStore(store, 0), twilio.WithClock(clock)).Mount(first)
	if g, st, sm, _ := send(first); g != 200 || st != 204 || sm != 200 {
		t.Fatalf("first delivery: %d %d %d", g, st, sm)
	}
	if len(r.presses) != 1 || len(r.status) != 1 || len(r.replies) != 1 {
		t.Fatalf("first delivery reached escalation: %+v", r)
	}
	for k := range store.keys {
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(k) {
			t.Fatalf("replay key %q is not a bare hash", k)
		}
	}

	// "restart": new handlers, same store
	now = now.Add(time.Hour)
	logs := &syncBuf{}
	reg := metrics.NewRegistry()
	w := twilio.NewWebhooks(twiliotest.AuthToken, publicURL, r, slog.New(slog.NewJSONHandler(logs, nil)),
		twilio.WithReplayStore(store, 0), twilio.WithClock(clock))
	if err := w.Register(reg); err != nil {
		t.Fatal(err)
	}
	second := http.NewServeMux()
	w.Mount(second)
	g, st, sm, reply := send(second)
	if g != 200 || !strings.Contains(reply, "<Hangup/>") || strings.Contains(reply, "<Gather") || st != 204 || sm != 200 {
		t.Fatalf("replays answered %d %q, %d, %d", g, reply, st, sm)
	}
	if len(r.presses) != 1 || len(r.status) != 1 || len(r.replies) != 1 {
		t.Fatalf("replays reached escalation: %+v", r)
	}
	m, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, mf := range m {
		if mf.Name == "anxin_twilio_webhook_replays_total" {
			for _, x := range mf.Metrics {
				counts[x.Labels[0].Value] = x.Value
			}
		}
	}
	if counts["gather"] != 1 || counts["status"] != 1 || counts["sms"] != 1 {
		t.Fatalf("replays counted %v", counts)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "replayed") || !strings.Contains(lines[2], "replayed") {
		t.Fatalf("want one line per replay:\n%s", logs.String())
	}
	for _, l := range lines {
		if strings.Contains(l, "13900000001") || strings.Contains(l, "4155550100") || strings.Contains(l, twiliotest.AuthToken) {
			t.Fatalf("log line with a number or token: %s", l)
		}
	}

	// a forged request is 403, counted apart, and not remembered
	keys := len(store.keys)
	if code, _ := serve(second, twiliotest.SignedRequest(publicURL+"/twilio/gather?attempt=A%2Fs0%2Fvoice", gather, "someoneelsestoken0123456789abcdef")); code != 403 {
		t.Fatalf("forged: %d", code)
	}
	if n := sumOf(t, reg, "anxin_twilio_webhook_forged_total"); n != 1 || len(store.keys) != keys {
		t.Fatalf("forged: counted %v, %d keys (was %d)", n, len(store.keys), keys)
	}

	// after the window, or once trimmed, the key is gone
	now = now.Add(twilio.DefaultReplayWindow)
	if g, _, _, _ := send(second); g != 200 || len(r.presses) != 2 {
		t.Fatalf("after the window: %d, %d presses", g, len(r.presses))
	}
	if n, _ := store.ForgetWebhooksBefore(context.Background(), now.Add(time.Second)); n != 3 {
		t.Fatalf("trimmed %d keys, want 3", n)
	}
}

// A status callback that could not be recorded (500) is not remembered:
// Twilio's retry, identical, is handled rather than taken for a replay.
func TestFailedWebhookIsNotAReplay(t *testing.T) {
	r := &reports{fail: 1}
	reg := metrics.NewRegistry()
	w := twilio.NewWebhooks(twiliotest.AuthToken, publicURL, r, nil)
	if err := w.Register(reg); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	w.Mount(mux)
	v := url.Values{"MessageSid": {"SM9"}, "MessageStatus": {"delivered"}}
	target := publicURL + "/twilio/status?attempt=A%2Fs0%2Fsms"
	if code, _ := serve(mux, twiliotest.SignedRequest(target, v, twiliotest.AuthToken)); code != 500 {
		t.Fatalf("failing report: %d", code)
	}
	if code, _ := serve(mux, twiliotest.SignedRequest(target, v, twiliotest.AuthToken)); code != 204 || len(r.status) != 1 {
		t.Fatalf("retry: %d, %d reports", code, len(r.status))
	}
	if code, _ := serve(mux, twiliotest.SignedRequest(target, v, twiliotest.AuthToken)); code != 204 || len(r.status) != 1 {
		t.Fatalf("replay of the handled retry: %d, %d reports", code, len(r.status))
	}
	if n := sumOf(t, reg, "anxin_twilio_webhook_replays_total"); n != 1 {
		t.Fatalf("%v replays counted, want 1", n)
	}
}

// A captured key press sent again with its body encoded otherwise (the
// parameters reordered, a digit percent-encoded) still verifies — the
// signature covers the parameters, not the bytes — and is still a replay.
func TestReencodedReplayIsAReplay(t *testing.T) {
	r := &reports{}
	mux := newMux(r)
	target := publicURL + "/twilio/gather?attempt=A%2Fs0%2Fvoice"
	v := url.Values{"CallSid": {"CA1"}, "Digits": {"1"}}
	if code, _ := serve(mux, twiliotest.SignedRequest(target, v, twiliotest.AuthToken)); code != 200 || len(r.presses) != 1 {
		t.Fatalf("first: %d, %d presses", code, len(r.presses))
	}
	again := twiliotest.SignedRequest(target, v, twiliotest.AuthToken)
	again.Body = io.NopCloser(strings.NewReader("Digits=%31&CallSid=CA1"))
	code, reply := serve(mux, again)
	if code != 200 || !strings.Contains(reply, "<Hangup/>") || len(r.presses) != 1 {
		t.Fatalf("re-encoded replay: %d %q, %d presses", code, reply, len(r.presses))
	}
}

// slowReports fails its first report, but only after the test lets it go.
type slowReports struct {
	*reports
	proceed chan struct{}
	calls   int
}

func (r *slowReports) Report(ctx context.Context, s anxin.StatusReport) error {
	r.mu.Lock()
	r.calls++
	first := r.calls == 1
	r.mu.Unlock()
	if first {
		<-r.proceed
		return errors.New("store busy")
	}
	return r.reports.Report(ctx, s)
}

// Twilio gives up waiting for a slow status callback and sends it again
// while the first is still being handled, and the first then fails (500).
// The retry must not be answered as a replay of a request that was never
// recorded: it waits for the first, and is handled once it failed.
func TestRetryDuringAFailingCallbackIsHandled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := &slowReports{reports: &reports{}, proceed: make(chan struct{})}
		mux := http.NewServeMux()
		twilio.NewWebhooks(twiliotest.AuthToken, publicURL, r, nil).Mount(mux)
		v := url.Values{"CallSid": {"CA7"}, "CallStatus": {"completed"}}
		target := publicURL + "/twilio/status?attempt=A%2Fs0%2Fvoice"
		codes := make(chan int, 2)
		go func() { c, _ := serve(mux, twiliotest.SignedRequest(target, v, twiliotest.AuthToken)); codes <- c }()
		synctest.Wait() // the first is in Report
		go func() { c, _ := serve(mux, twiliotest.SignedRequest(target, v, twiliotest.AuthToken)); codes <- c }()
		synctest.Wait() // the retry waits for it
		if r.calls != 1 || len(codes) != 0 {
			t.Fatalf("the retry did not wait: %d reports, %d answered", r.calls, len(codes))
		}
		close(r.proceed)
		if first, retry := <-codes, <-codes; first != 500 || retry != 204 {
			t.Fatalf("first %d, retry %d; want 500 then 204", first, retry)
		}
		if r.calls != 2 || len(r.status) != 1 || r.status[0].Status != "completed" {
			t.Fatalf("the retry was not handled: %d calls, recorded %+v", r.calls, r.status)
		}
	})
}

func sumOf(t *testing.T, reg *metrics.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.Name == name {
			for _, m := range mf.Metrics {
				sum += m.Value
			}
		}
	}
	return sum
}

// TestInboundSMSRetriedAfterAFailureAnsweredAgainAfterALoss: a reply whose
// handling failed (the store busy: the "1" not recorded) was answered 200
// with nothing and remembered as handled, so Twilio's retry was taken for
// a replay: the acceptance lost and its sender told nothing. Now its
// sender is asked to reply again (Twilio does not retry a 5xx by default)
// and a retry is handled. And a retry of a reply that was handled, whose answer was lost
// on the way back (Twilio gave up waiting), gets that answer again, with
// no second effect.
func TestInboundSMSRetriedAfterAFailureAnsweredAgainAfterALoss(t *testing.T) {
	r := &reports{answer: "【安心】未能识别您的回复", failSMS: 1, failAnswers: []string{words.Default().ReplyFailed()}}
	mux := newMux(r)
	v := url.Values{"From": {"+14155550100"}, "Body": {"马上到"}, "MessageSid": {"SM7"}}
	// Twilio does not send an inbound SMS again after a 5xx with its
	// default connection settings (it retries a failed connection only):
	// the sender is told to reply again, and a retry is still handled
	if code, body := serve(mux, twiliotest.SignedRequest(publicURL+"/twilio/sms", v, twiliotest.AuthToken)); code != 200 ||
		!strings.Contains(body, "<Message>【安心】系统繁忙，您的回复未能处理，告警尚未确认。") {
		t.Fatalf("a reply that failed: %d %s, want 200 telling the sender to reply again", code, body)
	}
	want := "<Message>【安心】未能识别您的回复</Message>"
	if code, body := serve(mux, twiliotest.SignedRequest(publicURL+"/twilio/sms", v, twiliotest.AuthToken)); code != 200 || !strings.Contains(body, want) || len(r.replies) != 2 {
		t.Fatalf("the retry after a failure: %d %s, %d replies handled", code, body, len(r.replies))
	}
	if code, body := serve(mux, twiliotest.SignedRequest(publicURL+"/twilio/sms", v, twiliotest.AuthToken)); code != 200 || !strings.Contains(body, want) || len(r.replies) != 2 {
		t.Fatalf("a retry of the handled reply: %d %s, %d replies handled (want its answer again, once handled)", code, body, len(r.replies))
	}
}

// TestInboundSMSFailureSendsTheAnswerGiven: an inbound SMS whose handling
// failed is answered 200 with what came with the error — escalate's ask to
// reply again, or nothing once that sender was asked within the hour (a
// sender that answers every SMS must not loop with alarmd:
// escalate.TestReplyFailedAnsweredOncePerSender) — and is not remembered,
// so the same request sent again is handled.
func TestInboundSMSFailureSendsTheAnswerGiven(t *testing.T) {
	busy := words.Default().ReplyFailed()
	r := &reports{failSMS: 3, failAnswers: []string{busy, "", busy}}
	mux := newMux(r)
	for i, want := range []bool{true, false, true} {
		v := url.Values{"From": {"+14155550100"}, "Body": {"I am away until Monday"}, "MessageSid": {"SMauto" + strconv.Itoa(i)}}
		code, body := serve(mux, twiliotest.SignedRequest(publicURL+"/twilio/sms", v, twiliotest.AuthToken))
		if code != 200 || strings.Contains(body, "<Message>【安心】系统繁忙") != want || (!want && !strings.Contains(body, "<Response/>")) {
			t.Fatalf("failed SMS %d: %d %s; want the ask to reply again: %v", i+1, code, body, want)
		}
	}
	if len(r.replies) != 3 {
		t.Fatalf("%d replies handled, want 3", len(r.replies))
	}
}
