package escalate_test

import (
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/sqlite"
)

// An unanswered chain whose alarm staff then closed (or whose device
// cleared) is over: the duty contact's link must not offer to take it,
// must not accept it, and the family must not be told someone took an
// alarm that is closed. Resolve only stops a walking chain, so an
// unanswered one stays acceptable after the close.
func TestAckAfterUnansweredAlarmClosedIsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *escalate.Config) { c.Rounds = 1 })
		e.raise("01ALARMZ", anxin.SeverityCritical)
		settle(10 * time.Minute)
		if c := e.chain("01ALARMZ"); c.State != anxin.ChainUnanswered {
			t.Fatalf("chain %+v", c)
		}
		sms := e.timeline("sms")
		m := ackLink.FindStringSubmatch(sms[len(sms)-1].ev.Body)
		if m == nil {
			t.Fatalf("no link in the duty SMS %q", sms[len(sms)-1].ev.Body)
		}
		// staff close the alarm (what alarmd's closer does: the store, then Resolve)
		a, _ := e.alarms.Alarm(t.Context(), "01ALARMZ")
		a.State = anxin.AlarmResolved
		e.alarms.put(a)
		if err := e.svc.Resolve(t.Context(), "01ALARMZ", "closed by staff"); err != nil {
			t.Fatal(err)
		}
		settle(time.Minute)
		before := len(e.timeline("sms"))

		code, page := e.do(http.MethodGet, m[1])
		if strings.Contains(page, "<form") {
			t.Errorf("GET of a closed alarm's link offers to accept it (%d):\n%s", code, page)
		}
		code, page = e.do(http.MethodPost, m[1])
		if code != http.StatusConflict {
			t.Errorf("POST on a closed alarm's link: %d, want 409:\n%s", code, page)
		}
		settle(time.Minute)
		if c := e.chain("01ALARMZ"); c.State == anxin.ChainAccepted {
			t.Errorf("a closed alarm's chain was accepted after the close: %+v", c)
		}
		if got := e.timeline("sms")[before:]; len(got) > 0 {
			t.Errorf("%d SMS sent after the close (\"taken\" notices for a closed alarm), first to %s: %q",
				len(got), got[0].to, got[0].ev.Body)
		}
		vs, _ := e.db.Visits(t.Context(), sqlite.VisitFilter{AlarmID: "01ALARMZ"})
		if len(vs) != 1 {
			t.Errorf("%d outcome visits for a closed alarm, want 1", len(vs))
		}
	})
}
