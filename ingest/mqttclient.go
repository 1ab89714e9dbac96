package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anxin-care/anxin"
)

// directClient is alarmd's own MQTT 3.1.1 subscriber for tcp:// and mqtt://
// brokers (paho serves the other schemes). It exists for the cost per
// message: paho hands every PUBLISH from its reader goroutine to its router
// and on to the handler, and every PUBACK back to its writer, each hand-off
// a goroutine wake-up, and builds ~1 KB of garbage a message; under live
// load those wake-ups, not the work, were most of alarmd's CPU per reading
// (docs/alarmd.md "Ingest on the shared harness"). Here one goroutine reads
// the socket (paced: lowatReader on Linux, pacedReader elsewhere), parses
// each PUBLISH (one allocation, its topic) and hands what one read brought
// to the pipeline at once (Pipeline.DeliverRun: one wake-up of the batch
// loop a read, not one a message), waiting while the pipeline is full so
// TCP holds the backlog in the broker; acknowledgements are appended to a
// buffer that leaves in one write (bufferedConn).
//
// Session: persistent (clean session 0), so what arrived while alarmd was
// away or unacknowledged when a connection dropped comes again; an
// acknowledgement for a message of a connection that has since dropped is
// not sent (the packet id may mean another message on the new connection):
// the broker sends that message again and the de-duplication window
// recognises it.
type directClient struct {
	cfg       SubscriberConfig
	p         *Pipeline
	log       *slog.Logger
	keepAlive time.Duration
	dialWait  time.Duration
	// pace: cfg.ReadPace, or 0 for a connection that must not be paced
	// (the events' one beside a paced readings' one: Subscriber.startDirect)
	pace time.Duration
	// topics are subscribed on each connection; drop (old filters of the
	// persistent session) unsubscribed after them, once dropAfter is
	// closed (nil: at once). A connection that drops nothing is live at
	// its SUBACK.
	topics    []string
	drop      []string
	dropAfter <-chan struct{}

	connected atomic.Bool
	ready     chan struct{} // closed at the first subscription
	readyOnce sync.Once
	refused   chan error // the first connection's refusal (bad credentials), if Subscribe still waits (unbuffered)

	mu   sync.Mutex
	conn *directConn // the live connection, nil between connections
}

func newDirectClient(cfg SubscriberConfig, p *Pipeline, log *slog.Logger, keepAlive, dialWait time.Duration) *directClient {
	return &directClient{cfg: cfg, p: p, log: log, keepAlive: keepAlive, dialWait: dialWait, pace: cfg.ReadPace,
		topics: Topics, drop: legacyTopics, ready: make(chan struct{}), refused: make(chan error)}
}

// directConn is one connection. Its acknowledgements go to its own socket
// only: once dead, they are dropped.
type directConn struct {
	net.Conn
	w        *bufferedConn
	dead     atomic.Bool
	lastRead atomic.Int64 // unix nanoseconds of the last packet read
	waiting  atomic.Bool  // the reader waits for room in the pipeline
}

func (c *directConn) send(b []byte) error {
	if c.dead.Load() {
		return net.ErrClosed
	}
	_, err := c.w.Write(b)
	return err
}

// ack acknowledges packet id on this connection, if it still lives.
func (c *directConn) ack(id uint16) {
	_ = c.send([]byte{pktPuback << 4, 2, byte(id >> 8), byte(id)})
}

func (c *directConn) kill() {
	if c.dead.CompareAndSwap(false, true) {
		_ = c.w.Close() // what is buffered (a DISCONNECT) leaves first
	}
}

// backoff between connection attempts: 1 s, doubling, at most 10 s.
const (
	firstBackoff = time.Second
	maxBackoff   = 10 * time.Second
)

