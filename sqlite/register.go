package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/anxin-care/anxin"
)

// schemaRegister holds the tables of the care register: elders, visits, schedules.
//
// Times are INTEGER Unix milliseconds (UTC); 0 or NULL means "none".
// visit_schedule is kept in step with visits in the same transaction, so the
// due lists never scan a year of visits.
var schemaRegister = `
CREATE TABLE IF NOT EXISTS elders (
	id            TEXT PRIMARY KEY,
	household     TEXT NOT NULL,
	name          TEXT NOT NULL,
	gender        TEXT NOT NULL,
	id_number     TEXT NOT NULL UNIQUE,
	phone         TEXT NOT NULL DEFAULT '',
	reg_county    TEXT NOT NULL DEFAULT '',
	reg_township  TEXT NOT NULL DEFAULT '',
	reg_village   TEXT NOT NULL DEFAULT '',
	reg_detail    TEXT NOT NULL DEFAULT '',
	cur_county    TEXT NOT NULL DEFAULT '',
	cur_township  TEXT NOT NULL DEFAULT '',
	cur_village   TEXT NOT NULL DEFAULT '',
	cur_detail    TEXT NOT NULL DEFAULT '',
	ability       TEXT NOT NULL DEFAULT '',
	illness       TEXT NOT NULL DEFAULT '',
	economic      TEXT NOT NULL DEFAULT '',
	categories    TEXT NOT NULL DEFAULT '',
	guardianship  TEXT NOT NULL,
	self_care     TEXT NOT NULL,
	health        TEXT NOT NULL,
	age           INTEGER NOT NULL,
	assessed_on   INTEGER NOT NULL,
	score         INTEGER NOT NULL,
	tier          TEXT NOT NULL,
	contacts      TEXT NOT NULL DEFAULT '[]',
	responders    TEXT NOT NULL DEFAULT '[]',
	grid_worker   TEXT NOT NULL DEFAULT '',
	consent       INTEGER NOT NULL DEFAULT 1,
	created_at    INTEGER NOT NULL,
	updated_at    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS elders_household ON elders(household);
CREATE INDEX IF NOT EXISTS elders_village ON elders(cur_village, tier);
CREATE INDEX IF NOT EXISTS elders_township ON elders(cur_township);
CREATE INDEX IF NOT EXISTS elders_grid_worker ON elders(grid_worker);

CREATE TABLE IF NOT EXISTS visits (
	id             TEXT PRIMARY KEY,
	household      TEXT NOT NULL,
	date           INTEGER NOT NULL,
	method         TEXT NOT NULL,
	health         TEXT NOT NULL DEFAULT '',
	safety         TEXT NOT NULL DEFAULT '',
	hygiene        TEXT NOT NULL DEFAULT '',
	environment    TEXT NOT NULL DEFAULT '',
	needs          TEXT NOT NULL DEFAULT '',
	suggested_care TEXT NOT NULL DEFAULT '',
	visitor        TEXT NOT NULL DEFAULT '',
	alarm_id       TEXT NOT NULL DEFAULT '',
	follow_up_due  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS visits_household_date ON visits(household, date);
CREATE INDEX IF NOT EXISTS visits_date_household ON visits(date, household);
CREATE INDEX IF NOT EXISTS visits_alarm ON visits(alarm_id) WHERE alarm_id <> '';
CREATE INDEX IF NOT EXISTS visits_visitor_date ON visits(visitor, date);

CREATE TABLE IF NOT EXISTS visit_schedule (
	household        TEXT PRIMARY KEY,
	last_contact     INTEGER NOT NULL DEFAULT 0,
	last_home        INTEGER NOT NULL DEFAULT 0,
	follow_up_due    INTEGER NOT NULL DEFAULT 0,
	follow_up_alarm  TEXT NOT NULL DEFAULT '',
	follow_up_since  INTEGER NOT NULL DEFAULT 0
);
`

// maxText bounds every free-text field of a visit or an elder record.
const maxText = 4000

