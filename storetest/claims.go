package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// claimChain makes a walking chain for the claim cases.
func claimChain(t *testing.T, s anxin.Store, id string, at time.Time) *anxin.Chain {
	t.Helper()
	c := anxin.Chain{AlarmID: id, Household: "hh-1", Severity: anxin.SeverityCritical, State: anxin.ChainWalking,
		Targets: []anxin.ChainTarget{{Name: "李明", Phone: "+8613900000001"}}, Steps: []int{0},
		Deadline: at.Add(3 * time.Minute), StartedAt: at, UpdatedAt: at, AcceptedTarget: -1}
	if created, err := s.CreateChain(context.Background(), &c); err != nil || !created {
		t.Fatalf("create chain %s: %v %v", id, created, err)
	}
	return &c
}

// A lease is held by one claimant at a time, also when many race for it,
// and claiming moves neither the chain's version nor its progress.
func claimExclusive(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	c := claimChain(t, s, "01CLAIM", t0)
	lease := 15 * time.Second
	e1, ok, err := s.ClaimChain(ctx, c.AlarmID, "alarmd-a", t0, t0.Add(lease))
	if err != nil || !ok || e1 <= 0 {
		t.Fatalf("first claim: epoch %d ok %v %v", e1, ok, err)
	}
	if e, ok, err := s.ClaimChain(ctx, c.AlarmID, "alarmd-b", t0.Add(time.Second), t0.Add(time.Second+lease)); err != nil || ok {
		t.Fatalf("a held lease was claimed again: epoch %d %v", e, err)
	}
	if _, ok, err := s.ClaimChain(ctx, c.AlarmID, "alarmd-a", t0.Add(time.Second), t0.Add(time.Second+lease)); err != nil || ok {
		t.Fatalf("the holder claimed its own lease twice: %v", err)
	}
	if _, ok, err := s.ClaimChain(ctx, "01NOCHAIN", "alarmd-a", t0, t0.Add(lease)); err != nil || ok {
		t.Fatalf("claimed a chain that does not exist: %v %v", ok, err)
	}
	got, err := s.Chain(ctx, c.AlarmID)
	if err != nil || got.Version != c.Version || got.Step != 0 || got.State != anxin.ChainWalking {
		t.Fatalf("claim changed the chain: %+v %v", got, err)
	}
	if err := s.SaveChain(ctx, &got); err != nil { // versioned writes are unaffected by leases
		t.Fatal(err)
	}
	if _, err := s.ReleaseChain(ctx, c.AlarmID, "alarmd-a", e1, time.Time{}); err != nil {
		t.Fatal(err)
	}
	// released: ten claimants at once, exactly one wins
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []string
	now := t0.Add(time.Minute)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprintf("alarmd-%d", i)
			e, ok, err := s.ClaimChain(ctx, c.AlarmID, owner, now, now.Add(lease))
			if err != nil {
				t.Errorf("claim by %s: %v", owner, err)
			}
			if ok {
				mu.Lock()
				won = append(won, fmt.Sprintf("%s@%d", owner, e))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d claims won a free lease at once, want 1: %v", len(won), won)
	}
}

// A lease that ran out may be claimed by another with a higher epoch; the
// old holder's epoch is then refused: it can neither renew nor release.
func claimExpiryAndFencing(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	c := claimChain(t, s, "01FENCE", t0)
	lease := 15 * time.Second
	e1, ok, err := s.ClaimChain(ctx, c.AlarmID, "alarmd-a", t0, t0.Add(lease))
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if ok, err := s.RenewChain(ctx, c.AlarmID, "alarmd-a", e1, t0.Add(10*time.Second+lease)); err != nil || !ok {
		t.Fatalf("renew by the holder: %v %v", ok, err)
	}
	if _, ok, _ := s.ClaimChain(ctx, c.AlarmID, "alarmd-b", t0.Add(20*time.Second), t0.Add(20*time.Second+lease)); ok {
		t.Fatal("claimed before the renewed lease ran out")
	}
	if ok, err := s.RenewChain(ctx, c.AlarmID, "alarmd-b", e1, t0.Add(time.Hour)); err != nil || ok {
		t.Fatalf("another owner renewed the lease: %v %v", ok, err)
	}
	at := t0.Add(10*time.Second + lease + time.Millisecond) // ran out
	e2, ok, err := s.ClaimChain(ctx, c.AlarmID, "alarmd-b", at, at.Add(lease))
	if err != nil || !ok || e2 <= e1 {
		t.Fatalf("claim after expiry: epoch %d (was %d) ok %v %v", e2, e1, ok, err)
	}
	if ok, err := s.RenewChain(ctx, c.AlarmID, "alarmd-a", e1, at.Add(lease)); err != nil || ok {
		t.Fatalf("the stale holder renewed: %v %v", ok, err)
	}
	if _, err := s.ReleaseChain(ctx, c.AlarmID, "alarmd-a", e1, at.Add(time.Minute)); anxin.ErrorCode(err) != anxin.ECONFLICT {
		t.Fatalf("the stale holder released: %v", err)
	}
	if ok, err := s.RenewChain(ctx, c.AlarmID, "alarmd-b", e2, at.Add(2*lease)); err != nil || !ok {
		t.Fatalf("the new holder's renew: %v %v", ok, err)
	}
	// the same owner claiming again (a restarted instance) gets a new epoch too
	if _, err := s.ReleaseChain(ctx, c.AlarmID, "alarmd-b", e2, time.Time{}); err != nil {
		t.Fatal(err)
	}
	e3, ok, err := s.ClaimChain(ctx, c.AlarmID, "alarmd-b", at, at.Add(lease))
	if err != nil || !ok || e3 <= e2 {
		t.Fatalf("claim after release: epoch %d (was %d) %v %v", e3, e2, ok, err)
	}
	if ok, _ := s.RenewChain(ctx, c.AlarmID, "alarmd-b", e2, at.Add(lease)); ok {
		t.Fatal("an older epoch of the same owner renewed")
	}
}

