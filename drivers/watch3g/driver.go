package watch3g

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/tcpserver"
)

type driver struct {
	cfg     *Config
	env     drivers.Env
	gate    *tcpserver.Gate
	ok, bad metrics.Counter // anxin_watch3g_frames_total{result="ok"|"bad"}, resolved once (not per frame)
	server  *tcpserver.Server

	mu     sync.Mutex
	lastAL map[string]sentAL // by watch id: only admitted watches, bounded by the config
}

// sentAL is a watch's last alarm frame and the time it was stamped with.
type sentAL struct {
	content string
	at      time.Time
}

// alarmTime is the time to stamp an alarm frame with when the watch's own
// is unusable: a resend of the same frame gets the first one's, so its
// events keep their ids and are not raised twice.
func (d *driver) alarmTime(id, content string, now time.Time) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if last, ok := d.lastAL[id]; ok && last.content == content && now.Sub(last.at) < 10*time.Minute {
		return last.at
	}
	d.lastAL[id] = sentAL{content: content, at: now}
	return now
}

func newDriver(c *Config, env drivers.Env) (*driver, error) {
	cv, err := tcpserver.Counter(env.Metrics, "anxin_watch3g_frames_total",
		"3G watch frames received, by result: ok, bad (header, escape, body), unknown_terminal.")
	if err != nil {
		return nil, err
	}
	return &driver{cfg: c, env: env, gate: tcpserver.NewGate(&c.ListenConfig, env.Household, env.Logger, cv), ok: cv.WithLabelValues("ok"), bad: cv.WithLabelValues("bad"),
		server: c.Server(Framing, env.Logger), lastAL: map[string]sentAL{}}, nil
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

func (s *session) BadFrame(int64, error) { s.d.bad.Inc() }
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
	now := s.d.env.Now()
	if isAlarm(f.Type) {
		now = s.d.alarmTime(f.ID, f.Content, now)
	}
	ms, err := messages(tg, f, now, true)
	if err != nil {
		s.d.bad.Inc()
		s.d.env.Logger.Debug("bad watch report", "device", tg.Device, "type", f.Type, "err", err)
	} else {
		s.d.ok.Inc()
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
