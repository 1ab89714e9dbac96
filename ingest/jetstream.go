package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/anxin-care/anxin"
)

// JetStream source: gateways publish MQTT 3.1.1 to a NATS cluster's MQTT
// listener; nats-server stores each QoS 1 PUBLISH in its own stream
// $MQTT_msgs (subject "$MQTT.msgs.<subject>", replicated, file storage)
// and sends the PUBACK only once that store is acknowledged by the stream
// (on nats-server 2.9.10 a synchronous JetStream request in the
// publisher's read loop). alarmd consumes that stream through durable pull
// consumers and acknowledges each message after its batch commits. The
// stream's retention is "interest": a message is kept until every consumer
// whose filter matches it acknowledged it, so with alarmd's consumers in
// place nothing PUBACKed is lost (docs/deployment.md, "Broker tier").
//
// Work split: the broker maps anxin.v1.<hh>.… to anxin.p.<k>.v1.<hh>.…
// (server config "mappings", partition(P,1): FNV-1a of the household mod
// P) and each partition has a durable consumer; every alarmd claims a fair
// share of the partitions through leases in the store (anxin.LeaseStore),
// so one household is processed by one alarmd at a time.

// JetStreamConfig says where and how alarmd consumes.
type JetStreamConfig struct {
	URLs      []string // nats://host:4222 of the cluster's nodes
	User      string
	Password  string
	CredsFile string
	// Stream is nats-server's MQTT message stream ($MQTT_msgs).
	Stream string
	// Partitions is P of the server's mapping partition(P,1); 0 or 1: no
	// mapping, one consumer (one alarmd consumes at a time, the others
	// stand by).
	Partitions int
	Replicas   int    // of each consumer (default 3)
	Consumer   string // durable name prefix (default "anxin")
	Instance   string // this alarmd's name among its peers
	Lease      time.Duration
	Poll       time.Duration
	// AckWait: a message delivered and not acknowledged this long is
	// delivered again (default 30 s); MaxAckPending per consumer (default
	// 10,000); Fetch per pull (default 500).
	AckWait       time.Duration
	MaxAckPending int
	Fetch         int
}

func (c *JetStreamConfig) defaults() {
	if c.Stream == "" {
		c.Stream = "$MQTT_msgs"
	}
	if c.Partitions < 1 {
		c.Partitions = 1
	}
	if c.Replicas <= 0 {
		c.Replicas = 3
	}
	if c.Consumer == "" {
		c.Consumer = "anxin"
	}
	if c.Lease <= 0 {
		c.Lease = 15 * time.Second
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.AckWait <= 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = 10_000
	}
	if c.Fetch <= 0 {
		c.Fetch = 500
	}
}

// mqttMsgsPrefix is where nats-server stores MQTT QoS 1 messages.
const mqttMsgsPrefix = "$MQTT.msgs."

// Partition is the partition of a household under the server's mapping
// partition(parts,1) of its token: FNV-1a 32 mod parts (nats-server's
// subject transform).
func Partition(household string, parts int) int {
	if parts <= 1 {
		return 0
	}
	h := uint32(2166136261) // FNV-1a 32 (hash/fnv's), inline: no hasher to build per message
	for i := 0; i < len(household); i++ {
		h ^= uint32(household[i])
		h *= 16777619
	}
	return int(h % uint32(parts))
}

// filter is partition k's consumer filter.
func (c *JetStreamConfig) filter(k int) string {
	if c.Partitions <= 1 {
		return mqttMsgsPrefix + "anxin.v1.>"
	}
	return mqttMsgsPrefix + "anxin.p." + strconv.Itoa(k) + ".>"
}

func (c *JetStreamConfig) durable(k int) string {
	if c.Partitions <= 1 {
		return c.Consumer
	}
	return c.Consumer + "-p" + strconv.Itoa(k)
}

// leaseKey names the consumer group in the lease table.
func (c *JetStreamConfig) leaseKey() string {
	return c.Stream + "/" + c.Consumer + "/" + strconv.Itoa(c.Partitions)
}

