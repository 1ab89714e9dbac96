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
	"sync/atomic"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

// Message is one MQTT message received from the home broker.
type Message struct {
	Topic    string
	Payload  []byte // a copy owned by the receiver
	Received time.Time
	// Redelivered is the broker's DUP flag: the message was sent before and
	// not acknowledged; the sink may or may not have taken it then.
	Redelivered bool
}

// Defaults of Options.
const (
	// DefaultQueue bounds the messages between paho's callback and the
	// driver. With manual acknowledgement the home broker sends at most its
	// in-flight window of unacknowledged QoS 1 messages (mosquitto's
	// max_inflight_messages, 20 by default), so QoS 1 needs far less; QoS 0
	// may fill only half of it, so a burst of those never crowds out QoS 1.
	DefaultQueue      = 4096
	subscribeTimeout  = 10 * time.Second
	resubscribeAfter  = 5 * time.Second
	maxReconnectDelay = 30 * time.Second
	disconnectQuiesce = 250 // ms paho may take to send the DISCONNECT
	ackBarrierTimeout = 2 * time.Second
	// ackBarrierFilter is never subscribed: unsubscribing from it is a round
	// trip that the broker answers after reading every earlier packet.
	ackBarrierFilter = "anxin/mqttsource/ack-barrier"
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
	Metrics    metrics.Registerer
	// NewClient builds the paho client; nil means paho.NewClient.
	NewClient func(*paho.ClientOptions) paho.Client
	// Reachable is told whether the home broker can be read: false when a
	// session starts or its connection is lost, true once subscribed
	// (drivers.Env.PortState: gatewayd reports the driver's devices
	// offline while it cannot). Nil: nobody asks; zigbee2mqtt, whose
	// devices report their own availability, leaves it nil.
	Reachable func(up bool)
}

// Source is a subscription to the home broker. Run it once.
type Source struct {
	cfg     Config
	o       Options
	reach   *drivers.PortTeller
	metrics *sourceMetrics
	refused drivers.RetryWait // waits between reconnects while the sink refuses
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
		o.Metrics = metrics.NewRegistry()
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
	return &Source{cfg: cfg, o: o, metrics: m, reach: drivers.NewPortTeller(o.Reachable)}, nil
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

// entry is one message on its way from paho's callback to handle.
type entry struct {
	Message
	ack  func() // sends the PUBACK; nil for QoS 0
	skip bool   // acknowledge only: a skipped topic or an oversized payload
}

// session is what one paho client shares between its callback and Run.
type session struct {
	queue chan entry
	// refusing is set by the callback when a QoS 1 message found the queue
	// full: from then on nothing is queued or acknowledged, so the broker
	// redelivers that message and every later one, in order, after Run has
	// drained the queue and reconnected.
	refusing atomic.Bool
}

func (s *Source) newSession() *session {
	return &session{queue: make(chan entry, s.o.Queue)}
}

// Run connects (retrying with backoff until ctx ends), subscribes after every
// connect, and calls handle for each message in the order received. handle
// runs on Run's goroutine, never on paho's, so it may block (a sink fsyncing
// an event). A QoS 1 message is acknowledged to the broker only after handle
// returned nil for it: a message queued or being handled when gatewayd stops
// or crashes, or when handle fails, is redelivered by the broker (persistent
// session) the next time the source connects. When handle fails (the spool
// refused the message) Run reconnects after a backoff (1 s doubling to
// 30 s) so the broker delivers it again; an EINVALID error (never storable)
// drops the message instead. Run returns nil when ctx ends; a password_file
// it cannot read is fatal.
func (s *Source) Run(ctx context.Context, handle func(context.Context, Message) error) error {
	for {
		again, err := s.runSession(ctx, handle)
		if err != nil || !again {
			return err
		}
		s.o.Logger.Warn("reconnecting so the home broker redelivers what was left unacknowledged")
	}
}

// runSession runs one paho client until ctx ends, handle fails, or the
// session stopped taking messages and has drained its queue (in both cases
// again is true: a new connection makes the broker redeliver what was
// refused).
func (s *Source) runSession(ctx context.Context, handle func(context.Context, Message) error) (again bool, err error) {
	opts, err := s.clientOptions()
	if err != nil {
		return false, err
	}
	ss := s.newSession()
	connected := make(chan struct{}, 1)
	opts.SetOnConnectHandler(func(paho.Client) { // runs on its own goroutine; still, only signal
		select {
		case connected <- struct{}{}:
		default:
		}
	})
	opts.SetConnectionLostHandler(func(_ paho.Client, err error) {
		s.metrics.connected.Set(0)
		s.reach.Set(false)
		s.o.Logger.Warn("home broker connection lost; reconnecting", "err", err)
	})
	opts.SetDefaultPublishHandler(func(_ paho.Client, pm paho.Message) { s.receive(ss, pm) })
	client := s.o.NewClient(opts)

	defer s.metrics.connected.Set(0)
	var wg sync.WaitGroup
	defer wg.Wait() // runs after cancel has stopped the helpers
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer func() {
		s.flushAcks(client)
		client.Disconnect(disconnectQuiesce)
	}()

	s.reach.Set(false) // until subscribed
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
		// refusing is only set while the queue is full, and nothing is queued
		// after it, so an empty queue here means everything taken was handled.
		if ss.refusing.Load() && len(ss.queue) == 0 {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, nil
		case e := <-ss.queue:
			if !e.skip {
				err := handle(ctx, e.Message)
				switch {
				case err == nil:
					s.refused.Reset()
				case ctx.Err() != nil:
					return false, nil
				case anxin.ErrorCode(err) == anxin.EINVALID:
					// never storable (too large): taking it again would
					// block every later message of this driver
					s.o.Logger.Error("message refused as invalid; dropped", "err", err)
				default:
					// The sink (the spool) refused it: a full or failing
					// disk. Not acknowledged, so the home broker delivers it
					// again on the next connection. Returning the error
					// instead would leave the driver failed (every smoke,
					// leak and button of the home unread) until a reload.
					wait := s.refused.Next()
					s.o.Logger.Error("message not stored; reconnecting so the home broker delivers it again",
						"err", err, "retry_in", wait)
					if !anxin.SleepContext(ctx, wait) {
						return false, nil
					}
					return true, nil
				}
			}
			if e.ack != nil {
				// paho sends it on the connection the message came on; after
				// that connection is lost it drops it, and the broker
				// redelivers on the next connect (a duplicate, never a loss).
				e.ack()
			}
		}
	}
}

