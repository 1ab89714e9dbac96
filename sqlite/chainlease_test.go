package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// A store made before chain claims (no wake or lease columns) gains them at
// open; its unfinished chain is due at once and can be claimed.
func TestOldStoreGainsChainClaims(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 7, 0, 57, 0, 0, time.UTC)
	c := anxin.Chain{AlarmID: "a1", Household: "hh-1", State: anxin.ChainWalking, Targets: []anxin.ChainTarget{{Name: "李明"}},
		Steps: []int{0}, Deadline: at.Add(3 * time.Minute), StartedAt: at, UpdatedAt: at, AcceptedTarget: -1}
	if _, err := db.CreateChain(ctx, &c); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP INDEX escalation_chains_wake`, `ALTER TABLE escalation_chains DROP COLUMN wake`,
		`ALTER TABLE escalation_chains DROP COLUMN lease_owner`, `ALTER TABLE escalation_chains DROP COLUMN lease_until`,
		`ALTER TABLE escalation_chains DROP COLUMN lease_epoch`, `ALTER TABLE escalation_chains DROP COLUMN pokes`,
		`ALTER TABLE escalation_chains DROP COLUMN lease_pokes`} {
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	if db, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if due, err := db.DueChains(ctx, at, 10); err != nil || !slices.Equal(due, []string{"a1"}) {
		t.Fatalf("due chains of the old store: %v %v", due, err)
	}
	if e, ok, err := db.ClaimChain(ctx, "a1", "alarmd-a", at, at.Add(15*time.Second)); err != nil || !ok || e != 1 {
		t.Fatalf("claim: %d %v %v", e, ok, err)
	}
	if got, err := db.Chain(ctx, "a1"); err != nil || got.Version != 0 || !got.Deadline.Equal(c.Deadline) {
		t.Fatalf("chain after the migration: %+v %v", got, err)
	}
}
