package escalate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/anxin-care/anxin"
)

// Acceptance ways, stored as Chain.AcceptedVia.
const (
	ViaKeyPress = "key_press"
	ViaAckLink  = "ack_link"
	ViaSMSReply = "sms_reply"
)

// errAlarmOver marks accept's refusals (ECONFLICT) of an alarm that is
// over: closed, or its chain resolved or cancelled. An ECONFLICT without
// it is a write conflict that outlasted accept's tries.
var errAlarmOver = errors.New("over")

// accept records the first acceptance of a walking chain; a later one
// changes nothing. It returns the chain as it now stands (AcceptedBy holds
// the alarm) and whether target is the one holding it.
func (s *Service) accept(ctx context.Context, alarmID string, target int, via string) (c anxin.Chain, mine bool, err error) {
	for try := 1; ; try++ {
		c, err = s.store.Chain(ctx, alarmID)
		if err != nil {
			return c, false, err
		}
		if target < 0 || target >= len(c.Targets) {
			return c, false, anxin.Errorf(anxin.EINVALID, "no such contact")
		}
		switch c.State {
		case anxin.ChainWalking, anxin.ChainUnanswered:
			// after an unanswered chain a late acceptance (the duty contact's link)
			// still counts: it is recorded, and everyone told, as a second outcome
			now := s.clock.Now()
			wasUnanswered := c.State == anxin.ChainUnanswered
			// a chain whose alarm was closed (staff, the device cleared) is
			// over, also before Resolve reached the chain (its hand-over
			// queued, or lost: a walking chain stops at its next pass)
			if over, err := s.closedAlarm(ctx, alarmID); err != nil {
				return c, false, err
			} else if over {
				if c.State == anxin.ChainWalking {
					s.nudge(ctx, alarmID) // the pass stops it now, and tells those rung
				}
				return c, false, fmt.Errorf("%w (%w)", anxin.Errorf(anxin.ECONFLICT, "the alarm is resolved"), errAlarmOver)
			}
			if wasUnanswered {
				c.Finished, c.VisitID = false, ""
			}
			c.State, c.AcceptedBy, c.AcceptedVia, c.AcceptedAt, c.UpdatedAt = anxin.ChainAccepted, c.Targets[target].Name, via, now, now
			c.AcceptedTarget, c.Deadline = target, time.Time{}
			err := s.store.SaveChain(ctx, &c)
			if anxin.ErrorCode(err) == anxin.ECONFLICT && try < maxWriteTries {
				continue // a pass of the chain wrote first: accept what it wrote
			} else if err != nil {
				return s.acceptSaveFailed(ctx, &c, target, via, now, err)
			}
			s.acceptedNow(&c)
			s.nudge(ctx, alarmID) // end ringing calls, tell the others, record the outcome
			return c, true, nil
		case anxin.ChainAccepted:
			return c, c.AcceptedTarget == target, nil
		default:
			return c, false, fmt.Errorf("%w (%w)", anxin.Errorf(anxin.ECONFLICT, "the alarm is %s", c.State), errAlarmOver)
		}
	}
}

// acceptSaveFailed answers an acceptance whose save reported an error by
// what the store holds: the commit may have gone through before the error
// (PostgreSQL losing the connection during COMMIT), and telling someone
// who took the alarm that they did not would leave it with nobody who
// knows. Accepted by target: taken (mine); by someone else: who holds it;
// not accepted, or unreadable: the error. c is the acceptance tried.
func (s *Service) acceptSaveFailed(ctx context.Context, c *anxin.Chain, target int, via string, now time.Time, err error) (anxin.Chain, bool, error) {
	stored, rerr := s.store.Chain(ctx, c.AlarmID)
	if rerr != nil || stored.State != anxin.ChainAccepted {
		return *c, false, err
	}
	mine := stored.AcceptedTarget == target
	s.log.Warn("saving an acceptance reported an error, but the store holds the alarm accepted: answered by what is stored",
		"alarm", c.AlarmID, "mine", mine, "err", err)
	if mine && stored.AcceptedVia == via && stored.AcceptedAt.Equal(now) { // this acceptance's own commit
		s.acceptedNow(&stored)
	}
	s.nudge(ctx, c.AlarmID) // end ringing calls, tell the others, record the outcome
	return stored, mine, nil
}

