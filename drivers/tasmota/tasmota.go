// Package tasmota reads 433 MHz remotes and detectors through an RF bridge
// on the home broker: a Sonoff RF Bridge running Tasmota
// (tele/<topic>/RESULT {"RfReceived":{"Data":"4AF10A"}}) or OpenMQTTGateway
// ({"value":142465}). Codes map to devices and events through the rf433
// code table, the same one the serial 433 MHz driver uses, and the repeats of
// one press are one event.
package tasmota

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/mqttsource"
	"github.com/anxin-care/anxin/drivers/rf433"
)

// Name is the driver's name in the gatewayd config.
const Name = "tasmota"

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
				return nil, fmt.Errorf("tasmota: config is %T, not *tasmota.Config", c)
			}
			return New(cfg, env)
		},
		NewDecoder: func(c drivers.Config, env drivers.Env) (drivers.Decoder, error) {
			cfg, ok := c.(*Config)
			if !ok {
				return nil, fmt.Errorf("tasmota: config is %T, not *tasmota.Config", c)
			}
			return NewDecoder(cfg, env)
		},
	})
}

// Driver subscribes to the bridge's RESULT topics on the home broker.
type Driver struct {
	bridge  *Bridge
	source  *mqttsource.Source
	log     *slog.Logger
	errors  metrics.Counter
	unknown metrics.Counter

	reach    *drivers.PortTeller
	mu       sync.Mutex
	brokerUp bool
	offline  map[string]bool // bridges whose LWT says Offline, by topic
	bridges  []string        // RESULT topics RF receptions came on (at most 8), for the advice in bridgeState; under mu
}

