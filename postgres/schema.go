package postgres

import (
	"context"
	"fmt"
	"strings"
)

// versions are the schema's steps, in order: version n is versions[n-1].
// The list only grows: a released step is never edited, a change to the
// schema is a new step at the end (ALTER TABLE …), so every database moves
// forward through the same steps whatever version it was made at.
var versions = []string{
	// 1: the tables of package sqlite's schema as of 2026-12
	strings.Join([]string{schemaAlarms, schemaEscalation, schemaRegister, schemaWebhookReplays, schemaAckTokens, schemaAccounts}, "\n"),
}

// migrate brings the schema to the newest version in one transaction, under
// an advisory lock so that alarmd instances starting together migrate once.
// A database at a newer version than this alarmd knows is refused: an older
// alarmd must not write a schema it does not understand.
func (d *DB) migrate(ctx context.Context) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?, 0)`, lockSchema); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER PRIMARY KEY,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	var cur int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&cur); err != nil {
		return err
	}
	if cur > len(versions) {
		return fmt.Errorf("the database's schema is version %d, newer than this alarmd's %d: run a newer alarmd", cur, len(versions))
	}
	for v := cur + 1; v <= len(versions); v++ {
		if _, err := tx.ExecContext(ctx, versions[v-1]); err != nil {
			return fmt.Errorf("schema version %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, v); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// SchemaVersion is the database's schema version.
func (d *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := d.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	return v, err
}
