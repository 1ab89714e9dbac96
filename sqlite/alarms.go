package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
)

// schemaAlarms holds the tables of alarms, rule state and the de-duplication window (alarmd ingest and rules).
//
// One alarm per (household, rule) is "open" (its chain being walked) at a
// time: the partial unique index enforces it. An accepted or unanswered
// alarm whose condition still holds takes the engine's repeats; a rising
// edge after people closed it (the engine re-arms only then) opens a new
// alarm and walks the chain again, so a second button press after the first
// was accepted is never swallowed.
var schemaAlarms = `
CREATE TABLE IF NOT EXISTS alarms (
	id          TEXT PRIMARY KEY,
	household   TEXT NOT NULL,
	rule        TEXT NOT NULL,
	rule_kind   TEXT NOT NULL,
	device      TEXT NOT NULL DEFAULT '',
	severity    TEXT NOT NULL,
	route       TEXT NOT NULL,
	state       TEXT NOT NULL CHECK (state IN ('open','accepted','unanswered','resolved')),
	reason      TEXT NOT NULL DEFAULT '',
	message_id  TEXT NOT NULL DEFAULT '',
	opened_at   TEXT NOT NULL,
	updated_at  TEXT NOT NULL,
	closed_at   TEXT NOT NULL DEFAULT '',
	repeats     INTEGER NOT NULL DEFAULT 0,
	accepted_by TEXT NOT NULL DEFAULT '',
	cause       TEXT NOT NULL DEFAULT '' -- anxin.Cause as JSON; added to older stores by addColumns
);
CREATE UNIQUE INDEX IF NOT EXISTS alarms_one_open ON alarms(household, rule) WHERE state = 'open';
CREATE INDEX IF NOT EXISTS alarms_active ON alarms(household, rule, opened_at) WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS alarms_household ON alarms(household, opened_at);
CREATE INDEX IF NOT EXISTS alarms_opened ON alarms(opened_at);
CREATE TABLE IF NOT EXISTS alarm_state_log (
	seq       INTEGER PRIMARY KEY AUTOINCREMENT,
	alarm_id  TEXT NOT NULL,
	household TEXT NOT NULL,
	rule      TEXT NOT NULL,
	state     TEXT NOT NULL,
	at        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS alarm_notes (
	seq      INTEGER PRIMARY KEY AUTOINCREMENT,
	alarm_id TEXT NOT NULL,
	at       TEXT NOT NULL,
	by       TEXT NOT NULL,
	what     TEXT NOT NULL,
	text     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS alarm_notes_alarm ON alarm_notes(alarm_id, seq);
CREATE INDEX IF NOT EXISTS alarm_state_log_household ON alarm_state_log(household, seq);
CREATE TABLE IF NOT EXISTS rule_state (
	household   TEXT PRIMARY KEY,
	state       BLOB NOT NULL,
	updated_at  INTEGER NOT NULL,
	applied_seq INTEGER NOT NULL DEFAULT 0 -- alarm_state_log entries up to here are in state
);
CREATE TABLE IF NOT EXISTS seen_ids (
	id      TEXT PRIMARY KEY,
	seen_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_ids_at ON seen_ids(seen_at);
`

func alarmTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(alarmTimeLayout)
}

// alarmTimeLayout has a fixed width so that text order is time order.
const alarmTimeLayout = "2006-01-02T15:04:05.000000000Z"

func parseAlarmTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

const alarmCols = `id, household, rule, rule_kind, device, severity, route, state, reason, message_id,
	opened_at, updated_at, closed_at, repeats, accepted_by, cause`

func scanAlarm(r rowScanner) (anxin.Alarm, error) {
	var a anxin.Alarm
	var opened, updated, closed, cause string
	err := r.Scan(&a.ID, &a.Household, &a.Rule, &a.RuleKind, &a.Device, &a.Severity, &a.Route, &a.State,
		&a.Reason, &a.MessageID, &opened, &updated, &closed, &a.Repeats, &a.AcceptedBy, &cause)
	if err != nil {
		return a, err
	}
	a.Cause = anxin.DecodeCause(cause)
	if a.OpenedAt, err = parseAlarmTime(opened); err == nil {
		if a.UpdatedAt, err = parseAlarmTime(updated); err == nil {
			a.ClosedAt, err = parseAlarmTime(closed)
		}
	}
	return a, err
}

