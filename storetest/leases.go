package storetest

import (
	"context"
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
