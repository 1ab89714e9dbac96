// Package escalate walks an alarm's contact chain: an SMS with an
// acknowledgement link and a call asking for the key 1, contact after contact,
// round after round, until a person accepts. Every step and attempt is stored
// before it is sent, so a restart (even after kill -9) resumes the chain at the
// right step, sends nothing twice and keeps its deadlines.
//
// Chains start from committed state only: the store's open family alarms
// without a chain are the outbox, read at every hand-over and every
// SweepEvery, and a start that fails is retried with backoff. Writers of a
// chain or an attempt (a pass of the chain, a key press, an ack link, a
// status report, a close) never wait on each other: each write is checked
// against the row's version and redone on a fresh read when another came
// first, so a slow provider request never delays a key press.
package escalate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/metrics"
	"github.com/anxin-care/anxin/words"
)

// Store keeps chains and attempts (anxin.ChainStore: SaveChain and
// SaveAttempt refuse a stale write with ECONFLICT).
type Store = anxin.ChainStore

// Alarms reads alarms and records their outcome (a part of anxin.AlarmStore).
type Alarms interface {
	Alarm(ctx context.Context, id string) (anxin.Alarm, error)
	SetAlarmState(ctx context.Context, id string, st anxin.AlarmState, acceptedBy string, at time.Time) error
	// AlarmsAwaitingChain is the outbox: open family alarms of severity
	// critical or warning (and, with installers, open installer alarms) that
	// have no chain yet, oldest first (at most n).
	AlarmsAwaitingChain(ctx context.Context, n int, installers bool) ([]anxin.Alarm, error)
}

// Clock is the injected time: Now and a one-shot timer.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// SystemClock is the real clock (and the fake one inside a synctest bubble);
// NowFunc, when set, replaces time.Now.
type SystemClock struct{ NowFunc func() time.Time }

// Now is the current time.
func (c SystemClock) Now() time.Time {
	if c.NowFunc != nil {
		return c.NowFunc()
	}
	return time.Now()
}

