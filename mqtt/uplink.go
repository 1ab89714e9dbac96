package mqtt

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/spool"
)

// UplinkOptions configure the gateway's publisher to the district broker.
type UplinkOptions struct {
	Broker anxin.BrokerURL // tcp://host:1883, ssl://host:8883, ws://…
	// Fallback are further nodes of the same broker tier (a NATS cluster's
	// MQTT listeners): a connection that fails goes on to the next broker,
	// and the one that worked is tried first next time.
	Fallback  []anxin.BrokerURL
	ClientID  string // stable per gateway; "": anxin-gw-<household>
	Username  string
	Password  string // never logged
	TLS       *tls.Config
	Household string
	Keepalive time.Duration // 0: 30 s

	// Window is how many publishes may wait for their PUBACK at once.
	// One at a time gave 20-24k msg/s to mosquitto on an idle machine here,
	// 256 71-77k (docs/gatewayd.md). 0: 256.
	Window int
	// MinRetry and MaxRetry bound the capped exponential backoff between
	// connection attempts (paho's ConnectRetryInterval/MaxReconnectInterval).
	MinRetry, MaxRetry time.Duration // 0: 1 s and 2 min
	ConnectTimeout     time.Duration // 0: 10 s
	// AckTimeout: a connection whose broker leaves a publish unacknowledged
	// this long is dropped and the spool replayed. 0: 60 s.
	AckTimeout time.Duration
	// OnConnection, if set, is called with true once a connection is made
	// (online status acknowledged) and with false once it ended: events to
	// wait on instead of polling Connected.
	OnConnection func(connected bool)

	Logger  *slog.Logger
	Now     func() time.Time
	Metrics metrics.Registerer
}

// Uplink publishes the spool's messages to the broker, QoS 1, in order, and
// acknowledges them in the spool only when the broker sent PUBACK.
//
// It reconnects itself instead of using paho's AutoReconnect: paho's resume
// after a reconnect completes the original publish tokens (claimID calls
// flowComplete) before the broker acknowledged the resent copy, which would
// let the spool forget a message the broker never got. So every connection
// is a fresh paho client (clean session false, same client id), and after a
// loss the spool is replayed from the last acknowledged message: duplicates
// are possible, always with the same id, as QoS 1 allows.
type Uplink struct {
	opts  UplinkOptions
	spool *spool.Spool
	log   *slog.Logger

	connected  atomic.Bool
	brokers    []anxin.BrokerURL // Broker, then Fallback
	next       int               // index in brokers of the next connection's broker; Run's goroutine only
	statusMu   sync.Mutex        // one retained status publish at a time, newest last
	client     paho.Client       // the connected client, nil between connections; under statusMu
	drivers    map[string]string // driver states for the online status; under statusMu
	mConnected metrics.Gauge
	mPublished metrics.Counter
	mConnects  metrics.Counter
	// refused: connections in a row that ended with nothing acknowledged
	// and the record refusedSeq, another household's, next to send
	refused    int
	refusedSeq uint64
}

