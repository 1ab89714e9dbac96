// Package jsonmap reads devices of other vendors (cloud-forwarded trackers,
// meters with their own gateways) from the home broker through mappings
// declared in config: a topic pattern with named captures, JSON paths to
// contract fields, and conditions that raise events.
package jsonmap

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/mqttsource"
)

// Name is the driver's name in the gatewayd config.
const Name = "jsonmap"

//go:embed sample.yaml
var sampleConfig string

func init() {
	drivers.Register(drivers.Plugin{
		Name:         Name,
		SampleConfig: sampleConfig,
		NewConfig:    func() drivers.Config { return NewConfig() },
		New: func(c drivers.Config, env drivers.Env) (drivers.Driver, error) {
			cfg, ok := c.(*Config)
			if !ok {
				return nil, fmt.Errorf("jsonmap: config is %T, not *jsonmap.Config", c)
			}
			return New(cfg, env)
		},
		NewDecoder: func(c drivers.Config, env drivers.Env) (drivers.Decoder, error) {
			cfg, ok := c.(*Config)
			if !ok {
				return nil, fmt.Errorf("jsonmap: config is %T, not *jsonmap.Config", c)
			}
			return NewDecoder(cfg, env)
		},
	})
}

// Driver subscribes to every mapping's topic on the home broker.
type Driver struct {
	mapper *Mapper
	source *mqttsource.Source
	log    *slog.Logger
	errors metrics.Counter
}

// New builds the driver from a validated config; it does no I/O.
func New(cfg *Config, env drivers.Env) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := NewMapper(cfg, env.Household)
	if err != nil {
		return nil, err
	}
	log := env.Logger.With("driver", Name)
	src, err := mqttsource.New(cfg.Config, mqttsource.Options{
		Driver: Name, Household: env.Household, Filters: m.Filters(),
		Logger: log, Now: env.Now, Metrics: env.Metrics,
		Reachable: env.PortState, // the home broker unread: the devices reported offline
	})
	if err != nil {
		return nil, err
	}
	errs, err := mqttsource.Register(env.Metrics, metrics.NewCounterVec(metrics.CounterOpts{
		Name: "anxin_mqtt_driver_payload_errors_total",
		Help: "MQTT payloads a driver could not read, by driver.",
	}, []string{"driver"}))
	if err != nil {
		return nil, err
	}
	return &Driver{mapper: m, source: src, log: log, errors: errs.WithLabelValues(Name)}, nil
}

// Run reads the home broker until ctx ends.
func (d *Driver) Run(ctx context.Context, sink drivers.Sink) error {
	var out []anxin.Message
	return d.source.Run(ctx, func(ctx context.Context, m mqttsource.Message) error {
		out = out[:0]
		err := d.mapper.Handle(m.Topic, m.Payload, m.Received, func(msg anxin.Message) { out = append(out, msg) })
		switch {
		case errors.Is(err, ErrNoData), errors.Is(err, ErrNoMapping):
			d.log.Debug("message without mapped data", "topic", clip(m.Topic), "err", err)
		case err != nil:
			d.errors.Inc()
			d.log.Warn("unreadable payload", "topic", clip(m.Topic), "err", err)
		}
		for _, msg := range out {
			if err := msg.Validate(); err != nil {
				d.errors.Inc()
				d.log.Error("mapped message breaks the contract", "msg", msg.String(), "err", err)
				continue
			}
			// retried in place: edge rules took it as seen, so a
			// redelivery would not raise it again
			if !drivers.PutRetrying(ctx, sink, msg, d.log) {
				return ctx.Err()
			}
		}
		return nil
	})
}

type decoder struct {
	mapper *Mapper
	now    func() time.Time
}

// NewDecoder builds a capture decoder over `topic payload` lines (or JSONL
// records with topic and payload). Lines no mapping matches are errors.
func NewDecoder(cfg *Config, env drivers.Env) (drivers.Decoder, error) {
	// not Validate: a capture may be decoded with no mappings (every line fails)
	if err := cfg.Config.Validate(); err != nil {
		return nil, err
	}
	m, err := NewMapper(cfg, env.Household)
	if err != nil {
		return nil, err
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	return &decoder{mapper: m, now: env.Now}, nil
}

func (d *decoder) Decode(r io.Reader, emit func(anxin.Message), fail func(drivers.DecodeError)) error {
	return mqttsource.ReadCaptures(r, func(c mqttsource.Capture) {
		if err := d.mapper.Handle(c.Topic, c.Payload, d.now(), emit); err != nil {
			fail(drivers.DecodeError{Offset: c.Offset, Err: err})
		}
	}, fail)
}