// SubjectTopic turns a stored subject back into the MQTT topic the gateway
// published: the store prefix and the partition tokens go, "." becomes "/"
// and "//" (an MQTT "." in NATS) becomes ".".
func SubjectTopic(subject string) (string, error) {
	s, ok := strings.CutPrefix(subject, mqttMsgsPrefix)
	if !ok {
		return "", fmt.Errorf("subject %q is not under %s", clip(subject), mqttMsgsPrefix)
	}
	if rest, ok := strings.CutPrefix(s, "anxin.p."); ok {
		_, after, found := strings.Cut(rest, ".")
		if !found {
			return "", fmt.Errorf("subject %q has no partition", clip(subject))
		}
		s = "anxin." + after
	}
	s = strings.ReplaceAll(s, "//", "\x00")
	s = strings.ReplaceAll(s, ".", "/")
	return strings.ReplaceAll(s, "\x00", "."), nil
}

// JetStreamSource consumes the partitions this alarmd holds.
type JetStreamSource struct {
	cfg    JetStreamConfig
	p      *Pipeline
	leases anxin.LeaseStore
	log    *slog.Logger
	nc     *nats.Conn
	js     nats.JetStreamContext
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	held   map[int]*heldPart
	epochs map[int]int64    // the leases the pipeline's writes are fenced by (setEpochs)
	errs   map[string]error // what is wrong now, by where (stream, lease, fetch k, stuck)
	// gaveUp: giveUpStuck gave every partition up and the balance has not
	// rejoined since; rejoinAt: when it may, once the loop moves (zero: not
	// moving yet)
	gaveUp   bool
	rejoinAt time.Time
	ready    bool // the stream and the consumers exist
	// server: the version of the node last checked (checkServer); old:
	// what Notes says of it when it is older than MinNATSServer
	server, old string
	closing     sync.Once
	fetchers    sync.WaitGroup
}

type heldPart struct {
	epoch  int64
	until  time.Time // as last written to the store
	cancel context.CancelFunc
	done   chan struct{}
}

// StartJetStream connects to the cluster and starts claiming partitions
// and feeding p. Call it before p.Restore and p.Run: until it holds a
// partition the pipeline processes no household (nor their timers), and
// it restores a household's rule state when it takes its partition over.
func StartJetStream(ctx context.Context, cfg JetStreamConfig, p *Pipeline, leases anxin.LeaseStore, logger *slog.Logger) (*JetStreamSource, error) {
	cfg.defaults()
	if len(cfg.URLs) == 0 {
		return nil, errors.New("jetstream: no server URLs")
	}
	if cfg.Instance == "" {
		return nil, errors.New("jetstream: no instance name")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	none := func(string) bool { return false }
	p.owns = none // before Run: nothing is this alarmd's until a partition is claimed
	opts := []nats.Option{nats.Name("alarmd " + cfg.Instance), nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond), nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			logger.Warn("NATS connection lost; reconnecting", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { logger.Info("NATS reconnected", "server", c.ConnectedUrlRedacted()) }),
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	nc, err := nats.Connect(strings.Join(cfg.URLs, ","), opts...)
	if err != nil {
		// the error names the server, never the password (nats.go redacts URLs)
		return nil, fmt.Errorf("nats: %w", err)
	}
	js, err := nc.JetStream(nats.MaxWait(5 * time.Second))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats: %w", err)
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &JetStreamSource{cfg: cfg, p: p, leases: leases, log: logger, nc: nc, js: js, ctx: sctx, cancel: cancel,
		done: make(chan struct{}), held: make(map[int]*heldPart), epochs: make(map[int]int64), errs: make(map[string]error)}
	p.fencer = s // before Run, as owns
	go s.run()
	return s, nil
}

func (s *JetStreamSource) setErr(where string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.errs, where)
		return
	}
	s.errs[where] = err
}

// Healthy reports a lost NATS connection, a missing stream or consumer,
// failing pulls or a lease store that does not answer.
func (s *JetStreamSource) Healthy() error {
	if st := s.nc.Status(); st != nats.CONNECTED {
		return fmt.Errorf("not connected to NATS (%s)", st)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, k := range slicesSorted(s.errs) {
		errs = append(errs, fmt.Errorf("%s: %w", k, s.errs[k]))
	}
	if !s.ready && len(errs) == 0 {
		errs = append(errs, errors.New("JetStream consumers not set up yet"))
	}
	return errors.Join(errs...)
}

func slicesSorted(m map[string]error) []string { return slices.Sorted(maps.Keys(m)) }

// Held is the partitions this alarmd holds now.
func (s *JetStreamSource) Held() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for k := range s.cfg.Partitions {
		if s.held[k] != nil {
			out = append(out, k)
		}
	}
	return out
}

