package postgres

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// A database made at schema version 2, before chain claims (an alarmd older
// than the cluster work left it), gains the wake and lease columns at the
// next Open (step 3) and the wake index with the schema; its unfinished
// chain is due at once and can be claimed.
func chainClaimsAdded(t *testing.T, s *server) {
	ctx := context.Background()
	db := s.open(t)
	at := time.Date(2026, 12, 7, 0, 57, 0, 0, time.UTC)
	c := anxin.Chain{AlarmID: "a1", Household: "hh-1", State: anxin.ChainWalking, Targets: []anxin.ChainTarget{{Name: "李明"}},
		Steps: []int{0}, Deadline: at.Add(3 * time.Minute), StartedAt: at, UpdatedAt: at, AcceptedTarget: -1}
	if _, err := db.CreateChain(ctx, &c); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP INDEX escalation_chains_wake`,
		`ALTER TABLE escalation_chains DROP COLUMN wake, DROP COLUMN lease_owner, DROP COLUMN lease_until,
			DROP COLUMN lease_epoch, DROP COLUMN pokes, DROP COLUMN lease_pokes`,
		`DELETE FROM schema_version WHERE version > 2`, `UPDATE schema_tables SET digest = 'an older alarmd'`} {
		if _, err := db.SQL().Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	again, err := Open(ctx, s.url())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if v, err := again.SchemaVersion(ctx); err != nil || v != len(versions) {
		t.Fatalf("version %d %v, want %d", v, err, len(versions))
	}
	if due, err := again.DueChains(ctx, at, 10); err != nil || !slices.Equal(due, []string{"a1"}) {
		t.Fatalf("due chains of the older database: %v %v", due, err)
	}
	if e, ok, err := again.ClaimChain(ctx, "a1", "alarmd-a", at, at.Add(15*time.Second)); err != nil || !ok || e != 1 {
		t.Fatalf("claim: %d %v %v", e, ok, err)
	}
	var n int
	if err := again.SQL().QueryRow(`SELECT count(*) FROM pg_indexes WHERE indexname = 'escalation_chains_wake' AND schemaname = current_schema()`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("wake index: %d %v", n, err)
	}
}
