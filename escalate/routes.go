package escalate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/anxin-care/anxin"
)

// Route is one provider able to carry a channel (aliyun, modem, twilio, …).
type Route struct {
	Provider string // stored with attempts and appended to their ids
	Notifier anxin.Notifier
}

// routesOf checks Options.Routes, or builds the one route of the legacy
// single-provider configuration (ids without a suffix, as before failover).
func routesOf(o Options) (map[anxin.Channel][]Route, bool, error) {
	if len(o.Routes) == 0 {
		if o.Notifier == nil {
			return nil, false, errors.New("escalate: no notifier")
		}
		r := []Route{{Provider: o.Provider, Notifier: o.Notifier}}
		return map[anxin.Channel][]Route{anxin.ChannelSMS: r, anxin.ChannelVoice: r}, false, nil
	}
	out := map[anxin.Channel][]Route{}
	for _, ch := range []anxin.Channel{anxin.ChannelSMS, anxin.ChannelVoice} {
		rs := o.Routes[ch]
		if len(rs) == 0 {
			return nil, false, fmt.Errorf("escalate: no route for %s", ch)
		}
		seen := map[string]bool{}
		for _, r := range rs {
			if r.Provider == "" || r.Notifier == nil || seen[r.Provider] {
				return nil, false, fmt.Errorf("escalate: %s routes need distinct named providers with a notifier", ch)
			}
			seen[r.Provider] = true
		}
		out[ch] = slices.Clone(rs)
	}
	return out, true, nil
}

// notifierOf is the notifier of a stored attempt's provider (an attempt
// stored under a provider no longer configured uses the first SMS route's).
func (s *Service) notifierOf(provider string) anxin.Notifier {
	if n := s.notifiers[provider]; n != nil {
		return n
	}
	return s.routes[anxin.ChannelSMS][0].Notifier
}

// lastRoute reports whether provider is the last route of channel ch.
func (s *Service) lastRoute(ch anxin.Channel, provider string) bool {
	rs := s.routes[ch]
	return len(rs) > 0 && rs[len(rs)-1].Provider == provider
}

// routeAttemptID is the id of base's attempt on route r: deterministic, so
// a step is sent at most once per channel and provider.
func (s *Service) routeAttemptID(base, provider string) string {
	if !s.suffixed {
		return base
	}
	return base + "@" + provider
}

// stepAttemptIDs are the ids every route of a step may have used.
func (s *Service) stepAttemptIDs(alarmID string, step int) []string {
	var ids []string
	for _, ch := range []anxin.Channel{anxin.ChannelSMS, anxin.ChannelVoice} {
		for _, r := range s.routes[ch] {
			ids = append(ids, s.routeAttemptID(stepAttemptID(alarmID, step, ch), r.Provider))
		}
	}
	return ids
}

// smsSent reports whether a step's SMS was made on any route.
func (s *Service) smsSent(ctx context.Context, alarmID string, step int) bool {
	for _, r := range s.routes[anxin.ChannelSMS] {
		if _, err := s.store.Attempt(ctx, s.routeAttemptID(stepAttemptID(alarmID, step, anxin.ChannelSMS), r.Provider)); err == nil {
			return true
		}
	}
	return false
}

// currentAttempt is the attempt of the last route base has come to (routes
// are only ever walked forward, so that is the one in effect); last says it
// is on the channel's last route.
func (s *Service) currentAttempt(ctx context.Context, base string, ch anxin.Channel) (a anxin.Attempt, last, found bool, err error) {
	rs := s.routes[ch]
	for i := len(rs) - 1; i >= 0; i-- {
		a, err = s.store.Attempt(ctx, s.routeAttemptID(base, rs[i].Provider))
		if err == nil {
			return a, i == len(rs)-1, true, nil
		}
		if anxin.ErrorCode(err) != anxin.ENOTFOUND {
			return a, false, false, err
		}
	}
	return anxin.Attempt{}, false, false, nil
}

// failedOnRoute reports whether an attempt on a route that has another
// after it should give way to the next: a permanent failure, retries
// exhausted, or no delivery report within its sendWait (the only case in
// which the person may get the step on two channels).
func (s *Service) failedOnRoute(a *anxin.Attempt, now time.Time) bool {
	switch a.Status {
	case anxin.AttemptFailed, "undelivered", "canceled": // "failed" is also the provider's
		return true
	case anxin.AttemptRetry:
		return a.Tries >= s.cfg.RouteTries
	case anxin.AttemptSending:
		return a.Tries >= s.cfg.RouteTries || s.undelivered(a, now)
	}
	if reached(a.Status) {
		return false
	}
	return s.undelivered(a, now) // queued, sent, initiated, …: waiting for a report
}

// reached reports whether a status says the person's phone got it.
func reached(status string) bool {
	switch status {
	case "delivered", "read", "ringing", "in-progress", "answered", "completed", "busy", "no-answer":
		return true
	}
	return false
}

