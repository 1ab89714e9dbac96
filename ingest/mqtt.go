package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
)

// Topics alarmd subscribes to, all at QoS 1. anxin/v1/+/+/status takes the
// gateways' statuses (anxin/v1/<hh>/gateway/status) and, since 2026-12-02,
// the devices' own (anxin/v1/<hh>/<dev>/status).
var Topics = []string{readingsTopic, "anxin/v1/+/+/event", "anxin/v1/+/+/status"}

// readingsTopic is the meters' readings, Topics[0]: with paced reads they
// have a session and a connection of their own (Subscriber.startDirect).
const readingsTopic = "anxin/v1/+/+/reading"

// readingsSession is appended to the client id for the readings' own
// session.
const readingsSession = "-readings"

// legacyTopics were subscribed by earlier versions. The persistent session
// keeps them after an upgrade; a broker that sends one copy per matching
// filter (MQTT 3.1.1 §3.3.5 allows it; mosquitto 2.0 sends one) would bring
// every gateway status twice, so they are unsubscribed after each subscribe.
var legacyTopics = []string{"anxin/v1/+/gateway/status"}

// SubscriberConfig says how to reach the broker.
type SubscriberConfig struct {
	Broker   anxin.BrokerURL // tcp://host:port
	ClientID string          // stable: the broker keeps the persistent session under it
	Username string
	Password string
	// ReadPace: the readings' socket is read at most once per ReadPace
	// while messages flow (live load), so one wake-up takes many of them
	// (lowatReader, pacedReader); events and statuses then come on a
	// connection of their own, never paced. 0: one connection, every
	// message read as it comes.
	ReadPace time.Duration
}

// Subscriber is alarmd's MQTT client: a persistent session (CleanSession
// false, QoS 1) whose messages are acknowledged only once the pipeline has
// committed them.
type Subscriber struct {
	client paho.Client // ws://, wss://, ssl://, tls://, mqtts://
	// direct: tcp://, mqtt://; with paced reads the readings' client, the
	// events' one in directs beside it
	direct    *directClient
	directs   []*directClient
	done      chan struct{} // the direct clients' loops returned
	log       *slog.Logger
	connected atomic.Bool
	cancel    context.CancelFunc
	ready     chan struct{}
	once      sync.Once
	closed    sync.Once
}

// Subscribe connects to the broker and feeds p. It waits up to wait for the
// first connection; past that it goes on retrying in the background (and
// Healthy says so). A broker that refuses the first connection's
// credentials or client id within wait is an error (tcp:// and mqtt://:
// a refusal after wait is logged and retried like any later one).
func Subscribe(ctx context.Context, cfg SubscriberConfig, p *Pipeline, logger *slog.Logger, wait time.Duration) (*Subscriber, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Subscriber{log: logger, cancel: cancel, ready: make(chan struct{})}
	if sc := cfg.Broker.Scheme(); sc == "tcp" || sc == "mqtt" {
		return s.startDirect(ctx, cfg, p, wait)
	}
	handler := func(_ paho.Client, m paho.Message) {
		// paho calls this from its router, in the order the broker sent
		// (OrderMatters true): waiting here for room in the pipeline stops
		// paho reading the socket, so TCP holds the backlog in the broker.
		// Acknowledgements leave by another goroutine, so the batch loop can
		// go on acknowledging while this waits. (With a goroutine per
		// message, paho held everything mosquitto sent: 60,000 messages and
		// 400-500 MiB seen under load, mosquitto's max_inflight_messages
		// notwithstanding, and deliveries reached the pipeline in any order.)
		if err := p.Deliver(ctx, Delivery{Topic: m.Topic(), Payload: m.Payload(), Received: time.Now(), Ack: m.Ack}); err != nil {
			return // shutting down: not acknowledged, the broker redelivers
		}
	}
	opts := paho.NewClientOptions().AddBroker(cfg.Broker.Dial()).SetClientID(cfg.ClientID).
		SetCleanSession(false).SetOrderMatters(true).SetAutoAckDisabled(true).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10 * time.Second).SetKeepAlive(30 * time.Second).
		SetConnectTimeout(5 * time.Second).SetResumeSubs(true).
		// queued messages arrive right after CONNACK, before Subscribe returns:
		// the default handler must be in place before Connect
		SetDefaultPublishHandler(handler)
	if cfg.Username != "" {
		opts.SetUsername(cfg.Username).SetPassword(cfg.Password)
	}
	opts.SetOnConnectHandler(func(c paho.Client) {
		filters := make(map[string]byte, len(Topics))
		for _, t := range Topics {
			filters[t] = 1
		}
		tok := c.SubscribeMultiple(filters, nil)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			s.log.Error("subscribe failed; reconnecting", "err", tok.Error())
			s.connected.Store(false)
			return
		}
		if tok := c.Unsubscribe(legacyTopics...); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			s.log.Warn("unsubscribing an old topic filter failed; gateway statuses may come twice (harmless)", "err", tok.Error())
		}
		s.connected.Store(true)
		s.once.Do(func() { close(s.ready) })
		s.log.Info("subscribed", "broker", cfg.Broker, "client_id", cfg.ClientID)
	})
	opts.SetConnectionLostHandler(func(_ paho.Client, err error) {
		s.connected.Store(false)
		s.log.Warn("broker connection lost; reconnecting", "err", err)
	})
	s.client = paho.NewClient(opts)
	tok := s.client.Connect()
	if !tok.WaitTimeout(wait) {
		s.log.Warn("broker not reachable yet; retrying in the background", "broker", cfg.Broker)
		return s, nil
	}
	if err := tok.Error(); err != nil {
		s.client.Disconnect(0)
		cancel()
		return nil, fmt.Errorf("mqtt %s: %w", cfg.Broker, err)
	}
	// wait for the subscription (made in the connect handler)
	select {
	case <-s.ready:
	case <-time.After(wait):
		s.log.Warn("not subscribed yet; retrying in the background", "broker", cfg.Broker)
	}
	return s, nil
}

