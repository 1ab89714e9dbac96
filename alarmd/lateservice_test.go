package alarmd

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin/escalate"
)

// An SMS reply the modem reads while alarmd starts (a "1" sent during a
// restart, read from the SIM when the modem opens) came before the
// escalation service was built and was refused: the contact's acceptance
// was lost without a word. It waits for the service (bounded).
func TestModemReplyDuringStartWaitsForTheService(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p atomic.Pointer[escalate.Service]
		l := newLateService(&p)
		done := make(chan error, 1)
		go func() {
			_, err := l.LocalReply(context.Background(), "+8613800000001", "1")
			done <- err
		}()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("a reply during start was answered before the service was ready: %v", err)
		default:
		}
		// the service never comes (its start failed): the wait is bounded
		time.Sleep(lateServiceWait)
		if err := <-done; err == nil {
			t.Fatal("no error once the wait was over")
		}
	})
}

// The same wait ends, with the service, when it is started: what the modem
// read during the start reaches it rather than waiting out lateServiceWait.
func TestModemReplyDuringStartReachesTheServiceOnceStarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var p atomic.Pointer[escalate.Service]
		l := newLateService(&p)
		got := make(chan *escalate.Service, 1)
		go func() { got <- l.service(context.Background()) }()
		synctest.Wait()
		svc := new(escalate.Service)
		p.Store(svc)
		l.started()
		synctest.Wait()
		select {
		case s := <-got:
			if s != svc {
				t.Fatalf("the wait ended with %p, want the started service %p", s, svc)
			}
		default:
			t.Fatal("the service was started and the reply still waits")
		}
	})
}