// acceptedNow logs and counts an acceptance c's save committed.
func (s *Service) acceptedNow(c *anxin.Chain) {
	after := c.AcceptedAt.Sub(c.StartedAt)
	s.log.Info("alarm accepted", "alarm", c.AlarmID, "by", anxin.MaskName(c.AcceptedBy), "via", c.AcceptedVia,
		"after", after.Round(time.Second))
	s.metrics.chain("accepted")
	s.metrics.accepted(c.AcceptedVia, after.Seconds())
}

// closedAlarm reports whether the store holds the alarm resolved.
func (s *Service) closedAlarm(ctx context.Context, alarmID string) (bool, error) {
	a, err := s.alarms.Alarm(ctx, alarmID)
	switch {
	case anxin.ErrorCode(err) == anxin.ENOTFOUND:
		return false, nil
	case err != nil:
		return false, err
	}
	return a.State == anxin.AlarmResolved, nil
}

// acceptor is the accepted chain's acceptor (ok false when nobody accepted).
func acceptor(c *anxin.Chain) (anxin.ChainTarget, bool) {
	if c.State != anxin.ChainAccepted || c.AcceptedTarget < 0 || c.AcceptedTarget >= len(c.Targets) {
		return anxin.ChainTarget{}, false
	}
	return c.Targets[c.AcceptedTarget], true
}

// finish completes a decided chain: ringing calls ended, the others told,
// the alarm's state and the outcome visit written. Each part is idempotent.
func (s *Service) finish(ctx context.Context, c *anxin.Chain) (time.Time, error) {
	now := s.clock.Now()
	attempts, err := s.store.Attempts(ctx, c.AlarmID)
	if err != nil {
		return time.Time{}, err
	}
	var wake time.Time
	// end calls still ringing (the acceptor's own answered call hangs up
	// by itself); a call whose outcome is unknown (its answer lost) is
	// looked up first: it may be ringing too
	for i := range attempts {
		a := &attempts[i]
		if a.Channel != anxin.ChannelVoice || a.Purpose != anxin.PurposeStep {
			continue
		}
		if a.Status == anxin.AttemptSending && a.ProviderID == "" {
			if err := s.lookUpDecidedCall(ctx, c, a, now); err != nil {
				return time.Time{}, err
			}
		}
		again, _, err := s.endCall(ctx, c, a, a.Status, true)
		if err != nil {
			return time.Time{}, err
		}
		wake = earliest(wake, again)
	}
	if c.State == anxin.ChainNotice {
		return s.tellInstallers(ctx, c, now)
	}
	if c.State == anxin.ChainResolved {
		// those told of the alarm hear that it is over (the resolved marker
		// of an alarm closed before its chain started told nobody)
		if ts := s.noticeTargets(c, attempts); len(ts) > 0 {
			alarm, h, err := s.context(ctx, c)
			if err != nil {
				return time.Time{}, err
			}
			body, masked := closedBodies(s.cfg.Words, &alarm, &h)
			for _, ti := range ts {
				w, err := s.notice(ctx, c, anxin.PurposeClosed, ti, body, masked, now)
				if err != nil {
					return time.Time{}, err
				}
				wake = earliest(wake, w)
			}
		}
		if !wake.IsZero() {
			return wake, nil
		}
		s.forgetSendTimers(c.AlarmID)
		c.Finished, c.UpdatedAt = true, now
		return time.Time{}, s.store.SaveChain(ctx, c)
	}

	alarm, h, err := s.context(ctx, c)
	if err != nil {
		return time.Time{}, err
	}
	// the alarm's state
	st := anxin.AlarmAccepted
	at := c.AcceptedAt
	if c.State == anxin.ChainUnanswered {
		st, at = anxin.AlarmUnanswered, c.UpdatedAt
	}
	if alarm.State != st && alarm.State != anxin.AlarmResolved {
		if err := s.alarms.SetAlarmState(ctx, c.AlarmID, st, c.AcceptedBy, at); err != nil {
			if code := anxin.ErrorCode(err); code != anxin.ECONFLICT && code != anxin.ENOTFOUND {
				return time.Time{}, err
			}
			s.log.Warn("alarm state not set", "alarm", c.AlarmID, "state", st, "err", err)
		}
	}
	// the notices
	var body, masked string
	if c.State == anxin.ChainAccepted {
		body, masked = takenBodies(s.cfg.Words, &alarm, &h, c.AcceptedBy) // the same words for everyone
	}
	for _, ti := range s.noticeTargets(c, attempts) {
		p := anxin.PurposeTaken
		if c.State == anxin.ChainUnanswered {
			link := ""
			for k := len(c.Steps) - 1; k >= 0; k-- {
				if c.Steps[k] == ti {
					if link, err = s.ackLink(ctx, c, k); err != nil {
						return time.Time{}, err
					}
					break
				}
			}
			p = anxin.PurposeDuty
			// the calls placed, as the visit says: steps whose call a
			// provider refused called nobody
			body, masked = dutyBodies(s.cfg.Words, &alarm, &h, callsPlaced(attempts), link)
		}
		w, err := s.notice(ctx, c, p, ti, body, masked, now)
		if err != nil {
			return time.Time{}, err
		}
		wake = earliest(wake, w)
	}
	if c.VisitID == "" {
		if err := s.recordOutcome(ctx, c, &alarm, &h, attempts); err != nil {
			return time.Time{}, err
		}
	}
	if !wake.IsZero() {
		return wake, nil
	}
	s.forgetSendTimers(c.AlarmID)
	c.Finished, c.UpdatedAt = true, now
	return time.Time{}, s.store.SaveChain(ctx, c)
}