// run sets the consumers up, then keeps the leases every Poll.
func (s *JetStreamSource) run() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		s.checkServer()
		if !s.isReady() {
			if err := s.ensureConsumers(); err != nil {
				s.setErr("stream", err)
				s.log.Warn("JetStream consumers not set up; retrying", "stream", s.cfg.Stream, "err", err)
			} else {
				s.setErr("stream", nil)
				s.mu.Lock()
				s.ready = true
				s.mu.Unlock()
				s.log.Info("JetStream consumers ready", "stream", s.cfg.Stream, "partitions", s.cfg.Partitions)
			}
		}
		if s.isReady() {
			start := time.Now()
			s.balance()
			if d := time.Since(start); d > s.cfg.Lease/3 {
				s.log.Warn("keeping the partition leases took long", "took", d.Round(time.Millisecond), "lease", s.cfg.Lease)
			}
		}
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkServer says, once each time the connected node's nats-server
// version differs from the last one checked (a reconnect to a node of the
// same version says nothing again), when that version is older than
// MinNATSServer: an error in the log and a note (Notes) for /healthz. alarmd consumes all the same: refusing would stop
// every alarm of a cluster that runs today, for a loss that needs a node
// failing under load.
func (s *JetStreamSource) checkServer() {
	v := s.nc.ConnectedServerVersion()
	s.mu.Lock()
	if v == "" || v == s.server {
		s.mu.Unlock()
		return
	}
	s.server, s.old = v, ""
	if ServerOlder(v) {
		s.old = fmt.Sprintf("nats-server %s (node %s) is older than %s: it can skip messages it acknowledged to gateways when a node fails (docs/deployment.md, Broker tier); upgrade every node",
			v, s.nc.ConnectedServerName(), MinNATSServer)
	}
	old := s.old
	s.mu.Unlock()
	if old != "" {
		s.log.Error(old) // the same words as /healthz's note: one text to search for
	}
}

// Notes is what /healthz says besides its verdict: a nats-server older
// than MinNATSServer.
func (s *JetStreamSource) Notes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.old == "" {
		return nil
	}
	return []string{s.old}
}

func (s *JetStreamSource) isReady() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready
}

// ensureConsumers makes (or updates) one durable pull consumer per
// partition on the stream. The stream is nats-server's own: it exists once
// an MQTT client connected to the cluster.
func (s *JetStreamSource) ensureConsumers() error {
	if _, err := s.js.StreamInfo(s.cfg.Stream); err != nil {
		return fmt.Errorf("stream %s: %w (nats-server makes it at the first MQTT connection)", s.cfg.Stream, err)
	}
	for k := range s.cfg.Partitions {
		cc := &nats.ConsumerConfig{Durable: s.cfg.durable(k), FilterSubject: s.cfg.filter(k),
			AckPolicy: nats.AckExplicitPolicy, AckWait: s.cfg.AckWait, MaxAckPending: s.cfg.MaxAckPending,
			DeliverPolicy: nats.DeliverAllPolicy, MaxDeliver: -1, Replicas: s.cfg.Replicas, MaxWaiting: 64}
		if _, err := s.js.ConsumerInfo(s.cfg.Stream, cc.Durable); err == nil {
			continue
		}
		if _, err := s.js.AddConsumer(s.cfg.Stream, cc); err != nil {
			return fmt.Errorf("consumer %s: %w", cc.Durable, err)
		}
	}
	return nil
}

// owns is the ownership test for a set of partitions (a copy, indexed by
// partition: the pipeline asks it for every message).
func (s *JetStreamSource) owns(parts map[int]bool) func(string) bool {
	n := s.cfg.Partitions
	set := make([]bool, n)
	for k, ok := range parts {
		set[k] = ok
	}
	return func(hh string) bool { return set[Partition(hh, n)] }
}

