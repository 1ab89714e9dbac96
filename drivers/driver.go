// Package drivers holds the Driver interface of gatewayd and the registry
// of driver plugins. Each protocol lives in its own package below this one
// and registers itself by name from an init function; cmd/gatewayd imports
// drivers/all to link them in.
package drivers

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
)

// Sink receives normalized messages from drivers. Put may block (the spool
// fsyncs events) and fails only when ctx ends or the sink is closed.
type Sink interface {
	Put(ctx context.Context, m anxin.Message) error
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(ctx context.Context, m anxin.Message) error

// Put calls f.
func (f SinkFunc) Put(ctx context.Context, m anxin.Message) error { return f(ctx, m) }

// Driver reads one device or bus until ctx ends.
type Driver interface {
	// Run connects, reads and emits messages to sink. It returns nil when ctx
	// ends. It returns an error only when it cannot go on (a permission
	// error, a port that is not a serial port); transient failures such as an
	// unplugged adapter are retried inside Run with backoff and logged.
	Run(ctx context.Context, sink Sink) error
}

// DecodeError is one undecodable frame in a capture, printed by
// `gatewayd decode` as {"error":"…","offset":N} on stderr.
type DecodeError struct {
	Offset int64
	Err    error
}

func (e *DecodeError) Error() string { return fmt.Sprintf("offset %d: %v", e.Offset, e.Err) }

// Decoder turns a capture into messages, for `gatewayd decode`: raw bytes
// for binary protocols, text for NMEA, one `topic payload` (or JSON payload)
// per line for MQTT drivers. It calls emit for every decoded message and fail
// for every frame it cannot decode, then goes on; it returns an error only
// when reading r fails.
type Decoder interface {
	Decode(r io.Reader, emit func(anxin.Message), fail func(DecodeError)) error
}

// Env is what a driver gets from gatewayd.
type Env struct {
	Household string             // household id for the messages
	Logger    *slog.Logger       // never nil
	Now       func() time.Time   // never nil
	Metrics   metrics.Registerer // never nil; drivers register their counters here
	// Serial is gatewayd's registry of shared serial buses. Polled drivers
	// on the same port share one open port and one bus lock through it.
	// Nil: a driver opens its port alone (tests, tools).
	Serial SerialBuses
	// PortState is told by the serial transport whether the driver's port
	// is usable: false when it cannot be opened, is lost or cannot be used
	// at all, true once a session runs on it (told again only on a
	// change). gatewayd reports the driver's devices offline while it is
	// not. Nil: nobody asks.
	PortState func(up bool)
}

// NewPortTeller passes a port's state on to f (Env.PortState; nil: to
// nobody), once per change.
func NewPortTeller(f func(up bool)) *PortTeller { return &PortTeller{f: f} }

// PortTeller tells whether a port is usable, once per change, in the order
// of the changes (f is called under its lock).
type PortTeller struct {
	mu   sync.Mutex
	f    func(bool)
	told int8 // 0: nothing yet, 1: up, -1: down
}

// Set passes up on if it is a change.
func (t *PortTeller) Set(up bool) {
	if t == nil || t.f == nil {
		return
	}
	v := int8(-1)
	if up {
		v = 1
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.told == v {
		return
	}
	t.told = v
	t.f(up)
}

// SerialBuses is a registry of shared serial buses: *serialport.Buses, the
// one implementation (it cannot be named here: serialport imports this
// package).
type SerialBuses interface {
	// Users lists the drivers on each open bus, by port label.
	Users() map[string][]string
}

// Config is a driver's configuration. Each driver defines a struct with
// yaml/mapstructure tags; gatewayd fills defaults (NewConfig), decodes the
// driver's section strictly (unknown keys are errors), then calls Validate,
// which must not touch the network or a port.
type Config interface {
	Validate() error
}

// Plugin describes one driver.
type Plugin struct {
	Name string
	// SampleConfig is a commented YAML entry of the gatewayd `drivers:` list.
	// The driver's README shows the same text; a test parses it.
	SampleConfig string
	// NewConfig returns a pointer to the driver's config with defaults filled in.
	NewConfig func() Config
	// New builds the driver from a validated config. It must not do I/O.
	New func(cfg Config, env Env) (Driver, error)
	// NewDecoder builds a capture decoder; cfg holds defaults (NewConfig)
	// unless the user gave a config. Nil when the driver cannot decode captures.
	NewDecoder func(cfg Config, env Env) (Decoder, error)
}

var (
	mu       sync.RWMutex
	registry = map[string]Plugin{}
)

// Register adds a driver plugin. It panics on a duplicate or incomplete
// plugin: both are programming errors found at start-up.
func Register(p Plugin) {
	if p.Name == "" || p.NewConfig == nil || p.New == nil || p.SampleConfig == "" {
		panic("drivers: incomplete plugin " + p.Name)
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[p.Name]; dup {
		panic("drivers: duplicate plugin " + p.Name)
	}
	registry[p.Name] = p
}

// Lookup finds a registered plugin by name.
func Lookup(name string) (Plugin, bool) {
	mu.RLock()
	defer mu.RUnlock()
	p, ok := registry[name]
	return p, ok
}

// Names lists the registered drivers, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