// flushAcks waits, for at most ackBarrierTimeout, until the broker has read
// every PUBACK sent so far: it handles a connection's packets in order, so
// the UNSUBACK of a filter never subscribed comes after them. Closing the
// socket while the broker is still sending makes the kernel reset the
// connection, and the broker may then discard the last PUBACKs unread
// (measured: a forced reconnect redelivered up to 15 handled messages).
// Those would come again as duplicates, never be lost; this keeps them rare.
func (s *Source) flushAcks(client paho.Client) {
	if !client.IsConnectionOpen() {
		return
	}
	tok := client.Unsubscribe(ackBarrierFilter)
	if !tok.WaitTimeout(ackBarrierTimeout) {
		s.o.Logger.Debug("home broker did not answer the acknowledgement barrier; the last messages may be redelivered", "within", ackBarrierTimeout)
	} else if err := tok.Error(); err != nil {
		s.o.Logger.Debug("acknowledgement barrier failed; the last messages may be redelivered", "err", err)
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
		s.reach.Set(true)
		if !client.IsConnectionOpen() {
			// lost since the SUBACK: the connection-lost handler may have
			// told down before the up above, and paho's reconnects tell
			// nothing until one subscribes again
			s.metrics.connected.Set(0)
			s.reach.Set(false)
			continue
		}
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

// receive runs on paho's goroutine (one per connection, messages in order):
// it never blocks and never acknowledges. Every QoS 1 message, skipped ones
// included, goes through the queue so that PUBACKs leave in the order the
// messages came (MQTT 3.1.1 section 4.6). QoS 0 messages (nothing to
// acknowledge, nothing the broker would resend) may take only half the
// queue and are dropped, counted, beyond it. A QoS 1 message that finds
// the queue full is the last resort: the session stops taking messages
// without acknowledging them, and Run reconnects once the queue is drained.
func (s *Source) receive(ss *session, pm paho.Message) {
	topic := pm.Topic()
	qos1 := pm.Qos() > 0
	if ss.refusing.Load() {
		s.refuse(qos1, topic)
		return
	}
	var e entry
	if qos1 {
		e.ack = pm.Ack
	}
	payload := pm.Payload()
	switch {
	case s.o.Skip != nil && s.o.Skip(topic):
		e.skip = true
	case len(payload) > s.o.MaxPayload:
		e.skip = true
		s.metrics.dropped.WithLabelValues(s.o.Driver, "oversize").Inc()
		s.o.Logger.Warn("dropped oversized message", "topic", clip(topic), "bytes", len(payload), "max", s.o.MaxPayload)
	default:
		e.Message = Message{Topic: topic, Payload: append([]byte(nil), payload...), Received: s.o.Now(), Redelivered: pm.Duplicate()}
	}
	if e.skip && !qos1 {
		return
	}
	if !qos1 && len(ss.queue) >= max(1, cap(ss.queue)/2) {
		s.refuse(false, topic)
		return
	}
	select {
	case ss.queue <- e:
		if !e.skip {
			s.metrics.received.Inc()
		}
	default:
		if !qos1 {
			s.refuse(false, topic)
			return
		}
		ss.refusing.Store(true)
		s.o.Logger.Error("driver queue full: leaving messages unacknowledged; the home broker redelivers them after the queue drains and the source reconnects",
			"topic", clip(topic), "queue", cap(ss.queue))
		s.refuse(true, topic)
	}
}

// refuse counts a message that is not queued: QoS 1 is left for the broker
// to redeliver (deferred), QoS 0 is lost (dropped, logged).
func (s *Source) refuse(qos1 bool, topic string) {
	if qos1 {
		s.metrics.deferred.Inc()
		return
	}
	s.metrics.dropped.WithLabelValues(s.o.Driver, "queue_full").Inc()
	s.o.Logger.Error("dropped QoS 0 message: driver queue full", "topic", clip(topic))
}

func (s *Source) clientOptions() (*paho.ClientOptions, error) {
	opts := paho.NewClientOptions().
		AddBroker(s.cfg.Broker.Dial()).
		SetClientID(s.cfg.ClientID).
		SetCleanSession(false). // QoS 1 messages published while gatewayd restarts wait in the broker
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(maxReconnectDelay).
		SetConnectTimeout(10 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(true).   // edges (smoke true, then false) must stay in order
		SetAutoAckDisabled(true) // PUBACK only once handled (spooled): see Run
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
	received  metrics.Counter
	dropped   *metrics.CounterVec
	deferred  metrics.Counter
	connected metrics.Gauge
}

func newSourceMetrics(r metrics.Registerer, driver string) (*sourceMetrics, error) {
	received, err := Register(r, metrics.NewCounterVec(metrics.CounterOpts{
		Name: "anxin_mqtt_source_messages_total",
		Help: "Messages received from the home broker, by driver.",
	}, []string{"driver"}))
	if err != nil {
		return nil, err
	}
	dropped, err := Register(r, metrics.NewCounterVec(metrics.CounterOpts{
		Name: "anxin_mqtt_source_dropped_total",
		Help: "Messages from the home broker dropped before decoding, by driver and reason (oversize; queue_full: QoS 0 only).",
	}, []string{"driver", "reason"}))
	if err != nil {
		return nil, err
	}
	deferred, err := Register(r, metrics.NewCounterVec(metrics.CounterOpts{
		Name: "anxin_mqtt_source_deferred_total",
		Help: "QoS 1 messages left unacknowledged because the driver queue was full; the home broker redelivers them after the source reconnects.",
	}, []string{"driver"}))
	if err != nil {
		return nil, err
	}
	connected, err := Register(r, metrics.NewGaugeVec(metrics.GaugeOpts{
		Name: "anxin_mqtt_source_connected",
		Help: "1 while the driver is connected and subscribed to the home broker.",
	}, []string{"driver"}))
	if err != nil {
		return nil, err
	}
	return &sourceMetrics{
		received:  received.WithLabelValues(driver),
		dropped:   dropped,
		deferred:  deferred.WithLabelValues(driver),
		connected: connected.WithLabelValues(driver),
	}, nil
}

// Register registers c, or returns the collector already registered under
// the same description, so two instances of a driver share their metrics.
func Register[C metrics.Collector](r metrics.Registerer, c C) (C, error) {
	return metrics.RegisterOrReuse(r, c)
}
