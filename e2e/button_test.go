package e2e

import (
	"fmt"
	"html"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/rf433"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

var gatherAction = regexp.MustCompile(`<Gather[^>]* action="([^"]*)"`)

// TestE2EButtonToVisit: a 433 MHz button press written to a pty → the real
// gatewayd → a real mosquitto → the real alarmd with provider twilio → the
// fake Twilio receives the SMS and the call to the first contact → the
// person answers and presses 1 (a signed <Gather> post) → the alarm is
// accepted, the chain stops (nobody else is rung after the ack timeout)
// and the outcome is a visit record in the records API.
func TestE2EButtonToVisit(t *testing.T) {
	broker := testenv.StartMosquitto(t)
	tw := startFakeTwilio(t)
	dir := t.TempDir()
	hs := households(1)
	h := hs[0]
	// the first contact answers after 3 s (after ringing) and stays on the line without a key
	// (20 s): the test presses 1 for them
	tw.Script(h.Contacts[0], twiliotest.Script{Call: twiliotest.Silent, After: 3 * time.Second})

	const ackTimeout = 5 * time.Second
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	base := "http://" + httpAddr
	writeFile(t, filepath.Join(dir, "households.yaml"), householdsYAML(hs, "general"))
	cfg := writeFile(t, filepath.Join(dir, "alarmd.yaml"), alarmdYAML(dir, broker.URL, httpAddr, tw.URL, ackTimeout, ""))
	alarmd := startProc(t, binary(t, "alarmd"), "-config", cfg)
	healthy(t, base, alarmd, 20*time.Second)

	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	gcfg := writeFile(t, filepath.Join(dir, "gatewayd.yaml"), fmt.Sprintf(`
household: %s
mqtt: {broker: %q, reconnect: {min: 100ms, max: 2s}}
spool: {dir: %q}
drivers:
  - driver: rf433
    name: rf
    port: {path: %q, baud: 9600}
    format: hex
    codes: [{code: "8d3cf6", device: btn1, kind: call_button, event: button_pressed}]
`, h.ID, broker.URL, filepath.Join(dir, "spool"), slave.Name()))
	gatewayd := startProc(t, binary(t, "gatewayd"), "-config", gcfg)
	testenv.Eventually(t, "gatewayd to open the receiver's pty and connect", 20*time.Second, func() bool {
		out := gatewayd.Output()
		return strings.Contains(out, "serial port open") && strings.Contains(out, "uplink: connected")
	})

	pressed := time.Now()
	if _, err := master.Write(rf433.EncodePress(rf433.FormatHex, 0x8d3cf6)); err != nil {
		t.Fatal(err)
	}

	// the first step: an SMS and a call to the first contact, nobody else
	testenv.Eventually(t, "the SMS and the call to the first contact", 20*time.Second, func() bool {
		return len(tw.events("sms", h.Contacts[0])) == 1 && len(tw.events("call", h.Contacts[0])) == 1
	})
	t.Logf("button press → first SMS request at the fake Twilio: %s", tw.events("sms", h.Contacts[0])[0].At.Sub(pressed))
	sms := tw.events("sms", h.Contacts[0])[0]
	if sms.Status != 201 || !strings.Contains(sms.Body, base+"/ack/") {
		t.Fatalf("first SMS: status %d body %q, want 201 with an ack link", sms.Status, sms.Body)
	}
	call := tw.events("call", h.Contacts[0])[0]
	m := gatherAction.FindStringSubmatch(call.Body)
	if call.Status != 201 || m == nil {
		t.Fatalf("first call: status %d TwiML %q, want 201 with a <Gather action>", call.Status, call.Body)
	}
	action := html.UnescapeString(m[1])
	if !strings.HasPrefix(action, base+"/twilio/gather") {
		t.Fatalf("gather action %s is not alarmd's public URL %s", action, base)
	}

	// a forged press (wrong signature) is refused and changes nothing
	defer func() {
		if t.Failed() {
			for _, e := range tw.Events() {
				t.Logf("fake twilio: %s %s %s %q %d", e.Kind, anxin.MaskPhone(e.To), e.Sid, e.Body, e.Status)
			}
			t.Logf("alarmd:\n%s", tail(alarmd.Output(), 6000))
		}
	}()
	press := map[string]string{"CallSid": call.Sid, "Digits": "1", "To": h.Contacts[0], "AccountSid": twiliotest.AccountSID}
	if forged, _ := postSigned(t, action, press, "not-the-auth-token-000000000000"); forged != 403 {
		t.Fatalf("forged gather answered %d, want 403", forged)
	}

	// the person answers (the fake posts in-progress), then presses 1
	testenv.Eventually(t, "the call to be answered", 10*time.Second, func() bool {
		for _, e := range tw.events("callback", h.Contacts[0]) {
			if e.Sid == call.Sid && e.Body == "in-progress" && e.Status/100 == 2 {
				return true
			}
		}
		return false
	})
	code, twiml := post(t, action, press)
	if code != 200 || !strings.Contains(twiml, "<Response>") {
		t.Fatalf("signed gather: %d %s", code, twiml)
	}

	var alarms struct {
		Alarms []anxin.Alarm `json:"alarms"`
	}
	testenv.Eventually(t, "the alarm to be accepted", 10*time.Second, func() bool {
		apiGet(t, base, "/api/v1/alarms?household="+h.ID, &alarms)
		return len(alarms.Alarms) == 1 && alarms.Alarms[0].State == anxin.AlarmAccepted
	})
	a := alarms.Alarms[0]
	if a.Rule != "button" || a.Severity != anxin.SeverityCritical {
		t.Fatalf("alarm: %+v", a)
	}

	var visits struct {
		Visits []anxin.Visit `json:"visits"`
	}
	testenv.Eventually(t, "the outcome's visit record", 10*time.Second, func() bool {
		apiGet(t, base, "/api/v1/visits?household="+h.ID, &visits)
		return len(visits.Visits) == 1
	})
	v := visits.Visits[0]
	if v.AlarmID != a.ID || v.Method != anxin.VisitRemoteMonitoring || v.FollowUpDue.IsZero() {
		t.Fatalf("visit: %+v, want remote monitoring for alarm %s with a follow-up", v, a.ID)
	}

	// the chain stopped: past the ack timeout nobody further down is rung
	deadline := time.Now().Add(2 * ackTimeout)
	for time.Now().Before(deadline) {
		for _, to := range append([]string{h.Elder}, h.Contacts[1:]...) {
			if n := len(tw.events("call", to)); n > 0 {
				t.Fatalf("%d call(s) to %s after the alarm was accepted", n, anxin.MaskPhone(to))
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := len(tw.events("sms", h.Contacts[0])); n != 1 {
		t.Fatalf("%d SMS to the first contact, want 1 (the step's)", n)
	}

	// both daemons stop cleanly on SIGTERM
	if err := gatewayd.Stop(); err != nil {
		t.Errorf("gatewayd exit: %v\n%s", err, tail(gatewayd.Output(), 3000))
	}
	if err := alarmd.Stop(); err != nil {
		t.Errorf("alarmd exit: %v\n%s", err, tail(alarmd.Output(), 3000))
	}
	for _, p := range []string{h.Elder, h.Contacts[0], h.Contacts[1], h.Contacts[2]} {
		if strings.Contains(alarmd.Output(), p) || strings.Contains(gatewayd.Output(), p) {
			t.Errorf("a log shows the phone number %s", anxin.MaskPhone(p))
		}
	}
}
