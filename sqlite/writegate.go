package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite"
)

// SQLite has one writer at a time. A connection that finds another
// holding the write lock waits in SQLite's busy handler, which sleeps 1,
// 2, 5, 10, 15… ms between looks: an ingest commit beside busy writers (a
// burst of alarms' escalation) waited up to half a second
// (BenchmarkCommitBesideWrites: p99 132–198 ms through the busy handler,
// 2.7–3.9 ms through the gate). writeGate queues this process's writers
// instead: each transaction and
// each write outside one takes the gate, and the next in line is handed it
// the moment it is let go. Ingest's connection (markPriority) goes before
// every other waiter: an alarm's commit does not queue behind escalation's
// or the web app's writes. Another process (anxinctl -db) still meets
// SQLite's lock and busy handler.
type writeGate struct {
	mu        sync.Mutex
	held      bool
	high, low []chan struct{} // waiters, in arrival order
	// off lets every writer through at once, to SQLite's lock and busy
	// handler as before the gate (BenchmarkCommitBesideWrites compares)
	off bool
}

// gateWait bounds a wait for the gate, as busy_timeout bounds a wait for
// SQLite's lock: a writer that waits longer fails rather than hangs.
const gateWait = 10 * time.Second

var errGateTimeout = errors.New("sqlite: the store's writer did not finish within 10s (database is locked)")