// The wake a pass releases with is when the chain is due next; a poke
// during the pass survives the release (the chain stays due and the
// release says so); a poke with no pass makes the chain due at once.
func claimPokeSurvivesRelease(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	c := claimChain(t, s, "01POKE", t0)
	lease := 15 * time.Second
	due := func(at time.Time) bool {
		t.Helper()
		ids, err := s.DueChains(ctx, at, 10)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(ids, c.AlarmID)
	}
	e, ok, err := s.ClaimChain(ctx, c.AlarmID, "alarmd-a", t0, t0.Add(lease))
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if err := s.PokeChain(ctx, c.AlarmID, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	wake := t0.Add(3 * time.Minute)
	poked, err := s.ReleaseChain(ctx, c.AlarmID, "alarmd-a", e, wake)
	if err != nil || !poked {
		t.Fatalf("release after a poke during the pass: poked %v %v", poked, err)
	}
	if !due(t0.Add(2 * time.Second)) {
		t.Fatal("a poke during the pass was lost at release: the chain is not due")
	}
	// the next pass, without a poke: the released wake holds
	e, ok, err = s.ClaimChain(ctx, c.AlarmID, "alarmd-b", t0.Add(2*time.Second), t0.Add(2*time.Second+lease))
	if err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if due(t0.Add(3 * time.Second)) {
		t.Fatal("a leased chain is listed due")
	}
	if poked, err := s.ReleaseChain(ctx, c.AlarmID, "alarmd-b", e, wake); err != nil || poked {
		t.Fatalf("release without a poke: poked %v %v", poked, err)
	}
	if due(wake.Add(-time.Millisecond)) || !due(wake) {
		t.Fatal("the released wake is not when the chain falls due")
	}
	// a poke between passes: due at once
	if err := s.PokeChain(ctx, c.AlarmID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !due(t0.Add(time.Minute)) {
		t.Fatal("a poked chain is not due")
	}
	if err := s.PokeChain(ctx, "01NOCHAIN", t0); err != nil {
		t.Fatalf("poke of no chain: %v", err)
	}
}

// DueChains: unfinished chains whose wake came and whose lease is free or
// ran out, earliest wake first, at most limit.
func claimDueList(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	lease := 15 * time.Second
	wakes := map[string]time.Duration{"01D1": 3 * time.Minute, "01D2": time.Minute, "01D3": 2 * time.Minute, "01D4": 10 * time.Minute}
	for id, w := range wakes {
		claimChain(t, s, id, t0)
		e, ok, err := s.ClaimChain(ctx, id, "alarmd-a", t0, t0.Add(lease))
		if err != nil || !ok {
			t.Fatalf("claim %s: %v %v", id, ok, err)
		}
		if _, err := s.ReleaseChain(ctx, id, "alarmd-a", e, t0.Add(w)); err != nil {
			t.Fatal(err)
		}
	}
	// a chain never passed (a new one, or one made before claims) is due at once
	claimChain(t, s, "01D0", t0)
	done := claimChain(t, s, "01D5", t0)
	done.Finished = true
	if err := s.SaveChain(ctx, done); err != nil {
		t.Fatal(err)
	}
	list := func(at time.Time, limit int) []string {
		t.Helper()
		ids, err := s.DueChains(ctx, at, limit)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := list(t0.Add(150*time.Second), 10); !slices.Equal(got, []string{"01D0", "01D2", "01D3"}) {
		t.Fatalf("due at 2m30s: %v", got)
	}
	if got := list(t0.Add(time.Hour), 2); !slices.Equal(got, []string{"01D0", "01D2"}) {
		t.Fatalf("due, limit 2: %v", got)
	}
	// a held lease hides a due chain until it runs out
	at := t0.Add(4 * time.Minute)
	if _, ok, err := s.ClaimChain(ctx, "01D1", "alarmd-b", at, at.Add(lease)); err != nil || !ok {
		t.Fatalf("claim: %v %v", ok, err)
	}
	if got := list(at.Add(time.Second), 10); slices.Contains(got, "01D1") {
		t.Fatalf("a held chain is due: %v", got)
	}
	if got := list(at.Add(lease+time.Millisecond), 10); !slices.Contains(got, "01D1") {
		t.Fatalf("a chain whose lease ran out (its holder died mid-pass) is not due: %v", got)
	}
}