// ownsHeld is the ownership test for the partitions held now: the
// pipeline calls it in its batch loop as it applies an ownership, so a
// partition stopped (or lost) while the request waited for the loop is not
// owned again.
func (s *JetStreamSource) ownsHeld() func(string) bool { return s.owns(s.heldSet()) }

func (s *JetStreamSource) heldSet() map[int]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[int]bool, len(s.held))
	for k := range s.held {
		out[k] = true
	}
	return out
}

// balance renews this alarmd's leases, drops those it lost, and claims or
// releases partitions until it holds its share of those live instances
// hold: P / live, the first P mod live instances (by name) one more.
func (s *JetStreamSource) balance() {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Poll+5*time.Second)
	defer cancel()
	if d := s.p.stuckFor(); d > 0 {
		s.giveUpStuck(d)
		return
	}
	if !s.rejoin() {
		return
	}
	now := time.Now()
	until := now.Add(s.cfg.Lease)
	key := s.cfg.leaseKey()
	// a lease not renewed in time is given up before it runs out, whether
	// or not the store answers: a peer may claim it once it has
	for k, h := range s.snapshot() {
		ok, err := s.leases.RenewPartition(ctx, key, k, s.cfg.Instance, h.epoch, until)
		switch {
		case err == nil && ok:
			s.mu.Lock()
			h.until = until
			s.mu.Unlock()
		case err == nil && !ok:
			s.log.Warn("partition lease lost", "partition", k)
			s.drop(k)
		default:
			s.setErr("lease", err)
			if time.Until(h.until) < s.cfg.Poll {
				s.log.Warn("partition lease not renewed in time; stopping it", "partition", k, "err", err)
				s.drop(k)
			}
		}
	}
	if err := s.leases.HeartbeatMember(ctx, key, s.cfg.Instance, until); err != nil {
		s.setErr("lease", err)
		return
	}
	live, err := s.leases.LiveMembers(ctx, key, now)
	if err != nil {
		s.setErr("lease", err)
		return
	}
	idx := -1
	for i, m := range live {
		if m == s.cfg.Instance {
			idx = i
		}
	}
	if idx < 0 { // our heartbeat is written: only a skewed clock hides it
		live, idx = append(live, s.cfg.Instance), len(live)
	}
	share := s.cfg.Partitions / len(live)
	if idx < s.cfg.Partitions%len(live) {
		share++
	}
	held := s.heldSet()
	var extra []int
	for k := s.cfg.Partitions - 1; k >= 0 && len(held) > share; k-- {
		if held[k] {
			extra = append(extra, k)
			delete(held, k)
		}
	}
	s.release(ctx, extra)
	if len(held) < share {
		ls, err := s.leases.PartitionLeases(ctx, key, s.cfg.Partitions)
		if err != nil {
			s.setErr("lease", err)
			return
		}
		// start at a place of our own so peers do not all race for partition 0
		off := idx * s.cfg.Partitions / len(live)
		claimed := make(map[int]int64) // partition → epoch
		var claimErr error
		for i := 0; i < len(ls) && len(held) < share; i++ {
			l := ls[(off+i)%len(ls)]
			if held[l.Part] || (l.Owner != "" && l.Until.After(now)) {
				continue
			}
			epoch, ok, err := s.leases.ClaimPartition(ctx, key, l.Part, s.cfg.Instance, now, until)
			if err != nil {
				claimErr = err
				break
			}
			if ok {
				claimed[l.Part] = epoch
				held[l.Part] = true
			}
		}
		// what was claimed is taken over in one pass: each pass reads every
		// stored rule state and the de-duplication window
		if len(claimed) > 0 {
			if err := s.takeOver(claimed, until); err != nil {
				s.log.Error("partitions not taken over; releasing them", "partitions", slices.Sorted(maps.Keys(claimed)), "err", err)
				for k, epoch := range claimed {
					_ = s.leases.ReleasePartition(ctx, key, k, s.cfg.Instance, epoch)
				}
			}
		}
		if claimErr != nil {
			s.setErr("lease", claimErr)
			return
		}
	}
	s.setErr("lease", nil)
}

func (s *JetStreamSource) snapshot() map[int]*heldPart {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.held)
}

