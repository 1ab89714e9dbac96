// Package ingest takes messages from the broker to alarms: validation,
// de-duplication, the rules engine, the archive, and one SQLite transaction
// per batch, acknowledging to the broker only after the commit
// (at-least-once delivery + de-duplication = no double effect).
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/rules"
)

// Engine is the part of the rules engine the pipeline drives (*rules.Engine).
type Engine interface {
	Observe(now time.Time, m *anxin.Message) []rules.Decision
	ObserveStatus(now time.Time, household, device string, st anxin.Status) []rules.Decision
	Tick(now time.Time) []rules.Decision
	NextDeadline() time.Time
	// TakeDirty, DirtyState, DirtyCount: the encoded states of changed
	// households, taken as they are written (rules.Engine)
	TakeDirty(limit int, match func(household string) bool, fn func(household string, state []byte)) int
	// TakeSeen: those whose readings only advanced last-seen times and
	// meter values (rules.Engine.DeferSeen), at shutdown and hand-over
	TakeSeen(limit int, match func(household string) bool, fn func(household string, state []byte)) int
	DirtyState(household string) ([]byte, bool)
	DirtyCount() int
	RestoreState(household string, state []byte) error
	Closed(household, rule string)
	SetAway(now time.Time, household string, away bool) []rules.Decision
	Away(household string) bool
	// ForgetWhere drops the households match says yes to (given up to
	// another alarmd).
	ForgetWhere(match func(household string) bool) int
}

// Store is the part of the store the pipeline writes (anxin.IngestStore).
type Store = anxin.IngestStore

// Register says which households and devices alarmd believes: a message
// of a household or device it does not know is rejected, so outsiders can
// neither open alarms nor grow rule state (alarmd: households_file).
type Register interface {
	// Knows reports whether the household is registered and, when it is,
	// whether device is one of its devices (device "gateway": its gateway).
	Knows(household, device string) (householdKnown, deviceKnown bool)
}

// Archive takes readings for the time-series store without blocking (*influx.Archive).
type Archive interface {
	Write(m *anxin.Message)
}

// ArchiveAcker is an Archive that says when a reading is stored: done is
// called once it is (at once for what it does not archive), never for one
// it drops (*influx.Archive).
type ArchiveAcker interface {
	WriteThen(m *anxin.Message, done func())
}

// ackGate acknowledges a delivery on the last of n calls (the commit's and
// the archive's, in either order).
type ackGate struct {
	left atomic.Int32
	ack  func()
}

func newAckGate(n int32, ack func()) *ackGate {
	g := &ackGate{ack: ack}
	g.left.Store(n)
	return g
}

func (g *ackGate) one() {
	if g.left.Add(-1) == 0 {
		g.ack()
	}
}

// archiveThenAck archives m and makes d acknowledged once both its batch
// is committed (d.Ack, called after the commit) and m is archived.
func (p *Pipeline) archiveThenAck(d *Delivery, m *anxin.Message) {
	one := newAckGate(2, d.Ack).one // one method value for both: an allocation less a reading
	d.Ack = one
	p.ackArchive.WriteThen(m, one)
}

// Config tunes the pipeline.
type Config struct {
	Batch       int           // messages per transaction at most (default 2,000)
	BatchWait   time.Duration // a partial batch waits this long for more (default 5 ms)
	Inflight    int           // deliveries queued for the batch loop (default 10,000)
	DedupWindow time.Duration // how long a message id is remembered (default 24 h)
	DedupMax    int           // ids remembered in memory at most (default 200,000)
	TickEvery   time.Duration // longest wait between timer checks (default 1 s)
	StateFlush  time.Duration // rule state of quiet households is written this often (default 10 s)
	// AckAfterArchive acknowledges a reading only once it is committed AND
	// in the time-series store (an Archive that is an ArchiveAcker), so an
	// alarmd killed with readings in its archive queue loses none: its
	// source delivers them again (the NATS tier, whose consumers wait up to
	// nats.ack_wait). Off on the MQTT path: a broker's small in-flight
	// window would stall behind the archive's flush interval.
	AckAfterArchive bool
	// StuckAfter: a batch loop on one task (a batch and its commit, timers,
	// a state write; a take-over gets ten times as long) this long is
	// stuck: Healthy says so and a partitioned source gives its partitions
	// up to peers, claiming again once it has moved for StuckAfter
	// (default 60 s).
	StuckAfter time.Duration
}

func (c *Config) defaults() {
	if c.Batch <= 0 {
		c.Batch = 2000
	}
	if c.BatchWait <= 0 {
		c.BatchWait = 5 * time.Millisecond
	}
	if c.Inflight <= 0 {
		c.Inflight = 10_000
	}
	if c.DedupWindow <= 0 {
		c.DedupWindow = 24 * time.Hour
	}
	if c.DedupMax <= 0 {
		c.DedupMax = 200_000
	}
	if c.TickEvery <= 0 {
		c.TickEvery = time.Second
	}
	if c.StateFlush <= 0 {
		c.StateFlush = 10 * time.Second
	}
	if c.StuckAfter <= 0 {
		c.StuckAfter = time.Minute
	}
}

// Delivery is one message from the broker. Ack is called once the message
// is durably processed (or rejected); nil for sources without acks.
type Delivery struct {
	Topic    string
	Payload  []byte
	Received time.Time // wall clock at arrival, for latency
	Ack      func()
	// Nak (may be nil) hands the message back unprocessed: its household
	// is not this alarmd's (a partition it no longer holds), so the source
	// redelivers it to the owner at once.
	Nak func()
	// Last: the source holds nothing more right now (the end of what one
	// socket read brought), so a batch that has taken everything queued
	// closes at once instead of waiting idleGap for more.
	Last bool
}

