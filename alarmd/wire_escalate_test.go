package alarmd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// logBuffer collects alarmd's log lines.
type logBuffer struct{ lines chan string }

func (l *logBuffer) Write(p []byte) (int, error) {
	select {
	case l.lines <- string(p):
	default:
	}
	return len(p), nil
}

var loggedAckURL = regexp.MustCompile(`"ack_url":"[^"]*(/ack/[A-Za-z0-9_\-.]+)"`)

// ackLinkLogged waits for the log notifier's first ack link and returns its
// path and the line that holds it; seen, when set, is shown every line
// before it.
func ackLinkLogged(t *testing.T, logs *logBuffer, within time.Duration, seen func(line string)) (path, line string) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case l := <-logs.lines:
			if seen != nil {
				seen(l)
			}
			if mm := loggedAckURL.FindStringSubmatch(l); mm != nil {
				return mm[1], l
			}
		case <-deadline:
			t.Fatal("no ack link logged")
		}
	}
}

// One machine, no Twilio: the log notifier prints the ack link; opening it
// and pressing the button accepts the alarm, and the outcome is a visit.
func TestEscalationWithLogNotifier(t *testing.T) {
	cfg := testConfig(t)
	logs := &logBuffer{lines: make(chan string, 10000)}
	m := &Main{Config: cfg, Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	startMain(t, m)
	pub := publisher(t, m.BrokerURL().Dial())
	publishMsg(t, pub, button("hh-0001", time.Now().UTC().Truncate(time.Millisecond)))
	path, l := ackLinkLogged(t, logs, 30*time.Second, nil)
	// what the family reads, as the log shows it: Mandarin, the name masked
	if !strings.Contains(l, `"text":"【安心】张**`) || strings.Contains(l, "张桂兰") || !strings.Contains(l, "按下了呼叫按钮") {
		t.Errorf("log notifier line: %s", l)
	}
	base := "http://" + m.HTTPAddr()
	if code, body := get(t, base+path); code != 200 || !strings.Contains(body, "我来处理") {
		t.Fatalf("GET ack page: %d %s", code, body)
	}
	if code, body := postForm(t, base+path, ""); code != 200 || !strings.Contains(body, "已确认") {
		t.Fatalf("POST ack: %d %s", code, body)
	}
	var a anxin.Alarm
	waitFor(t, "the alarm to be accepted", 10*time.Second, func() bool {
		as, err := m.Store.Alarms(context.Background(), sqlite.AlarmFilter{Household: "hh-0001"})
		if err != nil || len(as) != 1 {
			return false
		}
		a = as[0]
		return a.State == anxin.AlarmAccepted
	})
	if a.AcceptedBy != "李明" {
		t.Fatalf("alarm %+v", a)
	}
	waitFor(t, "the outcome visit", 10*time.Second, func() bool {
		vs, err := m.Store.Visits(context.Background(), sqlite.VisitFilter{AlarmID: a.ID})
		return err == nil && len(vs) == 1 && strings.Contains(vs[0].Needs, "通过短信链接")
	})
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, `anxin_escalation_chains_total{outcome="accepted"} 1`) ||
		!strings.Contains(body, `anxin_escalation_sends_total{channel="sms",result="sent"} 1`) {
		t.Fatalf("escalation metrics missing:\n%s", body)
	}
	// without Twilio, nothing may post reports
	if code, _ := postForm(t, base+"/twilio/status", "CallSid=CA1"); code != 404 {
		t.Fatalf("/twilio/status without Twilio: %d", code)
	}
}