// NewUplink checks opts and builds the uplink; it does no I/O.
func NewUplink(opts UplinkOptions, sp *spool.Spool) (*Uplink, error) {
	if sp == nil {
		return nil, errors.New("uplink: no spool")
	}
	if opts.Broker.IsZero() {
		return nil, fmt.Errorf("uplink: %w", anxin.ErrNoBroker)
	}
	if !anxin.ValidID(opts.Household) {
		return nil, fmt.Errorf("uplink: household %q is not [A-Za-z0-9_-]{1,64}", opts.Household)
	}
	for i, b := range opts.Fallback {
		if b.IsZero() {
			return nil, fmt.Errorf("uplink: fallback broker %d is empty", i+1)
		}
	}
	if opts.ClientID == "" {
		opts.ClientID = "anxin-gw-" + opts.Household
	}
	if opts.Keepalive <= 0 {
		opts.Keepalive = 30 * time.Second
	}
	if opts.Window <= 0 {
		opts.Window = 256
	}
	if opts.Window > 60000 { // MQTT packet ids are 16 bits
		return nil, fmt.Errorf("uplink: window %d exceeds 60000", opts.Window)
	}
	if opts.MinRetry <= 0 {
		opts.MinRetry = time.Second
	}
	if opts.MaxRetry <= 0 {
		opts.MaxRetry = 2 * time.Minute
	}
	opts.MaxRetry = max(opts.MaxRetry, opts.MinRetry)
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.AckTimeout <= 0 {
		opts.AckTimeout = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	up := &Uplink{opts: opts, spool: sp, log: opts.Logger.With("component", "uplink"),
		brokers: append([]anxin.BrokerURL{opts.Broker}, opts.Fallback...)}
	up.mConnected = metrics.NewGauge(metrics.GaugeOpts{Name: "anxin_uplink_connected",
		Help: "1 while the uplink is connected to the broker."})
	up.mPublished = metrics.NewCounter(metrics.CounterOpts{Name: "anxin_uplink_published_total",
		Help: "Messages the broker acknowledged (PUBACK)."})
	up.mConnects = metrics.NewCounter(metrics.CounterOpts{Name: "anxin_uplink_connects_total",
		Help: "Successful connections to the broker."})
	if opts.Metrics != nil {
		for _, c := range []metrics.Collector{up.mConnected, up.mPublished, up.mConnects} {
			if err := opts.Metrics.Register(c); err != nil {
				up.log.Warn("uplink metric not registered", "err", err)
			}
		}
	}
	return up, nil
}

// Connected reports whether the uplink is connected now.
func (u *Uplink) Connected() bool { return u.connected.Load() }

// Backoff is the wait before connection attempt n (0-based): MinRetry
// doubling up to MaxRetry, minus up to 20% jitter (r in [0,1)) so a fleet
// of gateways does not reconnect in lock step after a broker restart.
func Backoff(n int, minWait, maxWait time.Duration, r float64) time.Duration {
	d := minWait
	for i := 0; i < n && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	return d - time.Duration(float64(d)*0.2*r)
}

// retryWait is the wait after failed attempt (from 0) of an outage with
// brokers to try: the first round goes through them all at once, wherever
// in the list it started (the broker that worked last); from then on every
// attempt waits its backoff.
func retryWait(attempt, brokers int, minWait, maxWait time.Duration, r float64) time.Duration {
	if attempt+1 < brokers {
		return 0
	}
	return Backoff(attempt/brokers, minWait, maxWait, r)
}

var errConnLost = errors.New("connection lost")

// Run connects, publishes until ctx ends, then publishes the offline status
// and disconnects. It returns nil when ctx ends; connection failures are
// retried with backoff and logged.
func (u *Uplink) Run(ctx context.Context) error {
	for attempt := 0; ; {
		broker := u.brokers[u.next]
		cl, lost, err := u.connect(ctx, broker)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			u.next = (u.next + 1) % len(u.brokers)
			wait := retryWait(attempt, len(u.brokers), u.opts.MinRetry, u.opts.MaxRetry, rand.Float64())
			lvl := slog.LevelWarn
			if attempt > 0 {
				lvl = slog.LevelDebug // one warning per outage, not one per attempt
			}
			u.log.Log(ctx, lvl, "uplink: cannot connect, retrying", "broker", broker,
				"err", err, "next_broker", u.brokers[u.next], "retry_in", wait)
			attempt++
			if !anxin.SleepContext(ctx, wait) {
				return nil
			}
			continue
		}
		attempt = 0
		u.connected.Store(true)
		u.mConnected.Set(1)
		u.mConnects.Inc()
		u.log.Info("uplink: connected", "broker", broker, "client_id", u.opts.ClientID,
			"spooled", u.spool.Stats().Depth)
		u.event(true)
		ackedAtConnect := u.spool.Acked()
		err = u.pump(ctx, cl, lost)
		u.setClient(nil)
		u.connected.Store(false)
		u.mConnected.Set(0)
		u.event(false)
		if ctx.Err() != nil {
			u.goOffline(cl)
			return nil
		}
		u.log.Warn("uplink: connection lost, replaying unacknowledged messages after reconnect", "err", err)
		cl.Disconnect(0)
		u.checkRefused(ctx, ackedAtConnect)
		if !anxin.SleepContext(ctx, Backoff(0, u.opts.MinRetry, u.opts.MaxRetry, rand.Float64())) {
			return nil
		}
	}
}

