package ingest

import (
	"context"
	"time"

	"github.com/anxin-care/anxin"
)

// Several alarmd consuming one partitioned source (JetStream) each process
// the households of the partitions they hold: the rules engine keeps a
// household's state in memory, so two instances must never evaluate the
// same household at once. The pipeline drops (hands back) what is not its
// own, writes no decision or rule state of such a household, and restores
// a household's state and the de-duplication window from the store when it
// takes a partition over.

// ctlRequest is work run inside the batch loop, between batches.
type ctlRequest struct {
	fn   func(ctx context.Context) error
	done chan error
}

// inLoop runs fn in the batch loop (which alone touches the engine) and
// returns its error.
func (p *Pipeline) inLoop(ctx context.Context, fn func(ctx context.Context) error) error {
	r := ctlRequest{fn: fn, done: make(chan error, 1)}
	return roundTrip(ctx, p.ctl, r, r.done)
}

// roundTrip hands r to the batch loop on ch and waits for its answer on
// done, or for ctx to end.
func roundTrip[R any](ctx context.Context, ch chan<- R, r R, done <-chan error) error {
	select {
	case ch <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// owned reports whether this alarmd processes household's messages.
func (p *Pipeline) owned(household string) bool { return p.owns == nil || p.owns(household) }

// handBack gives a delivery of another alarmd's household back to the
// source unprocessed (never acknowledged).
func (p *Pipeline) handBack(d *Delivery) {
	if d.Nak != nil {
		d.Nak()
	}
	d.Ack = nil
	p.m.handedBack.Inc()
}

// SetOwnership makes owns the test of which households this alarmd
// processes (nil: all), from the next batch on.
func (p *Pipeline) SetOwnership(ctx context.Context, owns func(household string) bool) error {
	return p.setOwnership(ctx, func() func(string) bool { return owns })
}

// setOwnership is SetOwnership with the test made by ownsNow in the batch
// loop as it is applied (a partitioned source's: what it holds then, not
// when it asked; the loop may apply other requests first).
func (p *Pipeline) setOwnership(ctx context.Context, ownsNow func() func(household string) bool) error {
	return p.inLoop(ctx, func(context.Context) error { p.owns = ownsNow(); return nil })
}

// TakeOver makes the households that match (a partition just claimed) this
// alarmd's: their rule state is read again from the store (the previous
// owner's last commit, which replaces whatever this process held), people's
// later changes to their alarms are applied, and the de-duplication window
// is read again, so a message the previous owner committed but did not
// acknowledge has no second effect here. owns, from then on, is the test
// of which households are this alarmd's (it must include match).
func (p *Pipeline) TakeOver(ctx context.Context, match, owns func(household string) bool) error {
	return p.takeOver(ctx, match, func() func(string) bool { return owns })
}

// takeOver is TakeOver with owns made by ownsNow in the batch loop (setOwnership).
func (p *Pipeline) takeOver(ctx context.Context, match func(household string) bool, ownsNow func() func(household string) bool) error {
	return p.inLoop(ctx, func(ctx context.Context) error {
		n, _, err := p.restoreStates(ctx, match)
		if err != nil {
			return err
		}
		if err := p.store.UnappliedAlarmStateChanges(ctx, func(c anxin.AlarmStateChange) {
			if c.State != anxin.AlarmOpen && match(c.Household) {
				p.engine.Closed(c.Household, c.Rule)
			}
		}); err != nil {
			return err
		}
		now := p.now()
		before := p.seen.Len()
		if err := p.store.SeenIDs(ctx, now.Add(-p.cfg.DedupWindow), func(id string, at time.Time) { p.seen.Add(id, at) }); err != nil {
			return err
		}
		p.owns = ownsNow()
		// marks made while nobody held them, or not applied by the last
		// owner; they stay stored, so a failure here waits for the next
		// tick: failing the take-over after owns is set would leave these
		// households held here while their leases are released
		if err := p.applyAwayMarks(ctx); err != nil {
			p.log.Warn("away marks not applied at take-over; the next tick tries again", "err", err)
		}
		p.log.Info("households taken over", "households", n, "seen_ids_added", p.seen.Len()-before)
		return nil
	})
}

// GiveUp stops processing the households that match (a partition being
// released): their pending rule state is committed first, so the next
// owner restores it, and owns, from then on, is the test of which
// households are this alarmd's (it must exclude match). Deliveries of
// those households still queued are handed back.
func (p *Pipeline) GiveUp(ctx context.Context, match, owns func(household string) bool) error {
	return p.giveUp(ctx, match, func() func(string) bool { return owns })
}

// giveUp is GiveUp with owns made by ownsNow in the batch loop (setOwnership).
func (p *Pipeline) giveUp(ctx context.Context, match func(household string) bool, ownsNow func() func(household string) bool) error {
	return p.inLoop(ctx, func(ctx context.Context) error {
		var states []anxin.RuleState
		p.engine.TakeDirty(-1, match, p.take(&states))
		p.engine.TakeSeen(-1, match, p.take(&states)) // exact last-seen times for the next owner
		if len(states) > 0 {
			if _, err := p.commit(ctx, &anxin.IngestBatch{States: states, At: p.now()}); err != nil {
				return err
			}
		}
		p.owns = ownsNow()
		// their state is stored: the new owner's from now on, and read
		// again from the store if the partition comes back (no stale copy
		// here, no timer of theirs firing for nothing)
		p.engine.ForgetWhere(func(hh string) bool { return match(hh) && !p.owned(hh) })
		return nil
	})
}