// Pipeline is the batch loop. Deliver feeds it; Run drives it.
type Pipeline struct {
	cfg     Config
	engine  Engine
	store   Store
	archive Archive
	// ackArchive is archive when readings are acknowledged only once
	// archived (Config.AckAfterArchive); nil otherwise
	ackArchive ArchiveAcker
	escalator  anxin.Escalator
	register   Register // nil: every household and device is believed
	log        *slog.Logger
	now        func() time.Time
	m          *pipelineMetrics

	// flushAcks, when set (FlushAcksWith), sends a batch's
	// acknowledgements once they are all given
	flushAcks atomic.Pointer[func()]

	queue    *readingQueue // readings
	priority chan Delivery // events and statuses: they skip the readings' queue
	escalate chan escalation
	away     chan awayRequest // people marking a household away or back
	ctl      chan ctlRequest  // work run inside the batch loop (partition take-over and release)
	// owns says which households this alarmd processes (nil: all); set by
	// the batch loop only (SetOwnership), read by it only
	owns     func(household string) bool
	seen     *seenWindow
	stateSeq int64
	// the store's AlarmStateWrites when the log was last read; -1: never
	stateWrites int64
	limiter     logLimiter
	parser      *parser       // the batch loop's: a message's Fields live until the next parse
	msg         anxin.Message // the message process handles
	received    map[string]time.Time
	urgent      map[string]bool // process's, reused
	unknown     hourlyLog       // unknown households and devices, logged once an hour each
	clocks      hourlyLog       // gateways whose clock was never set (a flood of unknown senders cannot crowd them out)
	storeErr    error
	mu          sync.Mutex

	// busySince is when the batch loop took up its current task, in
	// nanoseconds since born (monotonic) plus one; 0 while it waits for work
	busySince atomic.Int64
	busyLimit atomic.Int64 // how long the current task may take before it is stuck
	born      time.Time

	// rule state of households without an effect in their batch stays
	// dirty in the engine and is written every StateFlush (a reading that
	// changed nothing but a meter value need not cost a row write each
	// time), stateChunk households per batch, encoded as they are written
	lastFlush time.Time
	flushing  bool // writing dirty states, stateChunk per batch
	flushLeft int  // households of this flush not yet written

	stats     batchStats // since the last stats log line
	lastStats time.Time

	// fencer fences every write by the partition leases its households
	// were processed under (nil: not partitioned); fence.go
	fencer     fencer
	fenceMarks []bool // batchParts', reused
	leasesLost int    // writes that found a lease lost, for process to hand back
}

// batchStats is what the batch loop logs every statsEvery while messages
// flow: how large batches are, how often it commits and sleeps, and how
// many deliveries were unacknowledged when a batch closed (the broker's
// in-flight window shows as a ceiling there).
type batchStats struct {
	batches, messages, commits, sleeps, waiting, maxBatch int
}

const statsEvery = 10 * time.Second

func (p *Pipeline) logStats(force bool) {
	now := time.Now()
	if !force && now.Sub(p.lastStats) < statsEvery {
		return
	}
	s, secs := p.stats, now.Sub(p.lastStats).Seconds()
	p.stats, p.lastStats = batchStats{}, now
	if s.batches == 0 {
		return
	}
	p.log.Info("ingest stats", "seconds", int(secs+0.5), "messages", s.messages, "batches", s.batches,
		"mean_batch", float64(s.messages)/float64(s.batches), "max_batch", s.maxBatch, "commits", s.commits,
		"sleeps_per_batch", float64(s.sleeps)/float64(s.batches),
		"unacked_at_close_mean", float64(s.waiting)/float64(s.batches))
}

type escalation struct {
	alarm   anxin.Alarm
	resolve bool
	why     string // of a resolve
}

// awayRequest asks the batch loop to mark a household away or back.
type awayRequest struct {
	household string
	done      chan error
}

// Deps are what the pipeline works with. Archive and Escalator may be nil.
type Deps struct {
	Engine    Engine
	Store     Store
	Archive   Archive
	Escalator anxin.Escalator
	Register  Register // nil: believe every household and device
	Logger    *slog.Logger
	Now       func() time.Time
	Metrics   metrics.Registerer
}

