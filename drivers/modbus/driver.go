package modbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	smb "github.com/simonvetter/modbus"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
)

// client is the part of simonvetter/modbus's client the driver uses.
type client interface {
	SetUnitId(id uint8) error
	ReadRawBytes(addr, quantity uint16, regType smb.RegType) ([]byte, error)
	ReadDiscreteInputs(addr, quantity uint16) ([]bool, error)
	Close() error
}

// busPort lets serialport.Run keep a simonvetter client open: the library
// opens the serial device itself (by path, through goburrow/serial), so the
// "port" Run manages is the client; its byte-stream methods are unused.
type busPort struct{ client }

func (busPort) Read([]byte) (int, error)           { return 0, errors.New("modbus: not a byte stream") }
func (busPort) Write([]byte) (int, error)          { return 0, errors.New("modbus: not a byte stream") }
func (busPort) SetReadTimeout(time.Duration) error { return nil }
func (busPort) ResetInputBuffer() error            { return nil }

// openClient resolves the port (USB VID:PID through the enumerator) and opens
// an RTU client on it with the configured line settings.
func openClient(c serialport.Config, timeout time.Duration, logger *slog.Logger) (serialport.Port, error) {
	label := c.Label()
	path, err := serialport.Resolve(c)
	if err != nil {
		return nil, &serialport.OpenError{Port: label, Err: err}
	}
	parity := smb.PARITY_NONE
	switch c.Parity {
	case "even":
		parity = smb.PARITY_EVEN
	case "odd":
		parity = smb.PARITY_ODD
	}
	mc, err := smb.NewClient(&smb.ClientConfiguration{
		URL:      "rtu://" + path,
		Speed:    uint(c.Baud),
		DataBits: uint(c.DataBits),
		Parity:   parity,
		StopBits: uint(c.StopBits),
		Timeout:  timeout,
		Logger:   slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	})
	if err != nil {
		return nil, &serialport.OpenError{Port: label, Permanent: true, Err: err}
	}
	if err := mc.Open(); err != nil {
		return nil, &serialport.OpenError{Port: label, Permanent: serialport.IsPermanent(err), Err: fmt.Errorf("%s: %w", path, err)}
	}
	return busPort{mc}, nil
}

type driver struct {
	cfg       *Config
	env       drivers.Env
	reconnect serialport.Reconnect
	polls     *metrics.CounterVec // anxin_modbus_requests_total{port,unit,result}
	states    inputStates         // survives reconnects: no second alarm for the same state
}

func newDriver(c *Config, env drivers.Env) (*driver, error) {
	cv, err := serialport.Register(env.Metrics, metrics.NewCounterVec(metrics.CounterOpts{
		Name: "anxin_modbus_requests_total",
		Help: "Modbus RTU requests by unit and result: ok, timeout (no answer), exception, bad_frame (CRC or protocol).",
	}, []string{"port", "unit", "result"}))
	if err != nil {
		return nil, err
	}
	for i := range c.Units { // normally done by Validate; New must not depend on it
		for j := range c.Units[i].Registers {
			c.Units[i].Registers[j].setDefaults()
		}
	}
	return &driver{cfg: c, env: env, polls: cv, states: inputStates{}}, nil
}

// Run polls every unit each poll_interval until ctx ends. The port is kept
// open (and reopened with backoff) by serialport.Run. A unit that does not
// answer is counted and logged, and the round goes on; an I/O error of the
// port ends the session so the port is reopened.
func (d *driver) Run(ctx context.Context, sink drivers.Sink) error {
	log := d.env.Logger.With("port", d.cfg.Port.Label()) // gatewayd's logger names the driver
	open := func(c serialport.Config) (serialport.Port, error) { return openClient(c, d.cfg.Timeout, log) }
	return serialport.RunWith(ctx, open, d.cfg.Port, d.env, d.reconnect, func(ctx context.Context, p serialport.Port) error {
		bp, ok := p.(busPort)
		if !ok {
			return fmt.Errorf("modbus: port is %T, not a Modbus client", p)
		}
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
			start := time.Now()
			msgs, err := d.poll(bp.client, log)
			for _, m := range msgs {
				// retried, not returned: the input state already says
				// "in alarm", so a dropped event would never come again
				if !drivers.PutRetrying(ctx, sink, m, log) {
					return nil // ctx ended
				}
			}
			if err != nil {
				return err
			}
			t.Reset(max(0, d.cfg.PollInterval-time.Since(start)))
		}
	})
}

// poll reads every unit once. It returns an error only for a failure of
// the port itself.
func (d *driver) poll(c client, log *slog.Logger) ([]anxin.Message, error) {
	var msgs []anxin.Message
	label := d.cfg.Port.Label()
	for i := range d.cfg.Units {
		u := &d.cfg.Units[i]
		unit := fmt.Sprint(u.Unit)
		if err := c.SetUnitId(u.Unit); err != nil {
			return msgs, err
		}
		// check classifies a request's error: nil (go on) or a port failure.
		check := func(err error, what string) (bool, error) {
			result := "ok"
			var me smb.Error
			switch {
			case err == nil:
			case errors.Is(err, smb.ErrRequestTimedOut):
				result = "timeout"
			case errors.Is(err, smb.ErrBadCRC), errors.Is(err, smb.ErrShortFrame), errors.Is(err, smb.ErrProtocolError),
				errors.Is(err, smb.ErrBadUnitId), errors.Is(err, smb.ErrUnexpectedParameters):
				result = "bad_frame"
			case errors.As(err, &me):
				result = "exception"
			default:
				return false, err // the port failed
			}
			d.polls.WithLabelValues(label, unit, result).Inc()
			if err != nil {
				log.Warn("modbus request failed", "unit", u.Unit, "read", what, "result", result, "err", err)
			}
			return err == nil, nil
		}
		fields := anxin.Fields{}
		for j := range u.Registers {
			r := &u.Registers[j]
			typ := smb.HOLDING_REGISTER
			if r.Type == TypeInput {
				typ = smb.INPUT_REGISTER
			}
			raw, err := c.ReadRawBytes(r.Register, 2*r.Count(), typ) // quantity in bytes, wire order
			ok, perr := check(err, r.Name)
			if perr != nil {
				return msgs, perr
			}
			if !ok {
				continue
			}
			v, err := r.Decode(raw)
			if err != nil {
				log.Warn("modbus register value rejected", "unit", u.Unit, "err", err)
				continue
			}
			fields[r.Name] = anxin.Num(v)
		}
		now := d.env.Now()
		if len(fields) > 0 {
			msgs = append(msgs, anxin.Message{ID: anxin.NewID(now), TS: now, Household: d.env.Household,
				Device: u.Device, Kind: u.Kind, Fields: fields})
		}
		if len(u.Inputs) == 0 {
			continue
		}
		lo, hi := u.Inputs[0].Input, u.Inputs[0].Input
		for _, in := range u.Inputs {
			lo, hi = min(lo, in.Input), max(hi, in.Input)
		}
		bits, err := c.ReadDiscreteInputs(lo, hi-lo+1)
		ok, perr := check(err, "discrete_inputs")
		if perr != nil {
			return msgs, perr
		}
		if !ok || len(bits) != int(hi-lo+1) {
			continue // state unknown this round: no event either way
		}
		for j := range u.Inputs {
			in := &u.Inputs[j]
			if ev, ok := d.states.update(u.Unit, in, bits[in.Input-lo]); ok {
				log.Info("wired detector changed", "device", in.Device, "event", ev)
				msgs = append(msgs, inputMessage(in, ev, now, d.env.Household))
			}
		}
	}
	return msgs, nil
}
