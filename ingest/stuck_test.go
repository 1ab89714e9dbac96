package ingest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/sqlite"
)

// stuckAfter: long enough that no batch of a loaded CI box counts as stuck
// once the stall is over (the loop then must move on, not give up again)
func stuckAfter(d time.Duration) func(*Config) { return func(c *Config) { c.StuckAfter = d } }

// stuckSource is alarmd a holding partition 0 of 2 (leases in db, renewed
// as the real ones are) whose batch loop is stuck in a commit until
// unstall; claim takes a partition for an owner.
func stuckSource(t *testing.T) (db *sqlite.DB, key string, claim func(int, string, time.Time) int64,
	now time.Time, s *JetStreamSource, unstall func()) {
	t.Helper()
	db = openDB(t)
	key, claim = leaseRows(t, db, 2)
	now = time.Now()
	_, s, unstall = busyLoop(t, db, claim(0, "a", now), now, stuckAfter(500*time.Millisecond))
	s.leases, s.cfg.Lease, s.cfg.Poll = db, time.Hour, 10*time.Millisecond
	return db, key, claim, now, s, unstall
}

// A batch loop that stops moving (here a commit that does not return) is
// told by Healthy once it has been on one task for StuckAfter — /healthz
// then says so — and is healthy again once it moves.
func TestStuckLoopIsReported(t *testing.T) {
	db := openDB(t)
	_, claim := leaseRows(t, db, 2)
	now := time.Now()
	p, _, unstall := busyLoop(t, db, claim(0, "a", now), now, stuckAfter(500*time.Millisecond))
	eventually(t, "the stuck batch loop reported", func() bool {
		err := p.Healthy()
		return err != nil && strings.Contains(err.Error(), "batch loop")
	})
	unstall()
	eventually(t, "healthy once the loop moves", func() bool { return p.Healthy() == nil })
}

// An alarmd whose batch loop is stuck must not keep its partitions: its
// lease renewals would otherwise go on (they do not need the loop) and the
// presses of its households wait for as long as it stays stuck, while
// peers could take them. It gives every lease up, a peer claims the
// partition at once, and once the loop moves again the alarmd claims its
// share of what is free.
func TestStuckLoopGivesItsPartitionsUp(t *testing.T) {
	ctx := context.Background()
	db, key, claim, _, s, unstall := stuckSource(t)
	s.done, s.ready = make(chan struct{}), true
	go s.run()
	t.Cleanup(func() { s.cancel(); <-s.done })
	eventually(t, "partition 0 given up by the stuck alarmd", func() bool {
		ls, err := db.PartitionLeases(ctx, key, 2)
		if err != nil {
			t.Fatal(err)
		}
		return ls[0].Owner == "" && len(s.Held()) == 0
	})
	if ls, _ := db.PartitionLeases(ctx, key, 2); ls[1].Owner != "" {
		t.Fatalf("partition 1 claimed by %q while a's loop is stuck", ls[1].Owner)
	}
	s.mu.Lock()
	err := s.errs["stuck"]
	s.mu.Unlock()
	if err == nil || !strings.Contains(err.Error(), "batch loop") {
		t.Fatalf("the source's health holds %v, want the stuck loop named", err)
	}
	claim(0, "b", time.Now()) // a peer takes it at once (no lease to wait out)
	unstall()
	eventually(t, "a claims the free partition once its loop has moved for stuck_after", func() bool {
		return slices.Equal(s.Held(), []int{1})
	})
	s.mu.Lock()
	err = s.errs["stuck"]
	s.mu.Unlock()
	if err != nil {
		t.Fatalf("claiming again with the stuck note still up: %v", err)
	}
}

// A take-over that waits for a stuck loop does not renew the leases it
// waits with past StuckAfter: they are given up, and the take-over, once
// the loop returns, starts no pulls for them.
func TestTakeOverWaitingOnAStuckLoopGivesUp(t *testing.T) {
	ctx := context.Background()
	db, key, claim, now, s, unstall := stuckSource(t)
	took := make(chan error, 1)
	go func() { took <- s.takeOver(map[int]int64{1: claim(1, "a", now)}, now.Add(time.Minute)) }()
	eventually(t, "both leases given up while the take-over waits on a stuck loop", func() bool {
		ls, err := db.PartitionLeases(ctx, key, 2)
		if err != nil {
			t.Fatal(err)
		}
		return ls[0].Owner == "" && ls[1].Owner == ""
	})
	unstall()
	if err := <-took; err != nil {
		t.Fatal(err)
	}
	if held := s.Held(); len(held) != 0 {
		t.Fatalf("held after the take-over given up: %v, want none", held)
	}
}
