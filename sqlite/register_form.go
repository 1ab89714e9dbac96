package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/anxin-care/anxin"
)

// The 附件1 登记表 part of an elder record (anxin.RegisterForm), 备注 and the extra attributes of an imported ledger live in
// their own table, one row per elder that has any of them, written in the
// transaction that writes the elder (ImportElders).
var schemaRegisterForm = `
CREATE TABLE IF NOT EXISTS elder_forms (
	elder_id   TEXT PRIMARY KEY,
	note       TEXT NOT NULL DEFAULT '',
	form       TEXT NOT NULL DEFAULT '',   -- JSON anxin.RegisterForm, '' when none
	extra      TEXT NOT NULL DEFAULT '[]'  -- JSON []anxin.Attribute
) WITHOUT ROWID;
`

func init() { schemas = append(schemas, &schemaRegisterForm) }

func hasForm(e *anxin.ElderRecord) bool {
	return e.Note != "" || e.Form != nil || len(e.Extra) > 0
}

// putForms writes (or clears) the form part of each record, inside tx.
func putForms(ctx context.Context, tx *sql.Tx, es []anxin.ElderRecord) error {
	put, err := tx.PrepareContext(ctx, `INSERT INTO elder_forms (elder_id, note, form, extra) VALUES (?,?,?,?)
		ON CONFLICT(elder_id) DO UPDATE SET note=excluded.note, form=excluded.form, extra=excluded.extra`)
	if err != nil {
		return err
	}
	defer put.Close()
	del, err := tx.PrepareContext(ctx, "DELETE FROM elder_forms WHERE elder_id = ?")
	if err != nil {
		return err
	}
	defer del.Close()
	for i := range es {
		e := &es[i]
		if !hasForm(e) {
			if _, err := del.ExecContext(ctx, e.ID); err != nil {
				return err
			}
			continue
		}
		form := ""
		if e.Form != nil {
			b, err := json.Marshal(e.Form)
			if err != nil {
				return err
			}
			form = string(b)
		}
		extra := []byte("[]")
		if len(e.Extra) > 0 {
			if extra, err = json.Marshal(e.Extra); err != nil {
				return err
			}
		}
		if _, err := put.ExecContext(ctx, e.ID, e.Note, form, string(extra)); err != nil {
			return err
		}
	}
	return nil
}

// loadForms fills the form part of the records from elder_forms.
func (d *DB) loadForms(ctx context.Context, es []anxin.ElderRecord) error {
	if len(es) == 0 {
		return nil
	}
	at := make(map[string]int, len(es))
	ids := make([]string, len(es))
	for i := range es {
		at[es[i].ID], ids[i] = i, es[i].ID
	}
	err := d.eachIn(ctx, ids, "SELECT elder_id, note, form, extra FROM elder_forms WHERE elder_id IN (%s)", nil,
		func(rows *sql.Rows) error {
			var id, note, form, extra string
			if err := rows.Scan(&id, &note, &form, &extra); err != nil {
				return err
			}
			i, ok := at[id]
			if !ok {
				return nil
			}
			e := &es[i]
			e.Note = note // the form's 重点/一般 is the elders row's form_tier
			if form != "" {
				e.Form = &anxin.RegisterForm{}
				if err := json.Unmarshal([]byte(form), e.Form); err != nil {
					return fmt.Errorf("elder %s form: %w", clipID(id), err)
				}
			}
			if err := json.Unmarshal([]byte(extra), &e.Extra); err != nil {
				return fmt.Errorf("elder %s extra: %w", clipID(id), err)
			}
			if len(e.Extra) == 0 {
				e.Extra = nil
			}
			return nil
		})
	if err != nil {
		return fmt.Errorf("read elder forms: %w", err)
	}
	return nil
}

// VisitsDone counts, per elder id, the visits recorded to the elder's
// household (附件3 已完成探访次数). Remote monitoring (an alarm accepted by
// family) is no visit and is not counted; a worker's visit that resolved an
// alarm's work order is.
func (d *DB) VisitsDone(ctx context.Context, ids []string) (map[string]int, error) {
	out := make(map[string]int, len(ids))
	err := d.eachIn(ctx, ids, `SELECT e.id, count(v.id) FROM elders e JOIN visits v ON v.household = e.household AND v.method <> 'remote_monitoring'
		WHERE e.id IN (%s) GROUP BY e.id`, nil,
		func(rows *sql.Rows) error {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			out[id] = n
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("count visits: %w", err)
	}
	return out, nil
}

// EldersByID reads the records with these ids (those that exist), in chunks:
// an import looks up every row's elder at once.
func (d *DB) EldersByID(ctx context.Context, ids []string) (map[string]anxin.ElderRecord, error) {
	var list []anxin.ElderRecord
	err := d.eachIn(ctx, ids, "SELECT "+elderSelect+" FROM elders WHERE id IN (%s)", nil, func(rows *sql.Rows) error {
		e, err := scanElder(rows)
		list = append(list, e)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read elders: %w", err)
	}
	if err := d.loadForms(ctx, list); err != nil {
		return nil, err
	}
	out := make(map[string]anxin.ElderRecord, len(list))
	for _, e := range list {
		out[e.ID] = e
	}
	return out, nil
}

// ElderIDsByIDNumber maps each resident ID number registered to its elder's id.
func (d *DB) ElderIDsByIDNumber(ctx context.Context, idNumbers []string) (map[string]string, error) {
	out := make(map[string]string, len(idNumbers))
	err := d.eachIn(ctx, idNumbers, "SELECT id_number, id FROM elders WHERE id_number IN (%s)", nil, func(rows *sql.Rows) error {
		var n, id string
		if err := rows.Scan(&n, &id); err != nil {
			return err
		}
		out[n] = id
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("find elders: %w", err)
	}
	return out, nil
}
