package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/anxin-care/anxin"
)

// schemaWorkOrders keeps work orders (派单 → 化解 → 反馈): one row per
// order, its one active assignee in the row and every assignment in
// history (JSON). key is unique: an alarm is dispatched once, ever, by
// whichever of alarmd and an operator comes first, across restarts. Times
// are INTEGER Unix milliseconds (0: none). A store made before work orders
// gets the table at Open (CREATE … IF NOT EXISTS); columns added later go
// in migrateWorkOrders.
var schemaWorkOrders = `
CREATE TABLE IF NOT EXISTS work_orders (
	id            TEXT PRIMARY KEY,
	key           TEXT NOT NULL UNIQUE,
	kind          TEXT NOT NULL,
	alarm_id      TEXT NOT NULL DEFAULT '',
	household     TEXT NOT NULL,
	elder         TEXT NOT NULL DEFAULT '',
	assignee      TEXT NOT NULL,
	assignee_name TEXT NOT NULL DEFAULT '',
	assignee_role TEXT NOT NULL DEFAULT '',
	dispatched_by TEXT NOT NULL,
	note          TEXT NOT NULL DEFAULT '',
	status        TEXT NOT NULL,
	created_at    INTEGER NOT NULL,
	assigned_at   INTEGER NOT NULL,
	accepted_at   INTEGER NOT NULL DEFAULT 0,
	resolved_at   INTEGER NOT NULL DEFAULT 0,
	visit_id      TEXT NOT NULL DEFAULT '',
	outcome       TEXT NOT NULL DEFAULT '',
	history       TEXT NOT NULL DEFAULT '[]',
	version       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS work_orders_assignee ON work_orders(assignee, status);
CREATE INDEX IF NOT EXISTS work_orders_open ON work_orders(assigned_at) WHERE status <> '已化解';
CREATE INDEX IF NOT EXISTS work_orders_household ON work_orders(household);
`

// migrateWorkOrders brings an older work_orders table up to the schema
// (nothing yet: the table is new in this version).
func migrateWorkOrders(context.Context, *sql.DB) error { return nil }

const workOrderCols = `id, key, kind, alarm_id, household, elder, assignee, assignee_name, assignee_role, dispatched_by, note,
	status, created_at, assigned_at, accepted_at, resolved_at, visit_id, outcome, history, version`

