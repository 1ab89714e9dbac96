package serialport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/internal/configerr"
)

// Reconnect is the capped exponential backoff between attempts to (re)open
// a port: Min, 2·Min, 4·Min … up to Max. It starts again from Min after a
// session that stayed up for Healthy.
type Reconnect struct {
	Min     time.Duration `mapstructure:"min" yaml:"min"`         // default 1s
	Max     time.Duration `mapstructure:"max" yaml:"max"`         // default 60s
	Healthy time.Duration `mapstructure:"healthy" yaml:"healthy"` // default 30s: a session this long resets the backoff
}

// Validate checks the bounds a driver's config wrote (0: the default);
// keys are relative to the reconnect section.
func (r Reconnect) Validate() error {
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"min", r.Min}, {"max", r.Max}, {"healthy", r.Healthy}} {
		if d.v < 0 {
			return drivers.OutOfRange(d.key, d.v, ">= 0")
		}
	}
	if r.Max > 0 && r.Max < r.Min {
		ce := drivers.OutOfRange("max", r.Max, ">= reconnect.min "+configerr.ShortDuration(r.Min))
		ce.Detail = fmt.Sprintf("%s is below reconnect.min %s", r.Max, r.Min)
		return ce
	}
	return nil
}

func (r Reconnect) withDefaults() Reconnect {
	if r.Min <= 0 {
		r.Min = time.Second
	}
	if r.Max <= 0 {
		r.Max = 60 * time.Second
	}
	if r.Max < r.Min {
		r.Max = r.Min
	}
	if r.Healthy <= 0 {
		r.Healthy = 30 * time.Second
	}
	return r
}

// Session uses one open port until it fails or ctx ends. Returning (nil or
// an error) hands the port back: Run closes it and reopens after the backoff.
type Session func(ctx context.Context, p Port) error

// Metrics are the serial transport's Prometheus collectors. Several drivers
// and ports share them: NewMetrics reuses collectors already registered.
type Metrics struct {
	Reconnects *metrics.CounterVec // anxin_serial_reconnects_total{port}
	OpenErrors *metrics.CounterVec // anxin_serial_open_errors_total{port,kind}
	Connected  *metrics.GaugeVec   // anxin_serial_connected{port}
}

// NewMetrics registers (or finds already registered) the transport metrics.
func NewMetrics(reg metrics.Registerer) (*Metrics, error) {
	var m Metrics
	var err error
	if m.Reconnects, err = Register(reg, metrics.NewCounterVec(metrics.CounterOpts{
		Name: "anxin_serial_reconnects_total",
		Help: "Times a serial port was opened again after it was lost or could not be opened.",
	}, []string{"port"})); err != nil {
		return nil, err
	}
	if m.OpenErrors, err = Register(reg, metrics.NewCounterVec(metrics.CounterOpts{
		Name: "anxin_serial_open_errors_total",
		Help: "Failed attempts to open a serial port, by kind (transient: retried; permanent: fatal).",
	}, []string{"port", "kind"})); err != nil {
		return nil, err
	}
	if m.Connected, err = Register(reg, metrics.NewGaugeVec(metrics.GaugeOpts{
		Name: "anxin_serial_connected",
		Help: "1 while the serial port is open, 0 otherwise.",
	}, []string{"port"})); err != nil {
		return nil, err
	}
	return &m, nil
}

// Register registers c, or returns the identical collector registered
// before (by another driver or port sharing the registry).
func Register[C metrics.Collector](reg metrics.Registerer, c C) (C, error) {
	return metrics.RegisterOrReuse(reg, c)
}

// Run keeps the configured port open and calls session with it. When the
// port cannot be opened, fails, or session returns, the port is closed and
// reopened after the backoff. A permanent open error (permission denied,
// not a serial port, invalid config) is returned; Run returns nil when ctx
// ends. The port is the driver's alone: stream drivers (NMEA, 433 MHz) use
// Run, polled drivers use RunBus, which can share the port.
func Run(ctx context.Context, c Config, env drivers.Env, bo Reconnect, session Session) error {
	return RunWith(ctx, Open, c, env, bo, session)
}

