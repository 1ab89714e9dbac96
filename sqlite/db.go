// Package sqlite is alarmd's store on modernc.org/sqlite (pure Go, no cgo):
// alarms and rule state, escalation attempts, the care register and visits.
// Each area keeps its schema in its own file; Open applies them all.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DB is an open store.
type DB struct {
	db *sql.DB
}

// schemas are applied in order at Open; every statement is idempotent
// (CREATE … IF NOT EXISTS). Each area owns one: alarms.go, escalation.go,
// register.go, webhooks.go.
var schemas = []*string{&schemaAlarms, &schemaEscalation, &schemaRegister, &schemaWebhookReplays}

// Open opens (creating if needed) the store at path; ":memory:" gives a
// private in-memory store for tests.
func Open(ctx context.Context, path string) (*DB, error) {
	dsn := path
	if path == ":memory:" {
		// one shared in-memory database per DB, not one per connection
		dsn = "file:mem" + fmt.Sprint(memSeq.Add(1)) + "?mode=memory&cache=shared"
	} else {
		dsn = "file:" + (&url.URL{Path: path}).EscapedPath() + "?"
	}
	sep := "&"
	if strings.HasSuffix(dsn, "?") {
		sep = ""
	}
	dsn += sep + "_txlock=immediate&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// SQLite has one writer; a small pool keeps readers off the writer's back.
	db.SetMaxOpenConns(4)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	for _, s := range schemas {
		if strings.TrimSpace(*s) == "" {
			continue
		}
		if _, err := db.ExecContext(ctx, *s); err != nil {
			db.Close()
			return nil, fmt.Errorf("create schema in %s: %w", path, err)
		}
	}
	for _, u := range upgrades {
		if err := upgrade(ctx, db, u); err != nil {
			db.Close()
			return nil, fmt.Errorf("upgrade schema in %s: %w", path, err)
		}
	}
	return &DB{db: db}, nil
}

// columnUpgrade adds a column to a table made by an older version; then,
// only when it was added, runs fill to give old rows their value.
type columnUpgrade struct {
	table, column, def, fill string
}

// upgrades are applied in order after the schemas.
var upgrades = []columnUpgrade{
	// rows written before applied_seq reflected the whole log: the old
	// restart took every change as applied
	{table: "rule_state", column: "applied_seq", def: "INTEGER NOT NULL DEFAULT 0",
		fill: `UPDATE rule_state SET applied_seq = (SELECT COALESCE(MAX(seq), 0) FROM alarm_state_log)`},
}

func upgrade(ctx context.Context, db *sql.DB, u columnUpgrade) error {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, u.table, u.column).Scan(&n); err != nil || n > 0 {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `ALTER TABLE `+u.table+` ADD COLUMN `+u.column+` `+u.def); err != nil {
		return err
	}
	if u.fill != "" {
		if _, err := tx.ExecContext(ctx, u.fill); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// SQL is the underlying handle, for packages' own queries in this package's files.
func (d *DB) SQL() *sql.DB { return d.db }

// Ping checks the store answers (for /healthz).
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// Close closes the store.
func (d *DB) Close() error { return d.db.Close() }