// Alarm is one alarm by id (ENOTFOUND when there is none).
func (d *DB) Alarm(ctx context.Context, id string) (anxin.Alarm, error) {
	a, err := scanAlarm(d.db.QueryRowContext(ctx, `SELECT `+alarmCols+` FROM alarms WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, anxin.Errorf(anxin.ENOTFOUND, "alarm %s not found", clipAlarmID(id))
	}
	return a, err
}

// Alarms lists alarms, newest first.
func (d *DB) Alarms(ctx context.Context, f AlarmFilter) ([]anxin.Alarm, error) {
	var where []string
	var args []any
	if f.Household != "" {
		where, args = append(where, "household = ?"), append(args, f.Household)
	}
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, string(f.State))
	}
	if !f.Since.IsZero() {
		where, args = append(where, "opened_at >= ?"), append(args, alarmTime(f.Since))
	}
	q := `SELECT ` + alarmCols + ` FROM alarms`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	n := f.Limit
	if n <= 0 {
		n = 100
	}
	n = min(n, 10_000)
	q += fmt.Sprintf(" ORDER BY opened_at DESC, id DESC LIMIT %d", n)
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanAlarm)
}

// SetAlarmState records what people did with an alarm: accepted (by whom),
// unanswered, or resolved by staff. A resolved alarm stays resolved
// (ECONFLICT). Every change is logged for alarmd to re-arm the rule.
func (d *DB) SetAlarmState(ctx context.Context, id string, st anxin.AlarmState, acceptedBy string, at time.Time) error {
	return d.changeAlarmState(ctx, id, st, acceptedBy, at, nil)
}

// CloseAlarm resolves an alarm by hand (staff found it handled or false)
// and keeps who did it and why. Closing an alarm already resolved is
// ECONFLICT, so a second close cannot overwrite the first one's note.
func (d *DB) CloseAlarm(ctx context.Context, id, by, reason string, at time.Time) error {
	return d.changeAlarmState(ctx, id, anxin.AlarmResolved, "", at, &AlarmNote{At: at, By: by, What: "closed", Text: reason})
}

// AlarmNotes lists an alarm's notes, oldest first.
func (d *DB) AlarmNotes(ctx context.Context, id string) ([]AlarmNote, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT at, by, what, text FROM alarm_notes WHERE alarm_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AlarmNote
	for rows.Next() {
		var n AlarmNote
		var at string
		if err := rows.Scan(&at, &n.By, &n.What, &n.Text); err != nil {
			return nil, err
		}
		if n.At, err = parseAlarmTime(at); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func (d *DB) changeAlarmState(ctx context.Context, id string, st anxin.AlarmState, acceptedBy string, at time.Time, note *AlarmNote) error {
	switch st {
	case anxin.AlarmOpen, anxin.AlarmAccepted, anxin.AlarmUnanswered, anxin.AlarmResolved:
	default:
		return anxin.Errorf(anxin.EINVALID, "alarm state %q is not open, accepted, unanswered or resolved", st)
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := d.pgLock(ctx, tx, LockStateLog, ""); err != nil {
		return err
	}
	var household, rule, cur string
	err = tx.QueryRowContext(ctx, `SELECT household, rule, state FROM alarms WHERE id = ?`+d.forUpdate(), id).Scan(&household, &rule, &cur)
	if errors.Is(err, sql.ErrNoRows) {
		return anxin.Errorf(anxin.ENOTFOUND, "alarm %s not found", clipAlarmID(id))
	} else if err != nil {
		return err
	}
	if cur == string(anxin.AlarmResolved) && (st != anxin.AlarmResolved || note != nil) {
		return anxin.Errorf(anxin.ECONFLICT, "alarm %s is already resolved", clipAlarmID(id))
	}
	if cur == string(st) && st != anxin.AlarmAccepted {
		return nil
	}
	closed := ""
	if st == anxin.AlarmResolved {
		closed = alarmTime(at)
	}
	_, err = tx.ExecContext(ctx, `UPDATE alarms SET state = ?, updated_at = ?,
		accepted_by = CASE WHEN ? != '' THEN ? ELSE accepted_by END,
		closed_at = CASE WHEN ? != '' THEN ? ELSE closed_at END WHERE id = ?`,
		string(st), alarmTime(at), acceptedBy, acceptedBy, closed, closed, id)
	if err != nil {
		if isUnique(err) {
			return anxin.Errorf(anxin.ECONFLICT, "another alarm of rule %s is already open for household %s", rule, household)
		}
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO alarm_state_log (alarm_id, household, rule, state, at) VALUES (?, ?, ?, ?, ?)`,
		id, household, rule, string(st), alarmTime(at)); err != nil {
		return err
	}
	if note != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO alarm_notes (alarm_id, at, by, what, text) VALUES (?, ?, ?, ?, ?)`,
			id, alarmTime(note.At), note.By, note.What, note.Text); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	d.stateWrites.Add(1) // after the commit: a reader that sees the count sees the row
	return nil
}

// AlarmStateWrites counts the alarm state changes committed through this
// DB (this process): alarmd's ingest reads the change log only when the
// count moved, and every second regardless (for other processes' changes).
func (d *DB) AlarmStateWrites() int64 { return d.stateWrites.Load() }

// AlarmStateChanges lists the changes after seq, oldest first (at most n).
func (d *DB) AlarmStateChanges(ctx context.Context, after int64, n int) ([]AlarmStateChange, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT seq, alarm_id, household, rule, state FROM alarm_state_log
		WHERE seq > ? ORDER BY seq LIMIT ?`, after, n)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanStateChange)
}