// RunWith is Run with an injected opener (tests use fakes).
func RunWith(ctx context.Context, open Opener, c Config, env drivers.Env, bo Reconnect, session Session) error {
	m, err := NewMetrics(env.Metrics)
	if err != nil {
		return err
	}
	// The logger names the driver already (gatewayd adds driver and
	// instance); the transport adds only the port.
	return keeper{open: open, cfg: c, log: env.Logger.With("port", c.Label()), metrics: m,
		bo: func() Reconnect { return bo }, state: env.PortState}.run(ctx, session)
}

// keeper keeps one port open for a session: open, hand over, close,
// reopen after a capped backoff.
type keeper struct {
	open    Opener
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	bo      func() Reconnect // asked at every wait: the drivers on a shared bus change
	attrs   func() []any     // added to every log line (the drivers on a shared bus); may be nil
	state   func(up bool)    // told whether the port is usable (drivers.Env.PortState); may be nil
}

func (k keeper) run(ctx context.Context, session Session) error {
	m, c := k.metrics, k.cfg
	label := c.Label()
	attrs := func(kv ...any) []any {
		if k.attrs != nil {
			kv = append(kv, k.attrs()...)
		}
		return kv
	}
	log := k.log
	reconnects := m.Reconnects.WithLabelValues(label)
	transient := m.OpenErrors.WithLabelValues(label, "transient")
	permanent := m.OpenErrors.WithLabelValues(label, "permanent")
	connected := m.Connected.WithLabelValues(label)
	connected.Set(0)
	retry := backoff{bo: k.bo}
	state := drivers.NewPortTeller(k.state)
	everOpen := false // a reopen after the first open counts as a reconnect
	down := false     // an outage has been logged and not yet ended
	for {
		if ctx.Err() != nil {
			return nil
		}
		p, err := k.open(c)
		if err != nil {
			state.Set(false)
			if IsPermanent(err) {
				permanent.Inc()
				log.Error("serial port cannot be used; not retrying", attrs("err", err)...)
				return err
			}
			transient.Inc()
			wait := retry.next(0)
			if !down {
				log.Warn("serial port unavailable; retrying with backoff", attrs("err", err, "retry_in", wait)...)
				down = true
			} else {
				log.Debug("serial port still unavailable", attrs("err", err, "retry_in", wait)...)
			}
			if !anxin.SleepContext(ctx, wait) {
				return nil
			}
			continue
		}
		if everOpen || down {
			reconnects.Inc()
			log.Info("serial port reconnected", attrs()...)
		} else {
			log.Info("serial port open", attrs()...)
		}
		everOpen, down = true, false
		connected.Set(1)
		state.Set(true)
		start := time.Now()
		serr := session(ctx, p)
		cerr := p.Close()
		connected.Set(0)
		if ctx.Err() != nil {
			return nil
		}
		state.Set(false)
		if serr != nil && IsPermanent(serr) {
			log.Error("serial session failed; not retrying", attrs("err", serr)...)
			return serr
		}
		wait := retry.next(time.Since(start))
		log.Warn("serial port lost; reopening", attrs("err", errors.Join(serr, cerr), "retry_in", wait)...)
		down = true
		if !anxin.SleepContext(ctx, wait) {
			return nil
		}
	}
}

// backoff is the wait of one retry loop: Min, 2·Min, 4·Min … up to Max,
// and Min again after an attempt that lasted Healthy. bo is asked at every
// wait (the drivers on a shared bus change).
type backoff struct {
	bo   func() Reconnect
	wait time.Duration // the last wait; 0: none since the start or reset
}

// next returns the wait before the next attempt; up is how long the last
// attempt lasted (0: it failed at once).
func (b *backoff) next(up time.Duration) time.Duration {
	bo := b.bo().withDefaults()
	if b.wait == 0 || up >= bo.Healthy {
		b.wait = bo.Min
	} else {
		b.wait = max(min(b.wait*2, bo.Max), bo.Min)
	}
	return b.wait
}

// reset starts the backoff again from Min.
func (b *backoff) reset() { b.wait = 0 }