// lwtFilters are the bridges' availability topics next to the configured
// ones: the last level replaced by LWT (tele/+/RESULT: tele/+/LWT, where
// Tasmota publishes Online/Offline retained; OpenMQTTGateway's
// home/OpenMQTTGateway/433toMQTT: home/OpenMQTTGateway/LWT, online/offline).
// A filter ending in # takes them already.
func lwtFilters(topics []string) []string {
	var out []string
	for _, t := range topics {
		i := strings.LastIndexByte(t, '/')
		if i < 0 || t[i+1:] == "#" || t[i+1:] == "LWT" {
			continue
		}
		if f := t[:i] + "/LWT"; !slices.Contains(topics, f) && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// lwtOf is the availability topic of the device that published on topic.
func lwtOf(topic string) string {
	if i := strings.LastIndexByte(topic, '/'); i >= 0 {
		return topic[:i] + "/LWT"
	}
	return "LWT"
}

// heardRF records the topic an RF reception came on: that device is a bridge.
func (d *Driver) heardRF(topic string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !slices.Contains(d.bridges, topic) && len(d.bridges) < 8 {
		d.bridges = append(d.bridges, topic)
	}
}

// isLWT reports an availability message (the topic's last level is LWT).
func isLWT(topic string) bool { return strings.HasSuffix(topic, "/LWT") || topic == "LWT" }

// brokerState and bridgeState decide whether the driver can hear its
// devices: the home broker read and no bridge reporting itself offline.
// A dead RF bridge otherwise left its buttons and detectors unheard with
// nobody told (they send nothing until pressed); gatewayd reports the
// driver's devices offline while it cannot.
func (d *Driver) brokerState(up bool) {
	d.mu.Lock()
	defer d.mu.Unlock() // told under the lock: in the order decided
	d.brokerUp = up
	d.reach.Set(d.brokerUp && len(d.offline) == 0)
}

func (d *Driver) bridgeState(topic string, payload []byte) {
	state := strings.ToLower(strings.TrimSpace(string(payload)))
	d.mu.Lock()
	switch state {
	case "offline":
		if len(d.offline) < 64 { // bounded: a flood of bridges' topics
			d.offline[topic] = true
		}
	case "online", "": // "": the retained will cleared (a bridge taken out)
		delete(d.offline, topic)
	default:
		d.mu.Unlock()
		d.log.Debug("RF bridge availability not understood", "topic", clip(topic), "payload", clip(string(payload)))
		return
	}
	// told under the lock: told after it was let go, a bridge's Online
	// could overtake a concurrent broker loss and leave the port told up
	d.reach.Set(d.brokerUp && len(d.offline) == 0)
	heard := slices.Clone(d.bridges) // heardRF appends under mu from Run's goroutine
	d.mu.Unlock()
	if state == "offline" {
		d.log.Warn("RF bridge reports itself offline: its devices cannot be heard", "topic", clip(topic))
		// Every LWT the topics match counts: a bridge dead since before
		// the start has sent nothing to tell it from a smart plug, and a
		// second bridge may be the dead one. A device never heard while
		// another was is named, with what to write in topics.
		if len(heard) > 0 && !slices.ContainsFunc(heard, func(r string) bool { return lwtOf(r) == topic }) {
			d.log.Warn("the device that went offline was not heard as an RF bridge (RF came on the topics below): "+
				"if it is another Tasmota device on this broker, name the bridge in topics so its LWT no longer counts",
				"topic", clip(topic), "rf_topics", strings.Join(heard, " "))
		}
	} else {
		d.log.Info("RF bridge online", "topic", clip(topic))
	}
}

// New builds the driver from a validated config; it does no I/O.
func New(cfg *Config, env drivers.Env) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := env.Logger.With("driver", Name)
	b, err := NewBridge(cfg, env.Household)
	if err != nil {
		return nil, err
	}
	d := &Driver{bridge: b, log: log, reach: drivers.NewPortTeller(env.PortState), offline: map[string]bool{}}
	src, err := mqttsource.New(cfg.Config, mqttsource.Options{
		Driver: Name, Household: env.Household, Filters: append(slices.Clone(cfg.Topics), lwtFilters(cfg.Topics)...),
		Logger: log, Now: env.Now, Metrics: env.Metrics, Reachable: d.brokerState,
	})
	if err != nil {
		return nil, err
	}
	d.source = src
	errs, err := mqttsource.Register(env.Metrics, metrics.NewCounterVec(metrics.CounterOpts{
		Name: "anxin_mqtt_driver_payload_errors_total",
		Help: "MQTT payloads a driver could not read, by driver.",
	}, []string{"driver"}))
	if err != nil {
		return nil, err
	}
	unknown, err := mqttsource.Register(env.Metrics, metrics.NewCounter(metrics.CounterOpts{
		Name: "anxin_rf_bridge_unknown_codes_total",
		Help: "RF bridge receptions of codes not in the code table (neighbours' remotes, or codes to learn).",
	}))
	if err != nil {
		return nil, err
	}
	if len(cfg.Codes) == 0 {
		log.Warn("no codes configured: every reception is logged as an unknown code to learn")
	}
	d.errors, d.unknown = errs.WithLabelValues(Name), unknown
	return d, nil
}

// Run reads the home broker until ctx ends.
func (d *Driver) Run(ctx context.Context, sink drivers.Sink) error {
	return d.source.Run(ctx, func(ctx context.Context, m mqttsource.Message) error {
		if isLWT(m.Topic) {
			d.bridgeState(m.Topic, m.Payload)
			return nil
		}
		var out anxin.Message
		err := d.bridge.Handle(m.Payload, m.Received, func(msg anxin.Message) { out = msg })
		var uc *UnknownCodeError
		unknown := errors.As(err, &uc)
		if out.ID != "" || unknown {
			d.heardRF(m.Topic)
		}
		switch {
		case unknown:
			d.unknown.Inc()
			d.log.Info("RF code not in the code table", "code", rf433.FormatCode(uc.Code), "topic", clip(m.Topic))
		case err != nil:
			d.errors.Inc()
			d.log.Warn("unreadable RF bridge message", "topic", clip(m.Topic), "err", err)
		}
		if out.ID == "" {
			return nil
		}
		if err := out.Validate(); err != nil {
			d.errors.Inc()
			d.log.Error("normalized message breaks the contract", "msg", out.String(), "err", err)
			return nil
		}
		// retried in place: the de-bounce took the code as seen, so a
		// redelivery soon after would count as a repeat
		if !drivers.PutRetrying(ctx, sink, out, d.log) {
			return ctx.Err()
		}
		return nil
	})
}

type decoder struct {
	bridge *Bridge
	now    func() time.Time
}

// NewDecoder builds a capture decoder: `topic payload`, `topic = payload` or
// bare JSON payload lines. Repeats are de-bounced by the payload's Time when
// it has one; with no code table every code is reported as unknown.
func NewDecoder(cfg *Config, env drivers.Env) (drivers.Decoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	b, err := NewBridge(cfg, env.Household)
	if err != nil {
		return nil, err
	}
	b.payloadTime = true
	if env.Now == nil {
		env.Now = time.Now
	}
	return &decoder{bridge: b, now: env.Now}, nil
}

func (d *decoder) Decode(r io.Reader, emit func(anxin.Message), fail func(drivers.DecodeError)) error {
	return mqttsource.ReadCaptures(r, func(c mqttsource.Capture) {
		if err := d.bridge.Handle(c.Payload, d.now(), emit); err != nil {
			fail(drivers.DecodeError{Offset: c.Offset, Err: err})
		}
	}, fail)
}
