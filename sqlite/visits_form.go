package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
)

// schemaVisitForms holds 附件2's structured parts of a visit, one row per
// visit that has them (visits stored before they existed have none and read
// as before: free text only). items is a JSON object of anxin.VisitItems
// keys to the form's options; services part 二 as a JSON array.
var schemaVisitForms = `
CREATE TABLE IF NOT EXISTS visit_forms (
	visit_id      TEXT PRIMARY KEY,
	elder         TEXT NOT NULL DEFAULT '',
	number        INTEGER NOT NULL DEFAULT 0,
	items         TEXT NOT NULL DEFAULT '{}',
	family_count  INTEGER NOT NULL DEFAULT 0,
	illness_name  TEXT NOT NULL DEFAULT '',
	entered_by    TEXT NOT NULL DEFAULT '',
	services      TEXT NOT NULL DEFAULT '[]'
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS visit_forms_elder ON visit_forms(elder);
`

// migrateElderFormTier adds the form's 重点/一般 box to older elder tables.
func migrateElderFormTier(ctx context.Context, db *sql.DB) error {
	return ensureColumn(ctx, db, "elders", "form_tier", "TEXT NOT NULL DEFAULT ''", "")
}

// elderSelect is elderColumns as read and written (the migrated columns after them).
const elderSelect = elderColumns + ", form_tier"

// validateVisitForm checks the structured parts of a visit.
func validateVisitForm(v *anxin.Visit) error {
	if v.Elder != "" && !anxin.ValidID(v.Elder) {
		return anxin.Errorf(anxin.EINVALID, "探访记录的档案编号只能是 1 到 64 个字母、数字、_ 或 -")
	}
	if v.Number < 0 || v.Number > 10000 {
		return anxin.Errorf(anxin.EINVALID, "探访次数应为 0 到 10000")
	}
	if err := v.NormalizeItems(); err != nil {
		return err
	}
	if len(v.Services) > anxin.MaxCareServices {
		return anxin.Errorf(anxin.EINVALID, "一次探访最多记录 %d 项关爱服务", anxin.MaxCareServices)
	}
	texts := map[string]string{"疾病名称": v.IllnessName, "录入人": v.EnteredBy}
	for i, s := range v.Services {
		texts[fmt.Sprintf("第 %d 项关爱服务情况", i+1)] = s.Content
		texts[fmt.Sprintf("第 %d 项关爱服务的服务人员", i+1)] = s.Provider
		if s.Number < 0 || s.Number > 10000 {
			return anxin.Errorf(anxin.EINVALID, "第 %d 项关爱服务的次数应为 0 到 10000", i+1)
		}
		if s.Satisfaction != "" {
			ok := false
			for _, x := range anxin.Satisfactions {
				ok = ok || x == s.Satisfaction
			}
			if !ok {
				return anxin.Errorf(anxin.EINVALID, "服务满意度应为%s之一", strings.Join(anxin.Satisfactions, "、"))
			}
		}
	}
	for name, s := range texts {
		if err := visitText(name, s); err != nil {
			return err
		}
	}
	return nil
}

// insertVisitForm stores the structured parts of a visit just inserted
// (nothing when it has none). A visit without a number is the household's
// Nth contact (remote monitoring not counted) in date order.
func insertVisitForm(ctx context.Context, tx *sql.Tx, id string, v *anxin.Visit) error {
	if !v.HasForm() {
		return nil
	}
	if v.Number == 0 && v.Method != anxin.VisitRemoteMonitoring {
		date := millis(v.Date)
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM visits WHERE household = ? AND method <> 'remote_monitoring'
			AND (date < ? OR (date = ? AND id <= ?))`, v.Household, date, date, id).Scan(&v.Number); err != nil {
			return fmt.Errorf("create visit: number: %w", err)
		}
	}
	items, err := json.Marshal(v.Items)
	if err != nil || v.Items == nil {
		items = []byte("{}")
	}
	services := []anxin.CareService{}
	if v.Services != nil {
		services = v.Services
	}
	svc, err := json.Marshal(services)
	if err != nil {
		return fmt.Errorf("create visit: %w", err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO visit_forms (visit_id, elder, number, items, family_count, illness_name,
		entered_by, services) VALUES (?,?,?,?,?,?,?,?)`, id, v.Elder, v.Number, string(items), v.FamilyCount,
		v.IllnessName, v.EnteredBy, string(svc))
	if err != nil {
		return fmt.Errorf("create visit: form: %w", err)
	}
	return nil
}

