package watch3g

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/tcpserver"
)

type driver struct {
	cfg     *Config
	env     drivers.Env
	dir     tcpserver.Directory
	unknown *tcpserver.Once
	frames  *prometheus.CounterVec // anxin_watch3g_frames_total{result}
	server  *tcpserver.Server
	ready   chan struct{}
}

func newDriver(c *Config, env drivers.Env) (*driver, error) {
	cv, err := tcpserver.Counter(env.Metrics, "anxin_watch3g_frames_total",
		"3G watch frames received, by result: ok, bad (header, escape, body), unknown_terminal.")
	if err != nil {
		return nil, err
	}
	return &driver{cfg: c, env: env, dir: c.Directory(env.Household), unknown: tcpserver.NewOnce(10000),
		frames: cv, ready: make(chan struct{})}, nil
}

// Run listens for watches until ctx ends.
func (d *driver) Run(ctx context.Context, sink drivers.Sink) error {
	d.server = &tcpserver.Server{Framing: Framing, IdleTimeout: d.cfg.IdleTimeout, MaxConns: d.cfg.MaxConnections,
		Logger: d.env.Logger, NewSession: func(c *tcpserver.Conn) tcpserver.Session {
			return &session{d: d, conn: c, sink: sink}
		}}
	go func() {
		select {
		case <-d.server.Ready():
			close(d.ready)
		case <-ctx.Done():
		}
	}()
	return d.server.ListenAndServe(ctx, d.cfg.Listen)
}

// Addr is the listening address once listening (tests dial port 0).
func (d *driver) Addr(ctx context.Context) string {
	select {
	case <-d.ready:
		return d.server.Addr().String()
	case <-ctx.Done():
		return ""
	}
}

var errRefused = errors.New("unknown watch refused")

type session struct {
	d    *driver
	conn *tcpserver.Conn
	sink drivers.Sink
}

func (s *session) BadFrame(int64, error) { s.d.frames.WithLabelValues("bad").Inc() }
func (s *session) Closed()               {}

func (s *session) Frame(ctx context.Context, _ int64, b []byte) error {
	f, err := Parse(b)
	if err != nil {
		s.BadFrame(0, err)
		return nil
	}
	tg, ok := s.d.dir.Lookup(f.ID)
	if !ok {
		s.d.frames.WithLabelValues("unknown_terminal").Inc()
		if s.d.unknown.First(tcpserver.Key(f.ID)) {
			s.d.env.Logger.Warn("unknown watch refused", "terminal", tcpserver.MaskTerminal(f.ID),
				"remote", s.conn.RemoteAddr().String())
		}
		return errRefused
	}
	ms, err := messages(tg, f, s.d.env.Now(), true)
	if err != nil {
		s.d.frames.WithLabelValues("bad").Inc()
		s.d.env.Logger.Debug("bad watch report", "device", tg.Device, "type", f.Type, "err", err)
	} else {
		s.d.frames.WithLabelValues("ok").Inc()
	}
	for _, m := range ms {
		if err := s.sink.Put(ctx, m); err != nil {
			return err // the answer waits until the spool holds the alarm
		}
	}
	if a := Answer(f); a != "" {
		return s.conn.Reply(Reply(f, a))
	}
	return nil
}
