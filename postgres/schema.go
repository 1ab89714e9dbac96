package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/sqlite"
)

// versions are the schema's steps, in order: version n is versions[n-1].
// The list only grows: a released step is never edited, a change to the
// schema is a new step at the end, so every database moves forward through
// the same steps whatever version it was made at.
//
// The tables themselves are package sqlite's, written once in SQLite's
// spelling and translated (sqlite.PostgresSchema): Open applies them after
// the steps whenever they changed (all CREATE … IF NOT EXISTS), so a table
// or index added there exists here too. What CREATE … IF NOT EXISTS cannot do needs a
// step: a column added to an existing table (package sqlite's ensureColumn)
// is a step `ALTER TABLE IF EXISTS … ADD COLUMN IF NOT EXISTS …` here (on
// a new database the table does not exist yet when the steps run; the
// schema pass then makes it with the column).
var versions = []string{
	// 1: the tables of package sqlite's schema as of 2026-12 (the release
	// baseline; applied by the schema pass that follows the steps)
	``,
	// 2: elders.form_tier (附件1's 重点/一般; package sqlite's
	// migrateElderFormTier), for a database made before the register merge
	`ALTER TABLE IF EXISTS elders ADD COLUMN IF NOT EXISTS form_tier TEXT COLLATE "C" NOT NULL DEFAULT ''`,
	// 3: chain claims (package sqlite's migrateChainLeases): a chain's wake
	// time and lease, so several alarmd drive chains from one database;
	// chains made before it are due at once ('' wake), the first pass sets it
	`ALTER TABLE IF EXISTS escalation_chains
		ADD COLUMN IF NOT EXISTS wake TEXT COLLATE "C" NOT NULL DEFAULT '',
		ADD COLUMN IF NOT EXISTS lease_owner TEXT COLLATE "C" NOT NULL DEFAULT '',
		ADD COLUMN IF NOT EXISTS lease_until TEXT COLLATE "C" NOT NULL DEFAULT '',
		ADD COLUMN IF NOT EXISTS lease_epoch BIGINT NOT NULL DEFAULT 0,
		ADD COLUMN IF NOT EXISTS pokes BIGINT NOT NULL DEFAULT 0,
		ADD COLUMN IF NOT EXISTS lease_pokes BIGINT NOT NULL DEFAULT 0`,
	// 4: away marks (package sqlite's away_marks, made by the schema pass).
	// No DDL of its own: the step is there so that an older alarmd, which
	// would change away in its rules only and never apply a stored mark,
	// refuses the database instead of leaving marks stale or pending
	``,
}

// migrate brings the schema to the newest version in one transaction, under
// an advisory lock so that alarmd instances starting together migrate once.
// A database at a newer version than this alarmd knows is refused: an older
// alarmd must not write a schema it does not understand.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?, 0)`, sqlite.LockSchema); err != nil {
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
		return anxin.SchemaNewer(cur, len(versions))
	}
	for v := cur + 1; v <= len(versions); v++ {
		if versions[v-1] != "" {
			if _, err := tx.ExecContext(ctx, versions[v-1]); err != nil {
				return fmt.Errorf("schema version %d: %w", v, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, v); err != nil {
			return err
		}
	}
	if err := applyTables(ctx, tx); err != nil {
		return fmt.Errorf("schema: %w", err)
	}
	return tx.Commit()
}

// applyTables runs package sqlite's translated schema when it differs from
// the one last applied (schema_tables holds its digest). Skipping it when
// unchanged matters with several alarmd: CREATE INDEX IF NOT EXISTS locks
// its table against writes even when the index is there, so a restarting
// instance would pause the others' commits.
func applyTables(ctx context.Context, tx *sql.Tx) error {
	ddl := sqlite.PostgresSchema()
	sum := sha256.Sum256([]byte(ddl))
	digest := hex.EncodeToString(sum[:])
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_tables (digest TEXT NOT NULL)`); err != nil {
		return err
	}
	var last string
	err := tx.QueryRowContext(ctx, `SELECT digest FROM schema_tables`).Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if last == digest {
		return nil
	}
	if _, err := tx.ExecContext(ctx, ddl); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM schema_tables`); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO schema_tables (digest) VALUES (?)`, digest)
	return err
}

// SchemaVersion is the database's schema version.
func (d *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := d.SQL().QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&v)
	return v, err
}
