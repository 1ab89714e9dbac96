package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

func openTestDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func change(op AlarmOp, hh, rule string, at time.Time) AlarmChange {
	return AlarmChange{Op: op, Household: hh, Rule: rule, RuleKind: "event", Device: "btn1",
		Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, At: at, Reason: "the call button was pressed", MessageID: "m-" + string(op)}
}

func BenchmarkApplyIngest(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "a.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	t0 := time.Now()
	ids := make([]string, 1000)
	states := make([]RuleState, 100)
	for i := range states {
		states[i] = RuleState{Household: anxin.NewID(t0), State: make([]byte, 64)}
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range ids {
			ids[i] = anxin.NewID(t0)
		}
		if _, err := db.ApplyIngest(ctx, &IngestBatch{At: t0, SeenIDs: ids, States: states,
			Changes: []AlarmChange{change(AlarmOpOpen, "hh-1", "button", t0)}}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestIngestWriterAndCheckpoint(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	w, err := db.NewIngestWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// the commits behind PUBACKs are fsynced; the pool's are not
	var writerSync, poolSync int
	if err := w.conn.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&writerSync); err != nil || writerSync != 2 {
		t.Fatalf("ingest writer synchronous = %d (%v), want 2 (FULL)", writerSync, err)
	}
	if err := db.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&poolSync); err != nil || poolSync != 1 {
		t.Fatalf("pool synchronous = %d (%v), want 1 (NORMAL)", poolSync, err)
	}
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	res, err := w.ApplyIngest(ctx, &IngestBatch{At: t0, Changes: []AlarmChange{change(AlarmOpOpen, "hh-1", "gas", t0)}, SeenIDs: []string{"m1"}})
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	if err := db.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// what the writer committed is visible through the pool
	if a, err := db.Alarm(ctx, res.Opened[0].ID); err != nil || a.Rule != "gas" {
		t.Fatalf("%+v %v", a, err)
	}
}
