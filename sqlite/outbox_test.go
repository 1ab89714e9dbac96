package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	_ "modernc.org/sqlite"
)

// The outbox lists open family alarms of severity critical or warning
// without a chain; installer, info, closed alarms and those with a chain
// (including the resolved marker a close leaves) are not in it.
func TestAlarmsAwaitingChain(t *testing.T) {
	ctx := context.Background()
	d := openTestDB(t)
	t0 := time.Now()
	res, err := d.ApplyIngest(ctx, &IngestBatch{At: t0, Changes: []AlarmChange{
		{Op: AlarmOpOpen, Household: "hh-1", Rule: "fall", RuleKind: "event", Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, At: t0},
		{Op: AlarmOpOpen, Household: "hh-1", Rule: "device_silent", RuleKind: "device_silent", Severity: anxin.SeverityInfo, Route: anxin.RouteInstaller, At: t0},
		{Op: AlarmOpOpen, Household: "hh-2", Rule: "smoke", RuleKind: "event", Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, At: t0},
		{Op: AlarmOpClose, Household: "hh-2", Rule: "smoke", At: t0.Add(time.Second)},
		{Op: AlarmOpOpen, Household: "hh-3", Rule: "no_water", RuleKind: "no_use", Severity: anxin.SeverityWarning, Route: anxin.RouteFamily, At: t0.Add(time.Second)},
		{Op: AlarmOpOpen, Household: "hh-4", Rule: "button", RuleKind: "event", Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, At: t0.Add(2 * time.Second)},
	}})
	if err != nil || len(res.Opened) != 5 {
		t.Fatalf("%+v %v", res, err)
	}
	// hh-4's alarm has a chain already
	if _, err := d.CreateChain(ctx, &anxin.Chain{AlarmID: res.Opened[4].ID, Household: "hh-4", State: anxin.ChainResolved,
		Targets: []anxin.ChainTarget{}, Steps: []int{}, Finished: true, StartedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	got, err := d.AlarmsAwaitingChain(ctx, 10, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != res.Opened[0].ID || got[1].ID != res.Opened[3].ID {
		t.Fatalf("awaiting %+v, want the fall and the no-water alarm, oldest first", got)
	}
	if got, _ := d.AlarmsAwaitingChain(ctx, 1, false); len(got) != 1 {
		t.Fatalf("limit 1 gave %d", len(got))
	}
	got, err = d.AlarmsAwaitingChain(ctx, 10, true)
	if err != nil || len(got) != 3 || got[1].ID != res.Opened[1].ID {
		t.Fatalf("with installers: %+v %v, want the installer alarm too", got, err)
	}
}

// Versioned writes: a save based on an older read is ECONFLICT; a provider
// id belongs to one attempt.
func TestVersionedWrites(t *testing.T) {
	ctx := context.Background()
	d := openTestDB(t)
	t0 := time.Now()
	c := anxin.Chain{AlarmID: "01A", Household: "hh-1", State: anxin.ChainWalking, Targets: []anxin.ChainTarget{{Name: "李明"}},
		Steps: []int{0}, StartedAt: t0, UpdatedAt: t0, AcceptedTarget: -1}
	if _, err := d.CreateChain(ctx, &c); err != nil {
		t.Fatal(err)
	}
	stale, _ := d.Chain(ctx, "01A")
	c.State, c.AcceptedTarget = anxin.ChainAccepted, 0
	if err := d.SaveChain(ctx, &c); err != nil {
		t.Fatal(err)
	}
	stale.Step = 1
	if err := d.SaveChain(ctx, &stale); anxin.ErrorCode(err) != anxin.ECONFLICT {
		t.Fatalf("stale save: %v, want ECONFLICT", err)
	}
	if got, _ := d.Chain(ctx, "01A"); got.State != anxin.ChainAccepted || got.AcceptedTarget != 0 || got.Step != 0 {
		t.Fatalf("chain %+v: the stale save overwrote the acceptance", got)
	}
	missing := anxin.Chain{AlarmID: "01NONE"}
	if err := d.SaveChain(ctx, &missing); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("save of a missing chain: %v", err)
	}
	for _, id := range []string{"01A/s0/voice", "01B/s0/voice"} {
		a := anxin.Attempt{ID: id, AlarmID: alarmOfID(id), Purpose: anxin.PurposeStep, Channel: anxin.ChannelVoice,
			Provider: "twilio", Status: anxin.AttemptSending, CreatedAt: t0, UpdatedAt: t0}
		if _, err := d.CreateAttempt(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := d.Attempt(ctx, "01A/s0/voice")
	a.ProviderID = "CA1"
	if err := d.SaveAttempt(ctx, &a); err != nil {
		t.Fatal(err)
	}
	b, _ := d.Attempt(ctx, "01B/s0/voice")
	b.ProviderID = "CA1"
	if err := d.SaveAttempt(ctx, &b); anxin.ErrorCode(err) != anxin.ECONFLICT || !errors.Is(err, anxin.ErrProviderIDHeld) {
		t.Fatalf("a second attempt took CA1: %v", err)
	}
	if held, err := d.AttemptByProviderID(ctx, "twilio", "CA1"); err != nil || held.ID != "01A/s0/voice" {
		t.Fatalf("CA1 held by %+v %v", held, err)
	}
	if _, err := d.AttemptByProviderID(ctx, "twilio", "CA2"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("CA2: %v", err)
	}
}

func alarmOfID(attemptID string) string { return attemptID[:3] }

// Stored times are fixed width, so text order is time order: an attempt
// made on the second sorts before one made half a second later (RFC3339Nano
// writes "00Z" and "00.5Z", and "." sorts before "Z").
func TestAttemptTimesSort(t *testing.T) {
	ctx := context.Background()
	d := openTestDB(t)
	base := time.Date(2026, 12, 7, 0, 57, 0, 0, time.UTC)
	times := []time.Time{base, base.Add(500 * time.Millisecond), base.Add(time.Second + 123456*time.Microsecond)}
	for i, at := range []int{2, 0, 1} {
		a := anxin.Attempt{ID: "01T/n" + string(rune('a'+i)) + "/sms", AlarmID: "01T", Purpose: anxin.PurposeTaken,
			Channel: anxin.ChannelSMS, Provider: "log", Status: "queued", CreatedAt: times[at], UpdatedAt: times[at]}
		if _, err := d.CreateAttempt(ctx, &a); err != nil {
			t.Fatal(err)
		}
	}
	as, err := d.Attempts(ctx, "01T")
	if err != nil {
		t.Fatal(err)
	}
	for i := range as {
		if !as[i].CreatedAt.Equal(times[i]) {
			t.Fatalf("attempt %d made at %v, want %v (text order is not time order)", i, as[i].CreatedAt, times[i])
		}
	}
}

// A store made before the versions, the acceptor's position and unique
// provider ids is brought up to date at Open: the acceptor found by name,
// a provider id held twice held by neither.
func TestMigrateOldEscalationStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE escalation_chains (alarm_id TEXT PRIMARY KEY, household TEXT NOT NULL, severity TEXT NOT NULL,
			state TEXT NOT NULL, targets TEXT NOT NULL, steps TEXT NOT NULL, step INTEGER NOT NULL, deadline TEXT NOT NULL,
			started_at TEXT NOT NULL, updated_at TEXT NOT NULL, accepted_by TEXT NOT NULL DEFAULT '',
			accepted_via TEXT NOT NULL DEFAULT '', accepted_at TEXT NOT NULL DEFAULT '', finished INTEGER NOT NULL DEFAULT 0,
			visit_id TEXT NOT NULL DEFAULT '')`,
		`CREATE TABLE escalation_attempts (id TEXT PRIMARY KEY, alarm_id TEXT NOT NULL, purpose TEXT NOT NULL,
			step INTEGER NOT NULL, target INTEGER NOT NULL, channel TEXT NOT NULL, provider TEXT NOT NULL,
			provider_id TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, answered_by TEXT NOT NULL DEFAULT '',
			error TEXT NOT NULL DEFAULT '', tries INTEGER NOT NULL DEFAULT 0, next_try TEXT NOT NULL DEFAULT '',
			created_at TEXT NOT NULL, updated_at TEXT NOT NULL)`,
		`CREATE INDEX escalation_attempts_provider ON escalation_attempts(provider_id) WHERE provider_id != ''`,
		`INSERT INTO escalation_chains VALUES ('01OLD','hh-1','critical','accepted',
			'[{"name":"李明","phone":"+8613900000001"},{"name":"王芳","phone":"+8613700000002"}]','[0,1]',1,'',
			'2026-12-01T00:00:00Z','2026-12-01T00:01:00Z','王芳','key_press','2026-12-01T00:01:00Z',1,'v1')`,
		`INSERT INTO escalation_attempts VALUES ('01OLD/s0/voice','01OLD','step',0,0,'voice','twilio','CA9','queued','','',1,'',
			'2026-12-01T00:00:00Z','2026-12-01T00:00:00Z')`,
		`INSERT INTO escalation_attempts VALUES ('01NEW/s0/voice','01NEW','step',0,0,'voice','twilio','CA9','queued','','',1,'',
			'2026-12-01T00:00:05Z','2026-12-01T00:00:05Z')`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	raw.Close()
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := d.Chain(ctx, "01OLD")
	if err != nil || c.AcceptedTarget != 1 {
		t.Fatalf("migrated chain %+v %v: want the acceptor at position 1", c, err)
	}
	if err := d.SaveChain(ctx, &c); err != nil {
		t.Fatalf("save after migration: %v", err)
	}
	if held, err := d.AttemptByProviderID(ctx, "twilio", "CA9"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("CA9 held by %+v %v, want neither (which one made the call cannot be told)", held, err)
	}
}
