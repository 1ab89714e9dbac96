package mqttsource

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/anxin-care/anxin"
)

// Message is one MQTT message received from the home broker.
type Message struct {
	Topic    string
	Payload  []byte // a copy owned by the receiver
	Received time.Time
}

// Defaults of Options.
const (
	DefaultQueue      = 4096
	subscribeTimeout  = 10 * time.Second
	resubscribeAfter  = 5 * time.Second
	maxReconnectDelay = 30 * time.Second
)

// Options are what a driver tells the source besides the user's Config.
type Options struct {
	Driver    string   // driver name: metric label and part of the default client id
	Household string   // part of the default client id
	Filters   []string // subscribed at QoS 1 after every connect
	// Skip, when set, drops a message by topic before it is copied or queued
	// (zigbee2mqtt's large retained bridge/devices). It runs on paho's
	// goroutine: it must be quick and must not block.
	Skip       func(topic string) bool
	MaxPayload int // larger payloads are dropped and counted; 0: anxin.MaxPayload
	Queue      int // messages held between paho and the driver; 0: DefaultQueue
	Logger     *slog.Logger
	Now        func() time.Time
	Metrics    prometheus.Registerer
	// NewClient builds the paho client; nil means paho.NewClient.
	NewClient func(*paho.ClientOptions) paho.Client
}

// Source is a subscription to the home broker. Run it once.
type Source struct {
	cfg     Config
	o       Options
	queue   chan Message
	metrics *sourceMetrics
}

// New checks the options and builds a Source; it does no I/O.
func New(cfg Config, o Options) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(o.Filters) == 0 {
		return nil, errors.New("mqttsource: no topic filters")
	}
	for _, f := range o.Filters {
		if err := ValidFilter(f); err != nil {
			return nil, err
		}
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = anxin.MaxPayload
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = prometheus.NewRegistry()
	}
	if o.NewClient == nil {
		o.NewClient = paho.NewClient
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID(o.Driver, o.Household, o.Filters)
	}
	o.Logger = o.Logger.With("broker", cfg.Broker)
	m, err := newSourceMetrics(o.Metrics, o.Driver)
	if err != nil {
		return nil, err
	}
	return &Source{cfg: cfg, o: o, queue: make(chan Message, o.Queue), metrics: m}, nil
}

// DefaultClientID is the client id used when none is configured: stable
// across restarts (the persistent session is found again) and different for
// two instances of a driver reading different topics (a broker disconnects
// the older of two clients with one id, and they would take turns forever).
func DefaultClientID(driver, household string, filters []string) string {
	h := fnv.New32a()
	for _, f := range filters {
		h.Write([]byte(f))
		h.Write([]byte{0})
	}
	id := "anxin-" + driver
	if household != "" {
		id += "-" + household
	}
	return fmt.Sprintf("%s-%08x", id, h.Sum32())
}

// ClientID is the MQTT client id the source connects with.
func (s *Source) ClientID() string { return s.cfg.ClientID }

// Run connects (retrying with backoff until ctx ends), subscribes after every
// connect, and calls handle for each message in the order received. handle
// runs on Run's goroutine, never on paho's, so it may block (a sink fsyncing
// an event). Run returns nil when ctx ends, or handle's error when handle
// fails while ctx is still live; a password_file it cannot read is fatal.
func (s *Source) Run(ctx context.Context, handle func(context.Context, Message) error) error {
	opts, err := s.clientOptions()
	if err != nil {
		return err
	}
	connected := make(chan struct{}, 1)
	opts.SetOnConnectHandler(func(paho.Client) { // runs on its own goroutine; still, only signal
		select {
		case connected <- struct{}{}:
		default:
		}
	})
	opts.SetConnectionLostHandler(func(_ paho.Client, err error) {
		s.metrics.connected.Set(0)
		s.o.Logger.Warn("home broker connection lost; reconnecting", "err", err)
	})
	opts.SetDefaultPublishHandler(s.receive)
	client := s.o.NewClient(opts)

	defer s.metrics.connected.Set(0)
	var wg sync.WaitGroup
	defer wg.Wait() // runs after cancel has stopped the helpers
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer client.Disconnect(250)

	s.o.Logger.Info("connecting to home broker", "client_id", s.cfg.ClientID, "filters", s.o.Filters)
	tok := client.Connect() // with ConnectRetry it completes once connected
	wg.Go(func() {
		select {
		case <-tok.Done():
			if err := tok.Error(); err != nil {
				s.o.Logger.Error("home broker connect failed", "err", err)
			}
		case <-ctx.Done():
		}
	})
	wg.Go(func() { s.subscribeLoop(ctx, client, connected) })

	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-s.queue:
			if err := handle(ctx, m); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
	}
}

// subscribeLoop subscribes after every connect: a broker without persistent
// sessions (the embedded one, or mosquitto after losing its database) forgets
// subscriptions on restart.
func (s *Source) subscribeLoop(ctx context.Context, client paho.Client, connected <-chan struct{}) {
	filters := make(map[string]byte, len(s.o.Filters))
	for _, f := range s.o.Filters {
		filters[f] = 1
	}
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-connected:
		case <-retry:
			if !client.IsConnectionOpen() {
				retry = nil
				continue // the next connect signals again
			}
		}
		retry = nil
		if err := s.subscribe(ctx, client, filters); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.o.Logger.Error("subscribing on home broker failed; will retry", "err", err, "retry_in", resubscribeAfter)
			retry = time.After(resubscribeAfter)
			continue
		}
		s.metrics.connected.Set(1)
		s.o.Logger.Info("subscribed on home broker", "filters", s.o.Filters)
	}
}