// liveCall reports whether a call's status says it may still ring a phone
// or hold a line: queued, ringing or answered.
func liveCall(status string) bool {
	switch status {
	case "queued", "initiated", "ringing", "in-progress", "answered":
		return true
	}
	return false
}

// ending reports whether a call's status records an end we asked the
// provider for and it has not confirmed.
func ending(status string) bool {
	return status == anxin.AttemptCanceling || status == anxin.AttemptHangingUp
}

// callEndMargin is added to a call's own limits (CallLimiter) before it is
// recorded ended without the provider's word: a call may wait in the
// provider's queue before it rings, and the clocks may differ a little.
const callEndMargin = time.Minute

// callLimit is the latest a call of provider can last from now, asked to
// end now: it was made before now, and lasts at most its limit.
func (s *Service) callLimit(provider string, answered bool) time.Duration {
	ring, talk := 10*time.Minute, 4*time.Hour // Twilio's longest Timeout, its default TimeLimit
	if l, ok := s.notifierOf(provider).(anxin.CallLimiter); ok {
		ring, talk = l.CallLimits()
	}
	if answered {
		return talk + callEndMargin
	}
	return ring + callEndMargin
}

// endCall ends a step's call of a decided chain (accepted, unanswered,
// resolved) that status says is still live, through its provider, and
// records that it ended; the acceptor's own answered call is left to say
// thank you and hang up. A call recorded "failed" by us (not found when
// its step or chain ended) that turns out live is ended too.
//
// The end is recorded as asked for (canceling, hanging-up) before the
// request: of two writers (a pass finishing the chain, status reports
// arriving together) one ends the call, and a crash between the record and
// the request leaves it to the chain's next pass, which sends it again
// (resend: the pass; a status report leaves a recorded end to it). A
// refused request is tried again with backoff (it returns when) until the
// call cannot last any longer (callLimit from the record): then it is
// recorded ended, "cancel not confirmed", and the chain finishes. An end
// recorded by a status report (resend false) marks the chain unfinished
// (holdOpen) before the request, and held says so: the caller drives it.
func (s *Service) endCall(ctx context.Context, c *anxin.Chain, a *anxin.Attempt, status string, resend bool) (again time.Time, held bool, err error) {
	if a.Channel != anxin.ChannelVoice || a.Purpose != anxin.PurposeStep || a.ProviderID == "" ||
		c.State == anxin.ChainWalking || !(liveCall(status) || ending(status)) {
		return time.Time{}, held, nil
	}
	answered := status == "in-progress" || status == "answered" || status == anxin.AttemptHangingUp
	if answered && c.State == anxin.ChainAccepted && c.AcceptedVia == ViaKeyPress && a.Target == c.AcceptedTarget {
		return time.Time{}, held, nil // the acceptor's call says thank you and hangs up
	}
	to := ""
	if a.Target >= 0 && a.Target < len(c.Targets) {
		to = anxin.MaskPhone(c.Targets[a.Target].Phone)
	}
	intent := anxin.AttemptCanceling
	if answered {
		intent = anxin.AttemptHangingUp
	}
	now := s.clock.Now()
	pid, send, rebound := a.ProviderID, false, false
	got, err := s.updateAttempt(ctx, a.ID, func(x *anxin.Attempt) bool {
		send, rebound = false, false
		switch {
		case x.ProviderID != pid:
			return false
		case x.Status == intent || x.Status == anxin.AttemptHangingUp:
			send = resend // asked for before (a crash, a refusal): the pass asks again
			// a give-up further ahead than the call's own limit from now
			// comes only from a clock set back since the record (NTP
			// correcting a clock that ran ahead): kept, the call would be
			// asked for as long as the clock jumped; it counts from now
			if lim := now.Add(s.callLimit(x.Provider, x.Status == anxin.AttemptHangingUp)); x.NextTry.After(lim) {
				x.NextTry, x.UpdatedAt, rebound = lim, now, true
				return true
			}
			return false
		case terminal(x.Status) && x.Status != anxin.AttemptFailed:
			return false // its end was recorded meanwhile
		}
		// live, failed by us, or canceling a call now answered (hung up instead)
		x.Status, x.NextTry, x.UpdatedAt, send = intent, now.Add(s.callLimit(x.Provider, answered)), now, true
		return true
	})
	if err != nil {
		return time.Time{}, held, err
	}
	*a = got
	if rebound {
		s.log.Warn("call end's give-up lies beyond the call's limit (the clock was set back?): counted from now",
			"attempt", a.ID, "to", to, "give_up_at", a.NextTry)
	}
	if !send {
		return time.Time{}, held, nil
	}
	if !resend {
		// a status report recorded the end: a pass that read the
		// attempts before the record may be finishing the chain, and
		// would save it finished over the end, which nothing would then
		// ask for again; the chain's own write makes that save conflict
		// (the pass runs again and sees the end), or finds it finished
		if err := s.holdOpen(ctx, a.AlarmID); err != nil {
			return time.Time{}, held, err
		}
		held = true
	}
	if hook := s.beforeCancel.Load(); hook != nil {
		if err := (*hook)(a.ID); err != nil {
			return time.Time{}, held, err // tests: the process died between the record and the request
		}
	}
	asked := a.Status
	cerr := s.notifierOf(a.Provider).Cancel(ctx, pid, asked == anxin.AttemptHangingUp)
	if cerr != nil && now.Before(a.NextTry) {
		wait := min(max(now.Sub(a.UpdatedAt), s.cfg.RetryMin), s.cfg.RetryMax)
		s.log.Warn("cannot end call; will retry", "attempt", a.ID, "to", to, "err", cerr, "give_up_at", a.NextTry)
		return earliest(now.Add(wait), a.NextTry), held, nil
	}
	other := false
	got, err = s.updateAttempt(ctx, a.ID, func(x *anxin.Attempt) bool {
		other = false
		if !ending(x.Status) {
			return false // a report said how it ended
		}
		if x.Status != asked {
			// a hang-up recorded while this cancel was under way (the call
			// was answered): the cancel's answer, or its give-up, says
			// nothing of it (Twilio ignores a cancel of a call in progress)
			other = true
			return false
		}
		if x.Status == anxin.AttemptHangingUp {
			x.Status = "completed"
		} else {
			x.Status = "canceled"
		}
		x.NextTry, x.UpdatedAt = time.Time{}, s.clock.Now()
		if cerr != nil {
			x.Error = "cancel not confirmed: " + cerr.Error()
		}
		return true
	})
	if err != nil {
		return time.Time{}, held, err
	}
	*a = got
	if other {
		s.log.Info("call's end changed while it was asked for; asking again", "attempt", a.ID, "to", to,
			"asked", asked, "now", a.Status)
		return now.Add(s.cfg.RetryMin), held, nil
	}
	if cerr != nil {
		s.log.Warn("call recorded ended: cancel not confirmed; it cannot last any longer", "attempt", a.ID, "to", to,
			"state", c.State, "err", cerr)
		return time.Time{}, held, nil
	}
	s.log.Info("call ended: chain decided", "attempt", a.ID, "to", to, "state", c.State, "was", status)
	return time.Time{}, held, nil
}

