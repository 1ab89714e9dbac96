package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// LeaseStore is the partition-lease part of a store.
type LeaseStore = anxin.LeaseStore

// RunLeases runs the partition-lease contract against stores made by open.
func RunLeases(t *testing.T, open func(t *testing.T) LeaseStore) {
	t.Run("PartitionLeases", func(t *testing.T) { partitionLeases(t, open(t)) })
	t.Run("PartitionLeaseRace", func(t *testing.T) { partitionLeaseRace(t, open(t)) })
}

func partitionLeases(t *testing.T, s LeaseStore) {
	ctx := context.Background()
	now := t0
	ls, err := s.PartitionLeases(ctx, "S", 4)
	if err != nil || len(ls) != 4 {
		t.Fatalf("leases: %v %v", ls, err)
	}
	for i, l := range ls {
		if l.Part != i || l.Owner != "" || l.Epoch != 0 {
			t.Fatalf("fresh lease %d: %+v", i, l)
		}
	}
	e1, ok, err := s.ClaimPartition(ctx, "S", 1, "a", now, now.Add(15*time.Second))
	if err != nil || !ok || e1 != 1 {
		t.Fatalf("claim free: %d %v %v", e1, ok, err)
	}
	if _, ok, err := s.ClaimPartition(ctx, "S", 1, "b", now.Add(time.Second), now.Add(16*time.Second)); err != nil || ok {
		t.Fatalf("b claimed a's live lease: %v %v", ok, err)
	}
	if ok, err := s.RenewPartition(ctx, "S", 1, "a", e1, now.Add(30*time.Second)); err != nil || !ok {
		t.Fatalf("renew: %v %v", ok, err)
	}
	// a's lease runs out: b takes it with a new epoch, a's renewal is refused
	e2, ok, err := s.ClaimPartition(ctx, "S", 1, "b", now.Add(31*time.Second), now.Add(46*time.Second))
	if err != nil || !ok || e2 != e1+1 {
		t.Fatalf("claim expired: %d %v %v", e2, ok, err)
	}
	if ok, err := s.RenewPartition(ctx, "S", 1, "a", e1, now.Add(60*time.Second)); err != nil || ok {
		t.Fatalf("a renewed a lease it lost: %v %v", ok, err)
	}
	// a stale release changes nothing; b's release frees it at once
	if err := s.ReleasePartition(ctx, "S", 1, "a", e1); err != nil {
		t.Fatal(err)
	}
	ls, _ = s.PartitionLeases(ctx, "S", 4)
	if ls[1].Owner != "b" || ls[1].Epoch != e2 {
		t.Fatalf("after a's stale release: %+v", ls[1])
	}
	if err := s.ReleasePartition(ctx, "S", 1, "b", e2); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.ClaimPartition(ctx, "S", 1, "c", now.Add(32*time.Second), now.Add(47*time.Second)); err != nil || !ok {
		t.Fatalf("claim released: %v %v", ok, err)
	}
	// streams are separate
	if ls, _ := s.PartitionLeases(ctx, "T", 2); len(ls) != 2 || ls[1].Owner != "" {
		t.Fatalf("stream T: %+v", ls)
	}
	// members: alive while their heartbeat runs
	if err := s.HeartbeatMember(ctx, "S", "b", now.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.HeartbeatMember(ctx, "S", "a", now.Add(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if m, err := s.LiveMembers(ctx, "S", now); err != nil || len(m) != 2 || m[0] != "a" || m[1] != "b" {
		t.Fatalf("members: %v %v", m, err)
	}
	if m, _ := s.LiveMembers(ctx, "S", now.Add(6*time.Second)); len(m) != 1 || m[0] != "b" {
		t.Fatalf("members after a's heartbeat ran out: %v", m)
	}
	if err := s.LeaveMembers(ctx, "S", "b"); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.LiveMembers(ctx, "S", now); len(m) != 1 || m[0] != "a" {
		t.Fatalf("members after b left: %v", m)
	}
}

// partitionLeaseRace: of many instances claiming one free partition at
// once, exactly one gets it.
func partitionLeaseRace(t *testing.T, s LeaseStore) {
	ctx := context.Background()
	if _, err := s.PartitionLeases(ctx, "S", 1); err != nil {
		t.Fatal(err)
	}
	const n = 8
	won := make(chan string, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			owner := string(rune('a' + i))
			_, ok, err := s.ClaimPartition(ctx, "S", 0, owner, t0, t0.Add(15*time.Second))
			if err != nil {
				errs <- err
				return
			}
			if ok {
				won <- owner
			}
			errs <- nil
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(won)
	var winners []string
	for w := range won {
		winners = append(winners, w)
	}
	ls, _ := s.PartitionLeases(ctx, "S", 1)
	if len(winners) != 1 || ls[0].Owner != winners[0] || ls[0].Epoch != 1 {
		t.Fatalf("winners %v, lease %+v", winners, ls[0])
	}
}

// FencedIngestStore is a store whose ingest writes are fenced by its
// partition leases.
type FencedIngestStore interface {
	anxin.LeaseStore
	anxin.IngestStore
}

// RunFencedIngest runs the contract of a fenced ingest write
// (IngestBatch.Fence) against stores made by open.
func RunFencedIngest(t *testing.T, open func(t *testing.T) FencedIngestStore) {
	t.Run("FencedIngest", func(t *testing.T) { fencedIngest(t, open(t)) })
}

// fencedIngest: a batch fenced by leases its writer holds is applied; one
// naming a partition claimed since, or whose lease ran out by the
// database's clock (wall time here: the check uses the database's), is
// refused with the partitions lost and leaves nothing in the store.
func fencedIngest(t *testing.T, s FencedIngestStore) {
	ctx := context.Background()
	now := time.Now()
	if _, err := s.PartitionLeases(ctx, "S", 3); err != nil {
		t.Fatal(err)
	}
	claim := func(part int, owner string, now, until time.Time) int64 {
		t.Helper()
		e, ok, err := s.ClaimPartition(ctx, "S", part, owner, now, until)
		if err != nil || !ok {
			t.Fatalf("claim %d by %s: %v %v", part, owner, ok, err)
		}
		return e
	}
	e0 := claim(0, "a", now, now.Add(time.Hour))
	e1 := claim(1, "a", now, now.Add(time.Hour))
	e2 := claim(2, "a", now.Add(-time.Hour), now.Add(-time.Minute)) // ran out a minute ago
	batch := func(hh string, f *anxin.LeaseFence) *anxin.IngestBatch {
		return &anxin.IngestBatch{At: now, Fence: f, Changes: []anxin.AlarmChange{change(anxin.AlarmOpOpen, hh, "button", now)},
			SeenIDs: []string{hh + "/m-1"}, States: []anxin.RuleState{{Household: hh, State: []byte{1}}}}
	}
	fence := func(owner string, pe ...anxin.PartitionEpoch) *anxin.LeaseFence {
		return &anxin.LeaseFence{Stream: "S", Owner: owner, Parts: pe}
	}
	res, err := s.ApplyIngest(ctx, batch("hh-held", fence("a", anxin.PartitionEpoch{Part: 0, Epoch: e0},
		anxin.PartitionEpoch{Part: 1, Epoch: e1})))
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("fenced batch under held leases: %+v %v", res, err)
	}
	refused := func(what string, b *anxin.IngestBatch, lost ...int) {
		t.Helper()
		res, err := s.ApplyIngest(ctx, b)
		var ll *anxin.LeaseLostError
		if !errors.As(err, &ll) || !slices.Equal(ll.Parts, lost) || len(res.Opened) != 0 {
			t.Fatalf("%s: want the leases of %v lost, got %+v %v", what, lost, res, err)
		}
	}
	refused("lease ran out by the database's clock", batch("hh-expired", fence("a", anxin.PartitionEpoch{Part: 2, Epoch: e2})), 2)
	// b claims partition 1 (a's lease has run out by b's clock): a's batch
	// touching partitions 0 and 1 is refused whole
	e1b := claim(1, "b", now.Add(2*time.Hour), now.Add(3*time.Hour))
	refused("partition claimed by another", batch("hh-stale", fence("a", anxin.PartitionEpoch{Part: 0, Epoch: e0},
		anxin.PartitionEpoch{Part: 1, Epoch: e1})), 1)
	refused("an owner's older epoch", batch("hh-old-epoch", fence("b", anxin.PartitionEpoch{Part: 1, Epoch: e1})), 1)
	for _, hh := range []string{"hh-expired", "hh-stale", "hh-old-epoch"} {
		as, err := s.Alarms(ctx, anxin.AlarmFilter{Household: hh})
		if err != nil || len(as) != 0 {
			t.Fatalf("alarms of refused %s: %+v %v", hh, as, err)
		}
	}
	seen := map[string]bool{}
	if err := s.SeenIDs(ctx, now.Add(-time.Hour), func(id string, _ time.Time) { seen[id] = true }); err != nil {
		t.Fatal(err)
	}
	states := map[string]bool{}
	if err := s.RuleStates(ctx, func(hh string, _ []byte) error { states[hh] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || !seen["hh-held/m-1"] || len(states) != 1 || !states["hh-held"] {
		t.Fatalf("refused batches left seen ids %v or rule states %v", seen, states)
	}
	// the new owner's batch is applied; an unfenced one always is
	if _, err := s.ApplyIngest(ctx, batch("hh-new-owner", fence("b", anxin.PartitionEpoch{Part: 1, Epoch: e1b}))); err != nil {
		t.Fatalf("new owner's batch: %v", err)
	}
	if _, err := s.ApplyIngest(ctx, batch("hh-unfenced", nil)); err != nil {
		t.Fatalf("unfenced batch: %v", err)
	}
}