func scanStateChange(r rowScanner) (AlarmStateChange, error) {
	var c AlarmStateChange
	err := r.Scan(&c.Seq, &c.AlarmID, &c.Household, &c.Rule, &c.State)
	return c, err
}

// UnappliedAlarmStateChanges hands fn, oldest first, every change made by
// SetAlarmState after the position its household's stored rule state
// reflects (RuleState.AppliedSeq): what a restart must still apply so that
// rule state and alarm state agree whenever the process died.
func (d *DB) UnappliedAlarmStateChanges(ctx context.Context, fn func(AlarmStateChange)) error {
	rows, err := d.db.QueryContext(ctx, `SELECT l.seq, l.alarm_id, l.household, l.rule, l.state
		FROM rule_state r JOIN alarm_state_log l ON l.household = r.household AND l.seq > r.applied_seq
		ORDER BY l.seq`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanStateChange(rows)
		if err != nil {
			return err
		}
		fn(c)
	}
	return rows.Err()
}

// LastAlarmStateSeq is the newest change's sequence number (0: none).
func (d *DB) LastAlarmStateSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	err := d.db.QueryRowContext(ctx, `SELECT MAX(seq) FROM alarm_state_log`).Scan(&seq)
	return seq.Int64, err
}

// ApplyIngest applies a batch in one transaction. "open" creates an alarm,
// or attaches as a repeat when one is already open for (household, rule);
// "repeat" attaches to the newest unresolved alarm (opening one if there is
// none, so no trigger is lost); "close" resolves every unresolved alarm of
// (household, rule).
func (d *DB) ApplyIngest(ctx context.Context, b *IngestBatch) (IngestResult, error) {
	if d.pg {
		return applyIngestPostgres(ctx, d.db, b)
	}
	return applyIngest(ctx, d.db.BeginTx, b)
}

// IngestWriter applies ingest batches on a dedicated connection that never
// checkpoints the write-ahead log itself: the checkpoint's fsync happens in
// Checkpoint, called off the alarm path, so a slow disk does not stall a
// batch (and the alarms in it).
type IngestWriter struct {
	conn *sql.Conn
}