// New makes a pipeline; call Restore before Run.
func New(cfg Config, d Deps) (*Pipeline, error) {
	cfg.defaults()
	if d.Engine == nil || d.Store == nil {
		return nil, errors.New("ingest: engine and store are required")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	m, err := newMetrics(d.Metrics)
	if err != nil {
		return nil, err
	}
	var ackArchive ArchiveAcker
	if a, ok := d.Archive.(ArchiveAcker); ok && cfg.AckAfterArchive {
		ackArchive = a
	}
	return &Pipeline{cfg: cfg, engine: d.Engine, store: d.Store, archive: d.Archive, ackArchive: ackArchive, escalator: d.Escalator,
		register: d.Register, log: d.Logger, now: d.Now, m: m, queue: newReadingQueue(cfg.Inflight),
		priority: make(chan Delivery, 1024),
		escalate: make(chan escalation, 1024), away: make(chan awayRequest), ctl: make(chan ctlRequest), seen: newSeenWindow(cfg.DedupMax, cfg.DedupWindow),
		lastFlush: time.Now(), lastStats: time.Now(), born: time.Now(), stateWrites: -1, parser: newParser(),
		received: make(map[string]time.Time), urgent: make(map[string]bool)}, nil
}

// restoreStates loads the stored rule state of the households that match
// (nil: all) into the engine: n restored, skipped not in the register. A
// household restored away without a stored mark gets one (AdoptAwayMarks).
func (p *Pipeline) restoreStates(ctx context.Context, match func(string) bool) (n, skipped int, err error) {
	var away []string
	err = p.store.RuleStates(ctx, func(hh string, state []byte) error {
		if match != nil && !match(hh) {
			return nil
		}
		if known, _ := p.knows(hh, anxin.GatewayDevice); !known {
			skipped++ // stored before alarmd checked the register: not believed
			return nil
		}
		if err := p.engine.RestoreState(hh, state); err != nil {
			// one bad row must not keep every other household unwatched
			p.log.Error("rule state not restored", "household", hh, "err", err)
			return nil
		}
		if p.engine.Away(hh) {
			away = append(away, hh)
		}
		n++
		return nil
	})
	if err != nil {
		return n, skipped, err
	}
	// away from before marks were stored: stored now, so every alarmd
	// answers it (a mark made since wins, and is applied as pending)
	if err := p.store.AdoptAwayMarks(ctx, away, p.now()); err != nil {
		return n, skipped, err
	}
	return n, skipped, nil
}

// Restore loads the rules engine's state and the de-duplication window from
// the store, so a restart neither resets timers nor repeats effects. What
// people did with alarms after a household's state was last written
// (accepted, closed: the process died before the state's flush) is applied
// again, so the rule is re-armed as it was before the crash.
func (p *Pipeline) Restore(ctx context.Context) error {
	n, skipped := 0, 0
	if p.owns == nil {
		// (a partitioned source, StartJetStream, restores each household as
		// it takes its partition over: the engine holds only its own)
		var err error
		if n, skipped, err = p.restoreStates(ctx, nil); err != nil {
			return err
		}
	}
	// the log's end is read before the changes: one made between the two
	// reads is then applied here and again by the first batch (re-arming is
	// idempotent), never skipped
	seq, err := p.store.LastAlarmStateSeq(ctx)
	if err != nil {
		return err
	}
	rearmed := 0
	if err := p.store.UnappliedAlarmStateChanges(ctx, func(c anxin.AlarmStateChange) {
		if c.State != anxin.AlarmOpen {
			p.engine.Closed(c.Household, c.Rule)
			rearmed++
		}
	}); err != nil {
		return err
	}
	now := p.now()
	if err := p.store.SeenIDs(ctx, now.Add(-p.cfg.DedupWindow), func(id string, at time.Time) { p.seen.Add(id, at) }); err != nil {
		return err
	}
	p.stateSeq = seq
	p.log.Info("ingest state restored", "households", n, "seen_ids", p.seen.Len(), "alarm_changes_applied", rearmed,
		"unregistered_skipped", skipped)
	return nil
}

// Deliver hands a message to the batch loop, waiting while the loop is
// full (paho's router waits with it: back-pressure down to the socket).
func (p *Pipeline) Deliver(ctx context.Context, d Delivery) error {
	if urgent(d.Topic) {
		return p.deliverUrgent(ctx, d)
	}
	return p.queue.put(ctx, []Delivery{d})
}

// urgent: a message that is not a meter reading (a button press, a
// status) must not wait behind a flood of readings.
func urgent(topic string) bool { return !strings.HasSuffix(topic, "/reading") }

func (p *Pipeline) deliverUrgent(ctx context.Context, d Delivery) error {
	select {
	case p.priority <- d:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DeliverRun hands a run of messages to the batch loop at once: what one
// socket read brought, parsed. Events and statuses go first, each as
// Deliver would; then the readings, in their order, in one hand-over (one
// lock and at most one wake-up of the batch loop, not one a message),
// waiting while the loop is full. ds is the pipeline's until DeliverRun
// returns (it moves the readings to its front, and the Last of the run's
// end to the last of them); the caller may then reuse it. When ctx ends
// first, what was not handed over is never acknowledged.
func (p *Pipeline) DeliverRun(ctx context.Context, ds []Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	last := ds[len(ds)-1].Last
	n := 0
	for i := range ds {
		if urgent(ds[i].Topic) {
			if err := p.deliverUrgent(ctx, ds[i]); err != nil {
				return err
			}
			continue
		}
		ds[n] = ds[i]
		n++
	}
	if n == 0 {
		return nil
	}
	ds[n-1].Last = last
	return p.queue.put(ctx, ds[:n])
}

// FlushAcksWith has f called after each batch's acknowledgements, so a
// source that buffers them (the MQTT client) sends them in one write at
// once rather than on a timer.
func (p *Pipeline) FlushAcksWith(f func()) { p.flushAcks.Store(&f) }

// DeliverCommitted hands a message to the batch loop and returns once the
// batch holding it is committed: for a broker inside alarmd, which
// acknowledges the publisher only after this returns. When ctx ends first
// it returns ctx's error and the message counts as not taken (the broker
// refuses it; the publisher sends it again).
func (p *Pipeline) DeliverCommitted(ctx context.Context, topic string, payload []byte) error {
	done := make(chan struct{})
	var once sync.Once
	d := Delivery{Topic: topic, Payload: payload, Received: time.Now(), Ack: func() { once.Do(func() { close(done) }) }}
	if err := p.Deliver(ctx, d); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Healthy reports a store that refuses commits and a batch loop that is
// stuck on one task.
func (p *Pipeline) Healthy() error {
	p.mu.Lock()
	err := p.storeErr
	p.mu.Unlock()
	if d := p.stuckFor(); d > 0 {
		err = errors.Join(fmt.Errorf("the batch loop has been on one task for %s (a batch and its commit, timers, a state write or a take-over): readings and presses wait", d.Round(time.Second)), err)
	}
	return err
}

// busy marks the batch loop at work on a task from now, stuck after
// StuckAfter; busyLong one that may take longer (a take-over: a million
// households' restore), stuck after takeOverStuck × StuckAfter; idle,
// waiting for work.
func (p *Pipeline) busy()     { p.busyFor(p.cfg.StuckAfter) }
func (p *Pipeline) busyLong() { p.busyFor(takeOverStuck * p.cfg.StuckAfter) }
func (p *Pipeline) idle()     { p.busySince.Store(0) }

func (p *Pipeline) busyFor(limit time.Duration) {
	p.busyLimit.Store(int64(limit))
	p.busySince.Store(int64(time.Since(p.born)) + 1)
}

// takeOverStuck: a take-over (or give-up) is stuck after this many
// StuckAfter (10 min at the default): its store reads may hang too.
const takeOverStuck = 10

// stuckFor is how long the batch loop has been on its current task, when
// that is StuckAfter or longer (0 otherwise).
func (p *Pipeline) stuckFor() time.Duration {
	b := p.busySince.Load()
	if b == 0 {
		return 0
	}
	if d := time.Since(p.born) - time.Duration(b-1); d >= time.Duration(p.busyLimit.Load()) {
		return d
	}
	return 0
}

// Run is the batch loop; it returns when ctx is cancelled. Alarms still open
// from before are the escalator's to find in the store (its outbox): the
// hand-over after each commit is only the fast path.
func (p *Pipeline) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	escCtx, escCancel := context.WithCancel(context.WithoutCancel(ctx))
	wg.Add(1)
	go func() { defer wg.Done(); p.runEscalations(escCtx) }()
	defer func() {
		close(p.escalate)
		wg.Wait()
		escCancel()
	}()
	timer := time.NewTimer(p.cfg.TickEvery)
	defer timer.Stop()
	housekeeping := time.NewTicker(p.cfg.TickEvery)
	defer housekeeping.Stop()
	ticks := 0
	batch := make([]Delivery, 0, p.cfg.Batch)
	wait := time.NewTimer(0)
	<-wait.C
	defer p.idle()
	for {
		batch = batch[:0]
		p.idle()
		select {
		case <-ctx.Done():
			p.logStats(true)
			p.flushStates()
			return nil
		case d := <-p.priority:
			p.busy()
			batch = append(batch, d)
			batch = p.fill(ctx, batch, wait)
		case <-p.queue.ready:
			p.busy()
			if batch = p.fill(ctx, batch, wait); len(batch) == 0 {
				continue // announced readings an earlier batch took
			}
		case r := <-p.ctl:
			// a take-over may restore a million households' state (its
			// source renews its leases meanwhile): given longer
			p.busyLong()
			r.done <- r.fn(ctx)
			continue
		case r := <-p.away:
			p.busy()
			err := p.setAway(ctx, r)
			r.done <- err
			if err != nil && ctx.Err() != nil {
				p.flushStates()
				return nil
			}
			continue
		case <-timer.C:
			p.busy()
		case <-housekeeping.C:
			p.busy()
			if err := p.applyAwayMarks(ctx); err != nil {
				if ctx.Err() != nil {
					p.flushStates()
					return nil
				}
				p.log.Warn("away marks not applied; the next tick tries again", "err", err)
			}
			if rearmed := p.syncAlarmStates(ctx, nil, true); len(rearmed) > 0 {
				// commit the re-armed states now rather than at the next flush
				if _, err := p.commit(ctx, &anxin.IngestBatch{States: p.states(rearmed, false), At: p.now()}); err != nil {
					p.flushStates()
					return nil
				}
			}
			if ticks++; ticks%60 == 0 {
				p.trimSeen(ctx)
			}
			continue
		}
		if err := p.process(ctx, batch); err != nil {
			p.flushStates()
			return nil // only when ctx is cancelled: unacked messages come again
		}
		timer.Reset(p.untilDeadline())
	}
}

// fill collects more deliveries until the batch is full, BatchWait has
// passed since its first message (a bound on the delay a batch adds), or
// the flow paused: nothing came during an idleGap. A broker that holds
// back unacknowledged messages (mosquitto's per-client in-flight window)
// pauses until this batch is acknowledged, so waiting out BatchWait then
// only delays the acks that let it go on. The loop sleeps on a timer
// between looks instead of waking for every message. Events come first:
// a batch holding one takes no more readings (their processing would hold
// up its commit) and is not kept waiting for more. batch may start empty
// (the readings' queue announced some): it may end empty too.
func (p *Pipeline) fill(ctx context.Context, batch []Delivery, wait *time.Timer) []Delivery {
	// (Go ≥ 1.23 timers: Stop and Reset leave no stale tick to drain)
	defer wait.Stop()
	hasUrgent := len(batch) > 0 && urgent(batch[0].Topic)
	deadline := time.Now().Add(p.cfg.BatchWait)
	slept := -1 // the batch's length before the last sleep
	for {
	drain:
		for len(batch) < cap(batch) {
			select {
			case d := <-p.priority:
				batch, hasUrgent = append(batch, d), true
				continue
			default:
			}
			if hasUrgent {
				break drain
			}
			n := len(batch)
			if batch = p.queue.take(batch); len(batch) == n {
				break drain
			}
		}
		if hasUrgent {
			// the readings wait for the next batch, announced: this one
			// may have begun on their token, and filled up with events
			// before any take
			p.queue.announce()
		}
		if len(batch) == 0 || hasUrgent || len(batch) >= cap(batch) || len(batch) == slept || batch[len(batch)-1].Last {
			return batch
		}
		left := time.Until(deadline)
		if left <= 0 {
			return batch
		}
		slept = len(batch)
		p.stats.sleeps++
		wait.Reset(min(left, idleGap))
		select {
		case d := <-p.priority:
			batch, hasUrgent = append(batch, d), true
		case <-wait.C:
		case <-ctx.Done():
			return batch
		}
	}
}

// idleGap is how long fill waits for more before it takes the flow for
// paused (see fill).
const idleGap = 500 * time.Microsecond

// untilDeadline is how long to wait before the next timer check.
func (p *Pipeline) untilDeadline() time.Duration {
	d := p.cfg.TickEvery
	if next := p.engine.NextDeadline(); !next.IsZero() {
		d = min(d, max(next.Sub(p.now()), time.Millisecond))
	}
	return d
}

// process runs one batch: validate, de-duplicate, rules, archive, commit,
// acknowledge, escalate.
func (p *Pipeline) process(ctx context.Context, batch []Delivery) error {
	now := p.now()
	p.stats.waiting += len(batch) + p.queue.len() + len(p.priority) // unacknowledged as the batch closes
	var changes []anxin.AlarmChange
	var seenIDs []string
	// (both the batch loop's, reused batch after batch)
	received := p.received // message id → arrival, for alarm latency
	urgent := p.urgent     // households whose state must commit with this batch
	clear(received)
	clear(urgent)
	// what people did with alarms up to now goes in before this batch's
	// messages: a press after an accept or close opens a new alarm
	p.syncAlarmStates(ctx, urgent, false)
	for i := range batch {
		d := &batch[i]
		p.m.received.Inc()
		if strings.HasSuffix(d.Topic, "/status") {
			// anxin/v1/<hh>/gateway/status (the gateway's, its will) or
			// anxin/v1/<hh>/<dev>/status (a device's own, since 2026-12-02)
			hh, dev, _, err := anxin.ParseTopic(d.Topic)
			if err != nil {
				p.reject("topic", d.Topic, err)
				continue
			}
			if len(d.Payload) == 0 { // a cleared retained status
				continue
			}
			if !p.owned(hh) {
				p.handBack(d)
				continue
			}
			if !p.believe(hh, dev, now) {
				continue
			}
			st, err := anxin.ParseStatus(d.Payload)
			if err != nil {
				p.reject("status", d.Topic, err)
				continue
			}
			if !st.TS.IsZero() && p.clockUnset(hh, st.TS, now) {
				st.TS = time.Time{} // dated by the engine's clock
			}
			changes = p.decide(changes, p.engine.ObserveStatus(now, hh, dev, st)) // dev "gateway": the gateway's
			// a status is rare and starts a timer: its rule state commits
			// with this batch, as an event's does
			urgent[hh] = true
			continue
		}
		// the message lives in the pipeline, not on process's stack: its
		// address goes to interfaces (engine, archive), which would move
		// each one to the heap, an allocation a message (nobody keeps it)
		m := &p.msg
		var err error
		if *m, err = p.parser.parse(d.Topic, d.Payload); err != nil {
			reason := "contract"
			if len(d.Payload) > anxin.MaxPayload {
				reason = "too_large"
			} else if _, _, _, terr := anxin.ParseTopic(d.Topic); terr != nil || strings.Contains(err.Error(), "topic") {
				reason = "topic"
			}
			p.reject(reason, d.Topic, err)
			continue
		}
		if !p.owned(m.Household) {
			p.handBack(d)
			continue
		}
		if !p.believe(m.Household, m.Device, now) {
			continue
		}
		if p.clockUnset(m.Household, m.TS, now) {
			m.TS = now
		}
		// ids are unique per gateway, not across them: one home's id must
		// not suppress another's press
		key := p.seen.key2(m.Household, m.ID)
		if p.seen.hasKey(key) {
			p.m.duplicates.Inc()
			if p.ackArchive != nil && d.Ack != nil {
				// its first copy may still wait in the archive's queue (or
				// have been dropped there): this one is acknowledged only
				// once it is written too (the same point, stored again)
				p.archiveThenAck(d, m)
			}
			continue
		}
		p.seen.addNew(key, now)
		n := len(changes)
		changes = p.decide(changes, p.engine.Observe(now, m))
		if len(changes) > n || m.IsEvent() {
			seenIDs = append(seenIDs, dedupKey(m))
			received[m.ID] = d.Received
			urgent[m.Household] = true
		}
		switch {
		case p.ackArchive != nil && d.Ack != nil:
			p.archiveThenAck(d, m)
		case p.archive != nil:
			p.archive.Write(m)
		}
	}
	if next := p.engine.NextDeadline(); !next.IsZero() && !next.After(now) {
		changes = p.decide(changes, p.engine.Tick(now))
	}
	for _, c := range changes {
		urgent[c.Household] = true
	}
	b := &anxin.IngestBatch{Changes: changes, SeenIDs: seenIDs, At: now}
	b.States = p.states(urgent, false)
	lost := p.leasesLost
	res, err := p.commit(ctx, b)
	if err != nil {
		return err
	}
	if p.leasesLost != lost {
		p.handBackLost(batch) // their share of the batch was not committed
	}
	for i := range batch {
		if batch[i].Ack != nil {
			batch[i].Ack()
		}
	}
	if f := p.flushAcks.Load(); f != nil && len(batch) > 0 {
		(*f)()
	}
	if len(batch) > 0 {
		p.m.batches.Observe(float64(len(batch)))
		p.stats.batches++
		p.stats.messages += len(batch)
		p.stats.maxBatch = max(p.stats.maxBatch, len(batch))
		p.logStats(false)
	}
	p.handOver(res, received, "cleared by the device")
	return nil
}

// dedupKey is what de-duplication remembers of a message: household/id
// (a household id has no "/"), in memory and in the store's seen_ids.
func dedupKey(m *anxin.Message) string { return m.Household + "/" + m.ID }

// handOver logs a commit's new and closed alarms and hands the family ones
// to escalation; why is said of the closed ones.
func (p *Pipeline) handOver(res anxin.IngestResult, received map[string]time.Time, why string) {
	committed := time.Now()
	for _, a := range res.Opened {
		var since time.Duration // from the message's arrival to the commit (0: a timer's alarm)
		if t, ok := received[a.MessageID]; ok && !t.IsZero() {
			since = committed.Sub(t)
			p.m.latency.Observe(since.Seconds())
		}
		p.log.Info("alarm opened", "alarm", a.ID, "household", a.Household, "rule", a.Rule, "severity", a.Severity,
			"route", a.Route, "reason", a.Reason, "since_arrival", since)
		if a.Route == anxin.RouteFamily {
			p.escalate <- escalation{alarm: a}
		}
	}
	for _, a := range res.Closed {
		p.log.Info("alarm resolved", "alarm", a.ID, "household", a.Household, "rule", a.Rule, "why", why)
		if a.Route == anxin.RouteFamily {
			p.escalate <- escalation{alarm: a, resolve: true, why: why}
		}
	}
}

// SetAway marks a household away (visiting family, in hospital: its no-use
// rules pause and their open alarms close) or back (their timers restart
// now). The mark is stored first, so it lasts whichever alarmd took it:
// the one holding the household's partition applies it (here at once,
// returning once the change and what it closed are committed; elsewhere
// at that alarmd's next housekeeping tick, or when it takes the
// partition over).
func (p *Pipeline) SetAway(ctx context.Context, household string, away bool) error {
	if _, err := p.store.PutAwayMark(ctx, household, away, p.now()); err != nil {
		return err
	}
	r := awayRequest{household: household, done: make(chan error, 1)}
	return roundTrip(ctx, p.away, r, r.done)
}

// Away reports whether a household is marked away: its last stored mark,
// or what the rules hold when it has none (a mark from before marks were
// stored, known to the household's owner only).
func (p *Pipeline) Away(ctx context.Context, household string) (bool, error) {
	m, err := p.store.AwayMark(ctx, household)
	if anxin.ErrorCode(err) == anxin.ENOTFOUND {
		return p.engine.Away(household), nil
	}
	return m.Away, err
}

// setAway applies the household's last mark if this alarmd holds it (in
// the batch loop); another alarmd's household is its owner's to apply.
func (p *Pipeline) setAway(ctx context.Context, r awayRequest) error {
	if !p.owned(r.household) {
		return nil
	}
	m, err := p.store.AwayMark(ctx, r.household)
	if err != nil || m.Applied {
		return err
	}
	return p.applyAwayMark(ctx, m)
}

// applyAwayMarks applies the stored marks not applied yet of the
// households this alarmd holds (in the batch loop).
func (p *Pipeline) applyAwayMarks(ctx context.Context) error {
	ms, err := p.store.PendingAwayMarks(ctx)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if !p.owned(m.Household) {
			continue
		}
		if err := p.applyAwayMark(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// applyAwayMark pauses or restarts the household's rules, commits what
// that closed with the household's rule state (which now holds the mark),
// then records the mark applied. A crash between the two applies it again:
// the engine, restored with the mark, changes nothing.
func (p *Pipeline) applyAwayMark(ctx context.Context, m anxin.AwayMark) error {
	now := p.now()
	changes := p.decide(nil, p.engine.SetAway(now, m.Household, m.Away))
	b := &anxin.IngestBatch{Changes: changes, At: now}
	b.States = p.states(map[string]bool{m.Household: true}, false)
	res, err := p.commit(ctx, b)
	if err != nil {
		return err
	}
	why := "the elder is back"
	if m.Away {
		why = "the elder is marked away"
	}
	p.handOver(res, nil, why)
	if !p.owned(m.Household) {
		return nil // its lease was lost before the commit: the mark stays the new owner's to apply
	}
	return p.store.AwayMarkApplied(ctx, m.Household, m.Version)
}

// states takes the engine's dirty states: those of urgent households go
// into this batch; the rest stay dirty in the engine until StateFlush has
// passed, then are written stateChunk per batch (encoded as they are taken)
// so a flush of a whole district never holds up one batch (and its alarms)
// for long, nor holds a district's states encoded at once.
func (p *Pipeline) states(urgent map[string]bool, all bool) []anxin.RuleState {
	var out []anxin.RuleState
	// every state change the engine holds is applied up to p.stateSeq (the
	// batch loop applies them and encodes states, nobody else)
	take := p.take(&out)
	if all {
		p.engine.TakeDirty(-1, nil, take)
		return out
	}
	for hh := range urgent {
		if st, ok := p.engine.DirtyState(hh); ok {
			take(hh, st)
		}
	}
	if !p.flushing && time.Since(p.lastFlush) >= p.cfg.StateFlush {
		if p.flushLeft = p.engine.DirtyCount(); p.flushLeft > 0 {
			p.flushing = true
		} else {
			p.lastFlush = time.Now() // nothing was dirty
		}
	}
	if p.flushing {
		n := p.engine.TakeDirty(stateChunk, nil, take)
		if p.flushLeft -= n; p.flushLeft <= 0 || n < stateChunk {
			p.flushing = false
			p.lastFlush = time.Now()
		}
	}
	return out
}

// stateChunk bounds the quiet households' rule states written with one batch.
const stateChunk = 250

// flushStates writes the pending rule states at shutdown: first every
// learned change, in one transaction; then, seenChunk a transaction while
// shutdownWrite lasts, the states whose readings only advanced last-seen
// times (DeferSeen). One not written in time lags by at most what the
// engine allows for at restore (ingest.seen_flush), as after a crash.
func (p *Pipeline) flushStates() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownWrite)
	defer cancel()
	start := time.Now()
	if b := (&anxin.IngestBatch{States: p.states(nil, true), At: p.now()}); len(b.States) > 0 {
		if _, err := p.applyIngest(ctx, b); err != nil {
			p.log.Error("rule state not saved at shutdown", "households", len(b.States), "err", err)
			return
		}
		p.m.states.Add(float64(len(b.States)))
	}
	seen := 0
	for ctx.Err() == nil {
		var states []anxin.RuleState
		if p.engine.TakeSeen(seenChunk, nil, p.take(&states)) == 0 {
			break
		}
		if len(states) == 0 {
			continue
		}
		if _, err := p.applyIngest(ctx, &anxin.IngestBatch{States: states, At: p.now()}); err != nil {
			p.log.Warn("last-seen times not all saved at shutdown; the restore allows for them", "written", seen, "err", err)
			return
		}
		p.m.states.Add(float64(len(states)))
		seen += len(states)
	}
	if seen > 0 {
		p.log.Info("last-seen times saved at shutdown", "households", seen, "seconds", time.Since(start).Seconds())
	}
}

// take is a TakeDirty / TakeSeen callback appending the states of the
// households this alarmd holds to *out, as of p.stateSeq.
func (p *Pipeline) take(out *[]anxin.RuleState) func(hh string, state []byte) {
	return func(hh string, state []byte) {
		if p.owned(hh) { // else another alarmd holds it: its state is the owner's to write
			*out = append(*out, anxin.RuleState{Household: hh, State: state, AppliedSeq: p.stateSeq})
		}
	}
}

// At shutdown the states whose readings only advanced last-seen times are
// written seenChunk a transaction for at most shutdownWrite.
const (
	seenChunk     = 20_000
	shutdownWrite = 10 * time.Second
)

// decide turns engine decisions into store changes.
func (p *Pipeline) decide(out []anxin.AlarmChange, ds []rules.Decision) []anxin.AlarmChange {
	for _, d := range ds {
		if !p.owned(d.Household) {
			continue // a timer of a household another alarmd now holds: its decisions are the owner's
		}
		p.m.decisions.WithLabelValues(string(d.Op)).Inc()
		out = append(out, anxin.AlarmChange{Op: anxin.AlarmOp(d.Op), Household: d.Household, Rule: d.Rule,
			RuleKind: d.RuleKind, Device: d.Device, Severity: d.Severity, Route: d.Route, At: d.At,
			Reason: d.Reason, Cause: d.Cause, MessageID: d.MessageID})
	}
	return out
}

// commit applies a batch, retrying until the store takes it: the decisions
// are in hand and the messages unacknowledged, so nothing is lost meanwhile.
func (p *Pipeline) commit(ctx context.Context, b *anxin.IngestBatch) (anxin.IngestResult, error) {
	if len(b.Changes) == 0 && len(b.SeenIDs) == 0 && len(b.States) == 0 {
		return anxin.IngestResult{}, nil
	}
	backoff := 50 * time.Millisecond
	for {
		start := time.Now()
		p.stats.commits++
		res, err := p.applyIngest(context.WithoutCancel(ctx), b)
		p.m.commit.Observe(time.Since(start).Seconds())
		p.mu.Lock()
		p.storeErr = err
		p.mu.Unlock()
		if err == nil {
			p.m.states.Add(float64(len(b.States)))
			return res, nil
		}
		p.m.storeErrs.Inc()
		p.log.Error("store refused a batch, retrying", "err", err, "changes", len(b.Changes))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return res, ctx.Err()
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// knows asks the register (everything is known without one).
func (p *Pipeline) knows(household, device string) (bool, bool) {
	if p.register == nil {
		return true, true
	}
	return p.register.Knows(household, device)
}

// believe reports whether a message of (household, device) comes from the
// register's kit; the rest is rejected, counted, and logged once an hour
// per household or device (an outsider flooding ids gets no log flood).
func (p *Pipeline) believe(household, device string, now time.Time) bool {
	hk, dk := p.knows(household, device)
	if hk && dk {
		return true
	}
	reason, key := "unknown_household", household
	if hk {
		reason, key = "unknown_device", household+"/"+device
	}
	p.m.rejected.WithLabelValues(reason).Inc()
	if n, ok := p.unknown.allow(key, now); ok {
		p.log.Warn("message rejected: not in the register", "reason", reason, "household", household,
			"device", device, "rejected_since_last", n)
	}
	return false
}

// clockFloor is older than any message a working gateway sends (its spool
// holds days, not years): a timestamp before it comes from a clock that was
// never set (1970, or an image's build date).
var clockFloor = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// clockUnset reports a timestamp from a gateway whose clock was never set.
// Such a message is taken, dated when alarmd received it, rather than
// rejected: the press behind it is real and must not be lost, and its own
// date would make the alarm read "Thu 1 Jan 08:00". Counted, and logged
// once an hour per household so an installer can fix the clock.
func (p *Pipeline) clockUnset(household string, ts, now time.Time) bool {
	if !ts.Before(clockFloor) {
		return false
	}
	p.m.clockUnset.Inc()
	if n, ok := p.clocks.allow(household, now); ok {
		p.log.Warn("gateway clock not set: message dated on receipt", "household", household,
			"ts", ts.UTC().Format(time.RFC3339), "since_last", n)
	}
	return true
}

func (p *Pipeline) reject(reason, topic string, err error) {
	p.m.rejected.WithLabelValues(reason).Inc()
	if n, ok := p.limiter.allow(reason, time.Now()); ok {
		p.log.Warn("message rejected", "reason", reason, "topic", clip(topic), "err", err, "suppressed_since_last", n)
	}
}

// trimSeen trims the de-duplication window in memory and in the store.
func (p *Pipeline) trimSeen(ctx context.Context) {
	now := p.now()
	p.seen.Expire(now)
	if _, err := p.store.ForgetSeenIDs(ctx, now.Add(-p.cfg.DedupWindow)); err != nil {
		p.log.Error("trimming the de-duplication window", "err", err)
	}
}

// syncAlarmStates re-arms rules whose alarms people closed (accepted,
// unanswered, resolved by staff): the engine then opens a new alarm on the
// next rising edge instead of attaching repeats. It runs before every batch
// (one indexed read, ~µs when nothing changed) and on the housekeeping
// tick; the households it re-armed are added to rearmed (made when nil)
// and returned, for their state to be written with the next commit.
func (p *Pipeline) syncAlarmStates(ctx context.Context, rearmed map[string]bool, full bool) map[string]bool {
	if v, ok := p.store.(alarmStateWrites); ok {
		// people change alarms through this process (the web app, the
		// escalator): the store counts those commits, and a batch reads
		// the log only when the count moved. Changes made by another
		// process (anxinctl) are read by the housekeeping tick (full).
		w := v.AlarmStateWrites()
		if !full && w == p.stateWrites {
			return rearmed
		}
		p.stateWrites = w // read before the log: a change committed after this is read next time
	}
	for {
		cs, err := p.store.AlarmStateChanges(ctx, p.stateSeq, 1000)
		if err != nil {
			p.log.Error("reading alarm state changes", "err", err)
			return rearmed
		}
		for _, c := range cs {
			p.stateSeq = c.Seq
			if c.State != anxin.AlarmOpen {
				p.engine.Closed(c.Household, c.Rule)
				if rearmed == nil {
					rearmed = make(map[string]bool)
				}
				rearmed[c.Household] = true
			}
		}
		if len(cs) < 1000 {
			return rearmed
		}
	}
}

// alarmStateWrites is a store that counts the alarm state changes this
// process committed (*sqlite.DB).
type alarmStateWrites interface {
	AlarmStateWrites() int64
}

// runEscalations tells the escalator of each commit's new and closed alarms
// outside the batch loop, so a slow notifier never holds up ingest. The
// escalator reads the alarm's committed state itself and retries what fails,
// so an error here is only logged.
func (p *Pipeline) runEscalations(ctx context.Context) {
	for e := range p.escalate {
		if p.escalator == nil {
			continue
		}
		var err error
		if e.resolve {
			err = p.escalator.Resolve(ctx, e.alarm.ID, e.why)
		} else {
			err = p.escalator.Escalate(ctx, e.alarm)
		}
		if err != nil {
			p.log.Error("escalation", "alarm", e.alarm.ID, "resolve", e.resolve, "err", err)
		}
	}
}

// logLimiter lets one line per reason through per second.
type logLimiter struct {
	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

func (l *logLimiter) allow(reason string, now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last, l.held = map[string]time.Time{}, map[string]int{}
	}
	if now.Sub(l.last[reason]) < time.Second {
		l.held[reason]++
		return 0, false
	}
	l.last[reason] = now
	n := l.held[reason]
	l.held[reason] = 0
	return n, true
}

// hourlyLog lets one line per key through per hour. It remembers at most
// hourlyKeys keys: an outsider sending ever new ids cannot grow it; when
// full, keys last logged over an hour ago are dropped, else all of them.
type hourlyLog struct {
	last map[string]time.Time
	held map[string]int
}

const hourlyKeys = 10_000

func (l *hourlyLog) allow(key string, now time.Time) (suppressed int, ok bool) {
	if l.last == nil {
		l.last, l.held = map[string]time.Time{}, map[string]int{}
	}
	if t, seen := l.last[key]; seen && now.Sub(t) < time.Hour {
		l.held[key]++
		return 0, false
	}
	if len(l.last) >= hourlyKeys {
		for k, t := range l.last {
			if now.Sub(t) >= time.Hour {
				delete(l.last, k)
				delete(l.held, k)
			}
		}
		if len(l.last) >= hourlyKeys {
			clear(l.last)
			clear(l.held)
		}
	}
	n := l.held[key]
	l.last[key], l.held[key] = now, 0
	return n, true
}

func clip(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
