package ingest

import (
	"context"
	"fmt"
	"testing"
)

// TestReadingQueueGrowsToWhatItHolds: the ring's memory follows what is
// queued, not the bound (ingest.inflight, 10,000 by default: ~1 MB held
// from start when the broker's window keeps a few hundred queued), and
// growing keeps the order across the ring's wrap.
func TestReadingQueueGrowsToWhatItHolds(t *testing.T) {
	const bound = 10_000
	q := newReadingQueue(bound)
	if len(q.buf) >= bound {
		t.Fatalf("a new queue holds room for %d readings, want it sized to what is queued (bound %d)", len(q.buf), bound)
	}
	ctx := context.Background()
	next, want := 0, 0
	put := func(k int) {
		ds := make([]Delivery, k)
		for i := range ds {
			next++
			ds[i] = Delivery{Topic: fmt.Sprint(next)}
		}
		if err := q.put(ctx, ds); err != nil {
			t.Fatal(err)
		}
	}
	take := func(k int) {
		for _, d := range q.take(make([]Delivery, 0, k)) {
			want++
			if d.Topic != fmt.Sprint(want) {
				t.Fatalf("took %s, want %d", d.Topic, want)
			}
		}
	}
	put(200)
	take(150) // the ring's head moves on: the next puts wrap
	put(300)  // more than its room: it grows with the oldest wrapped
	if q.len() != 350 || len(q.buf) < 350 || len(q.buf) >= bound {
		t.Fatalf("holds %d in a ring of %d, want 350 in at least that and under the bound %d", q.len(), len(q.buf), bound)
	}
	put(2000)
	take(bound)
	if want != next || q.len() != 0 {
		t.Fatalf("took %d of %d, %d left", want, next, q.len())
	}
	put(bound) // the bound still holds: all of it fits, one more waits
	if len(q.buf) != bound {
		t.Fatalf("a ring of %d at the bound %d", len(q.buf), bound)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := q.put(cctx, make([]Delivery, 1)); err == nil {
		t.Fatal("a put beyond the bound did not wait")
	}
}
