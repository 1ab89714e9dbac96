package dispatch_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/sqlite"
)

// BenchmarkPass is one steady-state pass of the dispatcher over a store
// with n unanswered alarms already dispatched (each pass checks every one
// against its order key, lists the pending and the open orders): the
// work alarmd does every 30 s.
func BenchmarkPass(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			t := &testing.T{}
			w := newWorld(t)
			ctx := context.Background()
			var changes []sqlite.AlarmChange
			for i := range n {
				changes = append(changes, sqlite.AlarmChange{Op: sqlite.AlarmOpOpen, Household: "hh-1", Rule: fmt.Sprintf("button-%d", i),
					RuleKind: "event", Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, At: w.clock.Now(),
					Cause: anxin.Cause{Code: anxin.CauseButton, Device: anxin.KindCallButton}})
			}
			res, err := w.db.ApplyIngest(ctx, &sqlite.IngestBatch{At: w.clock.Now(), Changes: changes})
			if err != nil {
				b.Fatal(err)
			}
			for _, a := range res.Opened {
				if err := w.db.SetAlarmState(ctx, a.ID, anxin.AlarmUnanswered, "", w.clock.Now()); err != nil {
					b.Fatal(err)
				}
			}
			d := w.dispatcher()
			if err := d.Pass(ctx); err != nil {
				b.Fatal(err)
			}
			if os := w.orders(t); len(os) < n {
				b.Fatalf("%d orders for %d alarms", len(os), n)
			}
			w.clock.add(time.Minute)
			b.ResetTimer()
			for b.Loop() {
				if err := d.Pass(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
