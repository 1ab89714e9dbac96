package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// What people did with an alarm after its household's rule state was
// written is handed over at restart; what the state already reflects is not.
func TestUnappliedAlarmStateChanges(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	res, err := db.ApplyIngest(ctx, &IngestBatch{Changes: []AlarmChange{change(AlarmOpOpen, "hh-1", "button", at),
		change(AlarmOpOpen, "hh-2", "button", at)}, At: at})
	if err != nil || len(res.Opened) != 2 {
		t.Fatal(res, err)
	}
	for _, a := range res.Opened {
		if err := db.SetAlarmState(ctx, a.ID, anxin.AlarmAccepted, "+8613900000001", at); err != nil {
			t.Fatal(err)
		}
	}
	seq, err := db.LastAlarmStateSeq(ctx)
	if err != nil || seq != 2 {
		t.Fatal(seq, err)
	}
	// hh-1's state was written after both changes, hh-2's before them
	if _, err := db.ApplyIngest(ctx, &IngestBatch{States: []RuleState{{Household: "hh-1", State: []byte{1}, AppliedSeq: 2},
		{Household: "hh-2", State: []byte{1}, AppliedSeq: 0}}, At: at}); err != nil {
		t.Fatal(err)
	}
	var got []AlarmStateChange
	if err := db.UnappliedAlarmStateChanges(ctx, func(c AlarmStateChange) { got = append(got, c) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Household != "hh-2" || got[0].State != anxin.AlarmAccepted || got[0].Rule != "button" {
		t.Fatalf("unapplied changes: %+v", got)
	}
}

// A store made before rule_state had applied_seq is upgraded at Open; its
// states count as reflecting the whole log, as the old restart assumed.
func TestOpenUpgradesRuleState(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE rule_state (household TEXT PRIMARY KEY, state BLOB NOT NULL, updated_at INTEGER NOT NULL)`,
		`CREATE TABLE alarm_state_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, alarm_id TEXT NOT NULL,
			household TEXT NOT NULL, rule TEXT NOT NULL, state TEXT NOT NULL, at TEXT NOT NULL)`,
		`INSERT INTO rule_state VALUES ('hh-1', x'01', 0)`,
		`INSERT INTO alarm_state_log (alarm_id, household, rule, state, at) VALUES ('a1', 'hh-1', 'button', 'accepted', '')`,
	} {
		if _, err := old.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	for range 2 { // the second Open finds the column and changes nothing
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.UnappliedAlarmStateChanges(ctx, func(AlarmStateChange) { n++ }); err != nil || n != 0 {
			t.Fatalf("after the upgrade: %d unapplied, %v", n, err)
		}
		db.Close()
	}
}