// sendWait is how long an attempt may wait on its route for a delivery
// report: DeliveryTimeout. With none (an accepted send counts as
// delivered), a send whose outcome is unknown ("sending": its answer lost,
// and a lookup could not tell) was not accepted by anyone we know of: it
// still gives way after half the ack timeout, so the step's person gets it
// on the next route with half the step left to answer (and Aliyun, which
// lists an SMS a minute after taking it, has had its lookup). 0: no limit.
func (s *Service) sendWait(a *anxin.Attempt) time.Duration {
	if s.cfg.DeliveryTimeout > 0 {
		return s.cfg.DeliveryTimeout
	}
	if a.Status == anxin.AttemptSending {
		return s.cfg.AckTimeout / 2
	}
	return 0
}

// undelivered reports whether an attempt has waited out its sendWait: by
// the stored creation time, or by a timer started when this process first
// waited on it. The timer runs on the monotonic clock, so a wall clock set
// back (NTP) cannot hold the failover; after a restart it is started anew
// for what the stored time leaves, at most one sendWait.
func (s *Service) undelivered(a *anxin.Attempt, now time.Time) bool {
	wait := s.sendWait(a)
	if wait <= 0 {
		return false
	}
	if !now.Before(a.CreatedAt.Add(wait)) {
		return true
	}
	return s.waitedOut(a, wait, now)
}

// sendTimer is an attempt's wait on the monotonic clock (undelivered).
type sendTimer struct {
	over bool
	stop func() bool
}

// waitedOut reports whether a's timer ran out, starting it (for what the
// stored creation time leaves of wait, at most wait) on the first call; it
// wakes the chain when it runs out. Its state is derivable: a restart
// starts it again from the stored time, bounded by wait.
func (s *Service) waitedOut(a *anxin.Attempt, wait time.Duration, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.sendTimers[a.AlarmID]
	if t := ts[a.ID]; t != nil {
		return t.over
	}
	if s.closed {
		return false
	}
	if ts == nil {
		ts = map[string]*sendTimer{}
		s.sendTimers[a.AlarmID] = ts
	}
	t := &sendTimer{}
	alarmID := a.AlarmID
	t.stop = s.clock.AfterFunc(min(a.CreatedAt.Add(wait).Sub(now), wait), func() {
		s.mu.Lock()
		t.over = true
		s.mu.Unlock()
		s.kick(alarmID)
	})
	ts[a.ID] = t
	return false
}

// forgetSendTimers drops the send timers of a chain's attempts (ids; none:
// all of the chain's).
func (s *Service) forgetSendTimers(alarmID string, ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.sendTimers[alarmID]
	if ts == nil {
		return
	}
	if len(ids) == 0 {
		for id := range ts {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		if t := ts[id]; t != nil {
			t.stop()
			delete(ts, id)
		}
	}
	if len(ts) == 0 {
		delete(s.sendTimers, alarmID)
	}
}

// ensureRoutes sends a notification (a step's, or a notice) on its
// channel's routes in order:
// each route's attempt is made at most once, and the next route is taken
// only when the one before failed on its route (failedOnRoute). A provider
// that is down is skipped with a failed attempt on record, unless every
// later route is down too. It returns when it wants to be called again.
func (s *Service) ensureRoutes(ctx context.Context, p anxin.AttemptPurpose, step, target int, n anxin.Notification, now time.Time) (time.Time, error) {
	rs := s.routes[n.Channel]
	base := n.AttemptID
	for i, r := range rs {
		n.AttemptID = s.routeAttemptID(base, r.Provider)
		last := i == len(rs)-1
		if last {
			if i > 0 {
				s.noteFailover(ctx, n, rs[i-1], r)
			}
			return s.ensure(ctx, p, step, target, n, r, now) // as with one provider: retried until the step is over
		}
		a, err := s.store.Attempt(ctx, n.AttemptID)
		found := err == nil
		if err != nil && anxin.ErrorCode(err) != anxin.ENOTFOUND {
			return time.Time{}, err
		}
		if !found && s.health.down(r.Provider, now) && !s.allDown(rs[i+1:], now) {
			skip := anxin.Attempt{ID: n.AttemptID, AlarmID: n.AlarmID, Purpose: p, Step: step, Target: target,
				Channel: n.Channel, Provider: r.Provider, Status: anxin.AttemptFailed,
				Error: "not sent: provider down", CreatedAt: now, UpdatedAt: now}
			if _, err := s.store.CreateAttempt(ctx, &skip); err != nil {
				return time.Time{}, err
			}
			continue
		}
		if i > 0 && !found {
			s.noteFailover(ctx, n, rs[i-1], r)
		}
		var wake time.Time
		if !found || ((a.Status == anxin.AttemptSending || a.Status == anxin.AttemptRetry) && !s.failedOnRoute(&a, now)) {
			if wake, err = s.ensure(ctx, p, step, target, n, r, now); err != nil {
				return time.Time{}, err
			}
			if a, err = s.store.Attempt(ctx, n.AttemptID); err != nil {
				return time.Time{}, err
			}
		}
		if !s.failedOnRoute(&a, now) {
			// an unknown send ("sending") gives way at its delivery timeout
			// too, whenever its next lookup falls (its send timer wakes the
			// chain then, also when the wall clock was set back: this wake
			// is never more than one wait ahead)
			if w := s.sendWait(&a); w > 0 && !reached(a.Status) && a.Status != anxin.AttemptRetry {
				due := a.CreatedAt.Add(w)
				if lim := now.Add(w); lim.Before(due) {
					due = lim
				}
				wake = earliest(wake, due)
			}
			return wake, nil
		}
		if a.Status == anxin.AttemptRetry {
			if _, err := s.updateAttempt(ctx, a.ID, func(x *anxin.Attempt) bool {
				if x.Status != anxin.AttemptRetry {
					return false
				}
				x.Status, x.Error, x.UpdatedAt = anxin.AttemptFailed, fmt.Sprintf("gave up after %d tries; %s", x.Tries, x.Error), now
				return true
			}); err != nil {
				return time.Time{}, err
			}
		}
	}
	return time.Time{}, nil
}

// noteFailover counts and logs the move to route to, once: when its attempt
// does not exist yet.
func (s *Service) noteFailover(ctx context.Context, n anxin.Notification, from, to Route) {
	if _, err := s.store.Attempt(ctx, n.AttemptID); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		return
	}
	s.metrics.failover(string(n.Channel), from.Provider, to.Provider)
	s.log.Warn("failing over", "attempt", n.AttemptID, "channel", n.Channel, "from", from.Provider, "to", to.Provider)
}