// AfterFunc runs f after d.
func (SystemClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// Config is the chain's pace and links.
type Config struct {
	PublicURL     string         // http.public_url: ack links are {PublicURL}/ack/<token>
	AckTimeout    time.Duration  // wait per step before the next (default 3m)
	Rounds        int            // walks of the whole chain (default 2)
	ElderFirst    bool           // warning alarms ring the elder before the chain
	AckSecret     []byte         // HMAC key of ack links (at least 16 bytes)
	AckLinkTTL    time.Duration  // how long an ack link works (default 24h)
	FollowUpAfter time.Duration  // follow-up visit due this long after the outcome (default 24h)
	SMSReplies    bool           // accept inbound SMS replies (never from +86: replies do not reach us)
	Location      *time.Location // for times in messages (default UTC+8, China Standard Time)
	Words         *words.Book    // writes every text people read (default zh-CN in Location)
	RetryMin      time.Duration  // first retry backoff (default 1s)
	RetryMax      time.Duration  // backoff cap (default 30s)
	SweepEvery    time.Duration  // how often the outbox is read besides hand-overs (default 5s)
	// DeliveryTimeout: with failover routes, a step's SMS or call that has
	// no delivery report (SMS delivered; call ringing or further) this long
	// after it was made moves to the next route (0: a send that the provider
	// accepted counts as delivered).
	DeliveryTimeout time.Duration
	RouteTries      int           // retryable failures on a route before the next is tried (default 3)
	DownAfter       int           // consecutive failures that mark a provider down (default 5)
	DownFor         time.Duration // how long a provider stays down (default 5m)
	// Installers are told of alarms routed to installers (device silent,
	// gateway offline, low battery, tamper) by SMS, once per device per day;
	// none: such alarms are only logged.
	Installers []anxin.Contact
	// Poll > 0 is cluster mode (several alarmd on one database, cluster.go):
	// every pass of a chain claims the chain's lease in the store first,
	// renews it before every provider request, and releases it with the
	// chain's next wake time; the store is read every Poll for chains that
	// fell due. 0: one process, passes serialised in memory (as before).
	Poll time.Duration
	// Lease is how long a claim holds unrenewed (cluster mode): the longest
	// a dead instance keeps a chain from the others. Must exceed Poll.
	Lease time.Duration
	// Instance names this process among the others (the lease's owner).
	Instance string
}

// Options are a Service's parts.
type Options struct {
	Config     Config
	Store      Store
	Alarms     Alarms
	Households anxin.Households
	Visits     anxin.Visits // nil: outcomes are only logged
	Notifier   anxin.Notifier
	Provider   string // name stored with attempts: twilio, log, …
	// Routes are the providers of each channel in failover order; nil: the
	// one Notifier for both. With Routes, attempt ids end in @<provider>.
	Routes  map[anxin.Channel][]Route
	Clock   Clock // nil: SystemClock{}
	Logger  *slog.Logger
	Metrics metrics.Registerer // nil: none
}

// Service walks contact chains. It implements anxin.Escalator and
// anxin.DeliveryReports, and serves the ack links.
type Service struct {
	cfg        Config
	store      Store
	alarms     Alarms
	households anxin.Households
	visits     anxin.Visits
	routes     map[anxin.Channel][]Route
	suffixed   bool                      // attempt ids end in @<provider>
	notifiers  map[string]anxin.Notifier // by provider name
	health     *providerHealth
	installers []anxin.ChainTarget
	clock      Clock
	unclearMu  sync.Mutex
	unclear    map[string]time.Time // who was told how to accept, when (unclearOnce)
	log        *slog.Logger
	metrics    escMetrics
	claims     anxin.ChainClaims // cluster mode only (Config.Poll > 0)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	driving  map[string]*driveLock // one pass of a chain at a time
	timers   map[string]func() bool
	failures map[string]int          // consecutive failed passes per chain, for backoff
	waiting  map[string]waitingStart // alarms whose chain could not start yet
	sweeping bool
	sweepAt  func() bool // the outbox timer's stop
	polling  bool
	pollAt   func() bool // the due-chains poll's stop (cluster mode)
	killed   bool        // tests: stopped as by SIGKILL, leases kept

	// beforeCancel, when set (tests), runs between recording a call's end
	// and asking the provider for it; an error stops there, as a crash would.
	// Atomic: a test sets it while the chain's passes run on their timers.
	beforeCancel atomic.Pointer[func(attemptID string) error]

	// sendTimers: per chain, its attempts' waits for a delivery report
	// on the monotonic clock (undelivered)
	sendTimers map[string]map[string]*sendTimer
}

// driveLock serialises the passes of one chain (a channel of one slot, so a
// pass waiting behind another is a blocked receive, as synctest needs); refs
// counts its holders and waiters, so the map forgets chains nobody drives.
type driveLock struct {
	slot chan struct{}
	refs int
}

// waitingStart is an alarm whose chain could not start: retried with backoff.
type waitingStart struct {
	tries int
	since time.Time
	next  time.Time
}

// New checks the options and builds a Service; Start resumes stored chains.
func New(o Options) (*Service, error) {
	c := o.Config
	if c.AckTimeout <= 0 {
		c.AckTimeout = 3 * time.Minute
	}
	if c.Rounds <= 0 {
		c.Rounds = 2
	}
	if c.AckLinkTTL <= 0 {
		c.AckLinkTTL = 24 * time.Hour
	}
	if c.FollowUpAfter <= 0 {
		c.FollowUpAfter = 24 * time.Hour
	}
	if c.Location == nil {
		c.Location = time.FixedZone("CST", 8*3600)
	}
	if c.Words == nil {
		c.Words = words.Default().In(c.Location)
	}
	if c.RetryMin <= 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = 30 * time.Second
	}
	if c.SweepEvery <= 0 {
		c.SweepEvery = 5 * time.Second
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	switch {
	case len(c.AckSecret) < 16:
		return nil, errors.New("escalate: the ack secret must be at least 16 bytes")
	case o.Store == nil || o.Alarms == nil || o.Households == nil || (o.Notifier == nil && len(o.Routes) == 0):
		return nil, errors.New("escalate: store, alarms, households and notifier are required")
	case c.PublicURL == "":
		return nil, errors.New("escalate: public URL is required for ack links")
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Provider == "" {
		o.Provider = "unknown"
	}
	if c.RouteTries <= 0 {
		c.RouteTries = 3
	}
	if c.DownAfter <= 0 {
		c.DownAfter = 5
	}
	if c.DownFor <= 0 {
		c.DownFor = 5 * time.Minute
	}
	var claims anxin.ChainClaims
	if c.Poll > 0 {
		var ok bool
		if claims, ok = o.Store.(anxin.ChainClaims); !ok {
			return nil, errors.New("escalate: cluster mode (Poll > 0) needs a store with chain claims")
		}
		switch {
		case c.Instance == "":
			return nil, errors.New("escalate: cluster mode needs an instance name")
		case c.Lease <= c.Poll:
			return nil, errors.New("escalate: the lease must be longer than the poll interval")
		}
	}
	routes, suffixed, err := routesOf(o)
	if err != nil {
		return nil, err
	}
	notifiers := map[string]anxin.Notifier{}
	for _, rs := range routes {
		for _, r := range rs {
			notifiers[r.Provider] = r.Notifier
		}
	}
	met, err := newMetrics(o.Metrics)
	if err != nil {
		return nil, fmt.Errorf("escalate: metrics: %w", err)
	}
	var installers []anxin.ChainTarget
	for _, in := range c.Installers {
		if !anxin.ValidPhone(in.Phone) {
			return nil, errors.New("escalate: an installer has no valid E.164 phone number")
		}
		installers = append(installers, anxin.ChainTarget{Name: in.Name, Phone: in.Phone, Role: "installer"})
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{installers: installers,
		cfg: c, store: o.Store, alarms: o.Alarms, households: o.Households, visits: o.Visits,
		routes: routes, suffixed: suffixed, notifiers: notifiers, health: newProviderHealth(c.DownAfter, c.DownFor),
		clock: o.Clock, log: o.Logger, metrics: met, claims: claims,
		ctx: ctx, cancel: cancel, driving: map[string]*driveLock{}, timers: map[string]func() bool{},
		failures: map[string]int{}, waiting: map[string]waitingStart{}, sendTimers: map[string]map[string]*sendTimer{},
	}, nil
}

// Start resumes every chain the store holds unfinished (walking chains go on
// at their stored step and deadline, decided ones finish their notices),
// then reads the outbox now and every SweepEvery.
func (s *Service) Start(ctx context.Context) error {
	if s.claims != nil {
		// cluster mode: what is due (stored wake times, leases run out) is
		// read now and every Poll; chains still waiting wait in the store
		s.kickPoll()
		s.kickSweep()
		return nil
	}
	chains, err := s.store.UnfinishedChains(ctx)
	if err != nil {
		return err
	}
	for _, c := range chains {
		s.log.Info("chain resumed", "alarm", c.AlarmID, "state", c.State, "step", c.Step, "deadline", c.Deadline)
		s.kick(c.AlarmID)
	}
	s.kickSweep()
	return nil
}

// Close stops timers and waits for work under way.
func (s *Service) Close() error {
	s.halt(false)
	s.wg.Wait()
	return nil
}

// halt stops the timers and the sweep and poll, and cancels work under way;
// killed (tests: as SIGKILL would) also keeps held leases from release.
func (s *Service) halt(killed bool) {
	s.mu.Lock()
	s.closed = true
	if killed {
		s.killed = true
	}
	for id, stop := range s.timers {
		stop()
		delete(s.timers, id)
	}
	for id, ts := range s.sendTimers {
		for _, t := range ts {
			t.stop()
		}
		delete(s.sendTimers, id)
	}
	if s.sweepAt != nil {
		s.sweepAt()
	}
	if s.pollAt != nil {
		s.pollAt()
	}
	s.mu.Unlock()
	s.cancel()
}

// Escalate is the hand-over of a newly committed alarm: it starts the chain
// of what the store holds under that id (the alarm passed in may be stale: a
// close or a clear may have come since). A start that fails is not lost: it
// is retried with backoff from the outbox and counted in Waiting.
func (s *Service) Escalate(ctx context.Context, a anxin.Alarm) error {
	if !anxin.ValidID(a.ID) {
		return anxin.Errorf(anxin.EINVALID, "alarm id %q is not valid", a.ID)
	}
	if err := s.startChain(ctx, a.ID); err != nil {
		s.startFailed(a.ID, err)
	}
	return nil
}

// startChain creates the chain of an alarm that is open, for the family and
// not info, as the store holds it now. A chain that exists (walking, decided,
// or the marker a close leaves) is never made again.
func (s *Service) startChain(ctx context.Context, alarmID string) error {
	a, err := s.alarms.Alarm(ctx, alarmID)
	if err != nil {
		return fmt.Errorf("alarm %s: %w", alarmID, err)
	}
	notice := a.Route == anxin.RouteInstaller && len(s.installers) > 0
	if a.State != anxin.AlarmOpen || !(notice || (a.Route == anxin.RouteFamily && a.Severity != anxin.SeverityInfo)) {
		if a.State == anxin.AlarmOpen {
			s.log.Info("alarm only logged: not for the family and no installer route", "alarm", a.ID, "route", a.Route, "severity", a.Severity)
		}
		s.started(alarmID)
		return nil
	}
	now := s.clock.Now()
	c := anxin.Chain{
		AlarmID: a.ID, Household: a.Household, Severity: a.Severity, State: anxin.ChainWalking,
		StartedAt: now, UpdatedAt: now, AcceptedTarget: -1, // step 0's deadline is set by its send (advance)
	}
	if notice {
		c.State, c.Targets, c.Steps = anxin.ChainNotice, s.installers, []int{}
	} else {
		h, err := s.households.Household(ctx, a.Household)
		if err != nil {
			return fmt.Errorf("escalate alarm %s: %w", a.ID, err)
		}
		c.Targets, c.Steps = s.plan(&h, a.Severity)
	}
	created, err := s.store.CreateChain(ctx, &c)
	if err != nil {
		return err
	}
	if created {
		s.log.Info("chain started", "alarm", a.ID, "household", a.Household, "severity", a.Severity,
			"steps", len(c.Steps), "ack_timeout", s.cfg.AckTimeout)
	}
	s.started(alarmID)
	s.kick(a.ID)
	return nil
}

// startFailed keeps an alarm whose chain could not start for the outbox's
// next reads, with backoff.
func (s *Service) startFailed(alarmID string, err error) {
	now := s.clock.Now()
	s.mu.Lock()
	w, ok := s.waiting[alarmID]
	if !ok {
		w.since = now
	}
	w.tries++
	w.next = now.Add(s.backoff(w.tries))
	s.waiting[alarmID] = w
	n := len(s.waiting)
	s.mu.Unlock()
	s.metrics.startFailed(n)
	if w.tries&(w.tries-1) == 0 { // tries 1, 2, 4, 8 …: a stuck alarm does not flood the log
		s.log.Error("chain cannot start; will retry", "alarm", alarmID, "err", err, "tries", w.tries,
			"waiting_since", w.since, "next_try", w.next)
	}
}

func (s *Service) started(alarmID string) {
	s.mu.Lock()
	_, was := s.waiting[alarmID]
	delete(s.waiting, alarmID)
	n := len(s.waiting)
	s.mu.Unlock()
	if was {
		s.metrics.waitingNow(n)
		s.log.Info("chain started after retries", "alarm", alarmID)
	}
}

// Waiting is how many alarms have no chain because their start failed
// (alarmd's /healthz reports it until it is 0 again).
func (s *Service) Waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiting)
}

// kickSweep reads the outbox on a goroutine of its own (one at a time).
func (s *Service) kickSweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.sweeping {
		return
	}
	s.sweeping = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.sweep(s.ctx)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.sweeping = false
		if !s.closed {
			s.sweepAt = s.clock.AfterFunc(s.cfg.SweepEvery, s.kickSweep)
		}
	}()
}