// event tells OnConnection of a connection made or ended.
func (u *Uplink) event(connected bool) {
	if u.opts.OnConnection != nil {
		u.opts.OnConnection(connected)
	}
}

// SetDrivers sets the driver instance states of the retained online status
// and publishes it again if connected (else it goes out at the next
// connect).
func (u *Uplink) SetDrivers(states map[string]string) {
	u.statusMu.Lock()
	defer u.statusMu.Unlock()
	if maps.Equal(states, u.drivers) {
		return
	}
	u.drivers = maps.Clone(states)
	if u.client != nil {
		// not waited for: paho sends in order, and a status lost with the
		// connection is published again at the next connect
		u.client.Publish(anxin.StatusTopic(u.opts.Household), 1, true, u.status(anxin.StateOnline, true))
	}
}

// PublishNow sends one message on the current connection, bypassing the
// spool, and returns once the broker acknowledged it (QoS 1), within 10 s:
// for an event the spool cannot take (its disk failing), which would
// otherwise reach nobody. Not connected, or no PUBACK: an error, and the
// caller keeps the message.
func (u *Uplink) PublishNow(ctx context.Context, topic string, payload []byte) error {
	u.statusMu.Lock()
	cl := u.client
	var tok paho.Token
	if cl != nil {
		tok = cl.Publish(topic, 1, false, payload)
	}
	u.statusMu.Unlock()
	if tok == nil {
		return errors.New("uplink: not connected")
	}
	return wait(ctx, tok, 10*time.Second)
}

// setClient publishes the online status on a fresh connection (cl), or
// forgets the connection (cl nil); it returns the status publish's token.
func (u *Uplink) setClient(cl paho.Client) paho.Token {
	u.statusMu.Lock()
	defer u.statusMu.Unlock()
	u.client = cl
	if cl == nil {
		return nil
	}
	return cl.Publish(anxin.StatusTopic(u.opts.Household), 1, true, u.status(anxin.StateOnline, true))
}

// status is a status payload; the online one carries the driver states
// (callers hold statusMu).
func (u *Uplink) status(state string, withTS bool) []byte {
	if !withTS {
		return []byte(`{"state":"` + state + `"}`)
	}
	st := anxin.Status{State: state, TS: u.opts.Now().UTC()}
	if state == anxin.StateOnline {
		st.Drivers = u.drivers
	}
	b, err := json.Marshal(st)
	if err != nil { // a time.Time always marshals
		panic(err)
	}
	return b
}

// connect makes a fresh client, connects it and publishes the retained
// online status. lost is closed when the connection drops.
func (u *Uplink) connect(ctx context.Context, broker anxin.BrokerURL) (paho.Client, <-chan struct{}, error) {
	lost := make(chan struct{})
	var once sync.Once
	topic := anxin.StatusTopic(u.opts.Household)
	o := paho.NewClientOptions().
		AddBroker(broker.Dial()).
		SetClientID(u.opts.ClientID).
		SetCleanSession(false).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(u.opts.Keepalive).
		SetPingTimeout(max(u.opts.Keepalive/2, time.Second)).
		SetConnectTimeout(u.opts.ConnectTimeout).
		SetWriteTimeout(min(u.opts.AckTimeout, 10*time.Second)).
		SetBinaryWill(topic, u.status(anxin.StateOffline, false), 1, true).
		SetConnectionLostHandler(func(_ paho.Client, _ error) { once.Do(func() { close(lost) }) })
	if u.opts.Username != "" {
		o.SetUsername(u.opts.Username)
		o.SetPassword(u.opts.Password)
	}
	if u.opts.TLS != nil {
		o.SetTLSConfig(u.opts.TLS)
	}
	cl := paho.NewClient(o)
	if err := wait(ctx, cl.Connect(), u.opts.ConnectTimeout+time.Second); err != nil {
		cl.Disconnect(0)
		return nil, nil, err
	}
	if err := wait(ctx, u.setClient(cl), u.opts.AckTimeout); err != nil {
		u.setClient(nil)
		cl.Disconnect(0)
		return nil, nil, fmt.Errorf("publish online status: %w", err)
	}
	return cl, lost, nil
}