func (s *Service) allDown(rs []Route, now time.Time) bool {
	for _, r := range rs {
		if !s.health.down(r.Provider, now) {
			return false
		}
	}
	return true
}

// ProvidersDown lists the providers marked down now, with when they are
// tried again (alarmd's /healthz reports them).
func (s *Service) ProvidersDown() []ProviderDown {
	return s.health.list(s.clock.Now())
}

// ChannelsDown lists the channels whose every route is down.
func (s *Service) ChannelsDown() []anxin.Channel {
	now := s.clock.Now()
	var out []anxin.Channel
	for _, ch := range []anxin.Channel{anxin.ChannelSMS, anxin.ChannelVoice} {
		if s.allDown(s.routes[ch], now) {
			out = append(out, ch)
		}
	}
	return out
}

// ProviderDown is a provider that failed DownAfter times in a row.
type ProviderDown struct {
	Provider string
	Until    time.Time
}

// providerHealth counts consecutive failed sends per provider: DownAfter in
// a row mark it down for DownFor (routes skip it while another is up).
//
// A refused number (anxin.ErrNumber) is that send's failure, and one
// household's landline refused again and again must not mark the provider
// down for every household. But a provider that refuses every number it is
// given (a From number that cannot reach the destination, Twilio 21612; a
// modem whose SIM has the wrong message centre) is itself broken. So the
// first number refused since the last success counts for nothing, and each
// further distinct number counts as one failure.
type providerHealth struct {
	after int
	for_  time.Duration

	mu      sync.Mutex
	fails   map[string]int
	until   map[string]time.Time
	refused map[string][]string // provider → distinct numbers refused since its last success (at most after+1)
}

func newProviderHealth(after int, d time.Duration) *providerHealth {
	return &providerHealth{after: after, for_: d, fails: map[string]int{}, until: map[string]time.Time{},
		refused: map[string][]string{}}
}

func (h *providerHealth) record(provider string, ok bool, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ok {
		delete(h.fails, provider)
		delete(h.until, provider)
		delete(h.refused, provider)
		return
	}
	h.failLocked(provider, now)
}

// refusedNumber records that provider refused the number to: a failure only
// when another number was refused before it with no success between.
func (h *providerHealth) refusedNumber(provider, to string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := h.refused[provider]
	if slices.Contains(seen, to) {
		return
	}
	if len(seen) <= h.after { // past that the provider is down already
		h.refused[provider] = append(seen, to)
	}
	if len(seen) > 0 {
		h.failLocked(provider, now)
	}
}

func (h *providerHealth) failLocked(provider string, now time.Time) {
	h.fails[provider]++
	if h.fails[provider] >= h.after {
		h.until[provider] = now.Add(h.for_)
	}
}

func (h *providerHealth) down(provider string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return now.Before(h.until[provider])
}

func (h *providerHealth) list(now time.Time) []ProviderDown {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []ProviderDown
	for p, t := range h.until {
		if now.Before(t) {
			out = append(out, ProviderDown{Provider: p, Until: t})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Provider < out[j].Provider })
	return out
}
