package dlt645

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
)

// Name is the driver's registered name.
const Name = "dlt645"

func init() {
	drivers.Register(drivers.Plugin{
		Name:         Name,
		SampleConfig: sampleConfig,
		NewConfig:    func() drivers.Config { return NewConfig() },
		New: func(cfg drivers.Config, env drivers.Env) (drivers.Driver, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("dlt645: config is %T, not *dlt645.Config", cfg)
			}
			return New(c, env)
		},
		NewDecoder: func(cfg drivers.Config, env drivers.Env) (drivers.Decoder, error) {
			return NewDecoder(env), nil
		},
	})
}

type meter struct {
	Meter
	addr     [addrLen]byte
	requests []request
	silence  serialport.Silence
}

// Driver polls the meters of one bus.
type Driver struct {
	cfg     Config
	env     drivers.Env
	open    serialport.Opener
	meters  []*meter
	metrics *serialport.MeterMetrics
}

// New builds the driver from a validated config; it does no I/O.
func New(c *Config, env drivers.Env) (*Driver, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m, err := serialport.NewMeterMetrics(env.Metrics)
	if err != nil {
		return nil, err
	}
	d := &Driver{cfg: *c, env: env, open: serialport.Open, metrics: m}
	for _, mc := range c.Meters {
		a, _ := ParseAddress(mc.Address) // validated
		reqs, _ := mc.requests()
		mt := &meter{Meter: mc, addr: a, requests: reqs}
		mt.silence = serialport.Silence{Limit: c.MissesBeforeSilent, Log: env.Logger,
			Metrics: m, Driver: Name, Device: mc.Device}
		m.Silent.WithLabelValues(Name, mc.Device).Set(0)
		d.meters = append(d.meters, mt)
	}
	return d, nil
}

// Run polls until ctx ends; it returns an error only when the port cannot be
// used at all (permission denied, not a serial port). Other polled drivers
// configured on the same port share its bus (serialport.RunBus).
func (d *Driver) Run(ctx context.Context, sink drivers.Sink) error {
	gap := d.cfg.Gap
	if gap == 0 {
		gap = -1 // BusOptions: negative is no gap, zero is the default
	}
	use := serialport.BusUse{Port: d.cfg.Port, Options: serialport.BusOptions{Timeout: d.cfg.Timeout, Gap: gap},
		Reconnect: d.cfg.Reconnect, Driver: Name, Open: d.open}
	return serialport.RunBus(ctx, d.env, use, func(ctx context.Context, bus *serialport.BusHandle) error {
		return d.session(ctx, bus, sink)
	})
}

// session polls every meter each interval until the port fails.
func (d *Driver) session(ctx context.Context, bus *serialport.BusHandle, sink drivers.Sink) error {
	t := time.NewTicker(d.cfg.PollInterval)
	defer t.Stop()
	for {
		for _, m := range d.meters {
			if err := d.poll(ctx, bus, m, sink); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// poll reads every configured DI of one meter and emits one reading with
// the fields it got. It returns an error only when the port failed.
func (d *Driver) poll(ctx context.Context, bus *serialport.BusHandle, m *meter, sink drivers.Sink) error {
	log := d.env.Logger.With("device", m.Device) // gatewayd's logger names the driver
	bad := func(err error) {
		d.metrics.BadFrames.WithLabelValues(Name, d.cfg.Port.Label()).Inc()
		log.Debug("frame with a bad checksum skipped", "err", err)
	}
	fields := anxin.Fields{}
	for _, r := range m.requests {
		var req []byte
		var fn byte
		if r.edition == 2007 {
			req, _ = EncodeRequest(m.Address, r.di) // address validated
			fn = func2007Read
		} else {
			req, _ = EncodeRequest1997(m.Address, uint16(r.di))
			fn = func1997Read
		}
		frame, err := bus.Transact(ctx, req, framing.ReplyComplete(func(b []byte) bool {
			f, err := ParseFrame(b)
			if err != nil || !f.IsReply() || f.Control&funcMask != fn {
				return false
			}
			if f.Addr != m.addr && m.Address != broadcastAddr {
				return false
			}
			if f.Control&ctrlAbnormal != 0 {
				return true // error replies carry no DI
			}
			v, err := DecodeValue(&f)
			return err != nil || v.DI == r.di
		}, bad))
		switch {
		case errors.Is(err, serialport.ErrNoReply):
			// A meter that does not answer one read will not answer the
			// next: do not spend the bus on it this round.
			m.silence.Miss()
			return d.emit(ctx, m, fields, sink)
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		m.silence.Answer()
		f, err := ParseFrame(frame)
		if err == nil {
			var v Value
			if v, err = DecodeValue(&f); err == nil {
				fields[v.Field] = anxin.Num(v.Value)
				continue
			}
		}
		d.metrics.Errors.WithLabelValues(Name, m.Device).Inc()
		log.Warn("meter reply not decoded", "field", r.field, "err", err)
	}
	return d.emit(ctx, m, fields, sink)
}

func (d *Driver) emit(ctx context.Context, m *meter, fields anxin.Fields, sink drivers.Sink) error {
	if len(fields) == 0 {
		return nil
	}
	ts := d.env.Now()
	msg := anxin.Message{ID: anxin.NewID(ts), TS: ts, Household: d.env.Household, Device: m.Device,
		Kind: anxin.KindPowerMeter, Fields: fields}
	if err := sink.Put(ctx, msg); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("dlt645: emit reading: %w", err)
	}
	d.metrics.Readings.WithLabelValues(Name, m.Device).Inc()
	return nil
}

// Decoder decodes captures of bus traffic for `gatewayd decode`.
type Decoder struct{ env drivers.Env }

// NewDecoder returns a capture decoder. Messages carry the meter address as
// device id and env.Household.
func NewDecoder(env drivers.Env) *Decoder {
	if env.Now == nil {
		env.Now = time.Now
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	return &Decoder{env: env}
}

// Decode emits one power_meter reading per read reply in r (one field each);
// request frames are skipped; error replies, unmapped DIs, bad checksums and
// truncated frames are reported through fail.
func (d *Decoder) Decode(r io.Reader, emit func(anxin.Message), fail func(drivers.DecodeError)) error {
	return framing.Scan(r, func(off int64, b []byte) {
		f, err := ParseFrame(b)
		if err == nil {
			var v Value
			if v, err = DecodeValue(&f); err == nil {
				ts := d.env.Now()
				emit(anxin.Message{ID: anxin.NewID(ts), TS: ts, Household: d.env.Household,
					Device: v.Address, Kind: anxin.KindPowerMeter, Fields: anxin.Fields{v.Field: anxin.Num(v.Value)}})
				return
			}
		}
		if !errors.Is(err, ErrRequest) {
			fail(drivers.DecodeError{Offset: off, Err: err})
		}
	}, func(off int64, err error) {
		fail(drivers.DecodeError{Offset: off, Err: err})
	})
}

// DecodeBytes is Decode over a byte slice (tests, fuzzing).
func (d *Decoder) DecodeBytes(b []byte, emit func(anxin.Message), fail func(drivers.DecodeError)) {
	_ = d.Decode(bytes.NewReader(b), emit, fail) // a bytes.Reader never fails
}
