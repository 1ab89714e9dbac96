// Package escalate walks an alarm's contact chain: an SMS with an
// acknowledgement link and a call asking for the key 1, contact after contact,
// round after round, until a person accepts. Every step and attempt is stored
// before it is sent, so a restart (even after kill -9) resumes the chain at the
// right step, sends nothing twice and keeps its deadlines.
package escalate

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/words"
	"github.com/prometheus/client_golang/prometheus"
)

// Store keeps chains and attempts (*sqlite.DB implements it).
type Store interface {
	CreateChain(ctx context.Context, c *anxin.Chain) (created bool, err error)
	SaveChain(ctx context.Context, c *anxin.Chain) error
	Chain(ctx context.Context, alarmID string) (anxin.Chain, error)
	UnfinishedChains(ctx context.Context) ([]anxin.Chain, error)
	CreateAttempt(ctx context.Context, a *anxin.Attempt) (created bool, err error)
	SaveAttempt(ctx context.Context, a *anxin.Attempt) error
	Attempt(ctx context.Context, id string) (anxin.Attempt, error)
	Attempts(ctx context.Context, alarmID string) ([]anxin.Attempt, error)
}

// Alarms reads alarms and records their outcome (*sqlite.DB implements it).
type Alarms interface {
	Alarm(ctx context.Context, id string) (anxin.Alarm, error)
	SetAlarmState(ctx context.Context, id string, st anxin.AlarmState, acceptedBy string, at time.Time) error
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
	Clock      Clock  // nil: SystemClock{}
	Logger     *slog.Logger
	Metrics    prometheus.Registerer // nil: none
}

