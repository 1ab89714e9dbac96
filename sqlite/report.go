package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
)

// The monthly report reads the register and a month of visits; the web
// app's report page keeps computed months and asks RegisterVersion whether
// they still hold. register_version counts every change to elders and
// visits, by triggers, so writes from another process (anxinctl -db) and
// bulk imports are seen too.
var schemaReportVersion = `
-- the monthly report reads a month of visits by household and method from the index alone
-- (a table lookup per visit for its method made a cold report take tens of seconds)
CREATE INDEX IF NOT EXISTS visits_household_date_method ON visits(household, date, method);
CREATE TABLE IF NOT EXISTS register_version (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
INSERT INTO register_version (id, n) VALUES (1, 0) ON CONFLICT DO NOTHING;
`

// The triggers that move register_version, in each dialect's spelling.
const (
	sqliteReportTriggers = `
CREATE TRIGGER IF NOT EXISTS visits_version_ins AFTER INSERT ON visits BEGIN UPDATE register_version SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS visits_version_upd AFTER UPDATE ON visits BEGIN UPDATE register_version SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS visits_version_del AFTER DELETE ON visits BEGIN UPDATE register_version SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS elders_version_ins AFTER INSERT ON elders BEGIN UPDATE register_version SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS elders_version_upd AFTER UPDATE ON elders BEGIN UPDATE register_version SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS elders_version_del AFTER DELETE ON elders BEGIN UPDATE register_version SET n = n + 1; END;
`
	// one statement-level trigger per table: a bulk import moves the
	// counter once (PostgreSQL 14+ has CREATE OR REPLACE TRIGGER)
	postgresReportTriggers = `
CREATE OR REPLACE FUNCTION anxin_register_version() RETURNS trigger LANGUAGE plpgsql AS
	'BEGIN UPDATE register_version SET n = n + 1 WHERE id = 1; RETURN NULL; END';
CREATE OR REPLACE TRIGGER visits_version AFTER INSERT OR UPDATE OR DELETE ON visits
	FOR EACH STATEMENT EXECUTE FUNCTION anxin_register_version();
CREATE OR REPLACE TRIGGER elders_version AFTER INSERT OR UPDATE OR DELETE ON elders
	FOR EACH STATEMENT EXECUTE FUNCTION anxin_register_version();
`
)

func init() { schemas = append(schemas, &schemaReportVersion) } // after schemaRegister: the index needs its tables

// RecordsVersion changes whenever an elder or a visit is stored, changed
// or deleted (by any connection or process).
func (d *DB) RecordsVersion(ctx context.Context) (int64, error) {
	var n int64
	if err := d.db.QueryRowContext(ctx, "SELECT n FROM register_version WHERE id = 1").Scan(&n); err != nil {
		return 0, fmt.Errorf("register version: %w", err)
	}
	return n, nil
}

// Visit records are counted per household and month in one integer of
// 12-bit fields, one per method (packed below), so that each elder costs
// one seek on the covering index visits(household, date, method): a
// grouped scan of the month's visits joined to the elders took ten times
// as long in this SQLite. A field holds at most 4,095 records of one method
// for one household in one month (136 a day).
const packedVisits = `(SELECT sum(CASE v.method WHEN 'home' THEN 1 WHEN 'phone' THEN 4096 WHEN 'audio_video' THEN 16777216
	WHEN 'other' THEN 68719476736 WHEN 'remote_monitoring' THEN 281474976710656 ELSE 0 END)
	FROM visits v WHERE v.household = e.household AND v.date >= ? AND v.date < ?)`

// MonthVisits lists the elders of the area ("" is all) registered before
// until, each with the household's visit records dated in [since, until)
// counted by method, and, for consenting elders with none that counts
// (any method but remote monitoring), the last one before until.
func (d *DB) MonthVisits(ctx context.Context, area anxin.Area, since, until time.Time) ([]ElderMonth, error) {
	q := `SELECT e.id, e.household, e.name, e.phone, e.cur_township, e.cur_village, e.cur_detail, e.tier, e.grid_worker,
			e.consent, coalesce(` + packedVisits + `, 0)
		FROM elders e WHERE e.created_at < ?`
	args := []any{millis(since), millis(until), millis(until)}
	if !area.All() {
		c, a := inArea(area)
		q += " AND " + strings.ReplaceAll(c, "cur_", "e.cur_")
		args = append(args, a...)
	}
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("month visits: %w", err)
	}
	defer rows.Close()
	out := []ElderMonth{}
	unseen := map[string][]int{} // household → elders (indexes in out) with no visit that counts
	for rows.Next() {
		var e ElderMonth
		var tier string
		var p int64
		if err := rows.Scan(&e.ID, &e.Household, &e.Name, &e.Phone, &e.Township, &e.Village, &e.Address, &tier, &e.GridWorker,
			&e.Consent, &p); err != nil {
			return nil, fmt.Errorf("month visits: %w", err)
		}
		const field = 1<<12 - 1
		e.Tier = anxin.Tier(tier)
		e.Home, e.PhoneCalls, e.AudioVideo, e.Other, e.Remote = int(p&field), int(p>>12&field), int(p>>24&field),
			int(p>>36&field), int(p>>48&field)
		if e.Consent && e.Home+e.PhoneCalls+e.AudioVideo+e.Other == 0 {
			unseen[e.Household] = append(unseen[e.Household], len(out))
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("month visits: %w", err)
	}
	rows.Close()
	households := make([]string, 0, len(unseen))
	for h := range unseen {
		households = append(households, h)
	}
	err = d.eachIn(ctx, households, `SELECT household, max(date) FROM visits WHERE date < ? AND method <> 'remote_monitoring'
		AND household IN (%s) GROUP BY household`, []any{millis(until)}, func(rows *sql.Rows) error {
		var h string
		var last int64
		if err := rows.Scan(&h, &last); err != nil {
			return err
		}
		for _, i := range unseen[h] {
			out[i].LastContact = fromMillis(last)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("month visits: last contact: %w", err)
	}
	return out, nil
}
