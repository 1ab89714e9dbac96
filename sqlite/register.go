package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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
var schemaRegister = schemaAudit + `
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
	updated_at    INTEGER NOT NULL,
	form_tier     TEXT NOT NULL DEFAULT ''   -- 附件1's 重点/一般 (older SQLite stores: migrateElderFormTier)
);
CREATE INDEX IF NOT EXISTS elders_household ON elders(household);
CREATE INDEX IF NOT EXISTS elders_village ON elders(cur_village, tier);
CREATE INDEX IF NOT EXISTS elders_township ON elders(cur_township);
CREATE INDEX IF NOT EXISTS elders_grid_worker ON elders(grid_worker);
-- covers the monthly visit-rate report: an index-only scan already in GROUP BY order
CREATE INDEX IF NOT EXISTS elders_report ON elders(cur_township, cur_village, tier, consent, household, created_at);

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
) WITHOUT ROWID;
`

// maxText bounds every free-text field of a visit or an elder record.
const maxText = 4000

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

// visitText refuses a visit's text field (named as the form names it) that
// is not UTF-8 or is longer than maxText bytes, in the worker's words.
func visitText(name, s string) error {
	if len(s) > maxText || !utf8.ValidString(s) {
		return anxin.Errorf(anxin.EINVALID, "「%s」须为有效的文字，不能超过 %d 字节（约 %d 个汉字）", name, maxText, maxText/3)
	}
	return nil
}

// ValidateVisit checks a visit record before it is stored.
func ValidateVisit(v *anxin.Visit) error {
	switch {
	case !anxin.ValidID(v.Household):
		return anxin.Errorf(anxin.EINVALID, "探访记录的户编号只能是 1 到 64 个字母、数字、_ 或 -")
	case v.Date.IsZero():
		return anxin.Errorf(anxin.EINVALID, "探访记录缺少探访日期")
	case !v.Method.Valid():
		return anxin.Errorf(anxin.EINVALID, "探访方式应为电话问候、上门探访、互联网音视频、远程监测、其他之一")
	case v.AlarmID != "" && !anxin.ValidID(v.AlarmID):
		return anxin.Errorf(anxin.EINVALID, "探访记录的告警编号只能是 1 到 64 个字母、数字、_ 或 -")
	}
	if err := validateVisitForm(v); err != nil {
		return err
	}
	for name, s := range map[string]string{"健康状况": v.Health, "安全情况": v.Safety, "卫生情况": v.Hygiene,
		"居住环境": v.Environment, "老年人服务需求": v.Needs, "实施关爱服务建议": v.SuggestedCare, "探访人": v.Visitor} {
		if err := visitText(name, s); err != nil {
			return err
		}
	}
	return nil
}

