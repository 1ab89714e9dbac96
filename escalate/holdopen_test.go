package escalate_test

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// The last step's call (to the grid worker) is made but its create answer
// is lost, its callbacks do not reach us and lookups fail: the step times
// out and the chain is unanswered with the call's fate unknown. While the
// pass finishing the chain is between its read of the attempts and its
// outcome visit, the call reports in ringing: the report records the end
// and holds the chain open (a write of its own), so the pass's save of the
// visit id conflicts and the pass runs again. The unanswered chain's visit
// is dated by the chain's UpdatedAt, which holdOpen moved: before, the
// second run wrote a second outcome visit for the one alarm.
func TestLateCallWhileAnUnansweredChainFinishesWritesOneVisit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *escalate.Config) { c.Rounds = 1 })
		const id = "01HOLDVISIT"
		e.fake.Script(phone3, twiliotest.Script{Call: twiliotest.Ring})
		deliver := e.fake.Deliver
		quiet := make(chan struct{}) // closed: phone3's call callbacks reach us again
		e.fake.Deliver = func(r *http.Request) *http.Response {
			select {
			case <-quiet:
			default:
				if err := r.ParseForm(); err == nil && r.PostForm.Get("CallSid") != "" && r.PostForm.Get("To") == phone3 {
					return nil
				}
			}
			return deliver(r)
		}
		held, release := make(chan struct{}), make(chan struct{})
		e.alarms.mu.Lock()
		e.alarms.onSetState = func() { close(held); <-release } // the pass finishing the unanswered chain waits here
		e.alarms.mu.Unlock()
		e.raise(id, anxin.SeverityCritical)
		settle(30 * time.Second) // steps 0 and 1: no answer at 20 s each; step 2's call is next
		e.fake.Fault("call", twiliotest.Fault{Drop: true})
		e.fake.ListFails(http.StatusServiceUnavailable)
		<-held
		if c := e.chain(id); c.State != anxin.ChainUnanswered {
			t.Fatalf("chain %s when its pass sets the alarm's state, want unanswered:\n%s", c.State, e.dump())
		}
		a := e.attempt(id + "/s2/voice")
		calls := e.timeline("call")
		sid := calls[len(calls)-1].ev.Sid
		if a.Status != anxin.AttemptSending || a.ProviderID != "" || sid == "" {
			t.Fatalf("step 2's call %s %q (fake sid %q), want sending without a sid:\n%s", a.Status, a.ProviderID, sid, e.dump())
		}
		time.Sleep(time.Second)
		close(quiet)
		if err := e.svc.Report(context.Background(), anxin.StatusReport{AttemptID: a.ID, ProviderID: sid, Status: "ringing"}); err != nil {
			t.Fatal(err)
		}
		e.alarms.mu.Lock()
		e.alarms.onSetState = nil
		e.alarms.mu.Unlock()
		close(release)
		settle(time.Minute)
		if c, a := e.chain(id), e.attempt(id+"/s2/voice"); !c.Finished || a.Status != "canceled" {
			t.Fatalf("chain finished %v, call %s; want finished, canceled:\n%s", c.Finished, a.Status, e.dump())
		}
		vs, err := e.db.Visits(context.Background(), sqlite.VisitFilter{AlarmID: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 1 {
			var dates []time.Time
			for _, v := range vs {
				dates = append(dates, v.Date)
			}
			t.Fatalf("%d outcome visits for the one unanswered alarm (dated %v), want 1", len(vs), dates)
		}
	})
}
