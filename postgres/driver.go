package postgres

import (
	"context"
	"database/sql/driver"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// connector hands out pgx connections that take SQL as package sqlite
// writes it: "?" placeholders (numbered "?3" too) outside quotes become $n,
// flags (bool) are stored as 0/1, and text is made storable (fixValue).
// It works below database/sql, so package sqlite keeps its *sql.DB and
// *sql.Tx on both databases; "$n" placeholders pass unchanged.
type connector struct{ driver.Connector }

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	pc, ok := dc.(pgxConn)
	if !ok {
		dc.Close()
		return nil, fmt.Errorf("postgres: driver connection %T lacks a method package sqlite's SQL needs", dc)
	}
	return &conn{pc}, nil
}

// pgxConn is what pgx's stdlib connection implements.
type pgxConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.NamedValueChecker
}

type conn struct{ pgxConn }

func (c *conn) Prepare(q string) (driver.Stmt, error) { return c.pgxConn.Prepare(rebind(q)) }

func (c *conn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return c.pgxConn.PrepareContext(ctx, rebind(q))
}

func (c *conn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	return c.pgxConn.ExecContext(ctx, rebind(q), args)
}

func (c *conn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	return c.pgxConn.QueryContext(ctx, rebind(q), args)
}

// CheckNamedValue sees every argument, of statements prepared or not
// (pgx's statements do not check their own).
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	nv.Value = fixValue(nv.Value)
	return c.pgxConn.CheckNamedValue(nv)
}

// fixValue stores flags as 0/1 and makes text storable: PostgreSQL refuses
// a NUL byte or invalid UTF-8 in text (SQLite keeps them), and a message id
// that carries one must not fail its whole ingest batch, so they become
// U+FFFD (the same on every write and lookup).
func fixValue(a any) any {
	switch v := a.(type) {
	case bool:
		if v {
			return int64(1)
		}
		return int64(0)
	case string:
		return storable(v)
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
			return out
		}
	}
	return a
}

func storable(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// rebind turns "?" and "?N" placeholders outside quotes into $n.
func rebind(q string) string {
	if strings.IndexByte(q, '?') < 0 {
		return q
	}
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