// startDirect runs alarmd's own client (directClient). Paced, it runs two:
// the readings on their own session (client id + "-readings"), read at the
// pace, and events and statuses on the configured client id's session,
// read as they come. A press then never waits in the kernel for a paced
// read of the readings' socket (the pace cannot tell a press from a
// reading there), so the pace can be long enough for a thin flow of
// readings to cost few wake-ups. The events' session drops the readings'
// filter (an upgraded session holds every filter) only once the readings'
// session has subscribed: no reading published meanwhile goes unsent.
func (s *Subscriber) startDirect(ctx context.Context, cfg SubscriberConfig, p *Pipeline, wait time.Duration) (*Subscriber, error) {
	const keepAlive, dialWait = 30 * time.Second, 5 * time.Second
	dc := newDirectClient(cfg, p, s.log, keepAlive, dialWait)
	s.direct, s.directs = dc, []*directClient{dc}
	if cfg.ReadPace > 0 {
		rcfg := cfg
		rcfg.ClientID += readingsSession
		dc = newDirectClient(rcfg, p, s.log.With("session", "readings"), keepAlive, dialWait)
		dc.topics, dc.drop = Topics[:1], nil
		ev := s.direct
		ev.pace, ev.topics = 0, Topics[1:]
		ev.drop, ev.dropAfter = append([]string{readingsTopic}, legacyTopics...), dc.ready
		s.direct, s.directs = dc, []*directClient{ev, dc}
	}
	s.done = make(chan struct{})
	p.FlushAcksWith(func() {
		for _, dc := range s.directs {
			dc.flushAcks()
		}
	})
	var wg sync.WaitGroup
	for _, dc := range s.directs {
		wg.Add(1)
		go func() { defer wg.Done(); dc.run(ctx) }()
	}
	go func() { wg.Wait(); close(s.done) }()
	// (one client or two: first and last are the same one when one)
	first, last := s.directs[0], s.directs[len(s.directs)-1]
	ready1, ready2 := first.ready, last.ready
	timeout := time.After(wait)
	for ready1 != nil || ready2 != nil {
		var err error
		select {
		case <-ready1:
			ready1 = nil
			continue
		case <-ready2:
			ready2 = nil
			continue
		case err = <-first.refused:
		case err = <-last.refused:
		case <-timeout:
			s.log.Warn("broker not reachable yet; retrying in the background", "broker", cfg.Broker)
			return s, nil
		}
		s.cancel()
		return nil, fmt.Errorf("mqtt %s: %w", cfg.Broker, err)
	}
	return s, nil
}

// Healthy reports whether the subscription is live.
func (s *Subscriber) Healthy() error {
	if s.direct != nil {
		for _, dc := range s.directs {
			if err := dc.healthy(); err != nil {
				return err
			}
		}
		return nil
	}
	if !s.connected.Load() || !s.client.IsConnectionOpen() {
		return errors.New("not connected to the broker")
	}
	return nil
}

// Close disconnects; unacknowledged messages stay with the broker's
// session. Closing twice is harmless.
func (s *Subscriber) Close() {
	s.closed.Do(func() {
		s.cancel()
		if s.direct != nil {
			<-s.done // DISCONNECT sent, socket closed
			return
		}
		s.client.Disconnect(250)
	})
}