// holdOpen marks a chain unfinished with a write of its own (a new
// version), and in cluster mode pokes it for the instance that holds it.
// It keeps the chain's UpdatedAt: an unanswered chain's outcome visit is
// dated by it, and a pass whose visit id save this write made conflict
// records the visit again on its rerun, which must find the same date
// (CreateVisit is idempotent per alarm, household, date and method) or
// it writes a second visit for the one alarm.
func (s *Service) holdOpen(ctx context.Context, alarmID string) error {
	for try := 1; ; try++ {
		c, err := s.store.Chain(ctx, alarmID)
		if err != nil {
			return err
		}
		c.Finished = false
		err = s.store.SaveChain(ctx, &c)
		if anxin.ErrorCode(err) == anxin.ECONFLICT && try < maxWriteTries {
			continue
		} else if err != nil {
			return err
		}
		break
	}
	if s.claims != nil {
		return s.claims.PokeChain(ctx, alarmID, s.clock.Now())
	}
	return nil
}

// lookUpDecidedCall asks the provider whether a decided chain's call
// whose outcome is unknown was made, and adopts it if so (endCall then
// ends it). Not found: recorded as not sent. Cannot tell: left unknown —
// its status callbacks, if it was made, end it (Report).
func (s *Service) lookUpDecidedCall(ctx context.Context, c *anxin.Chain, a *anxin.Attempt, now time.Time) error {
	n := anxin.Notification{AttemptID: a.ID, AlarmID: a.AlarmID, Channel: anxin.ChannelVoice, AskKey: true}
	if a.Target >= 0 && a.Target < len(c.Targets) {
		n.To = c.Targets[a.Target].Phone
	}
	found, err := s.adopt(ctx, a, n)
	switch {
	case err != nil:
		s.log.Warn("chain decided; cannot tell whether its call was made", "attempt", a.ID, "err", err)
		return nil
	case found:
		return nil
	}
	got, err := s.updateAttempt(ctx, a.ID, func(x *anxin.Attempt) bool {
		if x.Status != anxin.AttemptSending {
			return false
		}
		x.Status, x.Error, x.UpdatedAt = anxin.AttemptFailed, "not sent: chain decided; "+x.Error, now
		return true
	})
	if err == nil {
		*a = got
	}
	return err
}

