package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/anxin-care/anxin"
)

// schemaEscalation holds the tables of escalation: chain progress and every contact attempt.
// Times are fixed-width RFC 3339 UTC text (” for none), so they sort as
// text; deadlines are absolute so a restart keeps them. The columns added
// later (version, accepted_target, and the claims' wake and lease columns of
// chainlease.go) are added to older stores by migrateEscalation.
var schemaEscalation = `
CREATE TABLE IF NOT EXISTS escalation_chains (
	alarm_id     TEXT PRIMARY KEY,
	household    TEXT NOT NULL,
	severity     TEXT NOT NULL,
	state        TEXT NOT NULL,
	targets      TEXT NOT NULL,
	steps        TEXT NOT NULL,
	step         INTEGER NOT NULL,
	deadline     TEXT NOT NULL,
	started_at   TEXT NOT NULL,
	updated_at   TEXT NOT NULL,
	accepted_by  TEXT NOT NULL DEFAULT '',
	accepted_via TEXT NOT NULL DEFAULT '',
	accepted_at  TEXT NOT NULL DEFAULT '',
	finished     INTEGER NOT NULL DEFAULT 0,
	visit_id     TEXT NOT NULL DEFAULT '',
	accepted_target INTEGER NOT NULL DEFAULT -1,
	version      INTEGER NOT NULL DEFAULT 0,
	wake         TEXT NOT NULL DEFAULT '',
	lease_owner  TEXT NOT NULL DEFAULT '',
	lease_until  TEXT NOT NULL DEFAULT '',
	lease_epoch  INTEGER NOT NULL DEFAULT 0,
	pokes        INTEGER NOT NULL DEFAULT 0,
	lease_pokes  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS escalation_chains_unfinished ON escalation_chains(finished) WHERE finished = 0;
CREATE INDEX IF NOT EXISTS escalation_chains_started ON escalation_chains(started_at);
CREATE TABLE IF NOT EXISTS escalation_attempts (
	id          TEXT PRIMARY KEY,
	alarm_id    TEXT NOT NULL,
	purpose     TEXT NOT NULL,
	step        INTEGER NOT NULL,
	target      INTEGER NOT NULL,
	channel     TEXT NOT NULL,
	provider    TEXT NOT NULL,
	provider_id TEXT NOT NULL DEFAULT '',
	status      TEXT NOT NULL,
	answered_by TEXT NOT NULL DEFAULT '',
	error       TEXT NOT NULL DEFAULT '',
	tries       INTEGER NOT NULL DEFAULT 0,
	next_try    TEXT NOT NULL DEFAULT '',
	created_at  TEXT NOT NULL,
	updated_at  TEXT NOT NULL,
	version     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS escalation_attempts_alarm ON escalation_attempts(alarm_id, created_at);
`

// migrateEscalation brings a store made by an older alarmd up to the schema:
// the optimistic-concurrency versions, the acceptor's position, and one
// attempt per provider id (a call or message belongs to one attempt).
func migrateEscalation(ctx context.Context, db *sql.DB) error {
	for _, c := range []struct{ table, column, decl string }{
		{"escalation_chains", "accepted_target", "INTEGER NOT NULL DEFAULT -1"},
		{"escalation_chains", "version", "INTEGER NOT NULL DEFAULT 0"},
		{"escalation_attempts", "version", "INTEGER NOT NULL DEFAULT 0"},
	} {
		if err := ensureColumn(ctx, db, c.table, c.column, c.decl, ""); err != nil {
			return err
		}
	}
	// chains accepted before accepted_target existed: the acceptor by name
	// (names were unique enough then; new rows never rely on it)
	if _, err := db.ExecContext(ctx, `UPDATE escalation_chains SET accepted_target = (
			SELECT CAST(j.key AS INTEGER) FROM json_each(escalation_chains.targets) j
			WHERE json_extract(j.value, '$.name') = escalation_chains.accepted_by ORDER BY CAST(j.key AS INTEGER) LIMIT 1)
		WHERE accepted_target = -1 AND accepted_by != '' AND EXISTS (SELECT 1 FROM json_each(escalation_chains.targets) j
			WHERE json_extract(j.value, '$.name') = escalation_chains.accepted_by)`); err != nil {
		return fmt.Errorf("migrate chains: %w", err)
	}
	// an older alarmd could give one provider id to two attempts (a lookup
	// adopted another alarm's call); which one made it cannot be told, so
	// both lose it: the call's own status callbacks (they carry the attempt
	// id) give it back to its maker
	if _, err := db.ExecContext(ctx, `UPDATE escalation_attempts SET provider_id = ''
		WHERE provider_id != '' AND (provider, provider_id) IN (SELECT provider, provider_id FROM escalation_attempts
			WHERE provider_id != '' GROUP BY provider, provider_id HAVING COUNT(*) > 1)`); err != nil {
		return fmt.Errorf("migrate attempts: %w", err)
	}
	if _, err := db.ExecContext(ctx, `DROP INDEX IF EXISTS escalation_attempts_provider;`+indexAttemptsProviderID); err != nil {
		return err
	}
	return migrateChainLeases(ctx, db)
}