// alarmd with provider twilio against the fake over loopback: the button
// rings contact 1, who presses 1; the fake's signed Gather and status
// callbacks reach alarmd's real HTTP server.
func TestEscalationWithTwilio(t *testing.T) {
	fake := twiliotest.New()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cfg := testConfig(t)
	cfg.HTTP.PublicURL = "https://alarm.example.org"
	cfg.Notify.Provider = "twilio"
	cfg.Notify.AckSecret = "0123456789abcdef0123456789abcdef"
	cfg.Notify.Twilio = TwilioConfig{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken,
		From: twiliotest.From, APIBaseURL: srv.URL}
	m := &Main{Config: cfg}
	fake.Script("+8613900000001", twiliotest.Script{Call: twiliotest.Press, After: 3 * time.Second})
	startMain(t, m)
	fake.Deliver = deliverTo(m)
	pub := publisher(t, m.BrokerURL().Dial())
	publishMsg(t, pub, button("hh-0001", time.Now().UTC().Truncate(time.Millisecond)))
	defer func() {
		if !t.Failed() {
			return
		}
		for _, e := range fake.Events() {
			t.Log(e.Kind, e.To, e.Status, e.Body[:min(60, len(e.Body))])
		}
	}()
	waitFor(t, "the alarm to be accepted by key press", 45*time.Second, func() bool {
		as, err := m.Store.Alarms(context.Background(), sqlite.AlarmFilter{Household: "hh-0001"})
		return err == nil && len(as) == 1 && as[0].State == anxin.AlarmAccepted && as[0].AcceptedBy == "李明"
	})
	// the acceptance is stored before alarmd answers the Gather, and the fake
	// records that answer only when it has read it: wait for it
	var reply string
	waitFor(t, "the fake Twilio to record alarmd's answer to the key press", 10*time.Second, func() bool {
		for _, e := range fake.Events() {
			if e.Kind == "reply-twiml" {
				reply = e.Body
			}
		}
		return reply != ""
	})
	for _, e := range fake.Events() {
		if e.Kind == "callback" && e.Status != 204 {
			t.Errorf("callback %s %s answered %d", e.Sid, e.Body, e.Status)
		}
	}
	if !strings.Contains(reply, "已确认由您处理") {
		t.Fatalf("gather reply %q", reply)
	}
}

// capturedRequest is a webhook as the fake Twilio sent it, to send again.
type capturedRequest struct {
	uri    string
	header http.Header
	body   []byte
}

