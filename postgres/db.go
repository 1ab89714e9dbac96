// Package postgres opens alarmd's store on PostgreSQL (github.com/jackc/pgx/v5
// through database/sql), for several alarmd sharing one database. The store
// itself is package sqlite's: the same tables and the same queries, written
// once, with a PostgreSQL dialect (sqlite.OpenPostgres, sqlite/postgres.go)
// for the few places the two differ. This package connects (pool, a driver
// that takes package sqlite's SQL, the password kept out of errors) and
// migrates the schema, versioned in schema_version and forward only.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib" // also registers the "pgx" driver

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/sqlite"
)

// idleTxTimeout ends a session whose transaction sat idle this long (ms),
// unless the URL sets idle_in_transaction_session_timeout itself. alarmd's
// transactions send their statements back to back; none waits on anything
// outside the database.
const idleTxTimeout = "30000"

// DB is an open store: package sqlite's store on PostgreSQL. It is not a
// *sqlite.DB, so SQLite-only wiring (the ingest writer, checkpoints) is
// not applied to it.
type DB struct {
	*sqlite.DB
	listen *listener // other alarmd's register changes (listen.go)
}

var _ anxin.Store = (*DB)(nil)

// Open connects to the database at url (postgres://user@host:port/db?…)
// and migrates its schema to this alarmd's version.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", redact(err, url))
	}
	if _, set := cfg.RuntimeParams["idle_in_transaction_session_timeout"]; !set {
		// a fenced ingest commit holds its partitions' lease rows FOR
		// SHARE from its check to its commit: an alarmd frozen in between
		// (a paused VM) must not keep a peer from claiming them for ever
		cfg.RuntimeParams["idle_in_transaction_session_timeout"] = idleTxTimeout
	}
	sdb := sql.OpenDB(connector{stdlib.GetConnector(*cfg)})
	sdb.SetMaxOpenConns(16)
	sdb.SetMaxIdleConns(16)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open store: %w", redact(err, url))
	}
	if err := migrate(ctx, sdb); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("migrate store: %w", err)
	}
	store := sqlite.OpenPostgres(sdb)
	l, err := listen(ctx, cfg, url, store)
	if err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open store: listen for register changes: %w", err)
	}
	return &DB{DB: store, listen: l}, nil
}

// Close stops the register listener and closes the pool.
func (d *DB) Close() error {
	d.listen.stop()
	return d.DB.Close()
}

// SetLogger is where the register listener logs (slog.Default until set).
func (d *DB) SetLogger(l *slog.Logger) { d.listen.log.Store(l) }

func (d *DB) listenerPID() uint32 { return d.listen.pid.Load() }

// redact keeps a password in url out of an error.
func redact(err error, url string) error {
	cfg, perr := pgconn.ParseConfig(url)
	if perr != nil || cfg.Password == "" {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), cfg.Password, "***"))
}

// CheckURL reads url as Open does, without connecting: alarmd check
// refuses what Open would. The error never holds the URL (it may hold a
// password): pgx's own reason, or a plain one.
func CheckURL(url string) error {
	_, err := pgx.ParseConfig(url)
	if err == nil {
		return nil
	}
	if inner := errors.Unwrap(err); inner != nil {
		// pgx quotes what it could not read, which may be a piece of a
		// password (?password=pa&ss reads "ss" as a key): the quoted
		// text goes, one-character ones ("=") stay
		return errors.New("is not a PostgreSQL URL: " + unquote(redact(inner, url).Error()))
	}
	return errors.New("is not a PostgreSQL URL")
}

// quoted is a double-quoted text.
var quoted = regexp.MustCompile(`"[^"]*"`)

// unquote is s with each double-quoted text of two characters or more
// replaced by "…".
func unquote(s string) string {
	return quoted.ReplaceAllStringFunc(s, func(q string) string {
		if utf8.RuneCountInString(q) <= 3 {
			return q
		}
		return `"…"`
	})
}
