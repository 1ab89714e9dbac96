// Package mqtt holds anxin's MQTT pieces: the embedded broker alarmd runs
// when no broker is configured, gatewayd's uplink and spool, and alarmd's
// subscriber. Clients are eclipse/paho.mqtt.golang; the broker is
// mochi-mqtt/server/v2.
package mqtt

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/anxin-care/anxin"
)

// Broker is an embedded MQTT broker listening on TCP (and TLS).
type Broker struct {
	srv     *mochi.Server
	addr    string
	tlsAddr string
	auth    *gatewayAuth
}

// BrokerConfig configures an embedded broker.
type BrokerConfig struct {
	Listen string // host:port; port 0 picks a free one
	// Passwords, when set, are the gateways' logins on Listen: anonymous
	// and wrong passwords are refused and a gateway may use only
	// anxin/v1/<its username>/. Nil: anonymous and unrestricted.
	Passwords *Passwords
	// TLSListen, when set, is a second listener speaking TLS with TLS
	// (which must require and verify client certificates): a client
	// there is the household named by its certificate's CN.
	TLSListen string
	TLS       *tls.Config
	Logger    *slog.Logger
}

// StartBroker starts an anonymous embedded broker on listen: bind it to
// loopback (tests, one-machine trials).
func StartBroker(listen string, logger *slog.Logger) (*Broker, error) {
	return StartBrokerWith(BrokerConfig{Listen: listen, Logger: logger})
}

// StartBrokerWith starts an embedded broker. Its per-disconnect warnings
// are logged at debug level.
func StartBrokerWith(cfg BrokerConfig) (*Broker, error) {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TLSListen != "" && (cfg.TLS == nil || cfg.TLS.ClientAuth != tls.RequireAndVerifyClientCert) {
		return nil, errors.New("embedded broker: the TLS listener needs a TLS config that requires and verifies client certificates")
	}
	addr, err := resolvePort(cfg.Listen)
	if err != nil {
		return nil, err
	}
	opts := &mochi.Options{InlineClient: true, Logger: quiet(logger)}
	opts.Capabilities = mochi.NewDefaultServerCapabilities()
	opts.Capabilities.MaximumClientWritesPending = 64 * 1024
	// mochi's default is no limit: a client could make the broker read
	// any size. Payloads up to MaxPacket still reach alarmd, which rejects
	// and counts those over the contract's 16 KiB; bigger packets are
	// refused at the socket (mosquitto: message_size_limit 65536)
	opts.Capabilities.MaximumPacketSize = MaxPacket
	srv := mochi.New(opts)
	b := &Broker{srv: srv, addr: addr}
	b.auth = &gatewayAuth{srv: srv, log: logger}
	if cfg.TLSListen != "" {
		b.auth.tlsID = "tls"
	}
	b.auth.passwords.Store(cfg.Passwords)
	if err := srv.AddHook(b.auth, nil); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tcp", Address: addr})); err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w", addr, err)
	}
	if cfg.TLSListen != "" {
		if b.tlsAddr, err = resolvePort(cfg.TLSListen); err != nil {
			return nil, err
		}
		if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "tls", Address: b.tlsAddr, TLSConfig: cfg.TLS})); err != nil {
			return nil, fmt.Errorf("embedded broker: listen on %s: %w", b.tlsAddr, err)
		}
	}
	if err := srv.Serve(); err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	return b, nil
}

// MaxPacket bounds one MQTT packet the embedded broker reads: four times
// the contract's payload, so an oversized message is still counted by
// alarmd, while nobody can make the broker buffer megabytes.
const MaxPacket = 4 * anxin.MaxPayload

// resolvePort resolves port 0 so Addr can tell clients where to connect.
func resolvePort(listen string) (string, error) {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return "", fmt.Errorf("embedded broker: listen on %s: %w", listen, err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr, nil
}

// SetPasswords swaps the gateways' logins (a reloaded password file);
// clients already connected stay. Only a broker started with passwords
// takes new ones: anonymous cannot be switched off underneath clients.
func (b *Broker) SetPasswords(p *Passwords) error {
	if p == nil || b.auth.passwords.Load() == nil {
		return errors.New("embedded broker: passwords can be replaced, not switched on or off, while running")
	}
	b.auth.passwords.Store(p)
	return nil
}

// Addr is the host:port the broker listens on.
func (b *Broker) Addr() string { return b.addr }

// TLSAddr is the host:port of the TLS listener ("" without one).
func (b *Broker) TLSAddr() string { return b.tlsAddr }

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
// intercepted. take is told the household the publisher logged in as (""
// for an anonymous client).
func (b *Broker) Intercept(prefix string, take func(household, topic string, payload []byte) error) error {
	return b.srv.AddHook(&interceptHook{prefix: prefix, take: take, auth: b.auth}, nil)
}

type interceptHook struct {
	mochi.HookBase
	prefix string
	take   func(household, topic string, payload []byte) error
	auth   *gatewayAuth
}

func (h *interceptHook) household(cl *mochi.Client) string {
	if v, ok := h.auth.verified.Load(cl.ID); ok {
		return v.(string)
	}
	return ""
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
	if err := h.take(h.household(cl), pk.TopicName, bytes.Clone(pk.Payload)); err != nil {
		return pk, packets.ErrRejectPacket
	}
	return pk, nil
}

func (h *interceptHook) OnWillSent(cl *mochi.Client, pk packets.Packet) {
	if !strings.HasPrefix(pk.TopicName, h.prefix) {
		return
	}
	hh, topic, payload := h.household(cl), pk.TopicName, bytes.Clone(pk.Payload)
	go func() { _ = h.take(hh, topic, payload) }()
}
