package sqlite

import (
	"context"
	"fmt"
	"strings"
)

// schemaAudit is the audit log: every change to the register, visits,
// away marks and alarms made through the API, and every read of unmasked
// personal data. Rows are only ever inserted.
var schemaAudit = `
CREATE TABLE IF NOT EXISTS audit_log (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      INTEGER NOT NULL,
	who     TEXT NOT NULL,
	action  TEXT NOT NULL,
	record  TEXT NOT NULL DEFAULT '',
	detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_at ON audit_log(at);
CREATE INDEX IF NOT EXISTS audit_record ON audit_log(record, at);
CREATE INDEX IF NOT EXISTS audit_who ON audit_log(who, at);
`

// Audit appends entries in one transaction.
func (d *DB) Audit(ctx context.Context, entries ...AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO audit_log (at, who, action, record, detail) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer ins.Close()
	for _, e := range entries {
		if _, err := ins.ExecContext(ctx, millis(e.At), e.Who, e.Action, e.Record, e.Detail); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// AuditLog lists audit entries, newest first.
func (d *DB) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var where []string
	var args []any
	for col, v := range map[string]string{"who": f.Who, "action": f.Action, "record": f.Record} {
		if v != "" {
			where, args = append(where, col+" = ?"), append(args, v)
		}
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, millis(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, millis(f.Until))
	}
	q := "SELECT id, at, who, action, record, detail FROM audit_log"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ? OFFSET ?"
	rows, err := d.db.QueryContext(ctx, q, append(args, limit(f.Limit), max(f.Offset, 0))...)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	out, err := collect(rows, scanAudit)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	if out == nil {
		out = []AuditEntry{}
	}
	return out, nil
}

func scanAudit(r rowScanner) (AuditEntry, error) {
	var e AuditEntry
	var at int64
	err := r.Scan(&e.ID, &at, &e.Who, &e.Action, &e.Record, &e.Detail)
	e.At = fromMillis(at)
	return e, err
}
