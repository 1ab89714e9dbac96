// Package zigbee2mqtt reads Zigbee devices (SOS buttons, smoke, gas and
// water-leak detectors) through the home broker zigbee2mqtt publishes to, and
// normalizes them into contract messages: alarm events on edges, and a reading
// (battery_pct, battery_low, link_quality) for every state report.
package zigbee2mqtt

import (
	"context"
	_ "embed"
	"encoding/json"
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
const Name = "zigbee2mqtt"

//go:embed sample.yaml
var sampleConfig string

func init() {
	drivers.Register(drivers.Plugin{
		Name:         Name,
		SampleConfig: sampleConfig,
		NewConfig:    func() drivers.Config { return NewConfig() },
		New:          newDriver,
		NewDecoder:   newDecoder,
	})
}

// Driver subscribes to <base_topic>/# on the home broker.
type Driver struct {
	net    *Network
	source *mqttsource.Source
	env    drivers.Env
	errors metrics.Counter
}

func newDriver(c drivers.Config, env drivers.Env) (drivers.Driver, error) {
	cfg, ok := c.(*Config)
	if !ok {
		return nil, fmt.Errorf("zigbee2mqtt: config is %T, not *zigbee2mqtt.Config", c)
	}
	return New(cfg, env)
}

// New builds the driver from a validated config; it does no I/O.
func New(cfg *Config, env drivers.Env) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := env.Logger.With("driver", Name)
	n, err := NewNetwork(cfg, env.Household, log, env.Metrics)
	if err != nil {
		return nil, err
	}
	src, err := mqttsource.New(cfg.Config, mqttsource.Options{
		Driver: Name, Household: env.Household, Filters: []string{cfg.BaseTopic + "/#"},
		Skip: n.Skip, Logger: log, Now: env.Now, Metrics: env.Metrics,
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
	if cfg.Auto() {
		log.Warn("no devices configured: auto mode names devices by friendly name and guesses their kind; list them in devices:")
	}
	return &Driver{net: n, source: src, env: env, errors: errs.WithLabelValues(Name)}, nil
}

// Run reads the home broker until ctx ends. Device and bridge statuses go
// to the sink too when it takes them (anxin.StatusSink: gatewayd's does),
// before the home broker's message is acknowledged.
func (d *Driver) Run(ctx context.Context, sink drivers.Sink) error {
	log := d.env.Logger.With("driver", Name)
	ss, _ := sink.(anxin.StatusSink)
	if ss == nil {
		log.Debug("the sink takes no statuses: availability and bridge state are only logged")
	}
	var out []anxin.Message
	var statuses []anxin.DeviceStatus
	d.net.OnStatus(func(st anxin.DeviceStatus) { statuses = append(statuses, st) })
	return d.source.Run(ctx, func(ctx context.Context, m mqttsource.Message) error {
		out, statuses = out[:0], statuses[:0]
		err := d.net.Handle(m.Topic, m.Payload, m.Received, func(msg anxin.Message) { out = append(out, msg) })
		if errors.Is(err, ErrUnknownDevice) {
			log.Debug("message of a device not in devices:", "topic", clip(m.Topic))
		} else if err != nil {
			d.errors.Inc()
			log.Warn("unreadable zigbee2mqtt message", "topic", clip(m.Topic), "err", err)
		}
		for _, msg := range out {
			if err := msg.Validate(); err != nil {
				d.errors.Inc()
				log.Error("normalized message breaks the contract", "msg", msg.String(), "err", err)
				continue
			}
			// retried in place: the network's edge state took it as seen,
			// so a redelivery would not raise it again
			if !drivers.PutRetrying(ctx, sink, msg, log) {
				return ctx.Err()
			}
		}
		for _, st := range statuses {
			if err := st.Validate(); err != nil {
				d.errors.Inc()
				log.Error("device status breaks the contract", "status", st.String(), "err", err)
				continue
			}
			if ss == nil {
				continue
			}
			if !drivers.StoreRetrying(ctx, log, func(ctx context.Context) error { return ss.PutStatus(ctx, st) },
				"device", st.Device, "state", st.State) {
				return ctx.Err()
			}
		}
		return nil
	})
}

// decoder reads recorded zigbee2mqtt messages for `gatewayd decode`.
type decoder struct {
	net *Network
	now func() time.Time
}

func newDecoder(c drivers.Config, env drivers.Env) (drivers.Decoder, error) {
	cfg, ok := c.(*Config)
	if !ok {
		return nil, fmt.Errorf("zigbee2mqtt: config is %T, not *zigbee2mqtt.Config", c)
	}
	return NewDecoder(cfg, env)
}

// NewDecoder builds a capture decoder (see mqttsource.ReadCaptures for the
// line forms). A JSONL record's raw IAS frame ("zigbee":{"data":{"zonestatus":34}})
// supplies zonestatus for devices with gas_from_zonestatus.
func NewDecoder(cfg *Config, env drivers.Env) (drivers.Decoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if env.Logger == nil {
		env.Logger = slog.New(slog.DiscardHandler)
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	n, err := NewNetwork(cfg, env.Household, env.Logger.With("driver", Name), env.Metrics)
	if err != nil {
		return nil, err
	}
	return &decoder{net: n, now: env.Now}, nil
}

func (d *decoder) Decode(r io.Reader, emit func(anxin.Message), fail func(drivers.DecodeError)) error {
	return mqttsource.ReadCaptures(r, func(c mqttsource.Capture) {
		var extra map[string]json.RawMessage
		if zs, ok := recordedZoneStatus(c.Record); ok {
			extra = map[string]json.RawMessage{"zonestatus": zs}
		}
		if err := d.net.handle(c.Topic, c.Payload, extra, d.now(), emit); err != nil {
			fail(drivers.DecodeError{Offset: c.Offset, Err: err})
		}
	}, fail)
}

// recordedZoneStatus finds zonestatus in a recorded z2m log's IAS frame.
func recordedZoneStatus(rec map[string]json.RawMessage) (json.RawMessage, bool) {
	raw, ok := rec["zigbee"]
	if !ok {
		return nil, false
	}
	var z struct {
		Data struct {
			ZoneStatus json.RawMessage `json:"zonestatus"`
		} `json:"data"`
	}
	if json.Unmarshal(raw, &z) != nil || z.Data.ZoneStatus == nil {
		return nil, false
	}
	return z.Data.ZoneStatus, true
}
