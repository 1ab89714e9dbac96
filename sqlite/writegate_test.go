package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestWriteGateServesIngestFirst: while a write holds the gate, an
// escalation write and then an ingest commit queue; the ingest commit is
// handed the gate first, the moment it is let go, then the escalation
// write; a waiter whose context ends leaves the line without taking it.
func TestWriteGateServesIngestFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &writeGate{}
		if err := g.acquire(t.Context(), false); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var order []string
		var wg sync.WaitGroup
		wait := func(name string, priority bool) {
			wg.Go(func() {
				if err := g.acquire(t.Context(), priority); err != nil {
					t.Errorf("%s: %v", name, err)
					return
				}
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				g.release()
			})
			synctest.Wait() // queued
		}
		wait("escalation", false)
		ctx, cancel := context.WithCancel(t.Context())
		gaveUp := make(chan error, 1)
		go func() { gaveUp <- g.acquire(ctx, true) }()
		synctest.Wait()
		wait("ingest", true)
		cancel()
		if err := <-gaveUp; !errors.Is(err, context.Canceled) {
			t.Fatalf("a canceled waiter: %v", err)
		}
		g.release()
		wg.Wait()
		if want := []string{"ingest", "escalation"}; !slices.Equal(order, want) {
			t.Fatalf("served %v, want %v", order, want)
		}
		if g.held || len(g.high)+len(g.low) != 0 {
			t.Fatalf("the gate after everyone: held %v, %d waiting", g.held, len(g.high)+len(g.low))
		}
	})
}

// TestWriteGateWaitIsBounded: a writer behind one that never lets go gives
// up after gateWait, as SQLite's busy_timeout would, and leaves the line.
func TestWriteGateWaitIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &writeGate{}
		if err := g.acquire(t.Context(), false); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := g.acquire(t.Context(), true); !errors.Is(err, errGateTimeout) {
			t.Fatalf("waiting behind a writer that never ends: %v", err)
		}
		if d := time.Since(start); d != gateWait {
			t.Fatalf("gave up after %s, want %s", d, gateWait)
		}
		if len(g.high) != 0 || !g.held {
			t.Fatalf("the line after the give-up: %d waiting, held %v", len(g.high), g.held)
		}
	})
}

// TestMayWrite: which statements outside a transaction take the gate.
func TestMayWrite(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1": false, "  select * from kits": false, "PRAGMA wal_checkpoint(PASSIVE)": false,
		"explain query plan select 1": false, "(SELECT 1)": false,
		"INSERT INTO x VALUES (1)": true, "UPDATE web_accounts SET failures = 1 RETURNING failures": true,
		"WITH t AS (SELECT 1) DELETE FROM x": true, "CREATE TABLE IF NOT EXISTS x (a)": true, "": true,
	} {
		if got := mayWrite(q); got != want {
			t.Errorf("mayWrite(%q) = %v, want %v", q, got, want)
		}
	}
}