// sweep starts the chain of every alarm in the outbox that is not backing
// off, and looks again at every alarm waiting after a failed start that the
// outbox no longer lists (closed meanwhile, or an installer alarm), so that
// Waiting goes back to 0.
func (s *Service) sweep(ctx context.Context) {
	const page = 5000 // ~20 ms at 10,000 open alarms; more stuck ones than this starve newer ones
	alarms, err := s.alarms.AlarmsAwaitingChain(ctx, page, len(s.installers) > 0)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("reading alarms awaiting a chain", "err", err)
		}
		return
	}
	now := s.clock.Now()
	listed := make(map[string]bool, len(alarms))
	for _, a := range alarms {
		listed[a.ID] = true
	}
	s.mu.Lock()
	var ids []string
	for id := range s.waiting {
		if !listed[id] {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	for _, a := range alarms {
		ids = append(ids, a.ID)
	}
	for _, id := range ids {
		s.mu.Lock()
		w, backingOff := s.waiting[id]
		s.mu.Unlock()
		if backingOff && now.Before(w.next) {
			continue
		}
		if !backingOff {
			s.log.Info("alarm found without a chain; starting it", "alarm", id)
		}
		if err := s.startChain(ctx, id); err != nil && ctx.Err() == nil {
			s.startFailed(id, err)
		}
	}
}

// plan snapshots the chain: targets and the order of steps over all rounds.
func (s *Service) plan(h *anxin.Household, sev anxin.Severity) ([]anxin.ChainTarget, []int) {
	var targets []anxin.ChainTarget
	var steps []int
	if sev == anxin.SeverityWarning && s.cfg.ElderFirst && anxin.ValidPhone(h.Elder.Phone) {
		targets = append(targets, anxin.ChainTarget{Name: h.Elder.Name, Phone: h.Elder.Phone, Relation: "elder"})
		steps = append(steps, 0)
	}
	first := len(targets)
	for _, c := range h.Chain() {
		targets = append(targets, anxin.ChainTarget{Name: c.Name, Phone: c.Phone, Relation: c.Relation, Role: c.Role})
	}
	for r := 0; r < s.cfg.Rounds; r++ {
		for i := first; i < len(targets); i++ {
			steps = append(steps, i)
		}
	}
	return targets, steps
}

// maxWriteTries bounds the re-reads of a versioned write that other writers
// keep beating (they are few per alarm: a pass, a press, a report).
const maxWriteTries = 16

// Resolve stops a chain because the alarm cleared or staff closed it (a
// walking one, or an unanswered one whose duty contacts were called out). An
// alarm with no chain yet gets a resolved one, so that no chain can start
// for it afterwards (a hand-over already queued, the outbox).
func (s *Service) Resolve(ctx context.Context, alarmID, reason string) error {
	for try := 1; ; try++ {
		c, err := s.store.Chain(ctx, alarmID)
		if anxin.ErrorCode(err) == anxin.ENOTFOUND {
			created, err := s.markResolved(ctx, alarmID)
			if err != nil {
				return err
			}
			if created {
				s.log.Info("alarm resolved before its chain started: none will start", "alarm", alarmID, "reason", reason)
				return nil
			}
			continue // a chain started meanwhile: stop it
		} else if err != nil {
			return err
		}
		if c.State != anxin.ChainWalking && c.State != anxin.ChainUnanswered {
			break
		}
		if c.State == anxin.ChainUnanswered {
			// its duty contacts were told to act at once: they (and everyone
			// told) hear that it is over, and a late link no longer accepts it
			c.Finished = false
		}
		c.State, c.UpdatedAt = anxin.ChainResolved, s.clock.Now()
		err = s.store.SaveChain(ctx, &c)
		if anxin.ErrorCode(err) == anxin.ECONFLICT && try < maxWriteTries {
			continue
		} else if err != nil {
			return err
		}
		s.metrics.chain("resolved")
		s.log.Info("chain stopped: alarm resolved", "alarm", alarmID, "reason", reason)
		break
	}
	s.nudge(ctx, alarmID)
	return nil
}

// markResolved stores a finished, resolved chain with no steps for an alarm
// that has none.
func (s *Service) markResolved(ctx context.Context, alarmID string) (bool, error) {
	hh := ""
	if a, err := s.alarms.Alarm(ctx, alarmID); err == nil {
		hh = a.Household
	}
	now := s.clock.Now()
	c := anxin.Chain{AlarmID: alarmID, Household: hh, State: anxin.ChainResolved, StartedAt: now, UpdatedAt: now,
		Targets: []anxin.ChainTarget{}, Steps: []int{}, Finished: true, AcceptedTarget: -1}
	created, err := s.store.CreateChain(ctx, &c)
	if created {
		s.started(alarmID)
	}
	return created, err
}

// lockDrive takes the chain's drive lock; the returned func releases it.
func (s *Service) lockDrive(alarmID string) func() {
	s.mu.Lock()
	l := s.driving[alarmID]
	if l == nil {
		l = &driveLock{slot: make(chan struct{}, 1)}
		s.driving[alarmID] = l
	}
	l.refs++
	s.mu.Unlock()
	l.slot <- struct{}{}
	return func() {
		<-l.slot
		s.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.driving, alarmID)
		}
		s.mu.Unlock()
	}
}