func wait(ctx context.Context, tok paho.Token, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-tok.Done():
		return tok.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("no answer from the broker within %s", d)
	}
}

// goOffline publishes the retained offline status and disconnects cleanly
// (so the broker discards the will).
func (u *Uplink) goOffline(cl paho.Client) {
	tok := cl.Publish(anxin.StatusTopic(u.opts.Household), 1, true, u.status(anxin.StateOffline, true))
	if err := wait(context.Background(), tok, 2*time.Second); err != nil {
		u.log.Warn("uplink: offline status not acknowledged", "err", err)
	}
	cl.Disconnect(250)
	u.log.Info("uplink: disconnected")
}

// refusedStrikes is how many connections in a row must end with nothing
// acknowledged, another household's record next to send, before that
// record is moved behind the others (checkRefused).
const refusedStrikes = 2

// checkRefused moves the record next to send behind everything spooled
// when the broker keeps closing the connection on it: alarmd's embedded
// broker with per-household logins closes an MQTT 3.1.1 connection that
// publishes outside anxin/v1/<its login>/, so a record of another
// household (a district gatewayd's tracker, a terminal entry naming the
// wrong household) would be sent first after every reconnect, for ever,
// and every record behind it — presses included — would wait. Only when
// this gateway logs in as its own household (Username == Household) and
// the record is another household's: one the login can never publish, so
// moving it can delay nothing that could go through; the gateway's own
// records are never moved (a flaky link that drops before any PUBACK looks
// the same). The record is kept (Spool.Requeue), comes to the front again
// later and is refused again: logged each time.
func (u *Uplink) checkRefused(ctx context.Context, ackedAtConnect uint64) {
	if u.opts.Username == "" || u.opts.Username != u.opts.Household || u.spool.Acked() != ackedAtConnect {
		u.refused = 0
		return
	}
	cur := u.spool.Cursor()
	defer cur.Close()
	pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	rec, err := cur.Next(pctx)
	if err != nil {
		u.refused = 0
		return
	}
	hh, _, _, err := anxin.ParseTopic(rec.Topic)
	if err != nil || hh == u.opts.Household {
		u.refused = 0
		return
	}
	if rec.Seq != u.refusedSeq {
		u.refused, u.refusedSeq = 0, rec.Seq
	}
	if u.refused++; u.refused < refusedStrikes {
		return
	}
	u.refused = 0
	if err := u.spool.Requeue(rec); err != nil {
		u.log.Error("uplink: a record the broker refuses could not be moved behind the others", "topic", rec.Topic, "err", err)
		return
	}
	u.log.Error("uplink: the broker closes the connection on a record of another household than this gateway's login: "+
		"moved behind the others so they go through; it is sent again later. Give this gateway a broker account "+
		"allowed to publish for that household (docs/gatewayd.md, the uplink)", "topic", rec.Topic, "login", u.opts.Username)
}

type inflight struct {
	seq uint64
	tok paho.Token
}

