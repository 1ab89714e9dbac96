// Package sqlite is alarmd's store on modernc.org/sqlite (pure Go, no cgo):
// alarms and rule state, escalation attempts, the care register and visits.
// Each area keeps its schema in its own file; Open applies them all.
// The same store runs on PostgreSQL (OpenPostgres; package postgres opens
// and migrates it): the SQL is written once, and postgres.go holds the few
// places where the dialects differ.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/anxin-care/anxin"
)

// DB is an open store.
type DB struct {
	db *sql.DB
	pg bool // PostgreSQL (OpenPostgres, postgres.go), not SQLite
	// instance is this DB's random id in its register notifications
	// (PostgreSQL, notify.go)
	instance string
	// registerVersion counts changes of the register's elders and kits
	// made through this DB (alarmd's household view follows it).
	registerVersion atomic.Uint64
	registerHooks   atomic.Pointer[[]func(RegisterChange)] // OnRegisterChange
	// alarm state changes committed through this DB (AlarmStateWrites)
	stateWrites atomic.Int64
	gate        *writeGate // SQLite's writers queue here (writegate.go); nil on PostgreSQL
}

// schemas are applied in order at Open; every statement is idempotent
// (CREATE … IF NOT EXISTS). Each area owns one: alarms.go, escalation.go,
// register.go, webhooks.go.
var schemas = []*string{&schemaAlarms, &schemaEscalation, &schemaRegister, &schemaWebhookReplays, &schemaAckTokens, &schemaAccounts,
	&schemaWorkOrders, &schemaVisitForms, &schemaKits, &schemaLeases, &schemaAwayMarks}

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
	conn, err := newGatedConnector(dsn) // writegate.go
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db := sql.OpenDB(conn)
	// SQLite has one writer; a small pool keeps readers off the writer's back.
	db.SetMaxOpenConns(4)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := checkVersion(ctx, db); err != nil {
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
	if _, err := db.ExecContext(ctx, sqliteReportTriggers); err != nil { // report.go
		db.Close()
		return nil, fmt.Errorf("create schema in %s: %w", path, err)
	}
	for _, m := range migrations {
		if err := m(ctx, db); err != nil {
			db.Close()
			return nil, fmt.Errorf("migrate schema in %s: %w", path, err)
		}
	}
	if err := stampVersion(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("migrate schema in %s: %w", path, err)
	}
	return &DB{db: db, gate: conn.gate}, nil
}

// schemaVersion is this alarmd's SQLite schema, kept in the file's
// user_version. Raise it with a table or column an older alarmd must not
// run without (it would ignore what a newer one stored there, as one
// without away_marks ignores away marks). Files made before it existed have
// 0 and are brought up to date.
const schemaVersion = 1

// checkVersion refuses a file made by a newer alarmd.
func checkVersion(ctx context.Context, db *sql.DB) error {
	var cur int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err != nil {
		return err
	}
	return newerSchema(cur)
}

func newerSchema(cur int) error {
	if cur > schemaVersion {
		return anxin.SchemaNewer(cur, schemaVersion)
	}
	return nil
}

// stampVersion raises the file's user_version to schemaVersion, never
// lowers it: read and written under one write lock (transactions begin
// IMMEDIATE), so a newer alarmd's stamp made since checkVersion is refused
// rather than overwritten with this one's, which would let every older
// alarmd after it open the file again.
func stampVersion(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var cur int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&cur); err != nil {
		return err
	}
	if err := newerSchema(cur); err != nil || cur == schemaVersion {
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// migrations run after the schemas, each idempotent: they bring a store made
// by an older alarmd up to date (columns added, indexes made unique).
var migrations = []func(context.Context, *sql.DB) error{migrateAlarms, migrateEscalation, migrateRuleState, migrateWorkOrders, migrateElderFormTier}

// migrateAlarms adds the alarms' structured cause to older stores.
func migrateAlarms(ctx context.Context, db *sql.DB) error {
	return ensureColumn(ctx, db, "alarms", "cause", `TEXT NOT NULL DEFAULT ''`, "")
}

// migrateRuleState adds how far into the alarm state log each rule state is
// up to date; rows written before it reflected the whole log (the old
// restart took every change as applied).
func migrateRuleState(ctx context.Context, db *sql.DB) error {
	return ensureColumn(ctx, db, "rule_state", "applied_seq", "INTEGER NOT NULL DEFAULT 0",
		`UPDATE rule_state SET applied_seq = (SELECT COALESCE(MAX(seq), 0) FROM alarm_state_log)`)
}

// SQL is the underlying handle, for packages' own queries in this package's files.
func (d *DB) SQL() *sql.DB { return d.db }

// Ping checks the store answers (for /healthz).
func (d *DB) Ping(ctx context.Context) error { return d.db.PingContext(ctx) }

// Close closes the store.
func (d *DB) Close() error { return d.db.Close() }
