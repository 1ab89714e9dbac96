package escalate_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/twilio/twiliotest"
	"github.com/anxin-care/anxin/words"
)

// Contact 1 accepts by the link and the store commits the acceptance but
// reports an error (PostgreSQL losing the connection during COMMIT).
// Before, the page said the acceptance failed while the alarm was theirs.
// The chain is read back and the page answers by what is stored.
func TestAcceptanceCommittedDespiteASaveErrorIsAnsweredAsTaken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		const id = "01LOSTCOMMIT"
		e.fake.Script(phone1, twiliotest.Script{Call: twiliotest.Ring})
		e.raise(id, anxin.SeverityCritical)
		settle(5 * time.Second)
		e.lostCommits.Store(1)
		code, page := e.do(http.MethodPost, e.firstLink())
		mine := words.Default().Ack(words.AckMine, nil, nil, "").Text
		if code != http.StatusOK || !strings.Contains(page, mine) {
			t.Fatalf("accept whose commit went through before an error: %d, want 200 saying %q:\n%s", code, mine, page)
		}
		settle(time.Minute)
		if c := e.chain(id); c.State != anxin.ChainAccepted || c.AcceptedTarget != 0 || !c.Finished {
			t.Fatalf("chain %s by target %d finished %v, want accepted by contact 1 and finished", c.State, c.AcceptedTarget, c.Finished)
		}
	})
}

// The same for an SMS reply "1": before, the sender was answered
// "系统繁忙，您的回复未能处理，告警尚未确认" though the alarm was theirs.
func TestReplyAcceptanceCommittedDespiteASaveErrorIsNotAskedAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		const id = "01LOSTREPLY"
		e.raiseIn(abroad.ID, id, anxin.SeverityCritical)
		settle(5 * time.Second)
		e.lostCommits.Store(1)
		from := abroad.Contacts[0].Phone
		answer, err := e.svc.Reply(context.Background(), from, "1")
		if err != nil || answer != "" {
			t.Fatalf("reply 1 whose commit went through before an error: answer %q, err %v; want taken, nothing to answer", answer, err)
		}
		settle(time.Minute)
		if c := e.chain(id); c.State != anxin.ChainAccepted || !c.Finished {
			t.Fatalf("chain %s finished %v, want accepted and finished", c.State, c.Finished)
		}
	})
}
