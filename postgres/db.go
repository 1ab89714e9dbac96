// Package postgres is alarmd's store on PostgreSQL (github.com/jackc/pgx/v5
// through database/sql), for several alarmd sharing one database. It keeps
// the same tables as package sqlite (times as fixed-width text or Unix
// milliseconds, JSON as text, flags as 0/1) so the two stay one design and
// pass the same contract (storetest). The schema is versioned in
// schema_version and migrated forward only, by Open.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver

	"github.com/anxin-care/anxin"
)

// DB is an open store.
type DB struct {
	db *conn
}

var _ anxin.Store = (*DB)(nil)

// Open connects to the database at url (postgres://user@host:port/db?…)
// and migrates its schema to this alarmd's version.
func Open(ctx context.Context, url string) (*DB, error) {
	sdb, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", redact(err, url))
	}
	sdb.SetMaxOpenConns(16)
	sdb.SetMaxIdleConns(16)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("open store: %w", redact(err, url))
	}
	d := &DB{db: &conn{db: sdb}}
	if err := d.migrate(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("migrate store: %w", err)
	}
	return d, nil
}

// redact keeps a password in url out of an error.
func redact(err error, url string) error {
	cfg, perr := pgconn.ParseConfig(url)
	if perr != nil || cfg.Password == "" {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), cfg.Password, "***"))
}

// SQL is the underlying handle (placeholders are $1, $2, …).
func (d *DB) SQL() *sql.DB { return d.db.db }

// Ping checks the store answers (for /healthz).
func (d *DB) Ping(ctx context.Context) error { return d.db.db.PingContext(ctx) }

// Close closes the store.
func (d *DB) Close() error { return d.db.db.Close() }

// isUnique reports a unique-constraint violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// conn and txn are *sql.DB and *sql.Tx taking the queries as package
// sqlite writes them: "?" placeholders (numbered "?3" too) become $n, and
// flags (bool) are stored as 0/1.
type conn struct{ db *sql.DB }

func (c *conn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.db.ExecContext(ctx, rebind(q), fixArgs(args)...)
}

func (c *conn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.db.QueryContext(ctx, rebind(q), fixArgs(args)...)
}

func (c *conn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return c.db.QueryRowContext(ctx, rebind(q), fixArgs(args)...)
}

func (c *conn) BeginTx(ctx context.Context, opts *sql.TxOptions) (*txn, error) {
	tx, err := c.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &txn{tx: tx}, nil
}

type txn struct{ tx *sql.Tx }

func (t *txn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, rebind(q), fixArgs(args)...)
}

func (t *txn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, rebind(q), fixArgs(args)...)
}

func (t *txn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, rebind(q), fixArgs(args)...)
}

func (t *txn) PrepareContext(ctx context.Context, q string) (*stmt, error) {
	s, err := t.tx.PrepareContext(ctx, rebind(q))
	if err != nil {
		return nil, err
	}
	return &stmt{s: s}, nil
}

func (t *txn) Commit() error   { return t.tx.Commit() }
func (t *txn) Rollback() error { return t.tx.Rollback() }

type stmt struct{ s *sql.Stmt }

func (s *stmt) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	return s.s.ExecContext(ctx, fixArgs(args)...)
}

func (s *stmt) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	return s.s.QueryRowContext(ctx, fixArgs(args)...)
}

func (s *stmt) Close() error { return s.s.Close() }

// fixArgs stores flags as 0/1 and makes text storable: PostgreSQL refuses
// a NUL byte or invalid UTF-8 in text (SQLite keeps them), and a message id
// that carries one must not fail its whole ingest batch, so they become
// U+FFFD (the same on every write and lookup).
func fixArgs(args []any) []any {
	for i, a := range args {
		switch v := a.(type) {
		case bool:
			args[i] = int64(0)
			if v {
				args[i] = int64(1)
			}
		case string:
			args[i] = storable(v)
		case []string:
			var out []string // the caller's slice is not changed
			for j, s := range v {
				if t := storable(s); t != s {
					if out == nil {
						out = slices.Clone(v)
					}
					out[j] = t
				}
			}
			if out != nil {
				args[i] = out
			}
		}
	}
	return args
}

func storable(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// rebind turns "?" and "?N" placeholders outside quotes into $n.
func rebind(q string) string {
	var b strings.Builder
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			quoted = !quoted
			b.WriteByte(c)
		case c == '?' && !quoted:
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if j > i+1 {
				b.WriteString("$" + q[i+1:j])
				i = j - 1
			} else {
				n++
				b.WriteString("$" + strconv.Itoa(n))
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