// notice sends one outcome SMS (taken, duty, closed) to target ti; a notice
// that keeps failing is given up after 8 tries, so it does not hold the
// outcome record back for long.
func (s *Service) notice(ctx context.Context, c *anxin.Chain, p anxin.AttemptPurpose, ti int, body, masked string, now time.Time) (time.Time, error) {
	n := anxin.Notification{
		AttemptID: noticeAttemptID(c.AlarmID, p, ti), AlarmID: c.AlarmID, To: c.Targets[ti].Phone,
		Channel: anxin.ChannelSMS, Body: body, Masked: masked,
	}
	w, err := s.ensureRoutes(ctx, p, -1, ti, n, now)
	if err != nil {
		return time.Time{}, err
	}
	cur, _, found, err := s.currentAttempt(ctx, n.AttemptID, anxin.ChannelSMS)
	if err != nil {
		return time.Time{}, err
	}
	gaveUp := false
	if found && cur.Status == anxin.AttemptRetry && cur.Tries >= 8 {
		if _, err := s.updateAttempt(ctx, cur.ID, func(a *anxin.Attempt) bool {
			if a.Tries < 8 || a.Status != anxin.AttemptRetry {
				return false
			}
			a.Status, a.Error, gaveUp = anxin.AttemptFailed, "gave up after 8 tries; "+a.Error, true
			return true
		}); err != nil {
			return time.Time{}, err
		}
	}
	if gaveUp {
		return time.Time{}, nil
	}
	return w, nil
}

