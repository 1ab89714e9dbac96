package sqlite

import (
	"context"
	"path/filepath"
	"sync"
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

func TestApplyIngestOneOpenAlarmPerRule(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	res, err := db.ApplyIngest(ctx, &IngestBatch{At: t0, Changes: []AlarmChange{
		change(AlarmOpOpen, "hh-1", "button", t0),
		change(AlarmOpOpen, "hh-1", "button", t0.Add(time.Second)), // same rule: a repeat
		change(AlarmOpOpen, "hh-1", "smoke", t0.Add(2*time.Second)),
		change(AlarmOpRepeat, "hh-1", "smoke", t0.Add(3*time.Second)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Opened) != 2 || res.Repeats != 2 {
		t.Fatalf("opened %d repeats %d, want 2 and 2", len(res.Opened), res.Repeats)
	}
	a, err := db.Alarm(ctx, res.Opened[0].ID)
	if err != nil || a.State != anxin.AlarmOpen || a.Repeats != 1 || a.Rule != "button" || !a.OpenedAt.Equal(t0) ||
		!a.UpdatedAt.Equal(t0.Add(time.Second)) || a.Reason != "the call button was pressed" {
		t.Fatalf("button alarm: %+v %v", a, err)
	}
	// accepted: the condition still holding attaches repeats to it, not a new alarm
	if err := db.SetAlarmState(ctx, a.ID, anxin.AlarmAccepted, "李明", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	res, err = db.ApplyIngest(ctx, &IngestBatch{At: t0, Changes: []AlarmChange{change(AlarmOpRepeat, "hh-1", "button", t0.Add(2*time.Minute))}})
	if err != nil || len(res.Opened) != 0 || res.Repeats != 1 {
		t.Fatalf("repeat on accepted: %+v %v", res, err)
	}
	// a new rising edge after acceptance is a new incident: a new alarm, a new chain
	res, err = db.ApplyIngest(ctx, &IngestBatch{At: t0, Changes: []AlarmChange{change(AlarmOpOpen, "hh-1", "button", t0.Add(time.Hour))}})
	if err != nil || len(res.Opened) != 1 || res.Opened[0].ID == a.ID {
		t.Fatalf("open after accepted: %+v %v", res, err)
	}
	// close resolves both unresolved button alarms
	res, err = db.ApplyIngest(ctx, &IngestBatch{At: t0, Changes: []AlarmChange{change(AlarmOpClose, "hh-1", "button", t0.Add(2*time.Hour))}})
	if err != nil || len(res.Closed) != 2 {
		t.Fatalf("close: %+v %v", res, err)
	}
	a, _ = db.Alarm(ctx, a.ID)
	if a.State != anxin.AlarmResolved || !a.ClosedAt.Equal(t0.Add(2*time.Hour)) || a.AcceptedBy != "李明" {
		t.Fatalf("closed alarm: %+v", a)
	}
	open, err := db.Alarms(ctx, AlarmFilter{Household: "hh-1", State: anxin.AlarmOpen})
	if err != nil || len(open) != 1 || open[0].Rule != "smoke" {
		t.Fatalf("open alarms: %+v %v", open, err)
	}
	all, err := db.Alarms(ctx, AlarmFilter{Since: t0.Add(time.Second)})
	if err != nil || len(all) != 2 || !all[0].OpenedAt.After(all[1].OpenedAt) {
		t.Fatalf("since filter, newest first: %+v %v", all, err)
	}
	if _, err := db.Alarm(ctx, "nope"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("missing alarm: %v", err)
	}
	if err := db.SetAlarmState(ctx, a.ID, anxin.AlarmAccepted, "x", t0); anxin.ErrorCode(err) != anxin.ECONFLICT {
		t.Fatalf("accepting a resolved alarm: %v", err)
	}
	changes, err := db.AlarmStateChanges(ctx, 0, 10)
	if err != nil || len(changes) != 1 || changes[0].State != anxin.AlarmAccepted || changes[0].Rule != "button" {
		t.Fatalf("state log: %+v %v", changes, err)
	}
}

func TestApplyIngestSeenIDsAndRuleState(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	for i, at := range []time.Time{t0, t0.Add(time.Hour)} {
		_, err := db.ApplyIngest(ctx, &IngestBatch{At: at, SeenIDs: []string{"id-" + string(rune('a'+i)), "id-x"},
			States: []RuleState{{Household: "hh-1", State: []byte{byte(i)}}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]time.Time{}
	if err := db.SeenIDs(ctx, t0, func(id string, at time.Time) { got[id] = at }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !got["id-x"].Equal(t0) || !got["id-b"].Equal(t0.Add(time.Hour)) {
		t.Fatalf("seen ids: %v", got)
	}
	if n, err := db.ForgetSeenIDs(ctx, t0.Add(time.Minute)); err != nil || n != 2 {
		t.Fatalf("forget: %d %v", n, err)
	}
	states := map[string][]byte{}
	if err := db.RuleStates(ctx, func(h string, s []byte) error { states[h] = s; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 || len(states["hh-1"]) != 1 || states["hh-1"][0] != 1 {
		t.Fatalf("rule state: %v", states)
	}
}

// TestApplyIngestConcurrentOpens checks the unique index under writers racing.
func TestApplyIngestConcurrentOpens(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.ApplyIngest(ctx, &IngestBatch{At: t0, Changes: []AlarmChange{change(AlarmOpOpen, "hh-1", "fall", t0.Add(time.Duration(i)*time.Second))}})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	open, err := db.Alarms(ctx, AlarmFilter{State: anxin.AlarmOpen})
	if err != nil || len(open) != 1 || open[0].Repeats != 7 {
		t.Fatalf("open alarms after racing opens: %+v %v", open, err)
	}
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

// Closing by hand resolves the alarm, keeps who and why, logs the change
// for the engine to re-arm, and cannot be done twice or undone.
func TestCloseAlarmByHand(t *testing.T) {
	ctx := context.Background()
	db := openTestDB(t)
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	res, err := db.ApplyIngest(ctx, &IngestBatch{At: t0, Changes: []AlarmChange{change(AlarmOpOpen, "hh-1", "button", t0)}})
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("open: %+v %v", res, err)
	}
	id := res.Opened[0].ID
	if err := db.CloseAlarm(ctx, id, "community-1", "电话确认老人安全，误按", t0.Add(5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	a, err := db.Alarm(ctx, id)
	if err != nil || a.State != anxin.AlarmResolved || !a.ClosedAt.Equal(t0.Add(5*time.Minute)) || a.AcceptedBy != "" {
		t.Fatalf("closed alarm: %+v %v", a, err)
	}
	notes, err := db.AlarmNotes(ctx, id)
	if err != nil || len(notes) != 1 || notes[0].By != "community-1" || notes[0].What != "closed" ||
		notes[0].Text != "电话确认老人安全，误按" || !notes[0].At.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("notes: %+v %v", notes, err)
	}
	changes, err := db.AlarmStateChanges(ctx, 0, 10)
	if err != nil || len(changes) != 1 || changes[0].State != anxin.AlarmResolved || changes[0].AlarmID != id {
		t.Fatalf("state log: %+v %v", changes, err)
	}
	// a second close, or the chain accepting afterwards, conflicts and
	// leaves the first close as it was
	if err := db.CloseAlarm(ctx, id, "district", "again", t0.Add(time.Hour)); anxin.ErrorCode(err) != anxin.ECONFLICT {
		t.Fatalf("second close: %v", err)
	}
	if err := db.SetAlarmState(ctx, id, anxin.AlarmAccepted, "李明", t0.Add(time.Hour)); anxin.ErrorCode(err) != anxin.ECONFLICT {
		t.Fatalf("accepting a closed alarm: %v", err)
	}
	if notes, _ := db.AlarmNotes(ctx, id); len(notes) != 1 {
		t.Fatalf("notes after refused closes: %+v", notes)
	}
	if err := db.CloseAlarm(ctx, "no-such-alarm", "district", "x", t0); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("unknown alarm: %v", err)
	}
	// the rule's next alarm is a new one
	res, err = db.ApplyIngest(ctx, &IngestBatch{At: t0, Changes: []AlarmChange{change(AlarmOpRepeat, "hh-1", "button", t0.Add(2*time.Hour))}})
	if err != nil || len(res.Opened) != 1 || res.Opened[0].ID == id {
		t.Fatalf("a press after the close: %+v %v", res, err)
	}
}
