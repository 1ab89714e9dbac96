package serialport

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anxin-care/anxin/drivers"
)

// Reconnect is the capped exponential backoff between attempts to (re)open
// a port: Min, 2·Min, 4·Min … up to Max. It starts again from Min after a
// session that stayed up for Healthy.
type Reconnect struct {
	Min     time.Duration `mapstructure:"min" yaml:"min"`         // default 1s
	Max     time.Duration `mapstructure:"max" yaml:"max"`         // default 60s
	Healthy time.Duration `mapstructure:"healthy" yaml:"healthy"` // default 30s: a session this long resets the backoff
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
	Reconnects *prometheus.CounterVec // anxin_serial_reconnects_total{port}
	OpenErrors *prometheus.CounterVec // anxin_serial_open_errors_total{port,kind}
	Connected  *prometheus.GaugeVec   // anxin_serial_connected{port}
}

// NewMetrics registers (or finds already registered) the transport metrics.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	var m Metrics
	var err error
	if m.Reconnects, err = Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "anxin_serial_reconnects_total",
		Help: "Times a serial port was opened again after it was lost or could not be opened.",
	}, []string{"port"})); err != nil {
		return nil, err
	}
	if m.OpenErrors, err = Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "anxin_serial_open_errors_total",
		Help: "Failed attempts to open a serial port, by kind (transient: retried; permanent: fatal).",
	}, []string{"port", "kind"})); err != nil {
		return nil, err
	}
	if m.Connected, err = Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "anxin_serial_connected",
		Help: "1 while the serial port is open, 0 otherwise.",
	}, []string{"port"})); err != nil {
		return nil, err
	}
	return &m, nil
}

// Register registers c, or returns the identical collector registered
// before (by another driver or port sharing the registry).
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		var zero C
		return zero, err
	}
	return c, nil
}

// Run keeps the configured port open and calls session with it. When the
// port cannot be opened, fails, or session returns, the port is closed and
// reopened after the backoff. A permanent open error (permission denied,
// not a serial port, invalid config) is returned; Run returns nil when ctx
// ends. name is the driver instance, for logs.
func Run(ctx context.Context, c Config, env drivers.Env, name string, bo Reconnect, session Session) error {
	return RunWith(ctx, Open, c, env, name, bo, session)
}

// RunWith is Run with an injected opener (tests use fakes).
func RunWith(ctx context.Context, open Opener, c Config, env drivers.Env, name string, bo Reconnect, session Session) error {
	m, err := NewMetrics(env.Metrics)
	if err != nil {
		return err
	}
	bo = bo.withDefaults()
	label := c.Label()
	log := env.Logger.With("driver", name, "port", label)
	reconnects := m.Reconnects.WithLabelValues(label)
	transient := m.OpenErrors.WithLabelValues(label, "transient")
	permanent := m.OpenErrors.WithLabelValues(label, "permanent")
	connected := m.Connected.WithLabelValues(label)
	connected.Set(0)

	wait := bo.Min
	everOpen := false // a reopen after the first open counts as a reconnect
	down := false     // an outage has been logged and not yet ended
	for {
		if ctx.Err() != nil {
			return nil
		}
		p, err := open(c)
		if err != nil {
			if IsPermanent(err) {
				permanent.Inc()
				log.Error("serial port cannot be used; not retrying", "err", err)
				return err
			}
			transient.Inc()
			if !down {
				log.Warn("serial port unavailable; retrying with backoff", "err", err, "retry_in", wait)
				down = true
			} else {
				log.Debug("serial port still unavailable", "err", err, "retry_in", wait)
			}
			if !sleep(ctx, wait) {
				return nil
			}
			wait = min(wait*2, bo.Max)
			continue
		}
		if everOpen || down {
			reconnects.Inc()
			log.Info("serial port reconnected")
		} else {
			log.Info("serial port open")
		}
		everOpen, down = true, false
		connected.Set(1)
		start := time.Now()
		serr := session(ctx, p)
		cerr := p.Close()
		connected.Set(0)
		if ctx.Err() != nil {
			return nil
		}
		if serr != nil && IsPermanent(serr) {
			log.Error("serial session failed; not retrying", "err", serr)
			return serr
		}
		if time.Since(start) >= bo.Healthy {
			wait = bo.Min
		}
		log.Warn("serial port lost; reopening", "err", errors.Join(serr, cerr), "retry_in", wait)
		down = true
		if !sleep(ctx, wait) {
			return nil
		}
		wait = min(wait*2, bo.Max)
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
