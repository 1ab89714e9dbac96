package postgres

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/anxin-care/anxin/sqlite"
)

// Reconnect backoff of the register listener: from the first to the last.
const (
	listenRetryFirst = time.Second
	listenRetryMax   = 30 * time.Second
)

// listener hears the register changes other alarmd write to the database
// (sqlite/notify.go sends them) on a connection of its own, outside the
// pool, and runs this store's OnRegisterChange hooks with them. After a
// dropped connection (PostgreSQL restarted, the session killed) it
// connects again with backoff and reports everything changed: what was
// sent while it was away is lost.
type listener struct {
	cfg    *pgx.ConnConfig
	url    string // for redact only: never logged
	store  *sqlite.DB
	log    atomic.Pointer[slog.Logger]
	pid    atomic.Uint32 // the listening session's backend (tests), 0 while away
	cancel context.CancelFunc
	done   chan struct{}
}

// listen connects and LISTENs before it returns (so a register read after
// Open misses no change), then waits for notifications until stop.
func listen(ctx context.Context, cfg *pgx.ConnConfig, url string, store *sqlite.DB) (*listener, error) {
	l := &listener{cfg: cfg, url: url, store: store, done: make(chan struct{})}
	l.log.Store(slog.Default())
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(runCtx, conn)
	return l, nil
}

func (l *listener) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, l.cfg.Copy())
	if err != nil {
		return nil, redact(err, l.url)
	}
	var ch string
	err = conn.QueryRow(ctx, "SELECT "+sqlite.RegisterChannelSQL).Scan(&ch)
	if err == nil {
		_, err = conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize())
	}
	if err != nil {
		closeConn(conn)
		return nil, redact(err, l.url)
	}
	l.pid.Store(conn.PgConn().PID())
	return conn, nil
}

func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Close(ctx)
}

func (l *listener) run(ctx context.Context, conn *pgx.Conn) {
	defer close(l.done)
	for {
		err := l.receive(ctx, conn)
		closeConn(conn)
		l.pid.Store(0)
		if ctx.Err() != nil {
			return
		}
		l.log.Load().Error("register listener lost its connection: other alarmd's register changes wait for it", "err", redact(err, l.url))
		if conn = l.reconnect(ctx); conn == nil {
			return
		}
		l.log.Load().Info("register listener connected again: the register is read again in full")
		l.store.RegisterChangedEverywhere()
	}
}

// receive hands each notification to the store until the connection fails.
func (l *listener) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		l.store.RemoteRegisterChange(n.Payload)
	}
}

// reconnect connects again, waiting listenRetryFirst before the first try
// and doubling up to listenRetryMax; nil once stopped.
func (l *listener) reconnect(ctx context.Context) *pgx.Conn {
	wait := listenRetryFirst
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		conn, err := l.connect(ctx)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		wait = min(2*wait, listenRetryMax)
		l.log.Load().Warn("register listener cannot connect", "err", err, "retry_in", wait)
	}
}

func (l *listener) stop() {
	l.cancel()
	<-l.done
}