// indexAttemptsProviderID gives a provider id to one attempt at most; made
// by migrateEscalation on SQLite (after old duplicates lose their id), with
// the schema on PostgreSQL.
const indexAttemptsProviderID = `CREATE UNIQUE INDEX IF NOT EXISTS escalation_attempts_provider_id
	ON escalation_attempts(provider, provider_id) WHERE provider_id != ''`

// ensureColumn adds a column to a table made before it existed and, only
// when it added it, runs fill (if any) in the same transaction to give the
// old rows their value.
func ensureColumn(ctx context.Context, db *sql.DB, table, column, decl, fill string) error {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, table, column).Scan(&n); err != nil {
		return fmt.Errorf("schema of %s: %w", table, err)
	}
	if n > 0 {
		return nil
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `ALTER TABLE `+table+` ADD COLUMN `+column+` `+decl); err != nil {
		return fmt.Errorf("add %s.%s: %w", table, column, err)
	}
	if fill != "" {
		if _, err := tx.ExecContext(ctx, fill); err != nil {
			return fmt.Errorf("fill %s.%s: %w", table, column, err)
		}
	}
	return tx.Commit()
}

// timeLayout is fixed width (nine fraction digits, Z), so stored times sort
// as text in time order; RFC3339Nano drops trailing zeros and does not.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

const chainCols = `alarm_id, household, severity, state, targets, steps, step, deadline, started_at, updated_at,
	accepted_by, accepted_via, accepted_at, finished, visit_id, accepted_target, version`

// CreateChain stores a new chain; created is false (and nothing changes)
// when the alarm already has one, which makes escalation idempotent.
func (d *DB) CreateChain(ctx context.Context, c *anxin.Chain) (created bool, err error) {
	targets, err := json.Marshal(c.Targets)
	if err != nil {
		return false, err
	}
	steps, err := json.Marshal(c.Steps)
	if err != nil {
		return false, err
	}
	res, err := d.db.ExecContext(ctx, `INSERT INTO escalation_chains (`+chainCols+`)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0) ON CONFLICT(alarm_id) DO NOTHING`,
		c.AlarmID, c.Household, string(c.Severity), string(c.State), string(targets), string(steps), c.Step,
		fmtTime(c.Deadline), fmtTime(c.StartedAt), fmtTime(c.UpdatedAt), c.AcceptedBy, c.AcceptedVia,
		fmtTime(c.AcceptedAt), c.Finished, c.VisitID, c.AcceptedTarget)
	if err != nil {
		return false, fmt.Errorf("create chain: %w", err)
	}
	n, err := res.RowsAffected()
	if n == 1 {
		c.Version = 0
	}
	return n == 1, err
}

// SaveChain writes a chain's progress if nobody wrote it since c was read
// (its Version): otherwise ECONFLICT, and the caller reads it again.
func (d *DB) SaveChain(ctx context.Context, c *anxin.Chain) error {
	res, err := d.db.ExecContext(ctx, `UPDATE escalation_chains SET state=?, step=?, deadline=?, updated_at=?,
		accepted_by=?, accepted_via=?, accepted_at=?, finished=?, visit_id=?, accepted_target=?, version=version+1
		WHERE alarm_id=? AND version=?`,
		string(c.State), c.Step, fmtTime(c.Deadline), fmtTime(c.UpdatedAt), c.AcceptedBy, c.AcceptedVia,
		fmtTime(c.AcceptedAt), c.Finished, c.VisitID, c.AcceptedTarget, c.AlarmID, c.Version)
	if err != nil {
		return fmt.Errorf("save chain: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return d.lostWrite(ctx, "escalation_chains", "alarm_id", c.AlarmID, "chain of alarm")
	}
	c.Version++
	return nil
}

// lostWrite says why a versioned update changed no row: the row is gone
// (ENOTFOUND) or another writer came first (ECONFLICT).
func (d *DB) lostWrite(ctx context.Context, table, key, id, what string) error {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE `+key+` = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return anxin.Errorf(anxin.ENOTFOUND, "no %s %s", what, clipAlarmID(id))
	}
	return anxin.Errorf(anxin.ECONFLICT, "%s %s changed meanwhile", what, clipAlarmID(id))
}

