package twilio_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/twilio"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

func notification(ch anxin.Channel) anxin.Notification {
	return anxin.Notification{
		AttemptID: "01JDX3ABCDEF/s0/" + string(ch), AlarmID: "01JDX3ABCDEF", To: "+8613900000001", Channel: ch,
		Body: "【安心】张桂兰：一键呼叫按钮被按下。由您处理请点此确认：https://alarm.example.org/ack/x", AskKey: true,
	}
}

// Contract: every request alarmd sends to Twilio is valid for Twilio's
// OpenAPI description (Prism answers 4xx otherwise). StatusCallbackEvent is
// left out here (Prism mis-reads repeated form keys) and checked against the
// fake below.
func TestPrismAcceptsEveryRequest(t *testing.T) {
	p := testenv.StartPrism(t)
	// every answer is checked here, not only the notifier's errors: Cancel
	// treats a 4xx but 401/403 as "the call already ended" and would hide a rejection
	rec := &statusRecorder{next: http.DefaultTransport}
	n, err := twilio.New(twilio.Config{
		AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, From: twiliotest.From,
		PublicURL: publicURL, APIBaseURL: p.URL, DetectMachines: true, Timeout: 30 * time.Second, Transport: rec,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, ch := range []anxin.Channel{anxin.ChannelSMS, anxin.ChannelVoice} {
		no := notification(ch)
		sid, _, err := n.Send(ctx, no)
		if err != nil || sid == "" {
			t.Fatalf("send %s: sid %q, %v", ch, sid, err)
		}
		if _, err := n.Lookup(ctx, no, time.Now().Add(-time.Minute)); err != nil {
			t.Fatalf("lookup %s: %v", ch, err)
		}
	}
	for _, answered := range []bool{false, true} {
		if err := n.Cancel(ctx, "CA"+strings.Repeat("0", 32), answered); err != nil {
			t.Fatalf("cancel (answered %v): %v", answered, err)
		}
	}
	got := rec.lines()
	for _, l := range got {
		if !strings.HasSuffix(l[:len(l)-2], " 2") {
			t.Errorf("Prism did not accept: %s", l)
		}
	}
	if len(got) != 6 { // create + list of each channel, two call updates
		t.Fatalf("%d requests reached Prism, want 6:\n%s", len(got), strings.Join(got, "\n"))
	}
	// and Prism does reject a request that breaks the spec (no To): the check has teeth
	req, _ := http.NewRequest(http.MethodPost, p.URL+"/2010-04-01/Accounts/"+twiliotest.AccountSID+"/Messages.json",
		strings.NewReader(url.Values{"From": {twiliotest.From}, "Body": {"x"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(twiliotest.AccountSID, twiliotest.AuthToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("a message without To got %d from Prism", resp.StatusCode)
	}
}

// statusRecorder notes "METHOD path status" of every request.
type statusRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (r *statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	line := req.Method + " " + req.URL.Path + " "
	if err != nil {
		line += "error"
	} else {
		line += strconv.Itoa(resp.StatusCode)
	}
	r.mu.Lock()
	r.seen = append(r.seen, line)
	r.mu.Unlock()
	return resp, err
}

func (r *statusRecorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// The fake records the form alarmd posts: StatusCallbackEvent, the inline
// TwiML with its Gather, machine detection, and the callback URLs.
func TestCallRequestAgainstFake(t *testing.T) {
	fake := twiliotest.New()
	var mu sync.Mutex
	var callbacks []string
	fake.Deliver = func(r *http.Request) *http.Response {
		_ = r.ParseForm()
		mu.Lock()
		callbacks = append(callbacks, r.URL.RequestURI()+" "+r.PostForm.Get("CallStatus"))
		mu.Unlock()
		rec := httptest.NewRecorder()
		rec.WriteHeader(204)
		return rec.Result()
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	n, err := twilio.New(twilio.Config{
		AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, From: twiliotest.From,
		PublicURL: publicURL, APIBaseURL: srv.URL, CallEvents: true, DetectMachines: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	fake.Script("+8613900000001", twiliotest.Script{Call: twiliotest.Busy, After: 4 * time.Second})
	sid, _, err := n.Send(t.Context(), notification(anxin.ChannelVoice))
	if err != nil {
		t.Fatal(err)
	}
	tw := fake.Events()[0].Body
	for _, w := range []string{`<Gather input="dtmf" numDigits="1"`, `action="https://alarm.example.org/twilio/gather?attempt=01JDX3ABCDEF%2Fs0%2Fvoice"`, `<Say voice="Polly.Zhiyu" language="cmn-CN" loop="2">【安心】张桂兰`} {
		if !strings.Contains(tw, w) {
			t.Errorf("TwiML lacks %s:\n%s", w, tw)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		got := strings.Join(callbacks, "\n")
		mu.Unlock()
		if strings.Contains(got, "/twilio/status?attempt=01JDX3ABCDEF%2Fs0%2Fvoice busy") {
			if !strings.Contains(got, " initiated") || !strings.Contains(got, " ringing") {
				t.Fatalf("progress events not asked for (StatusCallbackEvent):\n%s", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no busy callback for %s:\n%s", sid, got)
		}
		time.Sleep(50 * time.Millisecond) // polling a real peer with a deadline
	}
}

// The one place that classifies failures: 429 and 5xx retry, other 4xx move
// on, a refused connection retries, a lost response is "maybe sent".
func TestSendClassification(t *testing.T) {
	fake := twiliotest.New()
	fake.Deliver = func(*http.Request) *http.Response { return httptest.NewRecorder().Result() }
	srv := httptest.NewServer(fake)
	n, _ := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, From: twiliotest.From,
		PublicURL: publicURL, APIBaseURL: srv.URL, Timeout: 2 * time.Second})
	badToken, _ := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: "0badc0ffee0badc0ffee0badc0ffee00",
		From: twiliotest.From, PublicURL: publicURL, APIBaseURL: srv.URL, Timeout: 2 * time.Second})
	no := notification(anxin.ChannelSMS)
	cases := []struct {
		name               string
		setup              func()
		retry, maybe, fail bool
		account            bool // ErrAccount: the account, not the number, is refused
		number             bool // ErrNumber: the number, not the provider, is refused
	}{
		{"429", func() { fake.Fault("sms", twiliotest.Fault{Status: 429}) }, true, false, true, false, false},
		{"503", func() { fake.Fault("sms", twiliotest.Fault{Status: 503}) }, true, false, true, false, false},
		{"not a mobile number", func() { fake.Script(no.To, twiliotest.Script{APIError: 21614}) }, false, false, true, false, true},
		{"invalid number", func() { fake.Script(no.To, twiliotest.Script{APIError: 21211}) }, false, false, true, false, true},
		{"landline", func() { fake.Script(no.To, twiliotest.Script{APIError: 21635}) }, false, false, true, false, true},
		{"sender not the account's", func() { fake.Script(no.To, twiliotest.Script{APIError: 21606}) }, false, false, true, true, false},
		{"lost response", func() { fake.Script(no.To, twiliotest.Script{}); fake.Fault("sms", twiliotest.Fault{Drop: true}) }, true, true, true, false, false},
		{"ok", func() {}, false, false, false, false, false},
		{"wrong credentials", func() { n = badToken }, false, false, true, true, false},
		{"refused", func() { srv.Close() }, true, false, true, false, false},
	}
	for _, c := range cases {
		c.setup()
		_, retry, err := n.Send(t.Context(), no)
		if (err != nil) != c.fail || retry != c.retry || errors.Is(err, anxin.ErrMaybeSent) != c.maybe ||
			errors.Is(err, anxin.ErrAccount) != c.account || errors.Is(err, anxin.ErrNumber) != c.number {
			t.Errorf("%s: retry %v err %v", c.name, retry, err)
		}
		if err != nil && strings.Contains(err.Error(), no.To) {
			t.Errorf("%s: the error quotes the phone number: %v", c.name, err)
		}
	}
}

// Cancel takes a 4xx as "the call already ended" (Twilio answers 400 or
// 404 for a call that is over), but a refused account (401, 403: a token
// rotated, a suspended account) ended nothing: the phone rings on, and
// the chain must try again rather than record the call canceled.
func TestCancelRefusedAccountIsAnError(t *testing.T) {
	for status, wantErr := range map[int]bool{401: true, 403: true, 404: false, 400: false} {
		body := fmt.Sprintf(`{"code": 20003, "message": "refused", "status": %d}`, status)
		n, err := twilio.New(twilio.Config{
			AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, From: twiliotest.From,
			PublicURL: publicURL, Timeout: 5 * time.Second,
			Transport: roundTrip(func(*http.Request) *http.Response {
				return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
					Body: io.NopCloser(strings.NewReader(body))}
			}),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := n.Cancel(t.Context(), "CA"+strings.Repeat("0", 32), false); (err != nil) != wantErr {
			t.Errorf("cancel answered %d: err %v, want an error: %v", status, err, wantErr)
		}
	}
}

type roundTrip func(*http.Request) *http.Response

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r), nil }