// run connects, reads and reconnects until ctx ends.
func (dc *directClient) run(ctx context.Context) {
	backoff := firstBackoff
	first := true
	for ctx.Err() == nil {
		start := time.Now()
		err := dc.session(ctx)
		if ctx.Err() != nil {
			return
		}
		var refused refusedError
		if first && errors.As(err, &refused) && refused.fatal() {
			select {
			case dc.refused <- err: // Subscribe still waits: it returns the error
				return
			default: // Subscribe has returned, saying it goes on retrying: it does (logged below)
			}
		}
		first = false
		if dc.connected.Swap(false) {
			dc.log.Warn("broker connection lost; reconnecting", "err", err)
		} else {
			dc.log.Warn("broker not reachable; retrying", "broker", dc.cfg.Broker, "err", err, "in", backoff)
		}
		if time.Since(start) > maxBackoff {
			backoff = firstBackoff // it had been up a while: try again soon
		}
		if !anxin.SleepContext(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// refusedError is a CONNACK that refused the connection.
type refusedError struct{ rc byte }

func (e refusedError) Error() string {
	return "mqtt: broker refused the connection: " + connackReason(e.rc)
}

// fatal: retrying at start would not help (wrong credentials or id).
func (e refusedError) fatal() bool { return e.rc == 2 || e.rc == 4 || e.rc == 5 }

// session runs one connection: CONNECT, SUBSCRIBE, then reads until the
// connection fails or ctx ends.
func (dc *directClient) session(ctx context.Context) error {
	d := net.Dialer{Timeout: dc.dialWait, KeepAlive: 30 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", dc.cfg.Broker.Host())
	if err != nil {
		return err
	}
	var src io.Reader = raw
	if dc.pace > 0 {
		if lr, ok := lowatSource(raw, dc.pace); ok {
			src = lr
		} else {
			src = &pacedReader{r: raw, pace: dc.pace}
		}
	}
	c := &directConn{Conn: raw, w: &bufferedConn{Conn: raw}}
	pr := newPacketReader(src)
	stop := context.AfterFunc(ctx, func() {
		_ = c.send([]byte{pktDisconnect << 4, 0})
		c.kill()
	})
	defer stop()
	defer c.kill()

	// CONNECT and its CONNACK, within the dial timeout
	_ = raw.SetReadDeadline(time.Now().Add(dc.dialWait))
	user, password := credentials(dc.cfg)
	if err := c.send(connectPacket(dc.cfg.ClientID, user, password, uint16(dc.keepAlive/time.Second), false)); err != nil {
		return err
	}
	p, err := pr.next()
	if err != nil {
		return fmt.Errorf("mqtt: waiting for CONNACK: %w", err)
	}
	if p.Type != pktConnack {
		return fmt.Errorf("%w: packet type %d before CONNACK", errMalformed, p.Type)
	}
	if p.RC != 0 {
		return refusedError{p.RC}
	}
	_ = raw.SetReadDeadline(time.Time{})
	if h, ok := src.(interface{ release() }); ok {
		h.release() // paced from now on: its deadlines no longer clear the CONNACK wait's
	}
	// the subscription and the old filters' removal go at once (unless the
	// removal waits for another session to take a filter over); messages
	// of the session may come before their acknowledgements
	pkts := subscribePacket(1, dc.topics)
	if len(dc.drop) > 0 && dc.dropAfter == nil {
		pkts = append(pkts, unsubscribePacket(2, dc.drop)...)
	}
	if err := c.send(pkts); err != nil {
		return err
	}
	c.lastRead.Store(time.Now().UnixNano())
	dc.mu.Lock()
	dc.conn = c
	dc.mu.Unlock()
	defer func() {
		dc.mu.Lock()
		dc.conn = nil
		dc.mu.Unlock()
	}()
	pingDone := make(chan struct{})
	defer close(pingDone)
	go dc.ping(c, pingDone)
	if len(dc.drop) > 0 && dc.dropAfter != nil {
		go func() {
			select {
			case <-dc.dropAfter:
				_ = c.send(unsubscribePacket(2, dc.drop))
			case <-pingDone:
			}
		}()
	}
	return dc.read(ctx, c, pr)
}

// read handles the broker's packets until the connection fails.
func (dc *directClient) read(ctx context.Context, c *directConn, pr *packetReader) (err error) {
	// live once the subscription is granted and the old filter is gone
	// from the session (SUBACK and UNSUBACK), as paho's connect handler
	// waited for both
	subacked, unsubacked := false, len(dc.drop) == 0
	var run []Delivery // PUBLISHes parsed, not yet handed over
	runBytes := 0      // their size on the wire, about
	fit, _ := pr.src.(markFitter)
	defer func() {
		// a bad packet after whole PUBLISHes: they are delivered first, as
		// when each went on its own (a QoS 0 one would not come again)
		if len(run) > 0 && ctx.Err() == nil {
			if herr := dc.handOver(ctx, c, run, true); herr != nil {
				err = herr
			}
		}
	}()
	for {
		if len(run) > 0 && (len(run) == maxRun || !pr.whole()) {
			// the next packet needs a read: what the last one brought goes first
			if fit != nil {
				fit.fit(runBytes/len(run), len(run)) // the paced reader's mark: so many messages
			}
			if err := dc.handOver(ctx, c, run, pr.r.Buffered() == 0); err != nil {
				run = nil  // (handed over, as far as it went)
				return err // shutting down: not acknowledged, the broker keeps it
			}
			run, runBytes = run[:0], 0
		}
		p, err := pr.next()
		if err != nil {
			if c.dead.Load() && !errors.Is(err, errMalformed) {
				return errors.New("mqtt: connection closed")
			}
			return err
		}
		now := time.Now() // one clock read a packet: the silence check's and the delivery's
		c.lastRead.Store(now.UnixNano())
		switch p.Type {
		case pktPublish:
			d := Delivery{Topic: p.Topic, Payload: p.Payload, Received: now}
			if p.QoS() > 0 {
				id := p.ID
				d.Ack = func() { c.ack(id) }
			}
			run = append(run, d)
			runBytes += len(p.Topic) + len(p.Payload) + 7 // + header, length, topic length, id
		case pktSuback:
			if p.ID != 1 {
				return fmt.Errorf("%w: SUBACK for packet id %d", errMalformed, p.ID)
			}
			for i, code := range p.Codes {
				if code > 1 {
					return fmt.Errorf("mqtt: the broker refused the subscription to %s (code %#x)", filterAt(dc.topics, i), code)
				}
			}
			if len(p.Codes) != len(dc.topics) {
				return fmt.Errorf("%w: SUBACK with %d codes for %d filters", errMalformed, len(p.Codes), len(dc.topics))
			}
			subacked = true
		case pktUnsuback:
			unsubacked = unsubacked || p.ID == 2
		case pktPingresp:
		default:
			return fmt.Errorf("%w: unexpected packet type %d", errMalformed, p.Type)
		}
		if subacked && unsubacked && !dc.connected.Load() {
			dc.connected.Store(true)
			dc.readyOnce.Do(func() { close(dc.ready) })
			dc.log.Info("subscribed", "broker", dc.cfg.Broker, "client_id", dc.cfg.ClientID)
		}
	}
}

// markFitter is a paced source whose wake-up mark follows the messages'
// size and rate (lowatReader.fit).
type markFitter interface {
	fit(perMessage, messages int)
}

// maxRun bounds the PUBLISHes parsed before they are handed over: a 64 KiB
// read holds ~300 contract readings, but could hold thousands of tiny ones.
const maxRun = 512

// handOver gives the pipeline a run of PUBLISHes parsed from what the
// socket reads brought (Pipeline.DeliverRun), waiting while it is full.
// last: the reader's buffer is empty, so the batch loop need not wait for
// more before it commits and acknowledges (Delivery.Last).
func (dc *directClient) handOver(ctx context.Context, c *directConn, run []Delivery, last bool) error {
	run[len(run)-1].Last = last
	c.waiting.Store(true)
	err := dc.p.DeliverRun(ctx, run)
	if last {
		// a long wait for room is not the broker's silence
		c.lastRead.Store(time.Now().UnixNano())
	}
	c.waiting.Store(false)
	clear(run) // the pipeline holds the payloads now, not the reader
	return err
}

// credentials: a user (and password) in the broker URL
// (tcp://user:pass@host:port) win over the configured ones, as with paho.
func credentials(cfg SubscriberConfig) (user, password string) {
	user, password = cfg.Username, cfg.Password
	if u, err := url.Parse(cfg.Broker.Dial()); err == nil && u.User != nil {
		user = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			password = pw
		}
	}
	return user, password
}

func filterAt(topics []string, i int) string {
	if i < len(topics) {
		return topics[i]
	}
	return fmt.Sprintf("filter %d", i+1)
}

// ping sends PINGREQ every half keep-alive and drops the connection when
// nothing came from the broker for one and a half keep-alives — unless the
// reader is only waiting for room in the pipeline (a stalled store), which
// is not the broker's fault.
func (dc *directClient) ping(c *directConn, done <-chan struct{}) {
	t := time.NewTicker(dc.keepAlive / 2)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if err := c.send([]byte{pktPingreq << 4, 0}); err != nil {
			return
		}
		silent := time.Since(time.Unix(0, c.lastRead.Load()))
		if silent > dc.keepAlive*3/2 && !c.waiting.Load() {
			dc.log.Warn("broker silent past the keep-alive; reconnecting", "silent", silent.Round(time.Millisecond))
			c.kill()
			return
		}
	}
}

// flushAcks sends the live connection's buffered acknowledgements
// (Pipeline.FlushAcksWith: after each batch).
func (dc *directClient) flushAcks() {
	dc.mu.Lock()
	c := dc.conn
	dc.mu.Unlock()
	if c != nil {
		c.w.Flush()
	}
}

// healthy reports whether the subscription is live.
func (dc *directClient) healthy() error {
	dc.mu.Lock()
	c := dc.conn
	dc.mu.Unlock()
	if !dc.connected.Load() || c == nil || c.dead.Load() {
		return errors.New("not connected to the broker")
	}
	return nil
}