// VisitFilter selects visits. Zero fields do not filter.
type VisitFilter struct {
	Household string
	Area      string // village or township of the elder's current address
	Visitor   string
	AlarmID   string
	Since     time.Time // date >= Since
	Until     time.Time // date < Until
	Limit     int       // default 100, at most 10000
	Offset    int
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// ValidateVisit checks a visit record before it is stored.
func ValidateVisit(v *anxin.Visit) error {
	switch {
	case !anxin.ValidID(v.Household):
		return anxin.Errorf(anxin.EINVALID, "visit: household must be [A-Za-z0-9_-]{1,64}")
	case v.Date.IsZero():
		return anxin.Errorf(anxin.EINVALID, "visit: date is missing")
	case !v.Method.Valid():
		return anxin.Errorf(anxin.EINVALID, "visit: method must be phone, home, audio_video, remote_monitoring or other")
	case v.AlarmID != "" && !anxin.ValidID(v.AlarmID):
		return anxin.Errorf(anxin.EINVALID, "visit: alarm_id must be [A-Za-z0-9_-]{1,64}")
	}
	for name, s := range map[string]string{"health": v.Health, "safety": v.Safety, "hygiene": v.Hygiene,
		"environment": v.Environment, "needs": v.Needs, "suggested_care": v.SuggestedCare, "visitor": v.Visitor} {
		if len(s) > maxText || !utf8.ValidString(s) {
			return anxin.Errorf(anxin.EINVALID, "visit: %s must be valid UTF-8 of at most %d bytes", name, maxText)
		}
	}
	return nil
}

// CreateVisit stores a visit record, sets v.ID (a ULID) and moves the
// household's schedule: a contact (any method but remote monitoring) or a home
// visit advances the next due dates, FollowUpDue opens a follow-up, and a
// later personal contact closes it. It implements anxin.Visits.
func (d *DB) CreateVisit(ctx context.Context, v *anxin.Visit) error {
	if err := ValidateVisit(v); err != nil {
		return err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create visit: %w", err)
	}
	defer tx.Rollback()
	id := anxin.NewID(v.Date)
	if err := insertVisit(ctx, tx, id, v); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create visit: %w", err)
	}
	v.ID = id
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func insertVisit(ctx context.Context, tx execer, id string, v *anxin.Visit) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO visits (id, household, date, method, health, safety, hygiene,
		environment, needs, suggested_care, visitor, alarm_id, follow_up_due)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		id, v.Household, millis(v.Date), string(v.Method), v.Health, v.Safety, v.Hygiene,
		v.Environment, v.Needs, v.SuggestedCare, v.Visitor, v.AlarmID, millis(v.FollowUpDue))
	if err != nil {
		return fmt.Errorf("create visit: %w", err)
	}
	date := millis(v.Date)
	contact, home := int64(0), int64(0)
	if v.Method != anxin.VisitRemoteMonitoring {
		contact = date
	}
	if v.Method == anxin.VisitHome {
		home = date
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO visit_schedule (household, last_contact, last_home) VALUES (?, ?, ?)
		ON CONFLICT(household) DO UPDATE SET
			last_contact = max(last_contact, excluded.last_contact),
			last_home = max(last_home, excluded.last_home)`, v.Household, contact, home)
	if err != nil {
		return fmt.Errorf("create visit: schedule: %w", err)
	}
	switch {
	case !v.FollowUpDue.IsZero():
		_, err = tx.ExecContext(ctx, `UPDATE visit_schedule SET follow_up_due = ?, follow_up_alarm = ?, follow_up_since = ?
			WHERE household = ? AND follow_up_since <= ?`, millis(v.FollowUpDue), v.AlarmID, date, v.Household, date)
	case contact != 0:
		_, err = tx.ExecContext(ctx, `UPDATE visit_schedule SET follow_up_due = 0, follow_up_alarm = '', follow_up_since = 0
			WHERE household = ? AND follow_up_due <> 0 AND follow_up_since <= ?`, v.Household, date)
	}
	if err != nil {
		return fmt.Errorf("create visit: follow-up: %w", err)
	}
	return nil
}

const visitColumns = `v.id, v.household, v.date, v.method, v.health, v.safety, v.hygiene, v.environment,
	v.needs, v.suggested_care, v.visitor, v.alarm_id, v.follow_up_due`

// Visits lists visits, newest first.
func (d *DB) Visits(ctx context.Context, f VisitFilter) ([]anxin.Visit, error) {
	var where []string
	var args []any
	from := "visits v"
	if f.Household != "" {
		where, args = append(where, "v.household = ?"), append(args, f.Household)
	}
	if f.Area != "" {
		where = append(where, "v.household IN (SELECT household FROM elders WHERE cur_village = ? OR cur_township = ?)")
		args = append(args, f.Area, f.Area)
	}
	if f.Visitor != "" {
		where, args = append(where, "v.visitor = ?"), append(args, f.Visitor)
	}
	if f.AlarmID != "" {
		where, args = append(where, "v.alarm_id = ?"), append(args, f.AlarmID)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "v.date >= ?"), append(args, millis(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "v.date < ?"), append(args, millis(f.Until))
	}
	q := "SELECT " + visitColumns + " FROM " + from
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY v.date DESC, v.id DESC LIMIT ? OFFSET ?"
	args = append(args, limit(f.Limit), max(f.Offset, 0))
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list visits: %w", err)
	}
	defer rows.Close()
	var out []anxin.Visit
	for rows.Next() {
		var v anxin.Visit
		var date, due int64
		var method string
		if err := rows.Scan(&v.ID, &v.Household, &date, &method, &v.Health, &v.Safety, &v.Hygiene, &v.Environment,
			&v.Needs, &v.SuggestedCare, &v.Visitor, &v.AlarmID, &due); err != nil {
			return nil, fmt.Errorf("list visits: %w", err)
		}
		v.Date, v.FollowUpDue, v.Method = fromMillis(date), fromMillis(due), anxin.VisitMethod(method)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list visits: %w", err)
	}
	return out, nil
}

func limit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 10000:
		return 10000
	}
	return n
}