// NewIngestWriter takes a connection from the pool for ingest batches. Its
// commits are fsynced (synchronous=FULL): alarmd acknowledges a message to
// the broker only after its batch commits, so that commit must survive a
// power cut. The pool's other writers (escalation, the register) commit with
// NORMAL: a power cut may undo their last commits (a step then goes out once
// more), and the next ingest commit syncs the log with them anyway.
func (d *DB) NewIngestWriter(ctx context.Context) (*IngestWriter, error) {
	if d.pg {
		return nil, errors.New("an ingest writer is SQLite's: on PostgreSQL use ApplyIngest")
	}
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous=FULL`); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_autocheckpoint=0`); err != nil {
		conn.Close()
		return nil, err
	}
	// its commits go first at the write gate (writegate.go): an alarm's
	// does not wait behind escalation's or the web app's writes (marked
	// last: a connection that failed above goes back to the pool unmarked)
	if err := conn.Raw(markPriority); err != nil {
		conn.Close()
		return nil, err
	}
	return &IngestWriter{conn: conn}, nil
}

// ApplyIngest is DB.ApplyIngest on the writer's connection.
func (w *IngestWriter) ApplyIngest(ctx context.Context, b *IngestBatch) (IngestResult, error) {
	return applyIngest(ctx, w.conn.BeginTx, b)
}

// Close returns the connection to the pool, checkpointing as usual again
// and queueing at the write gate as any other.
func (w *IngestWriter) Close() error {
	_, err := w.conn.ExecContext(context.Background(), `PRAGMA wal_autocheckpoint=1000; PRAGMA synchronous=NORMAL`)
	rerr := w.conn.Raw(func(c any) error { c.(*gatedConn).priority = false; return nil })
	return errors.Join(err, rerr, w.conn.Close())
}

// Checkpoint copies the write-ahead log into the database without blocking
// writers (PASSIVE).
func (d *DB) Checkpoint(ctx context.Context) error {
	_, err := d.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
	return err
}

func applyIngest(ctx context.Context, begin func(context.Context, *sql.TxOptions) (*sql.Tx, error), b *IngestBatch) (IngestResult, error) {
	var res IngestResult
	tx, err := begin(ctx, nil)
	if err != nil {
		return res, err
	}
	defer tx.Rollback()
	for i := range b.Changes {
		c := &b.Changes[i]
		if err := applyChange(ctx, tx, c, &res); err != nil {
			return IngestResult{}, fmt.Errorf("apply %s of %s/%s: %w", c.Op, c.Household, c.Rule, err)
		}
	}
	if len(b.SeenIDs) > 0 {
		stmt, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO seen_ids (id, seen_at) VALUES (?, ?)`)
		if err != nil {
			return IngestResult{}, err
		}
		at := b.At.UnixMilli()
		for _, id := range b.SeenIDs {
			if _, err := stmt.ExecContext(ctx, id, at); err != nil {
				stmt.Close()
				return IngestResult{}, err
			}
		}
		stmt.Close()
	}
	if len(b.States) > 0 {
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO rule_state (household, state, updated_at, applied_seq) VALUES (?, ?, ?, ?)
			ON CONFLICT (household) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at,
			applied_seq = excluded.applied_seq`)
		if err != nil {
			return IngestResult{}, err
		}
		at := b.At.UnixMilli()
		for _, s := range b.States {
			if _, err := stmt.ExecContext(ctx, s.Household, s.State, at, s.AppliedSeq); err != nil {
				stmt.Close()
				return IngestResult{}, err
			}
		}
		stmt.Close()
	}
	// last: the lease rows stay locked only for the commit (PostgreSQL)
	if err := checkFence(ctx, tx, false, b.Fence); err != nil {
		return IngestResult{}, err
	}
	if err := tx.Commit(); err != nil {
		return IngestResult{}, err
	}
	return res, nil
}