type rowScanner interface{ Scan(dest ...any) error }

func scanChain(r rowScanner) (anxin.Chain, error) {
	var c anxin.Chain
	var sev, state, targets, steps, deadline, started, updated, acceptedAt string
	err := r.Scan(&c.AlarmID, &c.Household, &sev, &state, &targets, &steps, &c.Step, &deadline, &started, &updated,
		&c.AcceptedBy, &c.AcceptedVia, &acceptedAt, &c.Finished, &c.VisitID, &c.AcceptedTarget, &c.Version)
	if err != nil {
		return c, err
	}
	c.Severity, c.State = anxin.Severity(sev), anxin.ChainState(state)
	var errs []error
	errs = append(errs, json.Unmarshal([]byte(targets), &c.Targets), json.Unmarshal([]byte(steps), &c.Steps))
	var e1, e2, e3, e4 error
	c.Deadline, e1 = parseTime(deadline)
	c.StartedAt, e2 = parseTime(started)
	c.UpdatedAt, e3 = parseTime(updated)
	c.AcceptedAt, e4 = parseTime(acceptedAt)
	if err := errors.Join(append(errs, e1, e2, e3, e4)...); err != nil {
		return c, fmt.Errorf("chain %s: %w", c.AlarmID, err)
	}
	return c, nil
}

// Chain is one alarm's chain (ENOTFOUND when the alarm was never escalated).
func (d *DB) Chain(ctx context.Context, alarmID string) (anxin.Chain, error) {
	c, err := scanChain(d.db.QueryRowContext(ctx, `SELECT `+chainCols+` FROM escalation_chains WHERE alarm_id=?`, alarmID))
	if errors.Is(err, sql.ErrNoRows) {
		return c, anxin.Errorf(anxin.ENOTFOUND, "no chain for alarm %s", alarmID)
	}
	return c, err
}

// UnfinishedChains are the chains a restart must resume: still walking, or
// decided but with notices or the outcome record still to do.
func (d *DB) UnfinishedChains(ctx context.Context) ([]anxin.Chain, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+chainCols+` FROM escalation_chains WHERE finished = 0 ORDER BY started_at`)
	if err != nil {
		return nil, fmt.Errorf("unfinished chains: %w", err)
	}
	return collect(rows, scanChain)
}

// ChainsSince are the chains started at or after since, finished or not,
// the latest first, at most anxin.ChainsSinceLimit (a bounded look-back:
// an SMS reply too late to take an alarm is told who took it).
func (d *DB) ChainsSince(ctx context.Context, since time.Time) ([]anxin.Chain, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+chainCols+` FROM escalation_chains WHERE started_at >= ?
		ORDER BY started_at DESC LIMIT ?`, fmtTime(since), anxin.ChainsSinceLimit)
	if err != nil {
		return nil, fmt.Errorf("chains since %s: %w", fmtTime(since), err)
	}
	return collect(rows, scanChain)
}

const attemptCols = `id, alarm_id, purpose, step, target, channel, provider, provider_id, status, answered_by, error,
	tries, next_try, created_at, updated_at, version`

// CreateAttempt stores an attempt before it is sent; created is false when
// an attempt with that id exists already (the caller then resumes it).
func (d *DB) CreateAttempt(ctx context.Context, a *anxin.Attempt) (created bool, err error) {
	res, err := d.db.ExecContext(ctx, `INSERT INTO escalation_attempts (`+attemptCols+`)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0) ON CONFLICT(id) DO NOTHING`,
		a.ID, a.AlarmID, string(a.Purpose), a.Step, a.Target, string(a.Channel), a.Provider, a.ProviderID, a.Status,
		a.AnsweredBy, a.Error, a.Tries, fmtTime(a.NextTry), fmtTime(a.CreatedAt), fmtTime(a.UpdatedAt))
	if err != nil {
		return false, fmt.Errorf("create attempt: %w", err)
	}
	n, err := res.RowsAffected()
	if n == 1 {
		a.Version = 0
	}
	return n == 1, err
}