// takeOver restores the households of the partitions claimed (partition →
// epoch) in the pipeline and starts pulling their consumers.
func (s *JetStreamSource) takeOver(claimed map[int]int64, until time.Time) error {
	n := s.cfg.Partitions
	match := func(hh string) bool { _, ok := claimed[Partition(hh, n)]; return ok }
	s.setEpochs(claimed)
	// the ownership is what is held when the loop applies it, with the
	// partitions claimed (not in held until their pulls start below)
	ownsNow := func() func(string) bool {
		set := s.heldSet()
		for k := range claimed {
			set[k] = true
		}
		return s.owns(set)
	}
	lost, err := s.renewWhile(func() error { return s.p.takeOver(s.ctx, match, ownsNow) })
	if err != nil {
		s.forgetEpochs(slices.Collect(maps.Keys(claimed)))
		return err
	}
	if lost {
		// (after the pulls below start: the ownership is then what is held)
		defer s.reown()
	}
	for part, epoch := range claimed {
		fctx, fcancel := context.WithCancel(s.ctx)
		h := &heldPart{epoch: epoch, until: until, cancel: fcancel, done: make(chan struct{})}
		s.mu.Lock()
		if s.epochs[part] != epoch {
			// a commit found the lease lost between the take-over and
			// here (leaseLost): nothing to pull
			s.mu.Unlock()
			fcancel()
			s.log.Warn("partition lease lost during its take-over", "partition", part, "epoch", epoch)
			continue
		}
		s.held[part] = h
		s.mu.Unlock()
		s.fetchers.Add(1)
		go func() {
			defer s.fetchers.Done()
			defer close(h.done)
			s.fetch(fctx, part)
		}()
		s.log.Info("partition taken over", "partition", part, "epoch", epoch)
	}
	return nil
}

// stop ends partition k's pulls and waits for them.
func (s *JetStreamSource) stop(k int) *heldPart {
	return s.stopAll([]int{k})[k]
}

// stopAll ends the pulls of partitions ks together and waits for them.
func (s *JetStreamSource) stopAll(ks []int) map[int]*heldPart {
	out := make(map[int]*heldPart, len(ks))
	s.mu.Lock()
	for _, k := range ks {
		if h := s.held[k]; h != nil {
			out[k] = h
			delete(s.held, k)
			h.cancel()
		}
	}
	s.mu.Unlock()
	for _, h := range out {
		<-h.done
	}
	return out
}

// drop stops partition k at once (its lease is lost or about to be): its
// households' queued deliveries are handed back and their state is not
// written (the next owner restores what was committed).
func (s *JetStreamSource) drop(k int) {
	s.forgetEpochs([]int{k})
	if s.stop(k) == nil {
		return
	}
	lost, err := s.renewWhile(func() error { return s.p.setOwnership(s.ctx, s.ownsHeld) })
	if err != nil {
		s.log.Error("ownership not updated", "err", err)
	}
	if lost { // a lease lost after the loop applied the ownership above: as takeOver and release do
		s.reown()
	}
}

// reown sets the pipeline's ownership to what is held now.
func (s *JetStreamSource) reown() {
	if err := s.p.setOwnership(s.ctx, s.ownsHeld); err != nil && s.ctx.Err() == nil {
		s.log.Error("ownership not updated", "err", err)
	}
}

// renewWhile runs fn, work the batch loop does for the balance (a
// take-over, a give-up, an ownership), and renews every Poll while it
// waits the leases the pipeline's writes are fenced by (those held, those
// being taken over) and this alarmd's membership: the loop may be busy for
// longer than a lease (a long commit, a slow restore under load), and a
// lease not renewed meanwhile runs out for a peer to claim, the partition
// going back and forth between alarmd. lost: a lease was found lost
// meanwhile (its pulls are stopped, as leaseLost does); the caller sets
// the ownership again once what it holds is settled.
func (s *JetStreamSource) renewWhile(fn func() error) (lost bool, err error) {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			return lost, err
		case <-t.C:
			if s.renewFenced() {
				lost = true
			}
		}
	}
}