func applyChange(ctx context.Context, tx *sql.Tx, c *AlarmChange, res *IngestResult) error {
	at := alarmTime(c.At)
	switch c.Op {
	case AlarmOpOpen, AlarmOpRepeat:
		q := `SELECT id FROM alarms WHERE household = ? AND rule = ? AND state = 'open'`
		if c.Op == AlarmOpRepeat {
			q = `SELECT id FROM alarms WHERE household = ? AND rule = ? AND state != 'resolved' ORDER BY opened_at DESC LIMIT 1`
		}
		var id string
		err := tx.QueryRowContext(ctx, q, c.Household, c.Rule).Scan(&id)
		switch {
		case err == nil:
			res.Repeats++
			_, err = tx.ExecContext(ctx, `UPDATE alarms SET repeats = repeats + 1, updated_at = ? WHERE id = ?`, at, id)
			return err
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		a := anxin.Alarm{ID: anxin.NewID(c.At), Household: c.Household, Rule: c.Rule, RuleKind: c.RuleKind,
			Device: c.Device, Severity: c.Severity, Route: c.Route, State: anxin.AlarmOpen, Reason: c.Reason,
			Cause: c.Cause, MessageID: c.MessageID, OpenedAt: c.At.UTC(), UpdatedAt: c.At.UTC()}
		_, err = tx.ExecContext(ctx, `INSERT INTO alarms (`+alarmCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', 0, '', ?)`,
			a.ID, a.Household, a.Rule, a.RuleKind, a.Device, string(a.Severity), string(a.Route), string(a.State),
			a.Reason, a.MessageID, at, at, anxin.EncodeCause(a.Cause))
		if err != nil {
			return err
		}
		res.Opened = append(res.Opened, a)
		return nil
	case AlarmOpClose:
		rows, err := tx.QueryContext(ctx, `SELECT `+alarmCols+` FROM alarms WHERE household = ? AND rule = ? AND state != 'resolved'`,
			c.Household, c.Rule)
		if err != nil {
			return err
		}
		var closed []anxin.Alarm
		for rows.Next() {
			a, err := scanAlarm(rows)
			if err != nil {
				rows.Close()
				return err
			}
			closed = append(closed, a)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for i := range closed {
			a := &closed[i]
			if _, err := tx.ExecContext(ctx, `UPDATE alarms SET state = 'resolved', closed_at = ?, updated_at = ? WHERE id = ?`,
				at, at, a.ID); err != nil {
				return err
			}
			a.State, a.ClosedAt, a.UpdatedAt = anxin.AlarmResolved, c.At.UTC(), c.At.UTC()
		}
		res.Closed = append(res.Closed, closed...)
		return nil
	}
	return anxin.Errorf(anxin.EINVALID, "alarm op %q is not open, repeat or close", c.Op)
}

// SeenIDs hands every remembered message id seen at or after since to fn.
func (d *DB) SeenIDs(ctx context.Context, since time.Time, fn func(id string, seenAt time.Time)) error {
	rows, err := d.db.QueryContext(ctx, `SELECT id, seen_at FROM seen_ids WHERE seen_at >= ? ORDER BY seen_at`, since.UnixMilli())
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var ms int64
		if err := rows.Scan(&id, &ms); err != nil {
			return err
		}
		fn(id, time.UnixMilli(ms))
	}
	return rows.Err()
}

// ForgetSeenIDs drops message ids seen before t: the de-duplication window.
func (d *DB) ForgetSeenIDs(ctx context.Context, before time.Time) (int64, error) {
	r, err := d.db.ExecContext(ctx, `DELETE FROM seen_ids WHERE seen_at < ?`, before.UnixMilli())
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

// RuleStates hands every stored rules-engine state to fn.
func (d *DB) RuleStates(ctx context.Context, fn func(household string, state []byte) error) error {
	rows, err := d.db.QueryContext(ctx, `SELECT household, state FROM rule_state`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var h string
		var s []byte
		if err := rows.Scan(&h, &s); err != nil {
			return err
		}
		if err := fn(h, s); err != nil {
			return err
		}
	}
	return rows.Err()
}

func clipAlarmID(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