// acquire takes the gate, waiting behind those before it (priority ones
// before all others), until ctx ends or gateWait passes.
func (g *writeGate) acquire(ctx context.Context, priority bool) error {
	if g.off {
		return nil
	}
	g.mu.Lock()
	if !g.held {
		g.held = true
		g.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	if priority {
		g.high = append(g.high, ch)
	} else {
		g.low = append(g.low, ch)
	}
	g.mu.Unlock()
	t := time.NewTimer(gateWait)
	defer t.Stop()
	var err error
	select {
	case <-ch:
		return nil // handed over by release
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
		err = errGateTimeout
	}
	g.mu.Lock()
	if g.drop(ch) {
		g.mu.Unlock()
		return err
	}
	g.mu.Unlock()
	// handed over meanwhile: pass it on
	g.release()
	return err
}

// drop removes ch from the waiters (under g.mu): false when it is not
// there (release handed it the gate).
func (g *writeGate) drop(ch chan struct{}) bool {
	for _, q := range []*[]chan struct{}{&g.high, &g.low} {
		for i, c := range *q {
			if c == ch {
				*q = append((*q)[:i], (*q)[i+1:]...)
				return true
			}
		}
	}
	return false
}

// release hands the gate to the next waiter, or frees it.
func (g *writeGate) release() {
	if g.off {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var next chan struct{}
	switch {
	case len(g.high) > 0:
		next, g.high = g.high[0], g.high[1:]
	case len(g.low) > 0:
		next, g.low = g.low[0], g.low[1:]
	default:
		g.held = false
		return
	}
	close(next) // held stays true: it is next's now
}

// gatedConnector opens modernc's connections with the gate around their
// writes.
type gatedConnector struct {
	inner driver.Connector // sqlite.NewConnector's
	gate  *writeGate
}

func newGatedConnector(dsn string) (*gatedConnector, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return &gatedConnector{inner: c, gate: &writeGate{}}, nil
}

func (c *gatedConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ci, ok := conn.(connIface)
	if !ok {
		conn.Close()
		return nil, errors.New("sqlite: the driver's connection lacks a context method the store needs")
	}
	return &gatedConn{inner: ci, gate: c.gate}, nil
}

func (c *gatedConnector) Driver() driver.Driver { return c.inner.Driver() }

// connIface is what database/sql uses of modernc's connection.
type connIface interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// gatedConn is a modernc connection whose writes take the gate: a
// transaction from its begin (_txlock=immediate: it takes SQLite's write
// lock there) to its end, and a statement outside one that may write
// while it runs (a query's until its rows close).
type gatedConn struct {
	inner    connIface
	gate     *writeGate
	priority bool // ingest's (markPriority)
	inTx     bool
	txGate   bool // the transaction under way holds the gate (not a read-only one)
	stmts    stmtCache
}

func (c *gatedConn) Prepare(query string) (driver.Stmt, error) { return c.inner.Prepare(query) }
func (c *gatedConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.inner.PrepareContext(ctx, query)
}

func (c *gatedConn) Close() error {
	c.stmts.close()
	err := c.inner.Close()
	c.endTx()
	return err
}

func (c *gatedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx takes the gate for a transaction that may write. A read-only
// one does not: modernc begins it DEFERRED (a plain BEGIN, whatever
// _txlock says), so in WAL mode it neither takes SQLite's write lock nor
// waits for it, and must not queue at the gate or keep writers behind it
// either (a write it makes anyway meets SQLite's lock, as before the gate).
func (c *gatedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if !opts.ReadOnly {
		if err := c.gate.acquire(ctx, c.priority); err != nil {
			return nil, err
		}
	}
	tx, err := c.inner.BeginTx(ctx, opts)
	if err != nil {
		if !opts.ReadOnly {
			c.gate.release()
		}
		return nil, err
	}
	c.inTx, c.txGate = true, !opts.ReadOnly
	return &gatedTx{inner: tx, c: c}, nil
}

// endTx notes that the transaction under way (if any) ended, letting the
// gate go if it held it.
func (c *gatedConn) endTx() {
	if c.inTx {
		c.inTx = false
		if c.txGate {
			c.txGate = false
			c.gate.release()
		}
	}
}

func (c *gatedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if !c.inTx && mayWrite(query) {
		if err := c.gate.acquire(ctx, c.priority); err != nil {
			return nil, err
		}
		defer c.gate.release()
	}
	if cs := c.stmts.get(ctx, c.inner, query); cs != nil {
		defer cs.done()
		return cs.s.(driver.StmtExecContext).ExecContext(ctx, args)
	}
	return c.inner.ExecContext(ctx, query, args)
}

func (c *gatedConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	var release []func()
	if !c.inTx && mayWrite(query) {
		// UPDATE … RETURNING: SQLite holds the lock until the statement ends
		if err := c.gate.acquire(ctx, c.priority); err != nil {
			return nil, err
		}
		release = append(release, c.gate.release)
	}
	var rows driver.Rows
	var err error
	if cs := c.stmts.get(ctx, c.inner, query); cs != nil {
		release = append(release, cs.done)
		rows, err = cs.s.(driver.StmtQueryContext).QueryContext(ctx, args)
	} else {
		rows, err = c.inner.QueryContext(ctx, query, args)
	}
	if err != nil {
		for _, f := range release {
			f()
		}
		return nil, err
	}
	if len(release) == 0 {
		return rows, nil
	}
	return &gatedRows{Rows: rows, release: release}, nil
}

func (c *gatedConn) Ping(ctx context.Context) error         { return c.inner.Ping(ctx) }
func (c *gatedConn) ResetSession(ctx context.Context) error { return c.inner.ResetSession(ctx) }
func (c *gatedConn) IsValid() bool                          { return c.inner.IsValid() }

// gatedTx lets the gate go when the transaction ends.
type gatedTx struct {
	inner driver.Tx
	c     *gatedConn
}

func (t *gatedTx) Commit() error   { return t.end(t.inner.Commit()) }
func (t *gatedTx) Rollback() error { return t.end(t.inner.Rollback()) }

func (t *gatedTx) end(err error) error {
	t.c.endTx()
	return err
}

// gatedRows lets the gate (a writing query's) and the cached statement go
// when the rows close.
type gatedRows struct {
	driver.Rows
	release []func()
	once    sync.Once
}

func (r *gatedRows) Close() error {
	err := r.Rows.Close()
	r.once.Do(func() {
		for _, f := range r.release {
			f()
		}
	})
	return err
}

// stmtCache keeps a connection's prepared statements by their SQL: through
// database/sql without Prepare, modernc's driver parses and plans every
// query anew, a quarter of an alarm's CPU (docs/alarmd.md). At most
// stmtCacheSize, the least recently used dropped; one in use (its rows
// open) is not handed out again: the query is prepared once more, on its
// own, as before. Owned by its connection (database/sql uses a connection
// from one goroutine at a time).
type stmtCache struct {
	m    map[string]*cachedStmt
	tick uint64
}

// stmtCacheSize bounds a connection's prepared statements (~a few KB each).
const stmtCacheSize = 64

type cachedStmt struct {
	s    driver.Stmt
	busy bool
	used uint64
}

func (cs *cachedStmt) done() { cs.busy = false }

// get is query's statement, prepared on conn if need be and marked busy
// until done; nil when it cannot be cached (a script of several
// statements, one in use, a failed prepare: the caller runs the query
// itself, which reports the error).
func (sc *stmtCache) get(ctx context.Context, conn connIface, query string) *cachedStmt {
	if i := strings.IndexByte(query, ';'); i >= 0 && strings.TrimSpace(query[i+1:]) != "" {
		return nil
	}
	sc.tick++
	if cs, ok := sc.m[query]; ok {
		if cs.busy {
			return nil
		}
		cs.busy, cs.used = true, sc.tick
		return cs
	}
	s, err := conn.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if _, ok := s.(interface {
		driver.StmtExecContext
		driver.StmtQueryContext
	}); !ok {
		s.Close()
		return nil
	}
	if sc.m == nil {
		sc.m = make(map[string]*cachedStmt)
	}
	if len(sc.m) >= stmtCacheSize {
		var lru string
		var at uint64
		for q, cs := range sc.m {
			if !cs.busy && (lru == "" || cs.used < at) {
				lru, at = q, cs.used
			}
		}
		if lru == "" {
			s.Close()
			return nil
		}
		sc.m[lru].s.Close()
		delete(sc.m, lru)
	}
	cs := &cachedStmt{s: s, busy: true, used: sc.tick}
	sc.m[query] = cs
	return cs
}

// close finalizes the statements (their connection closes).
func (sc *stmtCache) close() {
	for _, cs := range sc.m {
		cs.s.Close()
	}
	sc.m = nil
}

// mayWrite: a statement other than a SELECT, a PRAGMA or an EXPLAIN may
// write (a checkpoint, a PRAGMA, does not take the write lock).
func mayWrite(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	for _, read := range []string{"SELECT", "PRAGMA", "EXPLAIN"} {
		if len(q) >= len(read) && strings.EqualFold(q[:len(read)], read) {
			return false
		}
	}
	return true
}

// markPriority makes a connection's writes go before every other waiter
// at the gate (database/sql's Conn.Raw gives the driver's connection).
func markPriority(driverConn any) error {
	c, ok := driverConn.(*gatedConn)
	if !ok {
		return errors.New("sqlite: not a gated connection")
	}
	c.priority = true
	return nil
}
