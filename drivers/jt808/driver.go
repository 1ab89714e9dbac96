package jt808

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/tcpserver"
)

type driver struct {
	cfg     *Config
	env     drivers.Env
	gate    *tcpserver.Gate
	ok, bad metrics.Counter // anxin_jt808_frames_total{result="ok"|"bad"}, resolved once (not per frame)
	server  *tcpserver.Server

	mu     sync.Mutex
	alarms map[string]*alarmState // by terminal key: survives reconnects
	key    []byte
}

func newDriver(c *Config, env drivers.Env) (*driver, error) {
	cv, err := tcpserver.Counter(env.Metrics, "anxin_jt808_frames_total",
		"JT/T 808 frames received, by result: ok, bad (check, length, escape, body), unknown_terminal.")
	if err != nil {
		return nil, err
	}
	return &driver{cfg: c, env: env, gate: tcpserver.NewGate(&c.ListenConfig, env.Household, env.Logger, cv), ok: cv.WithLabelValues("ok"), bad: cv.WithLabelValues("bad"),
		alarms: map[string]*alarmState{}, server: c.Server(Framing, env.Logger)}, nil
}

// WaitAddr waits until Run listens and returns the address, or "" when
// ctx ends first (tools and tests that listen on port 0).
func (d *driver) WaitAddr(ctx context.Context) string { return d.server.WaitAddr(ctx) }

// Run listens for terminals until ctx ends.
func (d *driver) Run(ctx context.Context, sink drivers.Sink) error {
	key, err := d.cfg.authKey()
	if err != nil {
		return err // a missing or short key file: fatal, fix the config
	}
	d.key = key
	d.server.NewSession = func(c *tcpserver.Conn) tcpserver.Session { return &session{d: d, conn: c, sink: sink} }
	return d.server.ListenAndServe(ctx, d.cfg.Listen)
}

func (d *driver) alarmState(phone string) *alarmState {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := tcpserver.Key(phone)
	st := d.alarms[k]
	if st == nil {
		st = &alarmState{}
		d.alarms[k] = st // only known terminals get here: bounded by the config
	}
	return st
}

var errRefused = errors.New("unknown terminal refused")

// session is one terminal connection.
type session struct {
	d      *driver
	conn   *tcpserver.Conn
	sink   drivers.Sink
	serial uint16
	log    *slog.Logger
	authed bool
	parts  reassembly
}

func (s *session) next() uint16 { s.serial++; return s.serial }

func (s *session) BadFrame(off int64, err error) {
	s.d.bad.Inc()
	if s.log != nil {
		s.log.Debug("bad frame", "err", err)
	}
}

func (s *session) Closed() {}

func (s *session) Frame(ctx context.Context, _ int64, b []byte) error {
	p, err := Parse(b)
	if err != nil { // Framing validated it: cannot happen
		s.BadFrame(0, err)
		return nil
	}
	tg, ok := s.d.gate.Admit(p.Phone, s.conn.RemoteAddr())
	if !ok {
		if p.MsgID == MsgRegister {
			s.conn.Reply(RegisterReply(p, s.next(), RegisterUnknownTerminal, ""))
		} else {
			s.conn.Reply(PlatformReply(p, s.next(), 1))
		}
		return errRefused
	}
	s.d.ok.Inc()
	if s.log == nil {
		s.log = s.d.env.Logger.With("device", tg.Device)
	}
	if p.Encrypt != 0 {
		return s.conn.Reply(PlatformReply(p, s.next(), 3)) // RSA bodies: unsupported
	}
	if p.Total > 1 {
		whole, done := s.parts.add(p)
		if err := s.conn.Reply(PlatformReply(p, s.next(), 0)); err != nil || !done {
			return err
		}
		p = whole
	}
	switch p.MsgID {
	case MsgRegister:
		return s.conn.Reply(RegisterReply(p, s.next(), RegisterOK, authCode(s.d.key, p.Phone)))
	case MsgAuth:
		result := byte(1) // the terminal then registers again and gets the current code
		if AuthCode(p) == authCode(s.d.key, p.Phone) {
			result, s.authed = 0, true
		} else {
			s.log.Info("terminal authentication failed: stale code, it will register again")
		}
		return s.conn.Reply(PlatformReply(p, s.next(), result))
	case MsgLocation, MsgLocationBatch:
		// Positions of a known terminal are taken even before it
		// authenticates: an SOS is never dropped for a lost auth code.
		// the alarm edges are worked out on a copy and kept only once the
		// spool holds every message: a report resent after a failed Put
		// raises its SOS again instead of finding the bit already seen
		st := s.d.alarmState(p.Phone)
		next := *st
		ms, bits, err := s.d.cfg.vendorOf(tg.Model).reports(tg, p, &next, s.d.env.Now(), true)
		if err != nil {
			s.d.bad.Inc()
			s.log.Debug("bad position report", "err", err)
			return s.conn.Reply(PlatformReply(p, s.next(), 2))
		}
		for _, m := range ms {
			if err := s.sink.Put(ctx, m); err != nil {
				return err // the reply waits until the spool holds the alarm
			}
		}
		*st = next
		if err := s.conn.Reply(PlatformReply(p, s.next(), 0)); err != nil {
			return err
		}
		if bits&AlarmSOS != 0 {
			return s.conn.Reply(AlarmConfirm(p, s.next(), AlarmSOS))
		}
		return nil
	case MsgTerminalReply:
		return nil
	default:
		return s.conn.Reply(PlatformReply(p, s.next(), 0))
	}
}

// reassembly joins the sub-packets of one message at a time, in bounded
// memory; an incomplete one is dropped when another message starts.
type reassembly struct {
	id    uint16
	total uint16
	got   map[uint16][]byte
	size  int
}

const maxReassembled = 64 << 10

func (r *reassembly) add(p Packet) (Packet, bool) {
	if r.got == nil || r.id != p.MsgID || r.total != p.Total {
		*r = reassembly{id: p.MsgID, total: p.Total, got: map[uint16][]byte{}}
	}
	if _, dup := r.got[p.Index]; !dup {
		if r.size+len(p.Body) > maxReassembled {
			*r = reassembly{}
			return Packet{}, false
		}
		r.got[p.Index] = append([]byte(nil), p.Body...)
		r.size += len(p.Body)
	}
	if len(r.got) < int(r.total) {
		return Packet{}, false
	}
	body := make([]byte, 0, r.size)
	for i := uint16(1); i <= r.total; i++ {
		body = append(body, r.got[i]...)
	}
	whole := p
	whole.Total, whole.Index, whole.Body = 0, 0, body
	*r = reassembly{}
	return whole, true
}