func (s *Source) subscribe(ctx context.Context, client paho.Client, filters map[string]byte) error {
	tok := client.SubscribeMultiple(filters, nil) // nil: messages go to the default handler
	timer := time.NewTimer(subscribeTimeout)
	defer timer.Stop()
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("no SUBACK within %s", subscribeTimeout)
	}
	if err := tok.Error(); err != nil {
		return err
	}
	if st, ok := tok.(*paho.SubscribeToken); ok {
		for f, code := range st.Result() {
			if code >= 0x80 {
				return fmt.Errorf("broker refused subscription to %q (code %#x)", f, code)
			}
		}
	}
	return nil
}

// receive runs on paho's goroutine: it never blocks. A full queue drops the
// message (counted and logged); the queue is sized for bursts far above what
// a home produces, so a drop means the sink is stuck.
func (s *Source) receive(_ paho.Client, pm paho.Message) {
	topic := pm.Topic()
	if s.o.Skip != nil && s.o.Skip(topic) {
		return
	}
	payload := pm.Payload()
	if len(payload) > s.o.MaxPayload {
		s.metrics.dropped.WithLabelValues(s.o.Driver, "oversize").Inc()
		s.o.Logger.Warn("dropped oversized message", "topic", clip(topic), "bytes", len(payload), "max", s.o.MaxPayload)
		return
	}
	m := Message{Topic: topic, Payload: append([]byte(nil), payload...), Received: s.o.Now()}
	select {
	case s.queue <- m:
		s.metrics.received.Inc()
	default:
		s.metrics.dropped.WithLabelValues(s.o.Driver, "queue_full").Inc()
		s.o.Logger.Error("dropped message: driver queue full", "topic", clip(topic), "queue", cap(s.queue))
	}
}

func (s *Source) clientOptions() (*paho.ClientOptions, error) {
	opts := paho.NewClientOptions().
		AddBroker(s.cfg.Broker).
		SetClientID(s.cfg.ClientID).
		SetCleanSession(false). // QoS 1 messages published while gatewayd restarts wait in the broker
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(maxReconnectDelay).
		SetConnectTimeout(10 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(true) // edges (smoke true, then false) must stay in order
	if s.cfg.Username != "" {
		opts.SetUsername(s.cfg.Username)
	}
	switch {
	case s.cfg.Password != "":
		opts.SetPassword(s.cfg.Password)
	case s.cfg.PasswordFile != "":
		b, err := os.ReadFile(s.cfg.PasswordFile)
		if err != nil {
			// the error names the file, never its content
			return nil, fmt.Errorf("password_file: %w", err)
		}
		opts.SetPassword(strings.TrimRight(string(b), "\r\n"))
	}
	return opts, nil
}

// ValidFilter checks an MQTT topic filter: non-empty, `+` only as a whole
// level, `#` only as the whole last level.
func ValidFilter(f string) error {
	if f == "" || len(f) > 1024 {
		return anxin.Errorf(anxin.EINVALID, "topic filter %q: 1..1024 characters", clip(f))
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return anxin.Errorf(anxin.EINVALID, "topic filter %q: # only as the last level", clip(f))
		}
		if strings.Contains(l, "+") && l != "+" {
			return anxin.Errorf(anxin.EINVALID, "topic filter %q: + only as a whole level", clip(f))
		}
	}
	return nil
}

// MatchFilter reports whether topic matches the MQTT filter f.
func MatchFilter(f, topic string) bool {
	for {
		fl, frest, fmore := strings.Cut(f, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore {
			return !tmore
		}
		if !tmore {
			return frest == "#" // "a/#" matches "a"
		}
		f, topic = frest, trest
	}
}

type sourceMetrics struct {
	received  prometheus.Counter
	dropped   *prometheus.CounterVec
	connected prometheus.Gauge
}

func newSourceMetrics(r prometheus.Registerer, driver string) (*sourceMetrics, error) {
	received, err := Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "anxin_mqtt_source_messages_total",
		Help: "Messages received from the home broker, by driver.",
	}, []string{"driver"}))
	if err != nil {
		return nil, err
	}
	dropped, err := Register(r, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "anxin_mqtt_source_dropped_total",
		Help: "Messages from the home broker dropped before decoding, by driver and reason (oversize, queue_full).",
	}, []string{"driver", "reason"}))
	if err != nil {
		return nil, err
	}
	connected, err := Register(r, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "anxin_mqtt_source_connected",
		Help: "1 while the driver is connected and subscribed to the home broker.",
	}, []string{"driver"}))
	if err != nil {
		return nil, err
	}
	return &sourceMetrics{
		received:  received.WithLabelValues(driver),
		dropped:   dropped,
		connected: connected.WithLabelValues(driver),
	}, nil
}

// Register registers c, or returns the collector already registered under
// the same description, so two instances of a driver share their metrics.
func Register[C prometheus.Collector](r prometheus.Registerer, c C) (C, error) {
	err := r.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	var zero C
	return zero, fmt.Errorf("metrics: %w", err)
}
