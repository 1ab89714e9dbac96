package escalate_test

import (
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/words"
)

// Timeline: button at t=0 → the SMS carries a 10-character link and fits two
// segments; the link and an HMAC link of the same step (as sent before
// short tokens) both open the page; an unknown token is 404; after the
// link's 24 h the short link says 410.
func TestShortAckLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.raise("01ALARMS", anxin.SeverityCritical)
		synctest.Wait()
		sms := e.timeline("sms")[0].ev.Body
		m := ackLink.FindStringSubmatch(sms)
		if m == nil {
			t.Fatalf("no ack link in %q", sms)
		}
		tok := strings.TrimPrefix(m[1], "/ack/")
		if len(tok) != 10 || strings.Contains(tok, ".") {
			t.Fatalf("link token %q is not a short token", tok)
		}
		if n, _ := words.SMSLength(sms); n > words.MaxSMSChars {
			t.Fatalf("SMS of %d characters: %q", n, sms)
		}
		if code, page := e.do(http.MethodGet, m[1]); code != 200 || !strings.Contains(page, `<form method="post">`) {
			t.Fatalf("short link: GET %d %s", code, page)
		}
		c := e.chain("01ALARMS")
		old, err := escalate.NewAckToken(ackSecret, escalate.AckClaims{AlarmID: c.AlarmID, Step: 0,
			PhoneTag: escalate.PhoneTag(ackSecret, phone1), Expires: c.StartedAt.Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if code, page := e.do(http.MethodGet, "/ack/"+old); code != 200 || !strings.Contains(page, `<form method="post">`) {
			t.Fatalf("HMAC link: GET %d %s", code, page)
		}
		if code, _ := e.do(http.MethodGet, "/ack/ab3dE6gH9k"); code != http.StatusNotFound {
			t.Fatalf("unknown short token: %d", code)
		}
		if code, _ := e.do(http.MethodGet, "/ack/ab3dE6gH9k'"); code != http.StatusNotFound {
			t.Fatalf("bad short token: %d", code)
		}
		settle(25 * time.Hour)
		if code, page := e.do(http.MethodGet, m[1]); code != http.StatusGone || !strings.Contains(page, "已过期") {
			t.Fatalf("expired short link: %d %s", code, page)
		}
	})
}

// The ack page of a smoke alarm says to call 119, with a tap target.
func TestAckPageSaysCall119ForSmoke(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		a := anxin.Alarm{ID: "01ALARMF", Household: household.ID, Rule: "smoke", RuleKind: "event", Device: "sd1",
			Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, State: anxin.AlarmOpen, OpenedAt: time.Now(),
			Cause: anxin.Cause{Code: anxin.CauseSmoke, Device: anxin.KindSmokeDetector, At: time.Now()}}
		e.alarms.put(a)
		if err := e.svc.Escalate(t.Context(), a); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		link := e.firstLink()
		code, page := e.do(http.MethodGet, link)
		if code != 200 || !strings.Contains(page, "119") || !strings.Contains(page, `href="tel:119"`) || !strings.Contains(page, "烟雾报警器") {
			t.Fatalf("GET %d %s", code, page)
		}
	})
}