// Twilio retries webhooks with identical content. After an alarmd restart,
// the Digits=1 Gather of a call whose chain was accepted and finished before
// the restart arrives again: the replay memory is in the store, so it is
// answered (200, a goodbye and <Hangup/>) without reaching escalation —
// chain, attempts, alarm and visits unchanged, nothing sent — counted in
// anxin_twilio_webhook_replays_total and logged once without a number.
func TestReplayedGatherAfterRestartHasNoEffect(t *testing.T) {
	fake := twiliotest.New()
	srv := httptest.NewServer(fake)
	defer srv.Close()
	cfg := testConfig(t)
	cfg.HTTP.PublicURL = "https://alarm.example.org"
	cfg.Notify.Provider = "twilio"
	cfg.Notify.AckSecret = "0123456789abcdef0123456789abcdef"
	cfg.Notify.Twilio = TwilioConfig{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken,
		From: twiliotest.From, APIBaseURL: srv.URL}
	fake.Script("+8613900000001", twiliotest.Script{Call: twiliotest.Press, After: 2 * time.Second})

	var mu sync.Mutex
	var addr string // the running alarmd's HTTP address
	var gathers []capturedRequest
	fake.Deliver = func(r *http.Request) *http.Response {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		to := addr
		if strings.HasPrefix(r.URL.Path, "/twilio/gather") {
			gathers = append(gathers, capturedRequest{uri: r.RequestURI, header: r.Header.Clone(), body: body})
		}
		mu.Unlock()
		req, _ := http.NewRequest(r.Method, "http://"+to+r.RequestURI, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil // alarmd is down
		}
		return resp
	}
	m1 := &Main{Config: cfg}
	stop := startMain(t, m1)
	mu.Lock()
	addr = m1.HTTPAddr()
	mu.Unlock()
	publishMsg(t, publisher(t, m1.BrokerURL().Dial()), button("hh-0001", time.Now().UTC().Truncate(time.Millisecond)))
	ctx := context.Background()
	var alarm anxin.Alarm
	waitFor(t, "the alarm accepted by key press, its chain finished and its call completed", 45*time.Second, func() bool {
		as, err := m1.Store.Alarms(ctx, sqlite.AlarmFilter{Household: "hh-0001"})
		if err != nil || len(as) != 1 || as[0].State != anxin.AlarmAccepted {
			return false
		}
		alarm = as[0]
		c, err := m1.Store.Chain(ctx, alarm.ID)
		call, cerr := m1.Store.Attempt(ctx, alarm.ID+"/s0/voice")
		return err == nil && c.Finished && cerr == nil && call.Status == "completed"
	})
	stop()
	mu.Lock()
	if len(gathers) != 1 || !strings.Contains(string(gathers[0].body), "Digits=1") {
		mu.Unlock()
		t.Fatalf("%d gathers captured", len(gathers))
	}
	g := gathers[0]
	mu.Unlock()

	sent := func() int {
		return count(fake.Events(), "sms") + count(fake.Events(), "call") + count(fake.Events(), "cancel")
	}
	sentBefore := sent()
	logs := &logBuffer{lines: make(chan string, 10000)}
	reg := metrics.NewRegistry()
	m2 := &Main{Config: cfg, Metrics: reg, Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	startMain(t, m2)
	mu.Lock()
	addr = m2.HTTPAddr()
	mu.Unlock()
	chainBefore, err := m2.Store.Chain(ctx, alarm.ID)
	if err != nil {
		t.Fatal(err)
	}
	attemptsBefore, err := m2.Store.Attempts(ctx, alarm.ID)
	if err != nil {
		t.Fatal(err)
	}
	alarmBefore, err := m2.Store.Alarm(ctx, alarm.ID)
	if err != nil {
		t.Fatal(err)
	}

	req, _ := http.NewRequest(http.MethodPost, "http://"+m2.HTTPAddr()+g.uri, bytes.NewReader(g.body))
	req.Header = g.header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(reply), "<Hangup/>") || strings.Contains(string(reply), "已确认由您处理") {
		t.Fatalf("replayed gather answered %d %s", resp.StatusCode, reply)
	}
	if n := counter(t, reg, "anxin_twilio_webhook_replays_total", "gather"); n != 1 {
		t.Fatalf("replays counted: %v, want 1", n)
	}
	chainAfter, err := m2.Store.Chain(ctx, alarm.ID)
	if err != nil {
		t.Fatal(err)
	}
	attemptsAfter, err := m2.Store.Attempts(ctx, alarm.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(chainAfter) != fmt.Sprint(chainBefore) || fmt.Sprint(attemptsAfter) != fmt.Sprint(attemptsBefore) {
		t.Fatalf("the replay changed the chain or its attempts:\n%+v\n%+v", chainBefore, chainAfter)
	}
	if a, err := m2.Store.Alarm(ctx, alarm.ID); err != nil || fmt.Sprint(a) != fmt.Sprint(alarmBefore) {
		t.Fatalf("alarm after the replay: %+v %v, before %+v", a, err, alarmBefore)
	}
	if vs, err := m2.Store.Visits(ctx, sqlite.VisitFilter{AlarmID: alarm.ID}); err != nil || len(vs) != 1 {
		t.Fatalf("%d visits after the replay, %v", len(vs), err)
	}
	if n := sent(); n != sentBefore {
		t.Fatalf("the replay sent %d requests to Twilio", n-sentBefore)
	}
	var replayLines int
	for len(logs.lines) > 0 {
		l := <-logs.lines
		if strings.Contains(l, "accepted by key press") {
			t.Errorf("the replay reached escalation: %s", l)
		}
		if strings.Contains(l, "replayed") {
			replayLines++
			if strings.Contains(l, "13900000001") || strings.Contains(l, twiliotest.AuthToken) {
				t.Errorf("replay log line with a number or token: %s", l)
			}
		}
	}
	if replayLines != 1 {
		t.Fatalf("%d replay log lines, want 1", replayLines)
	}
}

func count(evs []twiliotest.Event, kind string) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// deliverTo sends the fake Twilio's webhooks to m's HTTP server.
func deliverTo(m *Main) func(r *http.Request) *http.Response {
	return func(r *http.Request) *http.Response {
		req, _ := http.NewRequest(r.Method, "http://"+m.HTTPAddr()+r.RequestURI, r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil
		}
		return resp
	}
}