// renewFenced renews the leases in s.epochs and the membership (renewWhile);
// true when one was found lost. An error is left to the balance's next pass
// (which gives up a lease it could not renew in time).
func (s *JetStreamSource) renewFenced() (lost bool) {
	if d := s.p.stuckFor(); d > 0 {
		s.giveUpStuck(d)
		return true
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Poll+5*time.Second)
	defer cancel()
	s.mu.Lock()
	epochs := maps.Clone(s.epochs)
	s.mu.Unlock()
	until := time.Now().Add(s.cfg.Lease)
	key := s.cfg.leaseKey()
	for k, e := range epochs {
		ok, err := s.leases.RenewPartition(ctx, key, k, s.cfg.Instance, e, until)
		switch {
		case err != nil:
			s.setErr("lease", err)
		case ok:
			s.mu.Lock()
			if h := s.held[k]; h != nil && h.epoch == e {
				h.until = until
			}
			s.mu.Unlock()
		default:
			s.log.Warn("partition lease lost", "partition", k)
			s.leaseLost([]anxin.PartitionEpoch{{Part: k, Epoch: e}})
			lost = true
		}
	}
	if err := s.leases.HeartbeatMember(ctx, key, s.cfg.Instance, until); err != nil {
		s.setErr("lease", err)
	}
	return lost
}

// giveUpStuck gives up, while the batch loop has been stuck for d
// (Pipeline.stuckFor), every partition this alarmd holds or is taking
// over: its lease renewals do not need the loop, so without this a stuck
// alarmd would keep its households' presses waiting for as long as it
// stays stuck. Pulls stop (not waited for: a fetcher may be waiting for
// the loop), the pipeline's writes of those partitions are fenced off (a
// batch the loop is in finds them not held and hands their deliveries
// back), the leases are freed for peers to claim at once, and this alarmd
// leaves the membership so peers share its partitions out among
// themselves. The balance claims again once the loop has moved for
// StuckAfter (rejoin). Called at every poll while the loop stays stuck:
// after the first it only updates the health line, unless a lease was
// taken meanwhile.
func (s *JetStreamSource) giveUpStuck(d time.Duration) {
	s.mu.Lock()
	epochs := maps.Clone(s.epochs)
	for k, h := range s.held {
		epochs[k] = h.epoch
		h.cancel()
	}
	clear(s.held)
	clear(s.epochs)
	again := s.gaveUp && s.rejoinAt.IsZero() // stuck since the last call
	s.gaveUp, s.rejoinAt = true, time.Time{}
	s.errs["stuck"] = fmt.Errorf("the batch loop has been on one task for %s: partitions given up to peers", d.Round(time.Second))
	s.mu.Unlock()
	if again && len(epochs) == 0 {
		return // released and left already
	}
	if !again {
		s.log.Error("batch loop stuck; giving every partition up to peers until it moves",
			"stuck_for", d.Round(time.Millisecond), "partitions", slices.Sorted(maps.Keys(epochs)))
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Poll+5*time.Second)
	defer cancel()
	key := s.cfg.leaseKey()
	for k, e := range epochs {
		if err := s.leases.ReleasePartition(ctx, key, k, s.cfg.Instance, e); err != nil {
			s.log.Warn("partition lease not released; it runs out instead", "partition", k, "err", err)
		}
	}
	if err := s.leases.LeaveMembers(ctx, key, s.cfg.Instance); err != nil {
		s.setErr("lease", err)
	}
}

// rejoin says whether the balance may claim partitions: not until the
// loop has moved again for StuckAfter after giveUpStuck. A batch that gets
// every alarmd stuck in turn (a store refusing it) then moves partitions
// at most once per StuckAfter, not at each balance.
func (s *JetStreamSource) rejoin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.gaveUp {
		return true
	}
	now := time.Now()
	if s.rejoinAt.IsZero() {
		s.rejoinAt = now.Add(s.p.cfg.StuckAfter)
		s.errs["stuck"] = fmt.Errorf("the batch loop was stuck and moves again: rejoining the cluster at %s", s.rejoinAt.UTC().Format(time.RFC3339))
		s.log.Info("batch loop moving again; claiming partitions once it has moved for stuck_after", "at", s.rejoinAt)
	}
	if now.Before(s.rejoinAt) {
		return false
	}
	delete(s.errs, "stuck")
	s.gaveUp, s.rejoinAt = false, time.Time{}
	return true
}