// attachForms reads the structured parts of listed visits.
func (d *DB) attachForms(ctx context.Context, vs []anxin.Visit) error {
	if len(vs) == 0 {
		return nil
	}
	at := make(map[string]int, len(vs))
	ids := make([]string, len(vs))
	for i := range vs {
		at[vs[i].ID], ids[i] = i, vs[i].ID
	}
	return d.eachIn(ctx, ids, `SELECT visit_id, elder, number, items, family_count, illness_name, entered_by, services
		FROM visit_forms WHERE visit_id IN (%s)`, nil, func(rows *sql.Rows) error {
		var id, items, services string
		var f anxin.Visit
		if err := rows.Scan(&id, &f.Elder, &f.Number, &items, &f.FamilyCount, &f.IllnessName, &f.EnteredBy, &services); err != nil {
			return err
		}
		v := &vs[at[id]]
		v.Elder, v.Number, v.FamilyCount, v.IllnessName, v.EnteredBy = f.Elder, f.Number, f.FamilyCount, f.IllnessName, f.EnteredBy
		if err := json.Unmarshal([]byte(items), &v.Items); err != nil {
			return fmt.Errorf("visit %s items: %w", id, err)
		}
		if len(v.Items) == 0 {
			v.Items = nil
		}
		if err := json.Unmarshal([]byte(services), &v.Services); err != nil {
			return fmt.Errorf("visit %s services: %w", id, err)
		}
		if len(v.Services) == 0 {
			v.Services = nil
		}
		return nil
	})
}

// itemFilter is the condition for VisitFilter.Item/ItemValue.
func (d *DB) itemFilter(f VisitFilter) (string, []any) {
	var conds []string
	var args []any
	if f.Item != "" {
		item := "json_extract(items, '$.' || ?)"
		if d.pg {
			item = "(items::jsonb ->> ?)"
		}
		conds, args = append(conds, item+" = ?"), append(args, f.Item, f.ItemValue)
	}
	if f.Elder != "" {
		conds, args = append(conds, "elder = ?"), append(args, f.Elder)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return `v.id IN (SELECT visit_id FROM visit_forms WHERE ` + strings.Join(conds, " AND ") + `)`, args
}

// Visit reads one visit (ENOTFOUND when unknown).
func (d *DB) Visit(ctx context.Context, id string) (anxin.Visit, error) {
	vs, err := d.Visits(ctx, VisitFilter{ID: id, Limit: 1})
	if err != nil {
		return anxin.Visit{}, err
	}
	if len(vs) == 0 {
		return anxin.Visit{}, anxin.Errorf(anxin.ENOTFOUND, "no visit %q", clipID(id))
	}
	return vs[0], nil
}

// EldersByName lists the elders of an area with that name, and in that
// village when village is not empty, by id.
func (d *DB) EldersByName(ctx context.Context, area anxin.Area, name, village string) ([]ElderMatch, error) {
	q := "SELECT id, household, cur_village FROM elders WHERE name = ?"
	args := []any{name}
	if village != "" {
		q, args = q+" AND cur_village = ?", append(args, village)
	}
	if !area.All() {
		c, a := inArea(area)
		q, args = q+" AND "+c, append(args, a...)
	}
	rows, err := d.db.QueryContext(ctx, q+" ORDER BY id LIMIT 50", args...)
	if err != nil {
		return nil, fmt.Errorf("find elder: %w", err)
	}
	defer rows.Close()
	var out []ElderMatch
	for rows.Next() {
		var m ElderMatch
		if err := rows.Scan(&m.ID, &m.Household, &m.Village); err != nil {
			return nil, fmt.Errorf("find elder: %w", err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// HouseholdElders lists the ids of the elders registered in a household.
func (d *DB) HouseholdElders(ctx context.Context, household string) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, "SELECT id FROM elders WHERE household = ? ORDER BY id", household)
	if err != nil {
		return nil, fmt.Errorf("household elders: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("household elders: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// VisitItemCounts counts, for every 附件2 item, the households of an area
// by the option their latest visit in [since, until) recorded: how many
// homes are 用电不安全 this month. Items nobody recorded have all zeros.
func (d *DB) VisitItemCounts(ctx context.Context, area anxin.Area, since, until time.Time) ([]ItemCount, error) {
	var where []string
	var args []any
	if !since.IsZero() {
		where, args = append(where, "v.date >= ?"), append(args, millis(since))
	}
	if !until.IsZero() {
		where, args = append(where, "v.date < ?"), append(args, millis(until))
	}
	if !area.All() {
		q, a := areaHouseholdsQuery(area)
		where, args = append(where, "v.household IN ("+q+")"), append(args, a...)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	each := "json_each(f.items)"
	if d.pg {
		each = "jsonb_each_text(f.items::jsonb)"
	}
	q := `SELECT key, value, count(*) FROM (
		SELECT j.key AS key, j.value AS value,
			row_number() OVER (PARTITION BY v.household, j.key ORDER BY v.date DESC, v.id DESC) AS rn
		FROM visits v JOIN visit_forms f ON f.visit_id = v.id, ` + each + ` j` + cond + `
	) AS latest WHERE rn = 1 GROUP BY key, value`
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("count visit items: %w", err)
	}
	defer rows.Close()
	got := map[string]map[string]int{}
	for rows.Next() {
		var k, v string
		var n int
		if err := rows.Scan(&k, &v, &n); err != nil {
			return nil, fmt.Errorf("count visit items: %w", err)
		}
		if got[k] == nil {
			got[k] = map[string]int{}
		}
		got[k][v] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count visit items: %w", err)
	}
	out := make([]ItemCount, 0, len(anxin.VisitItems))
	for _, it := range anxin.VisitItems {
		c := ItemCount{Key: it.Key, Label: it.Label, Counts: map[string]int{}}
		for _, o := range it.Options {
			c.Counts[o] = got[it.Key][o]
		}
		out = append(out, c)
	}
	return out, nil
}
