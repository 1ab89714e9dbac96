package rf433

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
)

// press turns a reception into an event, or reports an unknown code. It is
// the one path shared by the driver and the capture decoder.
func press(codes *CodeMap, code uint32, at time.Time, household string) (anxin.Message, error) {
	c, ok := codes.Lookup(code)
	if !ok {
		return anxin.Message{}, fmt.Errorf("unknown code %s (not in the code table)", FormatCode(code))
	}
	return anxin.Message{
		ID:        anxin.NewID(at),
		TS:        at,
		Household: household,
		Device:    c.Device,
		Kind:      c.Kind,
		Event:     c.Event,
	}, nil
}

// decoder reads a receiver capture for `gatewayd decode`.
type decoder struct {
	format string
	window time.Duration
	codes  *CodeMap
	env    drivers.Env
}

// Decode emits one event per press of a learned code. Repeats are
// collapsed by the capture's own times when it has them (rtl_433's "time",
// relative "@0.04s" or absolute); a capture without times (hex) is taken as
// received at the decoding time, so all receptions of one code in it are one
// press. A press of a code missing from the code table prints one error
// line `unknown code 8d3cf6 (not in the code table)`, so codes can be
// learned from a capture decoded without a config.
func (d *decoder) Decode(r io.Reader, emit func(anxin.Message), fail func(drivers.DecodeError)) error {
	deb := NewDebouncer(d.window)
	fr := newFramer(d.format)
	start := d.env.Now()
	got := func(rc reception) {
		at := d.env.Now()
		switch {
		case rc.hasR:
			at = start.Add(rc.rel)
		case !rc.at.IsZero():
			at = rc.at
		}
		if !deb.Accept(rc.code, at) {
			return
		}
		m, err := press(d.codes, rc.code, at, d.env.Household)
		if err != nil {
			fail(drivers.DecodeError{Offset: rc.off, Err: err})
			return
		}
		emit(m)
	}
	bad := func(off int64, err error) { fail(drivers.DecodeError{Offset: off, Err: err}) }
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		fr.feed(buf[:n], got, bad)
		if errors.Is(err, io.EOF) {
			fr.end(got, bad)
			return nil
		}
		if err != nil {
			return err
		}
	}
}

type driver struct {
	cfg        *Config
	codes      *CodeMap
	env        drivers.Env
	reconnect  serialport.Reconnect
	receptions *metrics.CounterVec // anxin_rf433_receptions_total{port,result}
}

func newDriver(c *Config, env drivers.Env) (*driver, error) {
	codes, err := NewCodeMap(c.Codes)
	if err != nil {
		return nil, err
	}
	cv, err := serialport.Register(env.Metrics, metrics.NewCounterVec(metrics.CounterOpts{
		Name: "anxin_rf433_receptions_total",
		Help: "433 MHz receptions by result: event (a new press of a learned code), repeat (de-bounced), unknown (code not learned), malformed (undecodable line or frame).",
	}, []string{"port", "result"}))
	if err != nil {
		return nil, err
	}
	return &driver{cfg: c, codes: codes, env: env, receptions: cv}, nil
}

// Run reads the receiver until ctx ends, reconnecting through
// serialport.Run, and emits one event per press of a learned code.
func (d *driver) Run(ctx context.Context, sink drivers.Sink) error {
	label := d.cfg.Port.Label()
	log := d.env.Logger.With("port", label) // gatewayd's logger names the driver
	count := func(result string) { d.receptions.WithLabelValues(label, result).Inc() }
	deb := NewDebouncer(d.cfg.Debounce) // kept across reconnects: a press spans them
	return serialport.Run(ctx, d.cfg.Port, d.env, d.reconnect, func(ctx context.Context, p serialport.Port) error {
		if err := p.SetReadTimeout(time.Second); err != nil {
			return err
		}
		fr := newFramer(d.cfg.Format)
		var pending []anxin.Message
		got := func(rc reception) {
			now := d.env.Now()
			if !deb.Accept(rc.code, now) {
				count("repeat")
				return
			}
			m, err := press(d.codes, rc.code, now, d.env.Household)
			if err != nil {
				count("unknown")
				// A code is not personal data; logging it is how a remote is learned.
				log.Debug("unknown 433 MHz code", "code", FormatCode(rc.code))
				return
			}
			count("event")
			log.Info("433 MHz press", "device", m.Device, "event", m.Event)
			pending = append(pending, m)
		}
		bad := func(_ int64, err error) {
			count("malformed")
			log.Debug("undecodable receiver output", "err", err)
		}
		buf := make([]byte, 256)
		for {
			n, err := p.Read(buf)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return err
			}
			fr.feed(buf[:n], got, bad)
			for _, m := range pending {
				if !drivers.PutRetrying(ctx, sink, m, log) {
					return nil // ctx ended
				}
			}
			pending = pending[:0]
		}
	})
}