// release gives partitions ks up to peers: pulls stop, their households'
// pending rule state is committed, then the leases are freed.
func (s *JetStreamSource) release(ctx context.Context, ks []int) {
	if len(ks) == 0 {
		return
	}
	stopped := s.stopAll(ks)
	n := s.cfg.Partitions
	match := func(hh string) bool { return stopped[Partition(hh, n)] != nil }
	lost, err := s.renewWhile(func() error { return s.p.giveUp(ctx, match, s.ownsHeld) })
	if lost {
		s.reown()
	}
	if err != nil {
		s.log.Error("partitions not given up cleanly; their leases run out instead", "partitions", ks, "err", err)
		s.forgetEpochs(ks)
		return
	}
	s.forgetEpochs(ks)
	for k, h := range stopped {
		if err := s.leases.ReleasePartition(ctx, s.cfg.leaseKey(), k, s.cfg.Instance, h.epoch); err != nil {
			s.log.Warn("partition lease not released; it runs out instead", "partition", k, "err", err)
			continue
		}
		s.log.Info("partition released to a peer", "partition", k)
	}
}

// fetchWait bounds one pull: giving a partition up waits for it.
const fetchWait = 500 * time.Millisecond

// fetch pulls partition k's consumer and feeds the pipeline until ctx ends.
func (s *JetStreamSource) fetch(ctx context.Context, k int) {
	where := "fetch " + strconv.Itoa(k)
	defer s.setErr(where, nil)
	var sub *nats.Subscription
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if sub == nil {
			var err error
			sub, err = s.js.PullSubscribe(s.cfg.filter(k), s.cfg.durable(k), nats.Bind(s.cfg.Stream, s.cfg.durable(k)))
			if err != nil {
				s.setErr(where, err)
				sub = nil
				if !anxin.SleepContext(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, 2*time.Second)
				continue
			}
		}
		// a pull is never cut short: the server would go on delivering to
		// it for its whole wait, and what it delivered to nobody would come
		// again only after AckWait. What a finished pull brought after the
		// partition was given up is handed back (Nak) for the next owner.
		msgs, err := sub.Fetch(s.cfg.Fetch, nats.MaxWait(fetchWait))
		if ctx.Err() != nil {
			for _, m := range msgs {
				_ = m.Nak()
			}
			break
		}
		if err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			s.setErr(where, err)
			if errors.Is(err, nats.ErrConsumerNotFound) || errors.Is(err, nats.ErrBadSubscription) ||
				errors.Is(err, nats.ErrConnectionClosed) {
				_ = sub.Unsubscribe()
				sub = nil
			}
			if !anxin.SleepContext(ctx, backoff) {
				break
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		s.setErr(where, nil)
		now := time.Now()
		trace := len(msgs) > 0 && s.log.Enabled(ctx, slog.LevelDebug)
		for _, m := range msgs {
			topic, err := SubjectTopic(m.Subject)
			if err != nil {
				// not a gateway's topic: nothing alarmd can do with it
				s.p.reject("topic", m.Subject, err)
				_ = m.Ack()
				continue
			}
			m := m
			d := Delivery{Topic: topic, Payload: m.Data, Received: now,
				Ack: func() { _ = m.Ack() }, Nak: func() { _ = m.Nak() }}
			if trace {
				s.traceMsg(k, m, &d)
			}
			if err := s.p.Deliver(ctx, d); err != nil {
				d.Nak() // stopping: the next owner gets it at once
			}
		}
	}
	if sub != nil {
		// a delivery to the last pull that arrived after it returned waits
		// in the subscription: hand it back rather than let it wait out
		// AckWait once the subscription is gone
		if n, _, err := sub.Pending(); err == nil && n > 0 {
			msgs, _ := sub.Fetch(n, nats.MaxWait(100*time.Millisecond))
			for _, m := range msgs {
				_ = m.Nak()
			}
		}
		_ = sub.Unsubscribe()
	}
}

