package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/testenv"
)

// gateFree reports whether nobody holds or waits at d's gate.
func gateFree(d *DB) bool {
	d.gate.mu.Lock()
	defer d.gate.mu.Unlock()
	return !d.gate.held && len(d.gate.high)+len(d.gate.low) == 0
}

func openGateStore(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "edge.db")
	d, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.db.ExecContext(t.Context(), `CREATE TABLE n (k INTEGER PRIMARY KEY, v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	return d, path
}

// TestWriteGateEdges: a transaction whose context ends mid-way, one
// abandoned by a panic (deferred Rollback), a BeginTx that fails after the
// gate was taken (SQLite's lock held by another process), and a read-only
// transaction: each lets the gate go exactly once, and the next writer
// passes.
func TestWriteGateEdges(t *testing.T) {
	d, path := openGateStore(t)
	ctx := t.Context()
	write := func(what string) {
		t.Helper()
		if _, err := d.db.ExecContext(ctx, `INSERT INTO n (v) VALUES (1)`); err != nil {
			t.Fatalf("%s: a write after it: %v", what, err)
		}
		testenv.Eventually(t, what+": the gate free again", 5*time.Second, func() bool { return gateFree(d) })
	}

	// canceled mid-way: database/sql rolls back (awaitDone) and discards the conn
	cctx, cancel := context.WithCancel(ctx)
	tx, err := d.db.BeginTx(cctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(cctx, `INSERT INTO n (v) VALUES (1)`); err != nil {
		t.Fatal(err)
	}
	cancel()
	write("a canceled transaction")
	if err := tx.Commit(); err == nil {
		t.Fatal("a canceled transaction committed")
	}
	write("a commit after the cancel")

	// a panic inside, the deferred Rollback runs
	func() {
		defer func() { _ = recover() }()
		tx, err := d.db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		panic("inside")
	}()
	write("a panic inside a transaction")

	// BeginTx fails after taking the gate: another process holds SQLite's lock
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	oc, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oc.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(ctx, 100*time.Millisecond)
	if _, err := d.db.BeginTx(short, nil); err == nil {
		t.Fatal("a transaction began while another process held the lock")
	}
	cancelShort()
	if _, err := oc.ExecContext(ctx, `COMMIT`); err != nil {
		t.Fatal(err)
	}
	oc.Close()
	write("a BeginTx that failed")

	// a read-only transaction (modernc: a plain BEGIN, no write lock)
	ro, err := d.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := ro.QueryRowContext(ctx, `SELECT count(*) FROM n`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
	_, werr := d.db.ExecContext(wctx, `INSERT INTO n (v) VALUES (1)`)
	wcancel()
	ro.Rollback()
	if werr != nil {
		t.Errorf("a write beside a read-only transaction: %v (the gate holds readers too)", werr)
	}
	write("a read-only transaction")
}

// TestWriteGateNestedWrite: a write through the pool while the same
// goroutine holds a transaction waits for itself: before the gate SQLite
// answered SQLITE_BUSY after busy_timeout; now the gate does after
// gateWait (or the context). The store must stay usable afterwards.
func TestWriteGateNestedWrite(t *testing.T) {
	d, _ := openGateStore(t)
	ctx := t.Context()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = d.db.ExecContext(short, `INSERT INTO n (v) VALUES (2)`)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a nested write: %v, want the context's end", err)
	}
	// a read through the pool meanwhile is not held by the gate
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM n`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if !gateFree(d) {
		t.Fatal("the gate is held after the commit")
	}
}
