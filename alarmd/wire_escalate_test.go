package alarmd

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

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

// One machine, no Twilio: the log notifier prints the ack link; opening it
// and pressing the button accepts the alarm, and the outcome is a visit.
func TestEscalationWithLogNotifier(t *testing.T) {
	cfg := testConfig(t)
	logs := &logBuffer{lines: make(chan string, 10000)}
	m := &Main{Config: cfg, Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	startMain(t, m)
	pub := publisher(t, m.BrokerURL())
	publishMsg(t, pub, button("hh-0001", time.Now().UTC().Truncate(time.Millisecond)))
	var path string
	deadline := time.After(10 * time.Second)
	for path == "" {
		select {
		case l := <-logs.lines:
			if mm := loggedAckURL.FindStringSubmatch(l); mm != nil {
				path = mm[1]
			}
		case <-deadline:
			t.Fatal("no ack link logged")
		}
	}
	base := "http://" + m.HTTPAddr()
	if code, body := get(t, base+path); code != 200 || !strings.Contains(body, "我来处理") {
		t.Fatalf("GET ack page: %d %s", code, body)
	}
	resp, err := http.Post(base+path, "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "已确认") {
		t.Fatalf("POST ack: %d %s", resp.StatusCode, b)
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
		return err == nil && len(vs) == 1 && strings.Contains(vs[0].Needs, "by ack link")
	})
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, `anxin_escalation_chains_total{outcome="accepted"} 1`) ||
		!strings.Contains(body, `anxin_escalation_sends_total{channel="sms",result="sent"} 1`) {
		t.Fatalf("escalation metrics missing:\n%s", body)
	}
	// without Twilio, nothing may post reports
	resp, err = http.Post(base+"/twilio/status", "application/x-www-form-urlencoded", strings.NewReader("CallSid=CA1"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("/twilio/status without Twilio: %d", resp.StatusCode)
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
	fake.Deliver = func(r *http.Request) *http.Response {
		req, _ := http.NewRequest(r.Method, "http://"+m.HTTPAddr()+r.RequestURI, r.Body)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil
		}
		return resp
	}
	pub := publisher(t, m.BrokerURL())
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
	var reply string
	for _, e := range fake.Events() {
		if e.Kind == "callback" && e.Status != 204 {
			t.Errorf("callback %s %s answered %d", e.Sid, e.Body, e.Status)
		}
		if e.Kind == "reply-twiml" {
			reply = e.Body
		}
	}
	if !strings.Contains(reply, "已确认由您处理") {
		t.Fatalf("gather reply %q", reply)
	}
}
