package watch3g

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/tcpserver"
)

type driver struct {
	cfg    *Config
	env    drivers.Env
	gate   *tcpserver.Gate
	frames *prometheus.CounterVec // anxin_watch3g_frames_total{result}
	server *tcpserver.Server
}

func newDriver(c *Config, env drivers.Env) (*driver, error) {
	cv, err := tcpserver.Counter(env.Metrics, "anxin_watch3g_frames_total",
		"3G watch frames received, by result: ok, bad (header, escape, body), unknown_terminal.")
	if err != nil {
		return nil, err
	}
	return &driver{cfg: c, env: env, gate: tcpserver.NewGate(&c.ListenConfig, env.Household, env.Logger, cv), frames: cv,
		server: c.Server(Framing, env.Logger)}, nil
}

// WaitAddr waits until Run listens and returns the address, or "" when
// ctx ends first (tools and tests that listen on port 0).
func (d *driver) WaitAddr(ctx context.Context) string { return d.server.WaitAddr(ctx) }

// Run listens for watches until ctx ends.
func (d *driver) Run(ctx context.Context, sink drivers.Sink) error {
	d.server.NewSession = func(c *tcpserver.Conn) tcpserver.Session { return &session{d: d, conn: c, sink: sink} }
	return d.server.ListenAndServe(ctx, d.cfg.Listen)
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
	tg, ok := s.d.gate.Admit(f.ID, s.conn.RemoteAddr())
	if !ok {
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
