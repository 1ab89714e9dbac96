package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// An older store (alarms without the cause column) opens, gains the column,
// and keeps its alarms; a new alarm's cause round-trips.
func TestOldStoreGainsCauseColumn(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `ALTER TABLE alarms DROP COLUMN cause`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, `INSERT INTO alarms (id, household, rule, rule_kind, severity, route, state, opened_at, updated_at)
		VALUES ('a1', 'hh-1', 'button', 'event', 'critical', 'family', 'open', '2026-12-07T00:57:00.000000000Z', '2026-12-07T00:57:00.000000000Z')`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, err := db.Alarm(ctx, "a1")
	if err != nil || !a.Cause.IsZero() {
		t.Fatalf("old alarm: %+v, %v", a, err)
	}
	at := time.Date(2026, 12, 7, 0, 57, 0, 0, time.UTC)
	res, err := db.ApplyIngest(ctx, &IngestBatch{At: at, Changes: []AlarmChange{{Op: AlarmOpOpen, Household: "hh-2", Rule: "smoke",
		RuleKind: "event", Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, At: at,
		Cause: anxin.Cause{Code: anxin.CauseSmoke, Device: anxin.KindSmokeDetector, At: at}}}})
	if err != nil || len(res.Opened) != 1 {
		t.Fatal(res, err)
	}
	b, err := db.Alarm(ctx, res.Opened[0].ID)
	if err != nil || b.Cause.Code != anxin.CauseSmoke || b.Cause.Device != anxin.KindSmokeDetector || !b.Cause.At.Equal(at) {
		t.Fatalf("cause not kept: %+v, %v", b.Cause, err)
	}
}

func TestAckTokens(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exp := time.Date(2026, 12, 8, 0, 57, 0, 0, time.UTC)
	tok := anxin.AckToken{Token: "Ab3dE6gH9k", AlarmID: "a1", Step: 3, PhoneTag: [4]byte{1, 2, 3, 4}, Expires: exp}
	if err := db.PutAckToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	again := tok
	again.AlarmID = "a2"
	if err := db.PutAckToken(ctx, again); err != nil {
		t.Fatal(err)
	}
	got, err := db.AckToken(ctx, "Ab3dE6gH9k")
	if err != nil || got != tok {
		t.Fatalf("got %+v, %v; want %+v", got, err, tok)
	}
	if _, err := db.AckToken(ctx, "nope"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("unknown token: %v", err)
	}
}

// The token write is on the path from button to first SMS: its cost.
func BenchmarkPutAckToken(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "alarmd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	exp := time.Date(2026, 12, 8, 0, 57, 1, 0, time.UTC)
	b.ResetTimer()
	for i := range b.N {
		if err := db.PutAckToken(ctx, anxin.AckToken{Token: fmt.Sprintf("t%09d", i), AlarmID: "a1", Step: 0, Expires: exp}); err != nil {
			b.Fatal(err)
		}
	}
}