// SaveAttempt writes an attempt's progress if nobody wrote it since a was
// read (its Version): otherwise ECONFLICT. A provider id held by another
// attempt is ECONFLICT too: a call or message belongs to one attempt.
func (d *DB) SaveAttempt(ctx context.Context, a *anxin.Attempt) error {
	res, err := d.db.ExecContext(ctx, `UPDATE escalation_attempts SET provider_id=?, status=?, answered_by=?, error=?,
		tries=?, next_try=?, updated_at=?, version=version+1 WHERE id=? AND version=?`,
		a.ProviderID, a.Status, a.AnsweredBy, a.Error, a.Tries, fmtTime(a.NextTry), fmtTime(a.UpdatedAt), a.ID, a.Version)
	if err != nil {
		if isUnique(err) {
			return fmt.Errorf("%w (%w)", anxin.Errorf(anxin.ECONFLICT, "attempt %s", clipAlarmID(a.ID)), anxin.ErrProviderIDHeld)
		}
		return fmt.Errorf("save attempt: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return d.lostWrite(ctx, "escalation_attempts", "id", a.ID, "attempt")
	}
	a.Version++
	return nil
}

// AttemptByProviderID is the attempt holding a provider's id (ENOTFOUND).
func (d *DB) AttemptByProviderID(ctx context.Context, provider, providerID string) (anxin.Attempt, error) {
	a, err := scanAttempt(d.db.QueryRowContext(ctx, `SELECT `+attemptCols+` FROM escalation_attempts
		WHERE provider = ? AND provider_id = ? AND provider_id != ''`, provider, providerID))
	if errors.Is(err, sql.ErrNoRows) {
		return a, anxin.Errorf(anxin.ENOTFOUND, "no attempt holds that provider id")
	}
	return a, err
}

// AlarmsAwaitingChain are the escalation outbox: open family alarms that
// should have a contact chain (severity critical or warning) and, when
// installers is set, open installer alarms, that have none yet, oldest
// first (at most n).
func (d *DB) AlarmsAwaitingChain(ctx context.Context, n int, installers bool) ([]anxin.Alarm, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+alarmCols+` FROM alarms a WHERE a.state = 'open'
		AND ((a.route = ? AND a.severity != ?) OR (? = 1 AND a.route = ?))
		AND NOT EXISTS (SELECT 1 FROM escalation_chains c WHERE c.alarm_id = a.id)
		ORDER BY a.opened_at, a.id LIMIT ?`, string(anxin.RouteFamily), string(anxin.SeverityInfo), installers,
		string(anxin.RouteInstaller), n)
	if err != nil {
		return nil, fmt.Errorf("alarms awaiting a chain: %w", err)
	}
	return collect(rows, scanAlarm)
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		x, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, rows.Err()
}

func scanAttempt(r rowScanner) (anxin.Attempt, error) {
	var a anxin.Attempt
	var purpose, channel, next, created, updated string
	err := r.Scan(&a.ID, &a.AlarmID, &purpose, &a.Step, &a.Target, &channel, &a.Provider, &a.ProviderID, &a.Status,
		&a.AnsweredBy, &a.Error, &a.Tries, &next, &created, &updated, &a.Version)
	if err != nil {
		return a, err
	}
	a.Purpose, a.Channel = anxin.AttemptPurpose(purpose), anxin.Channel(channel)
	var e1, e2, e3 error
	a.NextTry, e1 = parseTime(next)
	a.CreatedAt, e2 = parseTime(created)
	a.UpdatedAt, e3 = parseTime(updated)
	if err := errors.Join(e1, e2, e3); err != nil {
		return a, fmt.Errorf("attempt %s: %w", a.ID, err)
	}
	return a, nil
}

// Attempt is one attempt by id (ENOTFOUND).
func (d *DB) Attempt(ctx context.Context, id string) (anxin.Attempt, error) {
	a, err := scanAttempt(d.db.QueryRowContext(ctx, `SELECT `+attemptCols+` FROM escalation_attempts WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, anxin.Errorf(anxin.ENOTFOUND, "no attempt %q", id)
	}
	return a, err
}

// Attempts is an alarm's attempt timeline, oldest first.
func (d *DB) Attempts(ctx context.Context, alarmID string) ([]anxin.Attempt, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+attemptCols+` FROM escalation_attempts WHERE alarm_id=?
		ORDER BY created_at, id`, alarmID)
	if err != nil {
		return nil, fmt.Errorf("attempts: %w", err)
	}
	return collect(rows, scanAttempt)
}