// Service walks contact chains. It implements anxin.Escalator and
// anxin.DeliveryReports, and serves the ack links.
type Service struct {
	cfg        Config
	store      Store
	alarms     Alarms
	households anxin.Households
	visits     anxin.Visits
	notifier   anxin.Notifier
	provider   string
	clock      Clock
	log        *slog.Logger
	metrics    metrics

	locks [256]sync.Mutex // per-alarm serialisation, striped by hash

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	timers   map[string]func() bool
	failures map[string]int // consecutive failed passes per chain, for backoff
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
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	switch {
	case len(c.AckSecret) < 16:
		return nil, errors.New("escalate: the ack secret must be at least 16 bytes")
	case o.Store == nil || o.Alarms == nil || o.Households == nil || o.Notifier == nil:
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
	met, err := newMetrics(o.Metrics)
	if err != nil {
		return nil, fmt.Errorf("escalate: metrics: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{
		cfg: c, store: o.Store, alarms: o.Alarms, households: o.Households, visits: o.Visits,
		notifier: o.Notifier, provider: o.Provider, clock: o.Clock, log: o.Logger, metrics: met,
		ctx: ctx, cancel: cancel, timers: map[string]func() bool{}, failures: map[string]int{},
	}, nil
}

// Start resumes every chain the store holds unfinished: walking chains go on
// at their stored step and deadline, decided ones finish their notices.
func (s *Service) Start(ctx context.Context) error {
	chains, err := s.store.UnfinishedChains(ctx)
	if err != nil {
		return err
	}
	for _, c := range chains {
		s.log.Info("chain resumed", "alarm", c.AlarmID, "state", c.State, "step", c.Step, "deadline", c.Deadline)
		s.kick(c.AlarmID)
	}
	return nil
}

// Close stops timers and waits for work under way.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	for id, stop := range s.timers {
		stop()
		delete(s.timers, id)
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

// Escalate starts the chain of a newly opened alarm (idempotent per alarm id).
// Alarms routed to installers or of severity info are only logged.
func (s *Service) Escalate(ctx context.Context, a anxin.Alarm) error {
	if a.Route != anxin.RouteFamily || a.Severity == anxin.SeverityInfo {
		s.log.Info("alarm not escalated to family", "alarm", a.ID, "route", a.Route, "severity", a.Severity)
		return nil
	}
	if !anxin.ValidID(a.ID) {
		return anxin.Errorf(anxin.EINVALID, "alarm id %q is not valid", a.ID)
	}
	h, err := s.households.Household(ctx, a.Household)
	if err != nil {
		return fmt.Errorf("escalate alarm %s: %w", a.ID, err)
	}
	now := s.clock.Now()
	c := anxin.Chain{
		AlarmID: a.ID, Household: a.Household, Severity: a.Severity, State: anxin.ChainWalking,
		StartedAt: now, UpdatedAt: now, Deadline: now.Add(s.cfg.AckTimeout),
	}
	c.Targets, c.Steps = s.plan(&h, a.Severity)
	created, err := s.store.CreateChain(ctx, &c)
	if err != nil {
		return err
	}
	if created {
		s.log.Info("chain started", "alarm", a.ID, "household", a.Household, "severity", a.Severity,
			"steps", len(c.Steps), "ack_timeout", s.cfg.AckTimeout)
	}
	s.kick(a.ID)
	return nil
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

// Resolve stops a chain because the alarm cleared or staff closed it.
func (s *Service) Resolve(ctx context.Context, alarmID, reason string) error {
	mu := s.lockFor(alarmID)
	mu.Lock()
	c, err := s.store.Chain(ctx, alarmID)
	if anxin.ErrorCode(err) == anxin.ENOTFOUND {
		mu.Unlock()
		return nil
	} else if err != nil {
		mu.Unlock()
		return err
	}
	if c.State == anxin.ChainWalking {
		c.State, c.UpdatedAt = anxin.ChainResolved, s.clock.Now()
		err = s.store.SaveChain(ctx, &c)
		s.metrics.chain("resolved")
		s.log.Info("chain stopped: alarm resolved", "alarm", alarmID, "reason", reason)
	}
	mu.Unlock()
	s.kick(alarmID)
	return err
}

func (s *Service) lockFor(alarmID string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(alarmID))
	return &s.locks[h.Sum32()%uint32(len(s.locks))]
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
func (s *Service) drive(alarmID string) {
	mu := s.lockFor(alarmID)
	mu.Lock()
	defer mu.Unlock()
	wake, err := s.advance(s.ctx, alarmID)
	if err != nil {
		if s.ctx.Err() != nil {
			return
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
	s.arm(alarmID, wake)
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
		return time.Time{}, nil
	}
	for c.State == anxin.ChainWalking {
		now := s.clock.Now()
		if c.Step < len(c.Steps) {
			over, why, err := s.stepOver(ctx, &c, now)
			if err != nil {
				return time.Time{}, err
			}
			if !over {
				wake, err := s.sendStep(ctx, &c, now)
				if err != nil {
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
		c.Deadline, c.UpdatedAt = now.Add(s.cfg.AckTimeout), now
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

// Attempt ids are deterministic, so a step's SMS or call has exactly one row.
func stepAttemptID(alarmID string, step int, ch anxin.Channel) string {
	return fmt.Sprintf("%s/s%d/%s", alarmID, step, ch)
}

func noticeAttemptID(alarmID string, p anxin.AttemptPurpose, target int) string {
	return fmt.Sprintf("%s/%s%d/sms", alarmID, p, target)
}

// alarmOf is the alarm id an attempt id belongs to.
func alarmOf(attemptID string) string {
	id, _, _ := strings.Cut(attemptID, "/")
	return id
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

func (s *Service) stepOver(ctx context.Context, c *anxin.Chain, now time.Time) (bool, string, error) {
	if !now.Before(c.Deadline) {
		return true, "ack timeout", nil
	}
	a, err := s.store.Attempt(ctx, stepAttemptID(c.AlarmID, c.Step, anxin.ChannelVoice))
	if anxin.ErrorCode(err) == anxin.ENOTFOUND {
		return false, "", nil
	} else if err != nil {
		return false, "", err
	}
	if callOver(&a) {
		return true, "call " + a.Status, nil
	}
	return false, "", nil
}

// closeStep settles the attempts of a step that is over: retries stop, and
// a request whose fate is unknown (a crash, a lost answer) is looked up so the
// record says whether it reached the person.
func (s *Service) closeStep(ctx context.Context, c *anxin.Chain, now time.Time) error {
	var ns []anxin.Notification
	for _, ch := range []anxin.Channel{anxin.ChannelSMS, anxin.ChannelVoice} {
		a, err := s.store.Attempt(ctx, stepAttemptID(c.AlarmID, c.Step, ch))
		if anxin.ErrorCode(err) == anxin.ENOTFOUND {
			continue
		} else if err != nil {
			return err
		}
		switch a.Status {
		case anxin.AttemptRetry:
			a.Status, a.Error = anxin.AttemptFailed, "gave up: step over; "+a.Error
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
				pid, found, err := s.notifier.Lookup(ctx, n, a.CreatedAt)
				switch {
				case err != nil:
					s.log.Warn("step over; cannot tell whether its request went through", "attempt", a.ID, "err", err)
				case found:
					a.Status, a.ProviderID = "queued", pid
				default:
					a.Status, a.Error = anxin.AttemptFailed, "not sent: step over; "+a.Error
				}
			}
		default:
			continue
		}
		a.UpdatedAt = now
		if err := s.store.SaveAttempt(ctx, &a); err != nil {
			return err
		}
	}
	return nil
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
			Channel: anxin.ChannelSMS, Body: body, Masked: masked, AckURL: link,
		})
	}
	return append(ns, anxin.Notification{
		AttemptID: stepAttemptID(c.AlarmID, c.Step, anxin.ChannelVoice), AlarmID: c.AlarmID, To: t.Phone,
		Channel: anxin.ChannelVoice, Body: s.cfg.Words.Voice(&alarm, &h, t.Relation == "elder"), AskKey: true,
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
		w, err := s.ensure(ctx, anxin.PurposeStep, c.Step, c.Steps[c.Step], n, now)
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
func (s *Service) ensure(ctx context.Context, p anxin.AttemptPurpose, step, target int, n anxin.Notification, now time.Time) (time.Time, error) {
	a := anxin.Attempt{
		ID: n.AttemptID, AlarmID: n.AlarmID, Purpose: p, Step: step, Target: target, Channel: n.Channel,
		Provider: s.provider, Status: anxin.AttemptSending, Tries: 1, CreatedAt: now, UpdatedAt: now,
	}
	created, err := s.store.CreateAttempt(ctx, &a)
	if err != nil {
		return time.Time{}, err
	}
	if !created {
		if a, err = s.store.Attempt(ctx, n.AttemptID); err != nil {
			return time.Time{}, err
		}
		switch a.Status {
		case anxin.AttemptSending:
			// the first request may have gone through: check before sending again
			pid, found, err := s.notifier.Lookup(ctx, n, a.CreatedAt)
			if err != nil {
				s.log.Warn("cannot tell whether a send went through; will check again", "attempt", a.ID, "err", err)
				return now.Add(s.backoff(a.Tries)), nil
			}
			if found {
				s.metrics.send(string(a.Channel), "found")
				s.log.Info("send had gone through; not sending again", "attempt", a.ID, "provider_id", pid)
				a.Status, a.ProviderID, a.UpdatedAt = "queued", pid, now
				return time.Time{}, s.store.SaveAttempt(ctx, &a)
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

func (s *Service) send(ctx context.Context, a *anxin.Attempt, n anxin.Notification) (time.Time, error) {
	pid, retry, err := s.notifier.Send(ctx, n)
	now := s.clock.Now()
	a.UpdatedAt = now
	switch {
	case err == nil:
		s.metrics.send(string(a.Channel), "sent")
		a.Status, a.ProviderID, a.Error = "queued", pid, ""
		s.log.Info("sent", "attempt", a.ID, "channel", a.Channel, "to", anxin.MaskPhone(n.To), "provider_id", pid, "tries", a.Tries)
		return time.Time{}, s.store.SaveAttempt(ctx, a)
	case retry && errors.Is(err, anxin.ErrMaybeSent):
		// stays "sending": the next pass looks it up before sending again
		s.metrics.send(string(a.Channel), "maybe_sent")
		a.Error = err.Error()
		s.log.Warn("send outcome unknown; will look it up", "attempt", a.ID, "err", err)
		a.NextTry = now.Add(s.backoff(a.Tries))
		return a.NextTry, s.store.SaveAttempt(ctx, a)
	case retry:
		s.metrics.send(string(a.Channel), "retry")
		a.Status, a.Error = anxin.AttemptRetry, err.Error()
		a.NextTry = now.Add(s.backoff(a.Tries))
		s.log.Warn("send failed; will retry", "attempt", a.ID, "err", err, "next_try", a.NextTry)
		return a.NextTry, s.store.SaveAttempt(ctx, a)
	default:
		s.metrics.send(string(a.Channel), "failed")
		a.Status, a.Error = anxin.AttemptFailed, err.Error()
		s.log.Warn("send failed for good; moving on", "attempt", a.ID, "to", anxin.MaskPhone(n.To), "err", err)
		return time.Time{}, s.store.SaveAttempt(ctx, a)
	}
}

var (
	_ anxin.Escalator       = (*Service)(nil)
	_ anxin.DeliveryReports = (*Service)(nil)
	_ anxin.Notifier        = (*LogNotifier)(nil)
)