// pump sends spooled messages in order, keeping up to Window unacknowledged,
// and advances the spool's ack pointer as PUBACKs arrive. It returns when
// ctx ends (after waiting briefly for outstanding PUBACKs) or the connection
// is lost.
//
// The publishes are made by a sender goroutine that pump does not wait for
// once the connection is gone: paho's Publish hands the packet to the
// connection's writer and, when the connection died under it, waits for a
// writer that is no longer there until its write timeout (10 s; seen in
// about one in five broker kills mid-stream). Abandoning it is safe: the
// acknowledger, the only one that advances the ack pointer, has returned
// before pump does; the abandoned sender's cursor is stale as soon as the
// next connection makes its own (it reads nothing more); and its token, if
// it ever completes, goes nowhere. The message is sent again on the next
// connection from the ack pointer.
func (u *Uplink) pump(ctx context.Context, cl paho.Client, lost <-chan struct{}) error {
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	actx, acancel := context.WithCancel(context.Background())
	defer acancel()
	// made here, not in the sender, so a late-starting abandoned sender
	// can never invalidate the next connection's cursor
	cur := u.spool.Cursor()
	pending := make(chan inflight, u.opts.Window-1) // + one being waited on
	sent := make(chan error, 1)
	go func() { sent <- u.send(sctx, cl, cur, lost, pending) }()
	acked := make(chan error, 1)
	go func() { acked <- u.acknowledge(actx, pending, lost) }()

	var err error
	select {
	case <-lost:
		// say so at once and hand over to the reconnect loop; the sender
		// may sit in Publish for paho's write timeout
		u.connected.Store(false)
		u.mConnected.Set(0)
		err = errConnLost
	case err = <-acked:
		// a PUBACK missing or failed, the connection lost, or the spool
		// refused the ack; nil only when the sender ended first
		if err == nil {
			err = <-sent
		}
		return err
	case <-ctx.Done():
	case err = <-sent:
	}
	if err != errConnLost && ctx.Err() != nil {
		// shutting down: give outstanding PUBACKs a moment, at most 2 s
		// even if the sender is stuck in Publish
		t := time.AfterFunc(2*time.Second, acancel)
		defer t.Stop()
		return <-acked
	}
	scancel()
	acancel()
	if aerr := <-acked; aerr != nil { // no Ack from this connection after pump returns
		return aerr
	}
	return err
}

// send publishes the cursor's records in order and queues their tokens for
// the acknowledger; it closes pending when it stops.
func (u *Uplink) send(ctx context.Context, cl paho.Client, cur *spool.Cursor, lost <-chan struct{}, pending chan<- inflight) error {
	defer close(pending)
	defer cur.Close()
	for {
		rec, err := cur.Next(ctx)
		// Next hands out what is spooled without looking at ctx: check
		// here, so nothing is published once the connection is lost or
		// pump gave up on it (shutting down, no PUBACK)
		select {
		case <-lost:
			return errConnLost
		default:
		}
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return err
		}
		// device statuses are retained, like the gateway's own: a
		// subscriber that comes later learns each device's last state
		tok := cl.Publish(rec.Topic, 1, rec.Status, bytes.Clone(rec.Payload))
		select {
		case pending <- inflight{rec.Seq, tok}:
		case <-ctx.Done():
			return ctx.Err()
		case <-lost:
			return errConnLost
		}
	}
}

// acknowledge waits for the PUBACKs in publish order and advances the ack
// pointer over the acknowledged prefix, in batches.
func (u *Uplink) acknowledge(ctx context.Context, pending <-chan inflight, lost <-chan struct{}) error {
	var last uint64
	var n int
	flush := func() error {
		if n == 0 {
			return nil
		}
		if err := u.spool.Ack(last); err != nil {
			return err
		}
		u.mPublished.Add(float64(n))
		n = 0
		return nil
	}
	for {
		var p inflight
		var ok bool
		select {
		case p, ok = <-pending:
		default:
			if err := flush(); err != nil {
				return err
			}
			select {
			case p, ok = <-pending:
			case <-ctx.Done():
				return nil
			}
		}
		if !ok {
			return flush()
		}
		select {
		case <-p.tok.Done():
		default:
			if err := flush(); err != nil {
				return err
			}
			t := time.NewTimer(u.opts.AckTimeout)
			select {
			case <-p.tok.Done():
				t.Stop()
			case <-lost:
				t.Stop()
				return errConnLost
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
				return fmt.Errorf("no PUBACK within %s", u.opts.AckTimeout)
			}
		}
		if err := p.tok.Error(); err != nil {
			return err
		}
		last = p.seq
		if n++; n >= 256 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
}