// traceMsg logs, at debug level, a message delivered to partition k's
// pull and, later, its acknowledgement or hand-back, by stream sequence:
// with these lines from every alarmd a test (e2e TestClusterFailover) can
// tell a message the cluster never delivered from one alarmd acknowledged.
func (s *JetStreamSource) traceMsg(k int, m *nats.Msg, d *Delivery) {
	md, err := m.Metadata()
	if err != nil {
		s.log.Debug("jetstream message without metadata", "partition", k, "subject", clip(m.Subject), "err", err)
		return
	}
	seq := md.Sequence.Stream
	s.log.Debug("jetstream message", "partition", k, "seq", seq, "consumer_seq", md.Sequence.Consumer,
		"deliveries", md.NumDelivered, "stored", md.Timestamp.UTC().Format(time.RFC3339Nano), "subject", clip(m.Subject))
	ack, nak := d.Ack, d.Nak
	d.Ack = func() { ack(); s.log.Debug("jetstream ack", "partition", k, "seq", seq) }
	d.Nak = func() { nak(); s.log.Debug("jetstream nak", "partition", k, "seq", seq) }
}

// Close stops pulling and gives every held partition back (its lease is
// freed at once for a peer), then leaves. Unacknowledged messages are
// delivered again to whoever holds their partition next. Call it after
// the pipeline's last batch; closing twice is harmless.
func (s *JetStreamSource) Close() {
	s.closing.Do(func() {
		s.cancel()
		<-s.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		key := s.cfg.leaseKey()
		held := s.snapshot()
		s.stopAll(slices.Collect(maps.Keys(held)))
		for k, h := range held {
			if err := s.leases.ReleasePartition(ctx, key, k, s.cfg.Instance, h.epoch); err != nil {
				s.log.Warn("partition lease not released; it runs out instead", "partition", k, "err", err)
			}
		}
		_ = s.leases.LeaveMembers(ctx, key, s.cfg.Instance)
		s.fetchers.Wait()
		s.nc.Close()
	})
}

// setEpochs fences the pipeline's writes of partitions claimed (partition
// → epoch) by their leases (fence.go): set before a take-over (restored
// timers may fire at once), kept while a released partition's last state
// is written, forgotten when it is dropped or found lost.
func (s *JetStreamSource) setEpochs(claimed map[int]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	maps.Copy(s.epochs, claimed)
}

// forgetEpochs: the pipeline writes nothing more of partitions ks.
func (s *JetStreamSource) forgetEpochs(ks []int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range ks {
		delete(s.epochs, k)
	}
}

func (s *JetStreamSource) partition(hh string) int { return Partition(hh, s.cfg.Partitions) }
func (s *JetStreamSource) partitions() int         { return s.cfg.Partitions }

// leaseFence is the fence of partitions parts (fencer).
func (s *JetStreamSource) leaseFence(parts []int) (*anxin.LeaseFence, []int) {
	f := &anxin.LeaseFence{Stream: s.cfg.leaseKey(), Owner: s.cfg.Instance, Parts: make([]anxin.PartitionEpoch, 0, len(parts))}
	var notHeld []int
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range parts {
		if e, ok := s.epochs[k]; ok {
			f.Parts = append(f.Parts, anxin.PartitionEpoch{Part: k, Epoch: e})
		} else {
			notHeld = append(notHeld, k)
		}
	}
	return f, notHeld
}

// leaseLost stops the partitions whose leases a write found lost (fencer),
// unless they were claimed again since (a newer epoch). It runs in the
// batch loop (dropLost), which has already taken those partitions out of
// the pipeline's ownership, so it only ends their pulls: their entries
// leave held at once, under the lock that takeOver and the balance's
// snapshots take, and their fetchers end on their own (a fetcher may be
// waiting for the batch loop to take a delivery: nothing here waits for
// it). It sets no ownership: an ownership computed here would be a
// snapshot of held, and applied after a take-over that waits in the loop's
// queue (the balance claimed a partition meanwhile) it would leave the
// partition taken over held but not owned, every one of its messages
// handed back until the next change of ownership
// (TestLeaseLostWhileATakeOverWaits).
func (s *JetStreamSource) leaseLost(lost []anxin.PartitionEpoch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pe := range lost {
		if e, ok := s.epochs[pe.Part]; !ok || e != pe.Epoch {
			continue // claimed again since: the new lease's pulls go on
		}
		delete(s.epochs, pe.Part)
		if h := s.held[pe.Part]; h != nil && h.epoch == pe.Epoch {
			delete(s.held, pe.Part)
			h.cancel()
		}
	}
}