// CreateVisit stores a visit record, sets v.ID (a ULID) and moves the
// household's schedule: a contact (any method but remote monitoring) or a home
// visit advances the next due dates, FollowUpDue opens a follow-up, and a
// later personal contact closes it. It implements anxin.Visits. A visit for
// an alarm is idempotent: the same alarm, household, date and method again
// returns the stored visit's id and stores nothing.
func (d *DB) CreateVisit(ctx context.Context, v *anxin.Visit) error {
	if err := ValidateVisit(v); err != nil {
		return err
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create visit: %w", err)
	}
	defer tx.Rollback()
	if err := d.pgLock(ctx, tx, LockVisits, v.Household); err != nil {
		return fmt.Errorf("create visit: %w", err)
	}
	if v.AlarmID != "" {
		// an alarm's outcome recorded again after a restart (the escalation
		// crashed between this call and saving the visit id) has no second effect
		var id string
		err := tx.QueryRowContext(ctx, `SELECT id FROM visits WHERE alarm_id = ? AND household = ? AND date = ? AND method = ?`,
			v.AlarmID, v.Household, millis(v.Date), string(v.Method)).Scan(&id)
		if err == nil {
			v.ID = id
			return nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("create visit: %w", err)
		}
	}
	id := anxin.NewID(v.Date)
	if err := insertVisit(ctx, tx, id, v); err != nil {
		return err
	}
	if err := insertVisitForm(ctx, tx, id, v); err != nil {
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
			last_contact = `+greatest("visit_schedule.last_contact", "excluded.last_contact")+`,
			last_home = `+greatest("visit_schedule.last_home", "excluded.last_home"), v.Household, contact, home)
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
	if f.ID != "" {
		where, args = append(where, "v.id = ?"), append(args, f.ID)
	}
	if f.Household != "" {
		where, args = append(where, "v.household = ?"), append(args, f.Household)
	}
	if c, a := d.itemFilter(f); c != "" {
		where, args = append(where, c), append(args, a...)
	}
	if !f.Area.All() {
		q, a := areaHouseholdsQuery(f.Area)
		where, args = append(where, "v.household IN ("+q+")"), append(args, a...)
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
	if err := d.attachForms(ctx, out); err != nil {
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

func elderWhere(f ElderFilter) (string, []any) {
	var where []string
	var args []any
	if !f.Area.All() {
		c, a := inArea(f.Area)
		where, args = append(where, c), append(args, a...)
	}
	if f.Village != "" {
		where, args = append(where, "cur_village = ?"), append(args, f.Village)
	}
	if f.Tier != "" {
		where, args = append(where, "tier = ?"), append(args, string(f.Tier))
	}
	if f.GridWorker != "" {
		where, args = append(where, "grid_worker = ?"), append(args, f.GridWorker)
	}
	if f.Household != "" {
		where, args = append(where, "household = ?"), append(args, f.Household)
	}
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

const elderColumns = `id, household, name, gender, id_number, phone,
	reg_county, reg_township, reg_village, reg_detail, cur_county, cur_township, cur_village, cur_detail,
	ability, illness, economic, categories, guardianship, self_care, health, age, assessed_on, score, tier,
	contacts, responders, grid_worker, consent, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanElder(s scanner) (anxin.ElderRecord, error) {
	var e anxin.ElderRecord
	var gender, cats, guard, selfCare, health, tier, contacts, responders string
	var assessed, created, updated int64
	err := s.Scan(&e.ID, &e.Household, &e.Name, &gender, &e.IDNumber, &e.Phone,
		&e.Registered.County, &e.Registered.Township, &e.Registered.Village, &e.Registered.Detail,
		&e.Current.County, &e.Current.Township, &e.Current.Village, &e.Current.Detail,
		&e.Ability, &e.Illness, &e.Economic, &cats, &guard, &selfCare, &health, &e.Assessment.Age, &assessed,
		&e.Score, &tier, &contacts, &responders, &e.GridWorker, &e.Consent, &created, &updated, &e.FormTier)
	if err != nil {
		return e, err
	}
	e.Gender, e.Tier = anxin.Gender(gender), anxin.Tier(tier)
	e.Assessment.Guardianship, e.Assessment.SelfCare, e.Assessment.Health =
		anxin.Guardianship(guard), anxin.SelfCare(selfCare), anxin.HealthStatus(health)
	e.Assessment.AssessedOn, e.CreatedAt, e.UpdatedAt = fromMillis(assessed), fromMillis(created), fromMillis(updated)
	e.Categories = []anxin.Category{}
	for c := range strings.SplitSeq(cats, ",") {
		if c != "" {
			e.Categories = append(e.Categories, anxin.Category(c))
		}
	}
	if err := json.Unmarshal([]byte(contacts), &e.Contacts); err != nil {
		return e, fmt.Errorf("elder %s contacts: %w", e.ID, err)
	}
	if err := json.Unmarshal([]byte(responders), &e.Responders); err != nil {
		return e, fmt.Errorf("elder %s responders: %w", e.ID, err)
	}
	return e, nil
}

// Elder reads one elder record (ENOTFOUND when unknown).
func (d *DB) Elder(ctx context.Context, id string) (anxin.ElderRecord, error) {
	e, err := scanElder(d.db.QueryRowContext(ctx, "SELECT "+elderSelect+" FROM elders WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, anxin.Errorf(anxin.ENOTFOUND, "no elder %q", clipID(id))
	} else if err != nil {
		return e, fmt.Errorf("read elder: %w", err)
	}
	one := []anxin.ElderRecord{e}
	err = d.loadForms(ctx, one) // register_form.go
	return one[0], err
}

// Elders lists elder records ordered by id.
func (d *DB) Elders(ctx context.Context, f ElderFilter) ([]anxin.ElderRecord, error) {
	where, args := elderWhere(f)
	q := "SELECT " + elderSelect + " FROM elders" + where + " ORDER BY id"
	if f.Limit >= 0 {
		q += " LIMIT ? OFFSET ?"
		args = append(args, limit(f.Limit), max(f.Offset, 0))
	}
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list elders: %w", err)
	}
	defer rows.Close()
	out := []anxin.ElderRecord{}
	for rows.Next() {
		e, err := scanElder(rows)
		if err != nil {
			return nil, fmt.Errorf("list elders: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list elders: %w", err)
	}
	rows.Close()
	if err := d.loadForms(ctx, out); err != nil { // register_form.go
		return nil, err
	}
	return out, nil
}

// CountElders counts the elder records a filter selects.
func (d *DB) CountElders(ctx context.Context, f ElderFilter) (int, error) {
	where, args := elderWhere(f)
	var n int
	if err := d.db.QueryRowContext(ctx, "SELECT count(*) FROM elders"+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count elders: %w", err)
	}
	return n, nil
}

// PutElder creates or replaces the record with e.ID. The caller has
// normalized it (care.Normalize). CreatedAt is kept from the stored record;
// UpdatedAt is set to now when zero. ECONFLICT when the ID number belongs to
// another elder.
func (d *DB) PutElder(ctx context.Context, e *anxin.ElderRecord) error {
	return d.ImportElders(ctx, []anxin.ElderRecord{*e}, e.UpdatedAt)
}

// ImportElders stores every record in one transaction (create or replace by
// ID): all or nothing. A resident ID number that another elder already holds
// (in the store or earlier in es) is a conflict; every conflict is reported in
// a *ConflictError. now stamps created_at/updated_at (zero: time.Now).
func (d *DB) ImportElders(ctx context.Context, es []anxin.ElderRecord, now time.Time) error {
	if now.IsZero() {
		now = time.Now()
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("import elders: %w", err)
	}
	defer tx.Rollback()
	if err := d.pgLock(ctx, tx, LockElders, ""); err != nil {
		return fmt.Errorf("import elders: %w", err)
	}
	owner, err := tx.PrepareContext(ctx, "SELECT id FROM elders WHERE id_number = ?")
	if err != nil {
		return fmt.Errorf("import elders: %w", err)
	}
	defer owner.Close()
	put, err := tx.PrepareContext(ctx, `INSERT INTO elders (`+elderSelect+`)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT(id) DO UPDATE SET household=excluded.household, name=excluded.name, gender=excluded.gender,
		id_number=excluded.id_number, phone=excluded.phone, reg_county=excluded.reg_county,
		reg_township=excluded.reg_township, reg_village=excluded.reg_village, reg_detail=excluded.reg_detail,
		cur_county=excluded.cur_county, cur_township=excluded.cur_township, cur_village=excluded.cur_village,
		cur_detail=excluded.cur_detail, ability=excluded.ability, illness=excluded.illness,
		economic=excluded.economic, categories=excluded.categories, guardianship=excluded.guardianship,
		self_care=excluded.self_care, health=excluded.health, age=excluded.age, assessed_on=excluded.assessed_on,
		score=excluded.score, tier=excluded.tier, contacts=excluded.contacts, responders=excluded.responders,
		grid_worker=excluded.grid_worker, consent=excluded.consent, updated_at=excluded.updated_at,
		form_tier=excluded.form_tier`)
	if err != nil {
		return fmt.Errorf("import elders: %w", err)
	}
	defer put.Close()
	var conflicts []Conflict
	inFile := map[string]string{} // id number → elder id
	var moving []int              // records whose ID number another record of es holds now
	for i := range es {
		e := &es[i]
		if prev, ok := inFile[e.IDNumber]; ok && prev != e.ID {
			conflicts = append(conflicts, Conflict{Index: i, Field: "id_number", Message: "the same resident ID number is on record " + clipID(prev),
				InFile: clipID(prev)})
			continue
		}
		inFile[e.IDNumber] = e.ID
		var holder string
		err := owner.QueryRowContext(ctx, e.IDNumber).Scan(&holder)
		if err == nil && holder != e.ID && !slicesHas(es, holder, e.IDNumber) {
			conflicts = append(conflicts, Conflict{Index: i, Field: "id_number",
				Message: "the resident ID number is already registered to elder " + clipID(holder), Holder: holder})
			continue
		} else if err == nil && holder != e.ID {
			moving = append(moving, i)
		} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("import elders: %w", err)
		}
	}
	if len(conflicts) > 0 {
		return &ConflictError{Conflicts: conflicts}
	}
	// records that change hands of an ID number within this import: clear the old holders first
	// (only those the owner lookup found held by another record, not one UPDATE per record)
	for _, i := range moving {
		if _, err := tx.ExecContext(ctx, "UPDATE elders SET id_number = 'moving:' || id WHERE id_number = ? AND id <> ?",
			es[i].IDNumber, es[i].ID); err != nil {
			return fmt.Errorf("import elders: %w", err)
		}
	}
	for i := range es {
		e := &es[i]
		contacts, err := json.Marshal(nonNil(e.Contacts))
		if err != nil {
			return fmt.Errorf("import elders: %w", err)
		}
		responders, err := json.Marshal(nonNil(e.Responders))
		if err != nil {
			return fmt.Errorf("import elders: %w", err)
		}
		cats := make([]string, len(e.Categories))
		for j, c := range e.Categories {
			cats[j] = string(c)
		}
		created := e.CreatedAt
		if created.IsZero() {
			created = now
		}
		updated := e.UpdatedAt
		if updated.IsZero() {
			updated = now
		}
		_, err = put.ExecContext(ctx, e.ID, e.Household, e.Name, string(e.Gender), e.IDNumber, e.Phone,
			e.Registered.County, e.Registered.Township, e.Registered.Village, e.Registered.Detail,
			e.Current.County, e.Current.Township, e.Current.Village, e.Current.Detail,
			e.Ability, e.Illness, e.Economic, strings.Join(cats, ","),
			string(e.Assessment.Guardianship), string(e.Assessment.SelfCare), string(e.Assessment.Health),
			e.Assessment.Age, millis(e.Assessment.AssessedOn), e.Score, string(e.Tier),
			string(contacts), string(responders), e.GridWorker, e.Consent, millis(created), millis(updated), e.FormTier)
		if err != nil {
			return fmt.Errorf("import elders: record %d: %w", i+1, err)
		}
	}
	if err := putForms(ctx, tx, es); err != nil { // register_form.go
		return fmt.Errorf("import elders: %w", err)
	}
	if err := d.commitRegister(ctx, tx, eldersChange(es)); err != nil {
		return fmt.Errorf("import elders: %w", err)
	}
	return nil
}

// slicesHas reports whether the import also rewrites elder id to another ID
// number, releasing idNumber (two records swapping numbers, a typo fixed).
func slicesHas(es []anxin.ElderRecord, id, idNumber string) bool {
	for i := range es {
		if es[i].ID == id {
			return es[i].IDNumber != idNumber
		}
	}
	return false
}

func nonNil(cs []anxin.Contact) []anxin.Contact {
	if cs == nil {
		return []anxin.Contact{}
	}
	return cs
}

func clipID(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// Schedules lists every elder the filter selects (Limit and Offset are
// ignored) with the last contact, last home visit and open follow-up,
// ordered by id.
func (d *DB) Schedules(ctx context.Context, f ScheduleFilter) ([]Scheduled, error) {
	where, args := elderWhere(f.ElderFilter)
	if f.ConsentOnly {
		where = andWhere(where, "consent = 1")
	}
	var outer []string
	if f.FollowUpOnly {
		outer = append(outer, "coalesce(s.follow_up_due, 0) <> 0")
	}
	if f.Due != nil && len(f.Due.Tiers) > 0 {
		var ors, tiers []string
		for t, c := range f.Due.Tiers {
			ors = append(ors, "(e.tier = ? AND (coalesce(s.last_contact, 0) < ? OR coalesce(s.last_home, 0) < ?))")
			args = append(args, string(t), millis(c.Contact), millis(c.Home))
			tiers = append(tiers, "?")
		}
		for t := range f.Due.Tiers {
			args = append(args, string(t))
		}
		ors = append(ors, "e.tier NOT IN ("+strings.Join(tiers, ",")+")")
		outer = append(outer, "("+strings.Join(ors, " OR ")+")")
	}
	q := `SELECT e.id, e.household, e.name, e.phone, e.cur_township, e.cur_village, e.cur_detail,
		e.tier, e.grid_worker, e.consent, e.created_at, coalesce(s.last_contact, 0), coalesce(s.last_home, 0),
		coalesce(s.follow_up_due, 0), coalesce(s.follow_up_alarm, '')
		FROM (SELECT id, household, name, phone, cur_township, cur_village, cur_detail, tier, grid_worker, consent, created_at
			FROM elders` + where + `) e LEFT JOIN visit_schedule s ON s.household = e.household`
	if len(outer) > 0 {
		q += " WHERE " + strings.Join(outer, " AND ")
	}
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	defer rows.Close()
	out := []Scheduled{}
	for rows.Next() {
		var s Scheduled
		var tier string
		var reg, contact, home, due int64
		if err := rows.Scan(&s.ID, &s.Household, &s.Name, &s.Phone, &s.Township, &s.Village, &s.Address, &tier, &s.GridWorker,
			&s.Consent, &reg, &contact, &home, &due, &s.FollowUpAlarm); err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		s.Tier = anxin.Tier(tier)
		s.Registered, s.LastContact, s.LastHome, s.FollowUpDue = fromMillis(reg), fromMillis(contact), fromMillis(home), fromMillis(due)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	// sorted here: ORDER BY id would walk the id index and fetch rows at random
	slices.SortFunc(out, func(a, b Scheduled) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func andWhere(where, cond string) string {
	if where == "" {
		return " WHERE " + cond
	}
	return where + " AND " + cond
}

// inArea is the SQL condition on elders' columns for an area (not All):
// each level it names matched exactly.
func inArea(a anxin.Area) (string, []any) {
	var conds []string
	var args []any
	if a.Township != "" {
		conds, args = append(conds, "cur_township = ?"), append(args, a.Township)
	}
	if a.Village != "" {
		conds, args = append(conds, "cur_village = ?"), append(args, a.Village)
	}
	return "(" + strings.Join(conds, " AND ") + ")", args
}

// areaHouseholdsQuery selects the households wholly inside an area: with
// an elder there and none elsewhere. A household shared with another area
// (stored before writes were checked) belongs to neither community.
func areaHouseholdsQuery(a anxin.Area) (string, []any) {
	c, args := inArea(a)
	return `SELECT household FROM elders WHERE household IN (SELECT household FROM elders WHERE ` + c + `)
		GROUP BY household HAVING count(*) FILTER (WHERE NOT ` + c + `) = 0`, slices.Concat(args, args)
}

// HouseholdInArea reports whether a household is wholly inside the area:
// at least one elder of it lives there and none elsewhere (the whole
// district: always true).
func (d *DB) HouseholdInArea(ctx context.Context, household string, area anxin.Area) (bool, error) {
	if area.All() {
		return true, nil
	}
	p, err := d.HouseholdPlaces(ctx, area, []string{household})
	if err != nil {
		return false, fmt.Errorf("household area: %w", err)
	}
	return p[household].Inside > 0 && p[household].Outside == 0, nil
}

// HouseholdPlaces counts, for each given household, its elders inside and
// outside the area (households with no elder are absent).
func (d *DB) HouseholdPlaces(ctx context.Context, area anxin.Area, households []string) (map[string]HouseholdPlace, error) {
	out := make(map[string]HouseholdPlace, len(households))
	c, cargs := inArea(area)
	if area.All() {
		c, cargs = "TRUE", nil
	}
	err := d.eachIn(ctx, households, `SELECT household, count(*) FILTER (WHERE `+c+`), count(*) FILTER (WHERE NOT `+c+`) FROM elders WHERE household IN (%s) GROUP BY household`,
		slices.Concat(cargs, cargs), // once for each sum
		func(rows *sql.Rows) error {
			var h string
			var p HouseholdPlace
			if err := rows.Scan(&h, &p.Inside, &p.Outside); err != nil {
				return err
			}
			out[h] = p
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("household places: %w", err)
	}
	return out, nil
}

// eachIn runs query (args, then one placeholder per key in its %s) for the
// keys in chunks of 500 and calls scan for each row.
func (d *DB) eachIn(ctx context.Context, keys []string, query string, args []any, scan func(*sql.Rows) error) error {
	for lo := 0; lo < len(keys); lo += 500 {
		chunk := keys[lo:min(lo+500, len(keys))]
		a := slices.Clone(args)
		for _, k := range chunk {
			a = append(a, k)
		}
		rows, err := d.db.QueryContext(ctx, fmt.Sprintf(query, "?"+strings.Repeat(",?", len(chunk)-1)), a...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// AreaHouseholds lists the households wholly inside an area (not All).
func (d *DB) AreaHouseholds(ctx context.Context, area anxin.Area) (map[string]bool, error) {
	q, args := areaHouseholdsQuery(area)
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("area households: %w", err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("area households: %w", err)
		}
		out[h] = true
	}
	return out, rows.Err()
}

// openedIn is the condition on alarms (columns prefixed with p) opened in
// [since, until) — a zero bound leaves that side open — and of the one
// household when households names one; with several the caller filters
// the rows itself.
func openedIn(p string, since, until time.Time, households map[string]bool) (where []string, args []any) {
	if !since.IsZero() {
		where, args = append(where, p+"opened_at >= ?"), append(args, alarmTime(since))
	}
	if !until.IsZero() {
		where, args = append(where, p+"opened_at < ?"), append(args, alarmTime(until))
	}
	if len(households) == 1 {
		for h := range households {
			where, args = append(where, p+"household = ?"), append(args, h)
		}
	}
	return where, args
}

// AlarmsOpened lists the alarms opened in [since, until) (zero: unbounded),
// newest first, of the given households only (nil: all), at most limit
// (default 100, at most 10,000). It reads the ingest's alarms table.
func (d *DB) AlarmsOpened(ctx context.Context, since, until time.Time, households map[string]bool, limit int) ([]anxin.Alarm, error) {
	if households != nil && len(households) == 0 {
		return []anxin.Alarm{}, nil
	}
	where, args := openedIn("", since, until, households)
	q := `SELECT ` + alarmCols + ` FROM alarms`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY opened_at DESC, id DESC"
	n := min(limit, 10000)
	if n <= 0 {
		n = 100
	}
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list alarms: %w", err)
	}
	defer rows.Close()
	out := []anxin.Alarm{}
	for rows.Next() && len(out) < n {
		a, err := scanAlarm(rows)
		if err != nil {
			return nil, fmt.Errorf("list alarms: %w", err)
		}
		if households == nil || households[a.Household] {
			out = append(out, a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list alarms: %w", err)
	}
	return out, nil
}
