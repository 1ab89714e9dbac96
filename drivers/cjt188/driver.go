package cjt188

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
const Name = "cjt188"

func init() {
	drivers.Register(drivers.Plugin{
		Name:         Name,
		SampleConfig: sampleConfig,
		NewConfig:    func() drivers.Config { return NewConfig() },
		New: func(cfg drivers.Config, env drivers.Env) (drivers.Driver, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("cjt188: config is %T, not *cjt188.Config", cfg)
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
	addr    [addrLen]byte
	silence serialport.Silence
}

// Driver polls the meters of one bus.
type Driver struct {
	cfg     Config
	env     drivers.Env
	open    serialport.Opener
	typ     byte
	di      [2]byte
	meters  []*meter
	metrics *serialport.MeterMetrics
	ser     byte
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
	d.typ, _ = c.meterType() // validated
	d.di, _ = c.di()
	for _, mc := range c.Meters {
		a, _ := ParseAddress(mc.Address)
		mt := &meter{Meter: mc, addr: a}
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

// poll asks one meter for its reading. It returns an error only when the
// port failed (or ctx ended).
func (d *Driver) poll(ctx context.Context, bus *serialport.BusHandle, m *meter, sink drivers.Sink) error {
	d.ser++
	req, err := encodeRequest(m.Address, d.typ, d.ser, d.di)
	if err != nil {
		return err // cannot happen: the address was validated
	}
	log := d.env.Logger.With("device", m.Device) // gatewayd's logger names the driver
	bad := func(err error) {
		d.metrics.BadFrames.WithLabelValues(Name, d.cfg.Port.Label()).Inc()
		log.Debug("frame with a bad checksum skipped", "err", err)
	}
	frame, err := bus.Transact(ctx, req, framing.ReplyComplete(func(b []byte) bool {
		f, err := ParseFrame(b)
		return err == nil && f.IsReply() && (f.Addr == m.addr || m.Address == broadcastAddr)
	}, bad))
	switch {
	case errors.Is(err, serialport.ErrNoReply):
		m.silence.Miss()
		return nil
	case err != nil:
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	m.silence.Answer()
	f, err := ParseFrame(frame)
	if err == nil {
		var r Reading
		if r, err = DecodeReading(&f); err == nil {
			return d.emit(ctx, m, r, sink)
		}
	}
	d.metrics.Errors.WithLabelValues(Name, m.Device).Inc()
	log.Warn("meter reply not decoded", "err", err)
	return nil
}

func (d *Driver) emit(ctx context.Context, m *meter, r Reading, sink drivers.Sink) error {
	ts := d.env.Now()
	msg := anxin.Message{ID: anxin.NewID(ts), TS: ts, Household: d.env.Household, Device: m.Device,
		Kind: anxin.KindWaterMeter, Fields: r.Fields()}
	if err := sink.Put(ctx, msg); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("cjt188: emit reading: %w", err)
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

// Decode emits one water_meter reading per 901F reply in r; request frames
// are skipped, everything else undecodable is reported through fail.
func (d *Decoder) Decode(r io.Reader, emit func(anxin.Message), fail func(drivers.DecodeError)) error {
	return framing.Scan(r, func(off int64, b []byte) {
		f, err := ParseFrame(b)
		if err == nil {
			var rd Reading
			if rd, err = DecodeReading(&f); err == nil {
				ts := d.env.Now()
				emit(anxin.Message{ID: anxin.NewID(ts), TS: ts, Household: d.env.Household,
					Device: rd.Address, Kind: anxin.KindWaterMeter, Fields: rd.Fields()})
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
