package escalate_test

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
)

// Many alarms walk their chains to the end while no send is ever reported
// delivered: each send waits on a timer (delivery_timeout, or half the ack
// timeout for an unknown send), and none of those timers may outlive its
// chain, or a district's alarmd grows by one per send for ever.
func TestSendTimersDoNotOutliveTheirChains(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  func(*escalate.Config)
		fail string
	}{
		{"delivery timeout", func(c *escalate.Config) { c.DeliveryTimeout = 30 * time.Second }, ""},
		{"unknown sends", nil, "maybe"},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newFailoverEnv(t, c.cfg)
				e.a.setFail(c.fail)
				e.a.mu.Lock()
				e.a.cannotTell = true
				e.a.mu.Unlock()
				const n = 200
				for i := range n {
					e.raise(t, fmt.Sprintf("01TMR%04d", i))
				}
				settle(10 * time.Second)
				during := e.svc.SendTimers()
				if during == 0 {
					t.Fatalf("no send timer while %d chains wait for delivery reports", n)
				}
				settle(2 * time.Hour)
				for i := range n {
					if ch := e.chainOf(t, fmt.Sprintf("01TMR%04d", i)); !ch.Finished || ch.State == anxin.ChainWalking {
						t.Fatalf("chain %d not finished after 2 h: %+v", i, ch)
					}
				}
				if got := e.svc.SendTimers(); got != 0 {
					t.Fatalf("%d send timers held after all %d chains finished (%d while they walked)", got, n, during)
				}
			})
		})
	}
}
