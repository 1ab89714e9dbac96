package escalate

// Cluster mode (Config.Poll > 0): several alarmd share one database and any
// of them may drive any chain.
//
//   - A pass claims the chain's lease in the store (owner = Config.Instance,
//     until = now + Lease, a new epoch: the fencing token). Not claimed:
//     another instance runs a pass now; it re-runs when something changed
//     during its pass (a poke), and its release stores the next wake.
//   - While the pass runs, its lease is renewed every third of the lease
//     (keepLease), up to maxHold leases: a pass slower than one lease (a
//     loaded machine, where every statement takes long) keeps its chain.
//     Without that, another instance claimed the chain whenever a pass
//     outlived the lease, its own pass was taken from it the same way, and
//     nobody was rung while the machine stayed slow.
//   - Before every provider request the pass renews the lease with its
//     epoch; a refused renew (another instance claimed the chain after the
//     lease ran out) aborts the pass before the request. The request itself
//     is cut at 9/10 of the lease, so it is over before anyone else can
//     claim the chain and look the attempt up.
//   - The pass ends by releasing the lease with the chain's next wake time
//     (step deadline, retry, delivery timeout); a poke during the pass
//     keeps the chain due and the pass runs again at once.
//   - Webhooks, ack links, SMS replies and closes poke the chain in the
//     store before they kick it (nudge), so whichever instance holds or
//     next takes the chain sees the change.
//   - Every Poll the store's due chains (wake passed, lease free or run
//     out) are driven; the in-memory timer of the instance that ran the
//     last pass stays the fast path.
//
// An instance that dies mid-wait leaves the chain's wake in the store: the
// first poll after it takes the chain. One that dies mid-pass leaves the
// lease: the first poll after it runs out (at most Lease after the last
// renew) takes the chain, and a row it left "sending" is looked up at the
// provider before anything is sent again.

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errLeaseLost aborts a pass whose lease another instance took.
var errLeaseLost = errors.New("chain lease lost: another instance claimed the chain")

// heldLease is the lease a pass holds, carried in its context.
type heldLease struct {
	alarmID string
	epoch   int64
}

type leaseKey struct{}

// pollPage bounds the chains one poll drives.
const pollPage = 1000

// maxHold bounds, in leases, how long keepLease keeps a pass's lease: a pass
// stuck longer (a hung statement) lets its chain go to another instance.
const maxHold = 10

// driveClaimed is drive in cluster mode: claim, pass, release.
func (s *Service) driveClaimed(alarmID string) {
	now := s.clock.Now()
	epoch, ok, err := s.claims.ClaimChain(s.ctx, alarmID, s.cfg.Instance, now, now.Add(s.cfg.Lease))
	if err != nil {
		if s.ctx.Err() == nil {
			// the poll tries again: the chain stays due in the store
			s.log.Error("cannot claim chain", "alarm", alarmID, "err", err)
		}
		return
	}
	if !ok {
		// another instance runs a pass now: what made this kick was poked
		// in the store first (nudge), so its release sees it
		return
	}
	ctx := context.WithValue(s.ctx, leaseKey{}, heldLease{alarmID: alarmID, epoch: epoch})
	stopKeeping := s.keepLease(alarmID, epoch)
	wake, ok := s.pass(ctx, alarmID)
	stopKeeping()
	if !ok {
		if s.ctx.Err() == nil || s.isKilled() {
			return // lease lost, or killed (tests): the lease is left to run out
		}
		// closing: hand the chain over at once, due now
		wake = s.clock.Now()
	}
	if s.isKilled() {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 5*time.Second)
	defer cancel()
	poked, err := s.claims.ReleaseChain(rctx, alarmID, s.cfg.Instance, epoch, wake)
	switch {
	case err != nil:
		s.log.Warn("cannot release chain lease; it runs out by itself", "alarm", alarmID, "err", err)
	case poked:
		s.kick(alarmID) // something changed during the pass
	default:
		s.arm(alarmID, wake)
	}
}

// keepLease renews the lease of a pass (epoch) every third of the lease
// until the returned stop is called, for at most maxHold leases. It stops
// by itself when a renew is refused (another instance holds the chain: the
// pass's next fence aborts it); a renew that fails is tried again at the
// next tick, and the lease runs out by itself if the store stays away. A
// renew still under way when the pass releases is harmless: it matches
// only the pass's own owner and epoch.
func (s *Service) keepLease(alarmID string, epoch int64) (stop func()) {
	var mu sync.Mutex
	stopped := false
	var cancel func() bool
	every := s.cfg.Lease / 3
	until := s.clock.Now().Add(maxHold * s.cfg.Lease)
	var renew func()
	renew = func() {
		now := s.clock.Now()
		mu.Lock()
		if stopped {
			mu.Unlock()
			return
		}
		mu.Unlock()
		if !now.Before(until) {
			s.log.Warn("a pass held its chain for too long; its lease is left to run out", "alarm", alarmID, "held", maxHold*s.cfg.Lease)
			return
		}
		ok, err := s.claims.RenewChain(s.ctx, alarmID, s.cfg.Instance, epoch, now.Add(s.cfg.Lease))
		if err == nil && !ok {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !stopped {
			cancel = s.clock.AfterFunc(every, renew)
		}
	}
	mu.Lock()
	cancel = s.clock.AfterFunc(every, renew)
	mu.Unlock()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		cancel()
	}
}

// fence renews the pass's lease before a provider request and bounds the
// request to the lease: a pass whose lease another instance took must not
// send. Outside cluster mode (or outside a pass) it changes nothing.
func (s *Service) fence(ctx context.Context) (context.Context, func(), error) {
	l, held := ctx.Value(leaseKey{}).(heldLease)
	if s.claims == nil || !held {
		return ctx, func() {}, nil
	}
	ok, err := s.claims.RenewChain(ctx, l.alarmID, s.cfg.Instance, l.epoch, s.clock.Now().Add(s.cfg.Lease))
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, errLeaseLost
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.Lease*9/10)
	return sctx, cancel, nil
}

// nudge drives a chain because something changed (a report, a key press,
// an ack link, a close). In cluster mode the chain is poked in the store
// first, so the instance holding it runs its pass again.
func (s *Service) nudge(ctx context.Context, alarmID string) {
	if s.claims != nil {
		if err := s.claims.PokeChain(ctx, alarmID, s.clock.Now()); err != nil {
			s.log.Warn("cannot poke chain", "alarm", alarmID, "err", err)
		}
	}
	s.kick(alarmID)
}

// kickPoll reads the due chains on a goroutine of its own (one at a time),
// then again after Poll.
func (s *Service) kickPoll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.polling {
		return
	}
	s.polling = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.poll(s.ctx)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.polling = false
		if !s.closed {
			s.pollAt = s.clock.AfterFunc(s.cfg.Poll, s.kickPoll)
		}
	}()
}

// poll drives every chain the store holds due whose pass is not already
// running here.
func (s *Service) poll(ctx context.Context) {
	ids, err := s.claims.DueChains(ctx, s.clock.Now(), pollPage)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("reading due chains", "err", err)
		}
		return
	}
	for _, id := range ids {
		s.mu.Lock()
		busy := s.driving[id] != nil
		s.mu.Unlock()
		if !busy {
			s.kick(id)
		}
	}
}

func (s *Service) isKilled() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.killed
}
