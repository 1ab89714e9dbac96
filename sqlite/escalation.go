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
// Times are RFC 3339 UTC text (” for none); deadlines are absolute so a
// restart keeps them.
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
	visit_id     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS escalation_chains_unfinished ON escalation_chains(finished) WHERE finished = 0;
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
	updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS escalation_attempts_alarm ON escalation_attempts(alarm_id, created_at);
CREATE INDEX IF NOT EXISTS escalation_attempts_provider ON escalation_attempts(provider_id) WHERE provider_id != '';
`

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

const chainCols = `alarm_id, household, severity, state, targets, steps, step, deadline, started_at, updated_at,
	accepted_by, accepted_via, accepted_at, finished, visit_id`

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
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(alarm_id) DO NOTHING`,
		c.AlarmID, c.Household, string(c.Severity), string(c.State), string(targets), string(steps), c.Step,
		fmtTime(c.Deadline), fmtTime(c.StartedAt), fmtTime(c.UpdatedAt), c.AcceptedBy, c.AcceptedVia,
		fmtTime(c.AcceptedAt), c.Finished, c.VisitID)
	if err != nil {
		return false, fmt.Errorf("create chain: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// SaveChain writes a chain's progress.
func (d *DB) SaveChain(ctx context.Context, c *anxin.Chain) error {
	res, err := d.db.ExecContext(ctx, `UPDATE escalation_chains SET state=?, step=?, deadline=?, updated_at=?,
		accepted_by=?, accepted_via=?, accepted_at=?, finished=?, visit_id=? WHERE alarm_id=?`,
		string(c.State), c.Step, fmtTime(c.Deadline), fmtTime(c.UpdatedAt), c.AcceptedBy, c.AcceptedVia,
		fmtTime(c.AcceptedAt), c.Finished, c.VisitID, c.AlarmID)
	if err != nil {
		return fmt.Errorf("save chain: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return anxin.Errorf(anxin.ENOTFOUND, "no chain for alarm %s", c.AlarmID)
	}
	return nil
}

type rowScanner interface{ Scan(dest ...any) error }

func scanChain(r rowScanner) (anxin.Chain, error) {
	var c anxin.Chain
	var sev, state, targets, steps, deadline, started, updated, acceptedAt string
	err := r.Scan(&c.AlarmID, &c.Household, &sev, &state, &targets, &steps, &c.Step, &deadline, &started, &updated,
		&c.AcceptedBy, &c.AcceptedVia, &acceptedAt, &c.Finished, &c.VisitID)
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
	defer rows.Close()
	var out []anxin.Chain
	for rows.Next() {
		c, err := scanChain(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

const attemptCols = `id, alarm_id, purpose, step, target, channel, provider, provider_id, status, answered_by, error,
	tries, next_try, created_at, updated_at`

// CreateAttempt stores an attempt before it is sent; created is false when
// an attempt with that id exists already (the caller then resumes it).
func (d *DB) CreateAttempt(ctx context.Context, a *anxin.Attempt) (created bool, err error) {
	res, err := d.db.ExecContext(ctx, `INSERT INTO escalation_attempts (`+attemptCols+`)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING`,
		a.ID, a.AlarmID, string(a.Purpose), a.Step, a.Target, string(a.Channel), a.Provider, a.ProviderID, a.Status,
		a.AnsweredBy, a.Error, a.Tries, fmtTime(a.NextTry), fmtTime(a.CreatedAt), fmtTime(a.UpdatedAt))
	if err != nil {
		return false, fmt.Errorf("create attempt: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// SaveAttempt writes an attempt's progress.
func (d *DB) SaveAttempt(ctx context.Context, a *anxin.Attempt) error {
	_, err := d.db.ExecContext(ctx, `UPDATE escalation_attempts SET provider_id=?, status=?, answered_by=?, error=?,
		tries=?, next_try=?, updated_at=? WHERE id=?`,
		a.ProviderID, a.Status, a.AnsweredBy, a.Error, a.Tries, fmtTime(a.NextTry), fmtTime(a.UpdatedAt), a.ID)
	if err != nil {
		return fmt.Errorf("save attempt: %w", err)
	}
	return nil
}

func scanAttempt(r rowScanner) (anxin.Attempt, error) {
	var a anxin.Attempt
	var purpose, channel, next, created, updated string
	err := r.Scan(&a.ID, &a.AlarmID, &purpose, &a.Step, &a.Target, &channel, &a.Provider, &a.ProviderID, &a.Status,
		&a.AnsweredBy, &a.Error, &a.Tries, &next, &created, &updated)
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
	defer rows.Close()
	var out []anxin.Attempt
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