// kick drives a chain on a goroutine of its own.
func (s *Service) kick(alarmID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.drive(alarmID)
	}()
}

// arm sets the chain's one timer to wake at at (zero: none).
func (s *Service) arm(alarmID string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if stop := s.timers[alarmID]; stop != nil {
		stop()
		delete(s.timers, alarmID)
	}
	if s.closed || at.IsZero() {
		return
	}
	s.timers[alarmID] = s.clock.AfterFunc(max(at.Sub(s.clock.Now()), 0), func() { s.kick(alarmID) })
}

// drive brings one chain up to date with the clock and its attempts, then
// arms its timer for the next thing due. It is safe to run at any time and
// any number of times: everything it does is looked up in the store first.
// A pass that another writer overtook (a press, a close) is run again on
// what the store now holds.
func (s *Service) drive(alarmID string) {
	defer s.lockDrive(alarmID)()
	if s.claims != nil {
		s.driveClaimed(alarmID)
		return
	}
	if wake, ok := s.pass(s.ctx, alarmID); ok {
		s.arm(alarmID, wake)
	}
}

// pass runs advance (again on a fresh read when another writer overtook
// it) and says when the chain wants its next pass: a failed pass is retried
// with backoff. ok is false when the service is closing.
func (s *Service) pass(ctx context.Context, alarmID string) (wake time.Time, ok bool) {
	wake, err := s.advance(ctx, alarmID)
	for try := 1; anxin.ErrorCode(err) == anxin.ECONFLICT && try < maxWriteTries; try++ {
		wake, err = s.advance(ctx, alarmID)
	}
	if err != nil {
		if s.ctx.Err() != nil {
			return time.Time{}, false
		}
		if errors.Is(err, errLeaseLost) {
			s.log.Warn("chain lease lost during a pass; another instance has the chain", "alarm", alarmID)
			return time.Time{}, false
		}
		s.mu.Lock()
		s.failures[alarmID]++
		n := s.failures[alarmID]
		s.mu.Unlock()
		wake = s.clock.Now().Add(s.backoff(n))
		s.log.Error("chain step failed; retrying", "alarm", alarmID, "err", err, "next_try", wake)
	} else {
		s.mu.Lock()
		delete(s.failures, alarmID)
		s.mu.Unlock()
	}
	return wake, true
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// advance is one pass of the state machine, under the chain's lock.
func (s *Service) advance(ctx context.Context, alarmID string) (wake time.Time, err error) {
	c, err := s.store.Chain(ctx, alarmID)
	if err != nil {
		return time.Time{}, err
	}
	if c.Finished {
		s.forgetSendTimers(alarmID) // finished by another instance, say
		return time.Time{}, nil
	}
	for c.State == anxin.ChainWalking {
		now := s.clock.Now()
		if closed, err := s.alarmResolved(ctx, &c, now); err != nil {
			return time.Time{}, err
		} else if closed {
			break
		}
		if c.Step < len(c.Steps) {
			if err := s.clockWentBack(ctx, &c, now); err != nil {
				return time.Time{}, err
			}
			over, why, err := s.stepOver(ctx, &c, now)
			if err != nil {
				return time.Time{}, err
			}
			if !over {
				wake, err := s.sendStep(ctx, &c, now)
				if err != nil {
					return time.Time{}, err
				}
				if err := s.startWait(ctx, &c); err != nil {
					return time.Time{}, err
				}
				if over, _, err = s.stepOver(ctx, &c, now); err != nil || !over {
					return earliest(c.Deadline, wake), err
				}
				why = "call ended"
			}
			if err := s.closeStep(ctx, &c, now); err != nil {
				return time.Time{}, err
			}
			s.log.Info("step over", "alarm", alarmID, "step", c.Step, "why", why)
		}
		c.Step++
		c.Deadline, c.UpdatedAt = time.Time{}, now // not waited on until its requests are made
		if c.Step >= len(c.Steps) {
			c.Step, c.State, c.Deadline = len(c.Steps), anxin.ChainUnanswered, time.Time{}
			s.log.Warn("chain unanswered", "alarm", alarmID, "steps", len(c.Steps))
			s.metrics.chain("unanswered")
		}
		if err := s.store.SaveChain(ctx, &c); err != nil {
			return time.Time{}, err
		}
	}
	return s.finish(ctx, &c)
}

// clockWentBack brings a step's deadline that lies more than one ack
// timeout ahead back to one ack timeout from now. Only a clock set back
// since the step began (NTP correcting a clock that ran ahead) leaves one
// there (or a shorter ack timeout since a restart); kept, it would hold
// the step on one contact for as long as the clock jumped.
func (s *Service) clockWentBack(ctx context.Context, c *anxin.Chain, now time.Time) error {
	if c.Deadline.IsZero() || c.Deadline.Sub(now) <= s.cfg.AckTimeout {
		return nil
	}
	s.log.Warn("step deadline lies beyond one ack timeout (the clock was set back?): waiting one ack timeout from now",
		"alarm", c.AlarmID, "step", c.Step, "deadline", c.Deadline)
	c.Deadline, c.UpdatedAt = now.Add(s.cfg.AckTimeout), now
	return s.store.SaveChain(ctx, c)
}

// alarmResolved stops a walking chain whose alarm the store holds resolved
// (read before every step: a close or a clear whose hand-over was lost).
func (s *Service) alarmResolved(ctx context.Context, c *anxin.Chain, now time.Time) (bool, error) {
	a, err := s.alarms.Alarm(ctx, c.AlarmID)
	if err != nil || a.State != anxin.AlarmResolved {
		return false, nil // a missing alarm is told by context() where its words are needed
	}
	c.State, c.UpdatedAt = anxin.ChainResolved, now
	if err := s.store.SaveChain(ctx, c); err != nil {
		return false, err
	}
	s.metrics.chain("resolved")
	s.log.Info("chain stopped: the alarm is resolved", "alarm", c.AlarmID)
	return true, nil
}

// Attempt ids are deterministic, so a step's SMS or call has exactly one row.
func stepAttemptID(alarmID string, step int, ch anxin.Channel) string {
	return fmt.Sprintf("%s/s%d/%s", alarmID, step, ch)
}

func noticeAttemptID(alarmID string, p anxin.AttemptPurpose, target int) string {
	return fmt.Sprintf("%s/%s%d/sms", alarmID, p, target)
}

// callOver reports whether a call attempt ended without the key press
// (or was never placed): the step need not wait for its deadline.
func callOver(a *anxin.Attempt) bool {
	switch a.Status {
	case "busy", "no-answer", "failed", "canceled": // "failed" is also anxin.AttemptFailed
		return true
	case "completed":
		// voicemail or a fax: nobody listened
		return strings.HasPrefix(a.AnsweredBy, "machine") || a.AnsweredBy == "fax"
	}
	return false
}

// startWait starts the current step's ack timeout once sendStep has made its
// requests (or recorded their failure or retry). A step's deadline counts
// only from there: a pass that lost its lease (or crashed, or failed) between
// starting the step and its requests leaves no deadline, so the next pass
// sends the step before it waits on it, instead of finding a deadline that
// ran out while nobody was rung and closing the step as timed out.
func (s *Service) startWait(ctx context.Context, c *anxin.Chain) error {
	if !c.Deadline.IsZero() {
		return nil
	}
	now := s.clock.Now()
	c.Deadline, c.UpdatedAt = now.Add(s.cfg.AckTimeout), now
	return s.store.SaveChain(ctx, c)
}

func (s *Service) stepOver(ctx context.Context, c *anxin.Chain, now time.Time) (bool, string, error) {
	if !c.Deadline.IsZero() && !now.Before(c.Deadline) {
		return true, "ack timeout", nil
	}
	// the call of the route the step has come to: one that failed on a
	// route with another after it is not over, it fails over
	a, last, found, err := s.currentAttempt(ctx, stepAttemptID(c.AlarmID, c.Step, anxin.ChannelVoice), anxin.ChannelVoice)
	if err != nil || !found {
		return false, "", err
	}
	if callOver(&a) && (last || !s.failedOnRoute(&a, now)) {
		return true, "call " + a.Status, nil
	}
	return false, "", nil
}

// closeStep settles the attempts of a step that is over: retries stop, and
// a request whose fate is unknown (a crash, a lost answer) is looked up so the
// record says whether it reached the person.
func (s *Service) closeStep(ctx context.Context, c *anxin.Chain, now time.Time) error {
	var ns []anxin.Notification
	ids := s.stepAttemptIDs(c.AlarmID, c.Step)
	defer s.forgetSendTimers(c.AlarmID, ids...)
	for _, id := range ids {
		a, err := s.store.Attempt(ctx, id)
		if anxin.ErrorCode(err) == anxin.ENOTFOUND {
			continue
		} else if err != nil {
			return err
		}
		ch := a.Channel
		switch a.Status {
		case anxin.AttemptRetry:
			_, err = s.updateAttempt(ctx, a.ID, func(a *anxin.Attempt) bool {
				if a.Status != anxin.AttemptRetry {
					return false
				}
				a.Status, a.Error, a.UpdatedAt = anxin.AttemptFailed, "gave up: step over; "+a.Error, now
				return true
			})
		case anxin.AttemptSending:
			if ns == nil {
				if ns, err = s.stepNotifications(ctx, c); err != nil {
					return err
				}
			}
			for _, n := range ns {
				if n.Channel != ch {
					continue
				}
				n.AttemptID = a.ID
				found, lerr := s.adopt(ctx, &a, n)
				switch {
				case lerr != nil:
					s.log.Warn("step over; cannot tell whether its request went through", "attempt", a.ID, "err", lerr)
				case !found:
					_, err = s.updateAttempt(ctx, a.ID, func(a *anxin.Attempt) bool {
						if a.Status != anxin.AttemptSending {
							return false
						}
						a.Status, a.Error, a.UpdatedAt = anxin.AttemptFailed, "not sent: step over; "+a.Error, now
						return true
					})
				}
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// updateAttempt applies change to the attempt as the store holds it and
// saves it, again on a fresh read when another writer came first. change
// returns false when there is nothing to write.
func (s *Service) updateAttempt(ctx context.Context, id string, change func(a *anxin.Attempt) bool) (anxin.Attempt, error) {
	for try := 1; ; try++ {
		a, err := s.store.Attempt(ctx, id)
		if err != nil {
			return a, err
		}
		if !change(&a) {
			return a, nil
		}
		err = s.store.SaveAttempt(ctx, &a)
		if anxin.ErrorCode(err) == anxin.ECONFLICT && !errors.Is(err, anxin.ErrProviderIDHeld) && try < maxWriteTries {
			continue // another writer came first: apply the change to what it wrote
		}
		return a, err
	}
}

// adopt asks the provider whether an attempt's request went through and,
// if so, records the call or message as the attempt's own. A call or
// message another attempt holds is never taken (two alarms may ring the same
// person): such a candidate counts as not found.
func (s *Service) adopt(ctx context.Context, a *anxin.Attempt, n anxin.Notification) (bool, error) {
	candidates, err := s.notifierOf(a.Provider).Lookup(ctx, n, a.CreatedAt)
	if err != nil {
		return false, err
	}
	for _, pid := range candidates {
		held, err := s.store.AttemptByProviderID(ctx, a.Provider, pid)
		switch {
		case err == nil && held.ID != a.ID:
			continue
		case err != nil && anxin.ErrorCode(err) != anxin.ENOTFOUND:
			return false, err
		}
		got, err := s.updateAttempt(ctx, a.ID, func(x *anxin.Attempt) bool {
			if x.ProviderID != "" {
				return false // a status report named it meanwhile
			}
			x.ProviderID, x.UpdatedAt = pid, s.clock.Now()
			if x.Status == anxin.AttemptSending {
				x.Status = "queued"
			}
			return true
		})
		if errors.Is(err, anxin.ErrProviderIDHeld) {
			continue // another attempt took this one first
		} else if err != nil {
			return false, err
		}
		*a = got
		s.metrics.send(string(a.Channel), "found")
		s.log.Info("send had gone through; not sending again", "attempt", a.ID, "provider_id", a.ProviderID)
		return true, nil
	}
	return false, nil
}

// stepNotifications are the current step's SMS (not for the elder) and call.
// They are built the same way every time, so a Lookup can match them.
func (s *Service) stepNotifications(ctx context.Context, c *anxin.Chain) ([]anxin.Notification, error) {
	t := c.Targets[c.Steps[c.Step]]
	alarm, h, err := s.context(ctx, c)
	if err != nil {
		return nil, err
	}
	var ns []anxin.Notification
	if t.Relation != "elder" { // the elder gets the call only
		link, err := s.ackLink(ctx, c, c.Step)
		if err != nil {
			return nil, err
		}
		body, masked := smsBodies(s.cfg.Words, &alarm, &h, link)
		ns = append(ns, anxin.Notification{
			AttemptID: stepAttemptID(c.AlarmID, c.Step, anxin.ChannelSMS), AlarmID: c.AlarmID, To: t.Phone,
			Channel: anxin.ChannelSMS, Body: body, Masked: masked, AckURL: link, Rest: s.cfg.Words.Rest(link),
			Params: s.cfg.Words.Params(&alarm, &h, link),
		})
	}
	return append(ns, anxin.Notification{
		AttemptID: stepAttemptID(c.AlarmID, c.Step, anxin.ChannelVoice), AlarmID: c.AlarmID, To: t.Phone,
		Channel: anxin.ChannelVoice, Body: s.cfg.Words.Voice(&alarm, &h, t.Relation == "elder"), AskKey: true,
		Params: s.cfg.Words.Params(&alarm, &h, ""),
	}), nil
}

// sendStep makes sure the current step's SMS and call are sent.
func (s *Service) sendStep(ctx context.Context, c *anxin.Chain, now time.Time) (time.Time, error) {
	ns, err := s.stepNotifications(ctx, c)
	if err != nil {
		return time.Time{}, err
	}
	var wake time.Time
	for _, n := range ns {
		// a close or an acceptance while the previous request was slow: stop
		// before the next one (the pass is run again on what is stored)
		if cur, err := s.store.Chain(ctx, c.AlarmID); err != nil {
			return time.Time{}, err
		} else if cur.Version != c.Version {
			return time.Time{}, anxin.Errorf(anxin.ECONFLICT, "chain of alarm %s changed during its step", c.AlarmID)
		}
		w, err := s.ensureRoutes(ctx, anxin.PurposeStep, c.Step, c.Steps[c.Step], n, now)
		if err != nil {
			return time.Time{}, err
		}
		wake = earliest(wake, w)
	}
	return wake, nil
}

// context loads what the words of a message need.
func (s *Service) context(ctx context.Context, c *anxin.Chain) (anxin.Alarm, anxin.Household, error) {
	a, err := s.alarms.Alarm(ctx, c.AlarmID)
	if err != nil {
		return a, anxin.Household{}, fmt.Errorf("alarm %s: %w", c.AlarmID, err)
	}
	h, err := s.households.Household(ctx, c.Household)
	if anxin.ErrorCode(err) == anxin.ENOTFOUND {
		// the household left the config mid-chain: the snapshot still has the people
		h, err = anxin.Household{ID: c.Household}, nil
	}
	return a, h, err
}

func (s *Service) backoff(tries int) time.Duration {
	d := s.cfg.RetryMin
	for i := 1; i < tries && d < s.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, s.cfg.RetryMax)
}

// ensure sends one notification at most once. The attempt row is written as
// "sending" before the request; a row found "sending" later (after a crash or
// an unknown outcome) is looked up at the provider before anything is sent
// again. It returns when it wants to be called again (zero: never).
func (s *Service) ensure(ctx context.Context, p anxin.AttemptPurpose, step, target int, n anxin.Notification, r Route, now time.Time) (time.Time, error) {
	a := anxin.Attempt{
		ID: n.AttemptID, AlarmID: n.AlarmID, Purpose: p, Step: step, Target: target, Channel: n.Channel,
		Provider: r.Provider, Status: anxin.AttemptSending, Tries: 1, CreatedAt: now, UpdatedAt: now,
	}
	created, err := s.store.CreateAttempt(ctx, &a)
	if err != nil {
		return time.Time{}, err
	}
	if !created {
		if a, err = s.store.Attempt(ctx, n.AttemptID); err != nil {
			return time.Time{}, err
		}
		if a.AlarmID != n.AlarmID {
			// a notice keyed beyond one alarm (installers: device and day)
			// is sent, looked up and retried by the alarm that made it only
			return time.Time{}, nil
		}
		switch a.Status {
		case anxin.AttemptSending:
			// the first request may have gone through: check before sending again
			found, err := s.adopt(ctx, &a, n)
			if err != nil {
				// asked again later, less often the longer it stays unknown
				// (a modem cannot look sends up at all): the time since the
				// row last changed, between RetryMin and RetryMax
				wait := min(max(now.Sub(a.UpdatedAt), s.cfg.RetryMin, s.backoff(a.Tries)), s.cfg.RetryMax)
				s.log.Warn("cannot tell whether a send went through; will check again", "attempt", a.ID, "err", err, "next_check", wait)
				return now.Add(wait), nil
			}
			if found || a.Status != anxin.AttemptSending {
				return time.Time{}, nil
			}
			a.Tries++
			a.UpdatedAt = now
			if err := s.store.SaveAttempt(ctx, &a); err != nil {
				return time.Time{}, err
			}
		case anxin.AttemptRetry:
			if now.Before(a.NextTry) {
				return a.NextTry, nil
			}
			a.Status, a.UpdatedAt = anxin.AttemptSending, now
			a.Tries++
			if err := s.store.SaveAttempt(ctx, &a); err != nil {
				return time.Time{}, err
			}
		default:
			return time.Time{}, nil // sent, or failed for good
		}
	}
	return s.send(ctx, &a, n)
}

// send makes the request of an attempt this pass holds as "sending" and
// records its outcome on the attempt as the store then holds it: a status
// report may have come first (a call's "initiated" can beat the API's answer).
func (s *Service) send(ctx context.Context, a *anxin.Attempt, n anxin.Notification) (time.Time, error) {
	sctx, done, ferr := s.fence(ctx)
	if ferr != nil {
		return time.Time{}, ferr // the row stays "sending": the next holder looks it up first
	}
	pid, retry, err := s.notifierOf(a.Provider).Send(sctx, n)
	done()
	if err != nil && !retry && errors.Is(err, anxin.ErrAccount) && s.lastRoute(a.Channel, a.Provider) {
		// the account, not this message, was refused (balance, a suspended
		// account, credentials): with no route after this one, ending the
		// step would walk the whole chain to unanswered within the second
		// and ring nobody once an operator mends the account; retried, the
		// steps keep their pace and go out when it works again
		retry = true
	}
	now := s.clock.Now()
	if errors.Is(err, anxin.ErrNumber) {
		// that send's failure, not the provider's, unless it refuses other
		// numbers too (providerHealth)
		s.health.refusedNumber(a.Provider, n.To, now)
	} else {
		s.health.record(a.Provider, err == nil, now)
	}
	s.metrics.route(a.Provider, string(a.Channel), err == nil)
	var wake time.Time
	var change func(x *anxin.Attempt) bool
	switch {
	case err == nil:
		s.metrics.send(string(a.Channel), "sent")
		s.log.Info("sent", "attempt", a.ID, "channel", a.Channel, "to", anxin.MaskPhone(n.To), "provider_id", pid, "tries", a.Tries)
		change = func(x *anxin.Attempt) bool {
			if x.ProviderID == "" {
				x.ProviderID = pid
			}
			if x.Status == anxin.AttemptSending {
				x.Status = "queued"
			}
			x.Error, x.UpdatedAt = "", now
			return true
		}
	case retry && errors.Is(err, anxin.ErrMaybeSent):
		// stays "sending": the next pass looks it up before sending again
		s.metrics.send(string(a.Channel), "maybe_sent")
		s.log.Warn("send outcome unknown; will look it up", "attempt", a.ID, "err", err)
		wake = now.Add(s.backoff(a.Tries))
		change = func(x *anxin.Attempt) bool {
			x.Error, x.NextTry, x.UpdatedAt = err.Error(), wake, now
			return true
		}
	case retry:
		s.metrics.send(string(a.Channel), "retry")
		wake = now.Add(s.backoff(a.Tries))
		s.log.Warn("send failed; will retry", "attempt", a.ID, "err", err, "next_try", wake)
		change = func(x *anxin.Attempt) bool {
			if x.Status != anxin.AttemptSending {
				return false
			}
			x.Status, x.Error, x.NextTry, x.UpdatedAt = anxin.AttemptRetry, err.Error(), wake, now
			return true
		}
	default:
		s.metrics.send(string(a.Channel), "failed")
		s.log.Warn("send failed for good; moving on", "attempt", a.ID, "to", anxin.MaskPhone(n.To), "err", err)
		change = func(x *anxin.Attempt) bool {
			if x.Status != anxin.AttemptSending {
				return false
			}
			x.Status, x.Error, x.UpdatedAt = anxin.AttemptFailed, err.Error(), now
			return true
		}
	}
	got, serr := s.updateAttempt(ctx, a.ID, change)
	if err == nil && errors.Is(serr, anxin.ErrProviderIDHeld) {
		// a lookup of another attempt took the call or message this request
		// just made: the id the provider answered us with wins
		if serr = s.reclaim(ctx, a.Provider, pid); serr == nil {
			got, serr = s.updateAttempt(ctx, a.ID, change)
		}
	}
	if serr == nil {
		*a = got
	}
	return wake, serr
}

// reclaim takes a provider id back from the attempt that adopted it by
// lookup; that attempt is "sending" again, so its next pass looks up anew
// (skipping the id, now held by its maker) before sending.
func (s *Service) reclaim(ctx context.Context, provider, pid string) error {
	holder, err := s.store.AttemptByProviderID(ctx, provider, pid)
	if anxin.ErrorCode(err) == anxin.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	_, err = s.updateAttempt(ctx, holder.ID, func(x *anxin.Attempt) bool {
		if x.ProviderID != pid {
			return false
		}
		x.ProviderID, x.Status, x.UpdatedAt = "", anxin.AttemptSending, s.clock.Now()
		return true
	})
	s.log.Warn("provider id taken back from an attempt that had adopted it", "attempt", holder.ID, "provider_id", pid)
	s.nudge(ctx, holder.AlarmID)
	return err
}

var (
	_ anxin.Escalator       = (*Service)(nil)
	_ anxin.DeliveryReports = (*Service)(nil)
	_ anxin.Notifier        = (*LogNotifier)(nil)
)
