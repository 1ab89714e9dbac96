// Package mqtt holds anxin's MQTT pieces: the embedded broker alarmd runs
// when no broker is configured, gatewayd's uplink and spool, and alarmd's
// subscriber. Clients are eclipse/paho.mqtt.golang; the broker is
// mochi-mqtt/server/v2.
package mqtt

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Broker is an embedded MQTT broker listening on TCP.
type Broker struct {
	srv  *mochi.Server
	addr string
}

// StartBroker starts an embedded broker on listen (host:port; port 0 picks
// a free one). It allows anonymous clients: bind it to loopback or a trusted
// network. Its per-disconnect warnings are logged at debug level.
func StartBroker(listen string, logger *slog.Logger) (*Broker, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// resolve port 0 here so Addr can tell clients where to connect
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w", listen, err)
	}
	addr := l.Addr().String()
	l.Close()

	opts := &mochi.Options{InlineClient: true, Logger: quiet(logger)}
	opts.Capabilities = mochi.NewDefaultServerCapabilities()
	opts.Capabilities.MaximumClientWritesPending = 64 * 1024
	srv := mochi.New(opts)
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})
	if err := srv.AddListener(tcp); err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w", addr, err)
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return &Broker{srv: srv, addr: addr}, nil
}

// Addr is the host:port the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// URL is the broker's address for paho: tcp://host:port.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// SessionFilters lists the filters a client's session is subscribed to,
// sorted (ok is false when the broker keeps no session for the client).
func (b *Broker) SessionFilters(clientID string) (filters []string, ok bool) {
	cl, ok := b.srv.Clients.Get(clientID)
	if !ok {
		return nil, false
	}
	return slices.Sorted(maps.Keys(cl.State.Subscriptions.GetAll())), true
}

// Close stops the broker and disconnects its clients.
func (b *Broker) Close() error { return b.srv.Close() }

// quiet lowers the broker's WARN lines for ordinary client disconnects to
// debug, keeping real warnings.
func quiet(l *slog.Logger) *slog.Logger {
	return slog.New(&demoteHandler{Handler: l.Handler()})
}

type demoteHandler struct{ slog.Handler }

func (h *demoteHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && (r.Message == "client disconnected" || r.Message == "error reading packet") {
		r = slog.NewRecord(r.Time, slog.LevelDebug, r.Message, r.PC)
		if !h.Handler.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h *demoteHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return &demoteHandler{Handler: h.Handler.WithAttrs(a)}
}

func (h *demoteHandler) WithGroup(n string) slog.Handler {
	return &demoteHandler{Handler: h.Handler.WithGroup(n)}
}

// brokerReady is how long callers typically wait for a freshly started broker.
const brokerReady = 2 * time.Second

// Intercept hands every message published under prefix to take before the
// broker acknowledges it. take returns once the message is safe (alarmd:
// committed to its store), so a PUBACK from the embedded broker means the
// message is in alarmd's store: a crash of the process in between loses
// nothing, because the publisher (gatewayd's spool) still holds it. An error
// from take refuses the message: no PUBACK and not routed, and the publisher
// sends it again after reconnecting. Wills under prefix (a gateway's
// "offline") are handed to take as well, without waiting: nobody waits for
// their acknowledgement. Messages from the broker's inline client are not
// intercepted.
func (b *Broker) Intercept(prefix string, take func(topic string, payload []byte) error) error {
	return b.srv.AddHook(&interceptHook{prefix: prefix, take: take}, nil)
}

type interceptHook struct {
	mochi.HookBase
	prefix string
	take   func(topic string, payload []byte) error
}

func (h *interceptHook) ID() string { return "anxin-intercept" }

func (h *interceptHook) Provides(b byte) bool {
	return b == mochi.OnPublish || b == mochi.OnWillSent
}

// OnPublish runs in the publishing client's read loop, before the PUBACK:
// waiting here holds back that client only.
func (h *interceptHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || !strings.HasPrefix(pk.TopicName, h.prefix) {
		return pk, nil
	}
	if err := h.take(pk.TopicName, bytes.Clone(pk.Payload)); err != nil {
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

func (h *interceptHook) OnWillSent(cl *mochi.Client, pk packets.Packet) {
	if !strings.HasPrefix(pk.TopicName, h.prefix) {
		return
	}
	topic, payload := pk.TopicName, bytes.Clone(pk.Payload)
	go func() { _ = h.take(topic, payload) }()
}