// CreateWorkOrder stores o (its ID a ULID from CreatedAt) unless an order
// with o.Key exists; then created is false and o is the stored order. It
// implements anxin.WorkOrders.
func (d *DB) CreateWorkOrder(ctx context.Context, o *anxin.WorkOrder) (created bool, err error) {
	if o.Key == "" || len(o.Key) > 200 || !anxin.ValidID(o.Household) || o.Assignee == "" || o.CreatedAt.IsZero() {
		return false, anxin.Errorf(anxin.EINVALID, "work order: key, household, assignee and time are required")
	}
	hist, err := json.Marshal(history(o.History))
	if err != nil {
		return false, err
	}
	id := anxin.NewID(o.CreatedAt)
	res, err := d.db.ExecContext(ctx, `INSERT INTO work_orders (`+workOrderCols+`)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0) ON CONFLICT(key) DO NOTHING`,
		id, o.Key, string(o.Kind), o.AlarmID, o.Household, o.Elder, o.Assignee, o.AssigneeName, o.AssigneeRole,
		o.DispatchedBy, o.Note, string(o.Status), millis(o.CreatedAt), millis(o.AssignedAt), millis(o.AcceptedAt),
		millis(o.ResolvedAt), o.VisitID, o.Outcome, string(hist))
	if err != nil {
		return false, fmt.Errorf("create work order: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		o.ID, o.Version = id, 0
		return true, nil
	}
	got, err := d.workOrderWhere(ctx, "key = ?", o.Key)
	if err != nil {
		return false, err
	}
	*o = got
	return false, nil
}

func history(h []anxin.OrderMove) []anxin.OrderMove {
	if h == nil {
		return []anxin.OrderMove{}
	}
	return h
}

// WorkOrder reads one order; ENOTFOUND when there is none.
func (d *DB) WorkOrder(ctx context.Context, id string) (anxin.WorkOrder, error) {
	return d.workOrderWhere(ctx, "id = ?", id)
}

// WorkOrderByKey reads the order of a key (ENOTFOUND: none yet).
func (d *DB) WorkOrderByKey(ctx context.Context, key string) (anxin.WorkOrder, error) {
	return d.workOrderWhere(ctx, "key = ?", key)
}

func (d *DB) workOrderWhere(ctx context.Context, where string, arg any) (anxin.WorkOrder, error) {
	o, err := scanWorkOrder(d.db.QueryRowContext(ctx, `SELECT `+workOrderCols+` FROM work_orders WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return o, anxin.Errorf(anxin.ENOTFOUND, "no such work order")
	}
	return o, err
}

// DispatchedAlarms is the set of those of alarmIDs that have an order:
// point reads of the key index, 500 keys a query.
func (d *DB) DispatchedAlarms(ctx context.Context, alarmIDs []string) (map[string]bool, error) {
	keys := make([]string, len(alarmIDs))
	for i, id := range alarmIDs {
		keys[i] = "alarm:" + id
	}
	out := map[string]bool{}
	err := d.eachIn(ctx, keys, `SELECT key FROM work_orders WHERE key IN (%s)`, nil, func(rows *sql.Rows) error {
		var k string
		if err := rows.Scan(&k); err != nil {
			return err
		}
		out[strings.TrimPrefix(k, "alarm:")] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dispatched alarms: %w", err)
	}
	return out, nil
}

// SaveWorkOrder writes o if o.Version is the stored version and moves it
// on; ECONFLICT when another writer came first, ENOTFOUND when the order is
// gone. Key, kind, household and creation are never rewritten.
func (d *DB) SaveWorkOrder(ctx context.Context, o *anxin.WorkOrder) error {
	hist, err := json.Marshal(history(o.History))
	if err != nil {
		return err
	}
	res, err := d.db.ExecContext(ctx, `UPDATE work_orders SET assignee=?, assignee_name=?, assignee_role=?, note=?, status=?,
		assigned_at=?, accepted_at=?, resolved_at=?, visit_id=?, outcome=?, history=?, version=version+1
		WHERE id=? AND version=?`,
		o.Assignee, o.AssigneeName, o.AssigneeRole, o.Note, string(o.Status), millis(o.AssignedAt), millis(o.AcceptedAt),
		millis(o.ResolvedAt), o.VisitID, o.Outcome, string(hist), o.ID, o.Version)
	if err != nil {
		return fmt.Errorf("save work order: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return d.lostWrite(ctx, "work_orders", "id", o.ID, "work order")
	}
	o.Version++
	return nil
}

// WorkOrders lists orders, oldest first (the board reads them by age).
func (d *DB) WorkOrders(ctx context.Context, f anxin.WorkOrderFilter) ([]anxin.WorkOrder, error) {
	var where []string
	var args []any
	if f.Assignee != "" {
		where, args = append(where, "assignee = ?"), append(args, f.Assignee)
	}
	if f.Household != "" {
		where, args = append(where, "household = ?"), append(args, f.Household)
	}
	if !f.Area.All() {
		q, a := areaHouseholdsQuery(f.Area)
		where, args = append(where, "household IN ("+q+")"), append(args, a...)
	}
	if f.Open {
		where, args = append(where, "status NOT IN (?, ?)"), append(args, string(anxin.OrderResolved), string(anxin.OrderWithdrawn))
	}
	if f.Pending {
		where, args = append(where, "status = ?"), append(args, string(anxin.OrderPending))
	}
	if !f.WithdrawnSince.IsZero() {
		where, args = append(where, "status = ? AND resolved_at >= ?"), append(args, string(anxin.OrderWithdrawn), millis(f.WithdrawnSince))
	}
	q := `SELECT ` + workOrderCols + ` FROM work_orders`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at, id LIMIT ?"
	rows, err := d.db.QueryContext(ctx, q, append(args, limit(f.Limit))...)
	if err != nil {
		return nil, fmt.Errorf("list work orders: %w", err)
	}
	defer rows.Close()
	var out []anxin.WorkOrder
	for rows.Next() {
		o, err := scanWorkOrder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

func scanWorkOrder(r rowScanner) (anxin.WorkOrder, error) {
	var o anxin.WorkOrder
	var kind, status, hist string
	var created, assigned, accepted, resolved int64
	err := r.Scan(&o.ID, &o.Key, &kind, &o.AlarmID, &o.Household, &o.Elder, &o.Assignee, &o.AssigneeName, &o.AssigneeRole,
		&o.DispatchedBy, &o.Note, &status, &created, &assigned, &accepted, &resolved, &o.VisitID, &o.Outcome, &hist, &o.Version)
	if err != nil {
		return o, err
	}
	o.Kind, o.Status = anxin.OrderKind(kind), anxin.OrderStatus(status)
	o.CreatedAt, o.AssignedAt, o.AcceptedAt, o.ResolvedAt = fromMillis(created), fromMillis(assigned), fromMillis(accepted), fromMillis(resolved)
	if err := json.Unmarshal([]byte(hist), &o.History); err != nil {
		return o, fmt.Errorf("work order %s: history: %w", o.ID, err)
	}
	return o, nil
}

// AccountsNamed lists the accounts whose login or name is who (the
// register names a grid worker or responder by name), by login.
func (d *DB) AccountsNamed(ctx context.Context, who string) ([]Account, error) {
	return d.accountsWhere(ctx, "login = ? OR name = ?", who, who)
}

// AccountsWithRole lists the accounts of a role, by login.
func (d *DB) AccountsWithRole(ctx context.Context, role string) ([]Account, error) {
	return d.accountsWhere(ctx, "role = ?", role)
}

func (d *DB) accountsWhere(ctx context.Context, where string, args ...any) ([]Account, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT login, name, area, role FROM web_accounts WHERE `+where+` ORDER BY login`, args...)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var a Account
		if err := rows.Scan(&a.Login, &a.Name, &a.Area, &a.Role); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
