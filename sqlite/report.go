package sqlite

import (
	"context"
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
CREATE TABLE IF NOT EXISTS register_version (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
INSERT OR IGNORE INTO register_version (id, n) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS visits_version_ins AFTER INSERT ON visits BEGIN UPDATE register_version SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS visits_version_upd AFTER UPDATE ON visits BEGIN UPDATE register_version SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS visits_version_del AFTER DELETE ON visits BEGIN UPDATE register_version SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS elders_version_ins AFTER INSERT ON elders BEGIN UPDATE register_version SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS elders_version_upd AFTER UPDATE ON elders BEGIN UPDATE register_version SET n = n + 1; END;
CREATE TRIGGER IF NOT EXISTS elders_version_del AFTER DELETE ON elders BEGIN UPDATE register_version SET n = n + 1; END;
`

func init() { schemas = append(schemas, &schemaReportVersion) } // after schemaRegister: the triggers need its tables

// RegisterVersion changes whenever an elder or a visit is stored, changed
// or deleted (by any connection or process).
func (d *DB) RegisterVersion(ctx context.Context) (int64, error) {
	var n int64
	if err := d.db.QueryRowContext(ctx, "SELECT n FROM register_version WHERE id = 1").Scan(&n); err != nil {
		return 0, fmt.Errorf("register version: %w", err)
	}
	return n, nil
}

// ElderMonth is one elder registered before a month ended, with the
// month's visit records counted by method, for the monthly report.
type ElderMonth struct {
	ID, Household, Name, Phone string
	Township, Village, Address string // current address (detail)
	Tier                       anxin.Tier
	GridWorker                 string
	Consent                    bool
	Home, PhoneCalls           int // visit records in the month by method
	AudioVideo, Other, Remote  int
	// LastContact is the household's last visit other than remote
	// monitoring before until; looked up only for elders with no such
	// visit in the month (zero otherwise, or when there is none).
	LastContact time.Time
}

// MonthVisits calls fn for each elder of the area ("" is all) registered
// before until, with the household's visit records dated in [since, until)
// counted by method: one scan of the month's visits (visits(date,
// household)) grouped by household, joined to the elders.
func (d *DB) MonthVisits(ctx context.Context, area anxin.Area, since, until time.Time, fn func(ElderMonth) error) error {
	q := `WITH m AS (SELECT household, sum(method = 'home') home, sum(method = 'phone') phone,
			sum(method = 'audio_video') av, sum(method = 'other') other, sum(method = 'remote_monitoring') remote
			FROM visits WHERE date >= ? AND date < ? GROUP BY household)
		SELECT e.id, e.household, e.name, e.phone, e.cur_township, e.cur_village, e.cur_detail, e.tier, e.grid_worker,
			e.consent, coalesce(m.home, 0), coalesce(m.phone, 0), coalesce(m.av, 0), coalesce(m.other, 0), coalesce(m.remote, 0),
			CASE WHEN e.consent AND coalesce(m.home + m.phone + m.av + m.other, 0) = 0 THEN
				coalesce((SELECT max(v.date) FROM visits v WHERE v.household = e.household AND v.date < ?
					AND v.method <> 'remote_monitoring'), 0) ELSE 0 END
		FROM elders e LEFT JOIN m ON m.household = e.household
		WHERE e.created_at < ?`
	args := []any{millis(since), millis(until), millis(until), millis(until)}
	if !area.All() {
		c, a := inArea(area)
		q += " AND " + strings.ReplaceAll(c, "cur_", "e.cur_")
		args = append(args, a...)
	}
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("month visits: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e ElderMonth
		var tier string
		var last int64
		if err := rows.Scan(&e.ID, &e.Household, &e.Name, &e.Phone, &e.Township, &e.Village, &e.Address, &tier, &e.GridWorker,
			&e.Consent, &e.Home, &e.PhoneCalls, &e.AudioVideo, &e.Other, &e.Remote, &last); err != nil {
			return fmt.Errorf("month visits: %w", err)
		}
		e.Tier, e.LastContact = anxin.Tier(tier), fromMillis(last)
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("month visits: %w", err)
	}
	return nil
}
