// Package sourcetest holds what the MQTT driver tests share: the check of a
// driver's sample config against its README, the two real brokers they run
// against (mosquitto and the embedded one), a publisher and a collecting sink.
package sourcetest

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/go-viper/mapstructure/v2"
	"gopkg.in/yaml.v3"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/gateway"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/mqtt"
)

// CheckSample asserts that the plugin's README contains its sample config
// verbatim and that the sample decodes strictly (yaml.v3 KnownFields, and
// mapstructure with ErrorUnused as gatewayd's loader does) and validates.
func CheckSample(t *testing.T, name, readme string) {
	t.Helper()
	p, ok := drivers.Lookup(name)
	if !ok {
		t.Fatalf("driver %s is not registered", name)
	}
	doc, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), p.SampleConfig) {
		t.Errorf("%s does not contain the embedded sample config verbatim", readme)
	}
	cfg := p.NewConfig()
	dec := yaml.NewDecoder(strings.NewReader(p.SampleConfig))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		t.Fatalf("sample config (yaml.v3 strict): %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("sample config does not validate: %v", err)
	}
	// through gatewayd's own loader, as a drivers: entry
	var b strings.Builder
	b.WriteString("household: hh-0001\ndrivers:\n  - driver: " + name + "\n")
	for _, l := range strings.Split(strings.TrimRight(p.SampleConfig, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	gw, err := gateway.Parse([]byte(b.String()))
	if err != nil {
		t.Fatalf("gatewayd loader: %v\n%s", err, b.String())
	}
	if len(gw.Drivers) != 1 || !reflect.DeepEqual(gw.Drivers[0].Config, cfg) {
		t.Errorf("gatewayd loader decoded\n%+v\nyaml.v3 decoded\n%+v", gw.Drivers[0].Config, cfg)
	}
	if _, err := gateway.Parse([]byte(b.String() + "    bogus_key: 1\n")); err == nil || !strings.Contains(err.Error(), "bogus_key") {
		t.Errorf("gatewayd loader: unknown key: %v, want an error naming it", err)
	}
	if p.NewDecoder == nil {
		t.Error("no NewDecoder: MQTT drivers decode captures")
	}
}

// Decode decodes a config section like gatewayd's loader: mapstructure,
// unknown keys are errors, durations from strings.
func Decode(raw map[string]any, cfg any) error {
	md, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result: cfg, ErrorUnused: true,
		DecodeHook: mapstructure.StringToTimeDurationHookFunc(),
	})
	if err != nil {
		return err
	}
	return md.Decode(raw)
}

// Broker is a real broker a test runs against.
type Broker interface {
	URL() string
	Restart(t *testing.T) // stop, then listen again on the same port
}

// Brokers runs f against mosquitto and against the embedded broker.
func Brokers(t *testing.T, f func(t *testing.T, b Broker)) {
	t.Run("mosquitto", func(t *testing.T) {
		f(t, &mosquitto{m: testenv.StartMosquitto(t)})
	})
	t.Run("embedded", func(t *testing.T) {
		b, err := mqtt.StartBroker("127.0.0.1:0", nil)
		if err != nil {
			t.Fatal(err)
		}
		e := &embedded{b: b, addr: b.Addr()}
		t.Cleanup(func() { e.close() })
		f(t, e)
	})
}

type mosquitto struct{ m *testenv.Mosquitto }

func (m *mosquitto) URL() string          { return m.m.URL }
func (m *mosquitto) Restart(t *testing.T) { t.Helper(); m.m.Restart() }

type embedded struct {
	mu   sync.Mutex
	b    *mqtt.Broker
	addr string
}

func (e *embedded) URL() string { return "tcp://" + e.addr }

func (e *embedded) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.b != nil {
		_ = e.b.Close()
		e.b = nil
	}
}

func (e *embedded) Restart(t *testing.T) {
	t.Helper()
	e.close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := mqtt.StartBroker(e.addr, nil)
		if err == nil {
			e.mu.Lock()
			e.b = b
			e.mu.Unlock()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("embedded broker restart on %s: %v", e.addr, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a real port until it is free again
	}
}

// Publisher connects to url and returns a function publishing at QoS 1 that
// waits for the broker's acknowledgement.
func Publisher(t *testing.T, url string) func(topic string, payload []byte) {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker(url).SetClientID("test-pub-" + anxin.NewID(time.Now())).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect to %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return func(topic string, payload []byte) {
		t.Helper()
		tok := c.Publish(topic, 1, false, payload)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
}

// Sink collects messages.
type Sink struct{ C chan anxin.Message }

// NewSink makes a Sink with room for n messages before Put blocks.
func NewSink(n int) *Sink { return &Sink{C: make(chan anxin.Message, n)} }

// Put validates m (a driver must only emit contract messages) and queues it.
func (s *Sink) Put(ctx context.Context, m anxin.Message) error {
	if err := m.Validate(); err != nil {
		panic("driver emitted a message that breaks the contract: " + err.Error())
	}
	select {
	case s.C <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Next waits for the next message matching keep (others are discarded).
func (s *Sink) Next(t *testing.T, within time.Duration, keep func(anxin.Message) bool) (anxin.Message, bool) {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case m := <-s.C:
			if keep(m) {
				return m, true
			}
		case <-timer.C:
			return anxin.Message{}, false
		}
	}
}

// Env is a driver environment for tests, logging to t, with its own
// metrics registry. Stop every driver before the test returns.
func Env(t *testing.T) (drivers.Env, *metrics.Registry) {
	reg := metrics.NewRegistry()
	return drivers.Env{Household: "hh-0001", Now: time.Now, Metrics: reg,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}, reg
}

// Gauge is the value of a gauge in reg with the given label values (in
// label order), or -1 when it is not there.
func Gauge(reg *metrics.Registry, name string, labels ...string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.Name != name {
			continue
		}
	metrics:
		for _, m := range mf.Metrics {
			for i, lp := range m.Labels {
				if i >= len(labels) || lp.Value != labels[i] {
					continue metrics
				}
			}
			return m.Value
		}
	}
	return -1
}

// Run starts d and returns a function that stops it and returns Run's error.
func Run(t *testing.T, d drivers.Driver, sink drivers.Sink) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, sink) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Error("driver did not stop within 10 s")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