// noticeTargets are who must be told the chain's outcome: for an acceptance,
// everyone already notified (by a step that did not fail) but the acceptor and
// the elder; for an unanswered chain, the community duty contacts.
func (s *Service) noticeTargets(c *anxin.Chain, attempts []anxin.Attempt) []int {
	var out []int
	seen := map[string]bool{}
	if who, ok := acceptor(c); ok {
		seen[who.Phone] = true // the acceptor listed twice is still the acceptor
	}
	if c.State == anxin.ChainUnanswered {
		for i, t := range c.Targets {
			if t.Role != "" && !seen[t.Phone] {
				seen[t.Phone] = true
				out = append(out, i)
			}
		}
		if len(out) == 0 {
			s.log.Error("chain unanswered and the household has no community duty contact", "alarm", c.AlarmID)
		}
		return out
	}
	for _, a := range attempts {
		if a.Purpose != anxin.PurposeStep || a.Status == anxin.AttemptFailed || a.Status == anxin.AttemptRetry {
			continue
		}
		t := c.Targets[a.Target]
		if t.Relation == "elder" || a.Target == c.AcceptedTarget || seen[t.Phone] {
			continue
		}
		seen[t.Phone] = true
		out = append(out, a.Target)
	}
	return out
}

// recordOutcome writes the chain's outcome as a visit (remote monitoring)
// with a follow-up visit due.
func (s *Service) recordOutcome(ctx context.Context, c *anxin.Chain, a *anxin.Alarm, h *anxin.Household, attempts []anxin.Attempt) error {
	v := anxin.Visit{Household: c.Household, Method: anxin.VisitRemoteMonitoring, AlarmID: c.AlarmID}
	duty := 0
	if c.State == anxin.ChainUnanswered {
		duty = len(s.noticeTargets(c, attempts))
	}
	v.Health, v.Needs = s.cfg.Words.Visit(a, h, outcomeOf(c, attempts, s.cfg.Rounds, duty))
	if c.State == anxin.ChainAccepted {
		v.Date, v.Visitor = c.AcceptedAt, c.AcceptedBy
	} else {
		v.Date = c.UpdatedAt
	}
	v.FollowUpDue = v.Date.Add(s.cfg.FollowUpAfter)
	if s.visits == nil {
		s.log.Info("outcome (no visit register)", "alarm", c.AlarmID, "outcome", c.State)
		c.VisitID = "-"
		return s.store.SaveChain(ctx, c)
	}
	if err := s.visits.CreateVisit(ctx, &v); err != nil {
		return fmt.Errorf("outcome visit: %w", err)
	}
	c.VisitID = v.ID
	if c.VisitID == "" {
		c.VisitID = "-"
	}
	s.log.Info("outcome recorded", "alarm", c.AlarmID, "outcome", c.State, "visit", v.ID, "follow_up_due", v.FollowUpDue)
	return s.store.SaveChain(ctx, c)
}