// TestWritesOnOneFileQueueAtTheGate: on a real store file, a write outside
// a transaction (an UPDATE … RETURNING, which holds SQLite's lock until
// its row is read) and transactions from many goroutines at once all
// commit, none waiting out a lock, and the gate is free afterwards.
func TestWritesOnOneFileQueueAtTheGate(t *testing.T) {
	ctx := t.Context()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "gate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.db.ExecContext(ctx, `CREATE TABLE n (k INTEGER PRIMARY KEY, v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.db.ExecContext(ctx, `INSERT INTO n VALUES (0, 0)`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for range 20 {
				if i%2 == 0 {
					var v int
					if err := d.db.QueryRowContext(ctx, `UPDATE n SET v = v + 1 WHERE k = 0 RETURNING v`).Scan(&v); err != nil {
						t.Error(err)
						return
					}
					continue
				}
				tx, err := d.db.BeginTx(ctx, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := tx.ExecContext(ctx, `UPDATE n SET v = v + 1 WHERE k = 0`); err != nil {
					t.Error(err)
				}
				if err := tx.Commit(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	var v int
	if err := d.db.QueryRowContext(ctx, `SELECT v FROM n WHERE k = 0`).Scan(&v); err != nil || v != 16*20 {
		t.Fatalf("counter %d (%v), want %d", v, err, 16*20)
	}
	if !gateFree(d) {
		t.Fatal("the gate after every write: held, or someone waiting")
	}
}

// BenchmarkCommitBesideWrites: an ingest commit every 2 ms (its writer's
// connection, fsynced) while four goroutines write transactions of a few
// rows each without pause (escalation and the web app at a burst of
// alarms), with the gate and without it (SQLite's busy handler): the
// ingest commits' p50, p99 and max.
func BenchmarkCommitBesideWrites(b *testing.B) {
	for _, off := range []bool{false, true} {
		name := "gate"
		if off {
			name = "busy-handler"
		}
		b.Run(name, func(b *testing.B) {
			ctx := b.Context()
			d, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			d.gate.off = off
			if _, err := d.db.ExecContext(ctx, `CREATE TABLE w (k INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)`); err != nil {
				b.Fatal(err)
			}
			w, err := d.NewIngestWriter(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						tx, err := d.db.BeginTx(ctx, nil)
						if err != nil {
							b.Error(err)
							return
						}
						for range 3 {
							if _, err := tx.ExecContext(ctx, `INSERT INTO w (v) VALUES ('escalation')`); err != nil {
								b.Error(err)
							}
						}
						if err := tx.Commit(); err != nil {
							b.Error(err)
						}
					}
				})
			}
			var lat []time.Duration
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for b.Loop() {
				<-tick.C
				start := time.Now()
				tx, err := w.conn.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO w (v) VALUES ('ingest')`); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			close(stop)
			wg.Wait()
			slices.Sort(lat)
			ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
			b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
			b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
			b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
		})
	}
}

// TestStatementCache: a connection's queries run from prepared statements
// it keeps (at most stmtCacheSize); the same query while its rows are
// still open runs on its own; a statement that failed runs again; a
// script of several statements is not kept.
func TestStatementCache(t *testing.T) {
	ctx := t.Context()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "cache.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	conn, err := d.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cached := func() (n int) {
		_ = conn.Raw(func(c any) error { n = len(c.(*gatedConn).stmts.m); return nil })
		return n
	}
	before := cached() // Open's own queries, on this connection
	if _, err := conn.ExecContext(ctx, `CREATE TABLE n (k INTEGER PRIMARY KEY, v TEXT NOT NULL); INSERT INTO n VALUES (1, 'a'), (2, 'b')`); err != nil {
		t.Fatal(err)
	}
	if n := cached(); n != before {
		t.Fatalf("a script was kept: %d statements, %d before", n, before)
	}
	// nested: the same query while its rows are open
	rows, err := conn.QueryContext(ctx, `SELECT v FROM n ORDER BY k`)
	if err != nil {
		t.Fatal(err)
	}
	var outer []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		outer = append(outer, v)
		// a second connection cannot be had from this one's goroutine
		// while rows is open on it: the nested query goes through the
		// pool, as in a handler reading while it iterates
		var count int
		if err := d.db.QueryRowContext(ctx, `SELECT count(*) FROM n`).Scan(&count); err != nil || count != 2 {
			t.Fatalf("a query beside open rows: %d, %v", count, err)
		}
	}
	if err := rows.Close(); err != nil || !slices.Equal(outer, []string{"a", "b"}) {
		t.Fatalf("rows: %v, %v", outer, err)
	}
	// in a transaction, the same statement twice at once
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	r1, err := tx.QueryContext(ctx, `SELECT v FROM n WHERE k >= ? ORDER BY k`, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for r1.Next() {
		var v, w string
		if err := r1.Scan(&v); err != nil {
			t.Fatal(err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT v FROM n WHERE k >= ? ORDER BY k`, 2).Scan(&w); err != nil || w != "b" {
			t.Fatalf("the same query while its rows are open: %q, %v", w, err)
		}
		got = append(got, v)
	}
	r1.Close()
	if err := tx.Commit(); err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("outer rows beside the nested query: %v, %v", got, err)
	}
	// a failed statement runs again
	for range 2 {
		if _, err := conn.ExecContext(ctx, `INSERT INTO n VALUES (?, ?)`, 1, "dup"); err == nil {
			t.Fatal("a duplicate key was inserted")
		}
	}
	if _, err := conn.ExecContext(ctx, `INSERT INTO n VALUES (?, ?)`, 3, "c"); err != nil {
		t.Fatalf("the statement after its failure: %v", err)
	}
	// bounded
	for i := range 2 * stmtCacheSize {
		var v int
		if err := conn.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&v); err != nil || v != i {
			t.Fatalf("SELECT %d: %d, %v", i, v, err)
		}
	}
	if n := cached(); n != stmtCacheSize {
		t.Fatalf("%d statements kept, want the bound %d", n, stmtCacheSize)
	}
}
