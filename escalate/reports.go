package escalate

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/words"
)

// terminal statuses never give way to an earlier one arriving late.
func terminal(status string) bool {
	switch status {
	case "delivered", "undelivered", "failed", "read", "completed", "busy", "no-answer", "canceled": // "failed" is also anxin.AttemptFailed
		return true
	}
	return false
}

// progressRank orders the non-terminal statuses: Twilio posts each event of
// a call or message in its own request, so they may arrive out of order, and
// a late "ringing" must not undo "in-progress" (an answered call would then
// be canceled, which Twilio ignores, rather than hung up).
func progressRank(status string) int {
	switch status {
	case "", anxin.AttemptSending, anxin.AttemptRetry: // ours (and Twilio's SMS "sending")
		return 0
	case "queued", "accepted", "scheduled", "initiated":
		return 1
	case "ringing", "sent":
		return 2
	case "in-progress", "answered":
		return 3
	case anxin.AttemptCanceling, anxin.AttemptHangingUp: // ours: an end asked for; only an end reported follows
		return 4
	}
	return 1
}

// Report records a provider's status callback for one of our attempts.
// Reports for unknown attempts, or naming another provider id than the one
// stored (or one another attempt holds), change nothing.
func (s *Service) Report(ctx context.Context, r anxin.StatusReport) error {
	a, err := s.store.Attempt(ctx, r.AttemptID)
	if anxin.ErrorCode(err) == anxin.ENOTFOUND {
		s.log.Warn("status report for an unknown attempt", "attempt", r.AttemptID)
		return nil
	} else if err != nil {
		return err
	}
	if a.ProviderID == "" && r.ProviderID != "" {
		held, err := s.store.AttemptByProviderID(ctx, a.Provider, r.ProviderID)
		if err == nil && held.ID != a.ID {
			s.log.Warn("status report names a provider id another attempt holds; ignored", "attempt", a.ID, "provider_id", r.ProviderID)
			return nil
		} else if err != nil && anxin.ErrorCode(err) != anxin.ENOTFOUND {
			return err
		}
	}
	ignored, changed := false, false
	a, err = s.updateAttempt(ctx, r.AttemptID, func(a *anxin.Attempt) bool {
		ignored, changed = false, false
		if r.ProviderID != "" && a.ProviderID != "" && r.ProviderID != a.ProviderID {
			ignored = true
			return false
		}
		if a.ProviderID == "" && r.ProviderID != "" {
			a.ProviderID, changed = r.ProviderID, true
		}
		if r.Status != "" && r.Status != a.Status && !terminal(a.Status) &&
			(terminal(r.Status) || progressRank(r.Status) >= progressRank(a.Status)) {
			a.Status, changed = r.Status, true
		}
		if r.AnsweredBy != "" && r.AnsweredBy != a.AnsweredBy {
			a.AnsweredBy, changed = r.AnsweredBy, true
		}
		if r.ErrorCode != "" && r.ErrorCode != "0" {
			if e := "provider error " + r.ErrorCode; e != a.Error {
				a.Error, changed = e, true
			}
		}
		if changed {
			a.UpdatedAt = s.clock.Now()
		}
		return changed
	})
	if err != nil {
		return err
	}
	if ignored {
		s.log.Warn("status report names another provider id; ignored", "attempt", a.ID, "provider_id", r.ProviderID)
		return nil
	}
	if err := s.endLateCall(ctx, &a, r.Status); err != nil {
		return err
	}
	if !changed {
		return nil
	}
	s.log.Info("status", "attempt", a.ID, "channel", a.Channel, "status", a.Status, "answered_by", a.AnsweredBy)
	if terminal(a.Status) {
		// a call that ended may end its step; an SMS that failed on one
		// route moves to the next without waiting for delivery_timeout
		s.nudge(ctx, a.AlarmID)
	}
	return nil
}

// endLateCall ends a step's call that a report says is live when its
// chain is already decided: a call whose create answer was lost (no sid
// when the chain finished, so finish could not end it) reports in only
// now, and would ring on for an alarm someone took. Once: ended, the
// attempt is "canceled" or "completed" and later reports of it are not
// live. A finished chain is first marked unfinished again (holdOpen: a
// write conflict is read again and retried, not answered 500): the end is
// recorded before it is asked for, and an unfinished chain's pass (at the
// next start too) asks again for an end not confirmed, until the call
// cannot last any longer. The record is followed by a write of the chain
// (endCall's holdOpen), so a pass finishing the chain meanwhile does not
// save it finished over the end.
func (s *Service) endLateCall(ctx context.Context, a *anxin.Attempt, status string) error {
	answered := status == "in-progress" || status == "answered"
	if a.Channel != anxin.ChannelVoice || a.Purpose != anxin.PurposeStep || a.ProviderID == "" || !liveCall(status) ||
		(terminal(a.Status) && a.Status != anxin.AttemptFailed) ||
		(ending(a.Status) && !(a.Status == anxin.AttemptCanceling && answered)) {
		// an end recorded is the chain's pass's to ask for again; but a
		// call being canceled that is answered meanwhile is hung up instead
		// (Twilio ignores a cancel of a call in progress)
		return nil
	}
	if liveCall(a.Status) && progressRank(a.Status) > progressRank(status) {
		// a report older than what is recorded (callbacks come out of
		// order): a late "ringing" of an answered call is ended as answered
		// (the acceptor's not at all), not canceled, which Twilio ignores
		// for a call in progress
		status = a.Status
	}
	c, err := s.store.Chain(ctx, a.AlarmID)
	if err != nil || c.State == anxin.ChainWalking {
		return err
	}
	reopened := c.Finished
	if reopened {
		if err := s.holdOpen(ctx, c.AlarmID); err != nil {
			return err
		}
	}
	again, held, err := s.endCall(ctx, &c, a, status, false)
	if err != nil {
		return err
	}
	if reopened || held || !again.IsZero() {
		s.nudge(ctx, a.AlarmID) // the pass asks again, and finishes the chain
	}
	return nil
}

// Press handles a digit pressed in a step's call: 1 accepts.
func (s *Service) Press(ctx context.Context, attemptID, providerID, digits string) (anxin.KeyPress, error) {
	a, err := s.store.Attempt(ctx, attemptID)
	if anxin.ErrorCode(err) == anxin.ENOTFOUND {
		return anxin.KeyPress{Unknown: true}, nil
	} else if err != nil {
		return anxin.KeyPress{}, err
	}
	if a.Purpose != anxin.PurposeStep || a.Channel != anxin.ChannelVoice ||
		(providerID != "" && a.ProviderID != "" && providerID != a.ProviderID) {
		return anxin.KeyPress{Unknown: true}, nil
	}
	if digits != "1" {
		c, err := s.store.Chain(ctx, a.AlarmID)
		if err != nil {
			return anxin.KeyPress{}, err
		}
		if c.State != anxin.ChainWalking {
			return anxin.KeyPress{TakenBy: c.AcceptedBy, Unknown: c.State != anxin.ChainAccepted}, nil
		}
		alarm, h, err := s.context(ctx, &c)
		if err != nil {
			return anxin.KeyPress{}, err
		}
		return anxin.KeyPress{Prompt: s.cfg.Words.Voice(&alarm, &h, c.Targets[a.Target].Relation == "elder")}, nil
	}
	c, mine, err := s.accept(ctx, a.AlarmID, a.Target, ViaKeyPress)
	switch {
	case err == nil && mine:
		// accept checked a.Target against the chain it read
		return anxin.KeyPress{Accepted: true, AcceptedBy: c.AcceptedBy, Elder: c.Targets[a.Target].Relation == "elder"}, nil
	case err == nil:
		return anxin.KeyPress{TakenBy: c.AcceptedBy}, nil
	case errors.Is(err, errAlarmOver):
		return anxin.KeyPress{Unknown: true}, nil
	}
	return anxin.KeyPress{}, err
}

// replyWords are SMS replies that mean "I take it".
var replyWords = map[string]bool{"1": true, "ok": true, "yes": true, "y": true, "好": true, "好的": true, "收到": true, "确认": true, "接受": true, "我来": true}

// TwoWaySMS reports whether replies from this number can reach us: Chinese
// carriers do not deliver replies to international senders, so +86 is out.
func TwoWaySMS(phone string) bool { return !strings.HasPrefix(phone, "+86") }

// Reply accepts an alarm by an inbound SMS: the sender must have been sent a
// step of a chain still walking (or unanswered). When the sender waits on
// several such alarms (a grid worker of two homes, a child of two parents)
// the reply cannot say which one it takes: none is accepted, and answer is
// the SMS to send back, listing each alarm with its link (the chains walk
// on meanwhile). A reply in other words ("马上到") takes nothing either: its
// sender is told how to take the alarm (reply 1, or the link), once an
// hour at most for the same alarms. answer is "" otherwise.
//
// A reply that could not be recorded comes with its error and, once an hour
// per sender, an answer asking to reply again (askAgain).
func (s *Service) Reply(ctx context.Context, from, body string) (answer string, err error) {
	answer, err = s.reply(ctx, from, body, false)
	return s.askAgain(from, answer, err)
}

// LocalReply is an SMS reply that came in on a local SIM (the modem
// channel): a domestic sender reaches it, so +86 is believed too. A reply
// that could not be recorded is answered as Reply's (askAgain).
func (s *Service) LocalReply(ctx context.Context, from, body string) (answer string, err error) {
	answer, err = s.reply(ctx, from, body, true)
	return s.askAgain(from, answer, err)
}

// askAgain turns a reply that could not be recorded into an answer asking
// its sender to reply again, returned with the error (the webhook or the
// modem sends it; nothing else would tell them their "1" was lost), once an
// hour per sender: while the store fails every SMS fails, and a sender that
// answers each SMS (10086, an auto-responder) must not loop with us.
func (s *Service) askAgain(from, answer string, err error) (string, error) {
	if err == nil {
		return answer, nil
	}
	if s.unclearOnce(unclearKey(from, []string{"reply-failed"})) {
		return s.cfg.Words.ReplyFailed(), err
	}
	s.log.Info("inbound SMS not handled; its sender was asked to reply again within the hour", "from", anxin.MaskPhone(from))
	return "", err
}

func (s *Service) reply(ctx context.Context, from, body string, local bool) (string, error) {
	if !s.cfg.SMSReplies || (!local && !TwoWaySMS(from)) {
		s.log.Info("inbound SMS ignored: replies not enabled for this number", "from", anxin.MaskPhone(from))
		return "", nil
	}
	accepting := replyWords[strings.ToLower(strings.Trim(strings.TrimSpace(body), ".!。！"))]
	chains, err := s.store.UnfinishedChains(ctx)
	if err != nil {
		return "", err
	}
	// and those of the last lateReplyWindow, finished or not: an
	// unanswered chain that finished is still taken by a reply, as by its
	// link; one someone else took is answered who did (takenLate)
	recent, err := s.store.ChainsSince(ctx, s.clock.Now().Add(-s.lateReplyWindow()))
	if err != nil {
		return "", err
	}
	for _, c := range recent {
		if c.Finished && c.State == anxin.ChainUnanswered {
			chains = append(chains, c)
		}
	}
	slices.SortStableFunc(chains, func(a, b anxin.Chain) int { return a.StartedAt.Compare(b.StartedAt) })
	// each chain waiting on the sender, with the latest step whose SMS reached them
	type waiting struct {
		c        *anxin.Chain
		step, ti int
	}
	var ws []waiting
	for i := len(chains) - 1; i >= 0; i-- {
		c := &chains[i]
		if c.State != anxin.ChainWalking && c.State != anxin.ChainUnanswered {
			continue
		}
		if step, ti, ok := s.smsStepTo(ctx, c, from); ok {
			ws = append(ws, waiting{c, step, ti})
		}
	}
	ids := make([]string, len(ws))
	for i, w := range ws {
		ids[i] = w.c.AlarmID
	}
	switch {
	case len(ws) == 0 && accepting:
		return s.takenLate(ctx, from, recent)
	case len(ws) == 0:
		s.log.Info("inbound SMS matches no walking chain", "from", anxin.MaskPhone(from), "acceptance", accepting)
		return "", nil
	case !accepting && !s.unclearOnce(unclearKey(from, ids)):
		s.log.Info("inbound SMS is not an acceptance; its sender was told how to accept within the hour", "from", anxin.MaskPhone(from))
		return "", nil
	case accepting && len(ws) == 1:
		c, mine, err := s.accept(ctx, ws[0].c.AlarmID, ws[0].ti, ViaSMSReply)
		switch {
		case err == nil && !mine && c.State == anxin.ChainAccepted:
			// another person took it since the chains were read above
			return s.takenLate(ctx, from, []anxin.Chain{c})
		case errors.Is(err, errAlarmOver):
			// refused as over (closed, resolved, cancelled): the answer,
			// not a failure to be retried; a write conflict that outlasted
			// accept's tries on a chain still open is one
			s.log.Info("inbound SMS acceptance of an alarm that is over: nothing taken",
				"from", anxin.MaskPhone(from), "alarm", c.AlarmID, "err", err)
			return "", nil
		}
		return "", err
	}
	listed := ws[:min(len(ws), words.WhichListed)]
	hs := make([]*anxin.Household, len(listed))
	links := make([]string, len(listed))
	for i, w := range listed {
		_, h, err := s.context(ctx, w.c)
		if err == nil {
			links[i], err = s.ackLink(ctx, w.c, w.step)
		}
		if err != nil {
			if !accepting {
				s.unclearForget(unclearKey(from, ids)) // not told: the next reply may be
			}
			return "", err
		}
		hs[i] = &h
	}
	if !accepting {
		s.log.Warn("inbound SMS is not an acceptance: nothing taken; the sender is told how to accept",
			"from", anxin.MaskPhone(from), "alarms", ids)
		return s.cfg.Words.Unclear(len(ws), hs, links), nil
	}
	s.log.Warn("inbound SMS acceptance fits several alarms: none taken; the sender is sent each one's link",
		"from", anxin.MaskPhone(from), "alarms", ids)
	return s.cfg.Words.Which(len(ws), hs, links), nil
}

// smsStepTo is the latest step of c, up to the current one, whose SMS was
// sent to phone, and that step's target.
func (s *Service) smsStepTo(ctx context.Context, c *anxin.Chain, phone string) (step, target int, ok bool) {
	for step := min(c.Step, len(c.Steps)-1); step >= 0; step-- {
		if ti := c.Steps[step]; c.Targets[ti].Phone == phone && s.smsSent(ctx, c.AlarmID, step) {
			return step, ti, true
		}
	}
	return 0, 0, false
}

// lateReplyWindow is how far back a reply is matched with a finished
// chain: as long as the chain's ack links work (AckLinkTTL; 24 h unset).
func (s *Service) lateReplyWindow() time.Duration { return cmp.Or(s.cfg.AckLinkTTL, 24*time.Hour) }

// takenLate answers an acceptance ("1", "好"…) from someone no chain waits
// on any more because another person took their alarm: they were in a
// meeting, the "taken" notice is unread or lost, and without an answer
// they believe the alarm is theirs. They are told who took it (the taken
// notice's words), once an hour per sender and alarm; "" when no alarm of
// recent (ChainsSince lateReplyWindow ago) taken by someone else had
// reached them by SMS.
func (s *Service) takenLate(ctx context.Context, from string, recent []anxin.Chain) (string, error) {
	for i := range recent { // the latest first
		c := &recent[i]
		if c.State != anxin.ChainAccepted {
			continue
		}
		if t := c.AcceptedTarget; t >= 0 && t < len(c.Targets) && c.Targets[t].Phone == from {
			continue // the one who took it, saying so again
		}
		if _, _, ok := s.smsStepTo(ctx, c, from); !ok {
			continue
		}
		key := unclearKey(from, []string{"taken:" + c.AlarmID})
		if !s.unclearOnce(key) {
			s.log.Info("late SMS acceptance: its sender was told within the hour who took the alarm",
				"from", anxin.MaskPhone(from), "alarm", c.AlarmID)
			return "", nil
		}
		alarm, h, err := s.context(ctx, c)
		if err != nil {
			s.unclearForget(key)
			return "", err
		}
		body, _ := takenBodies(s.cfg.Words, &alarm, &h, c.AcceptedBy)
		s.log.Warn("late SMS acceptance: another person took the alarm; the sender is told who",
			"from", anxin.MaskPhone(from), "alarm", c.AlarmID)
		return body, nil
	}
	s.log.Info("inbound SMS matches no walking chain", "from", anxin.MaskPhone(from), "acceptance", true)
	return "", nil
}

// unclearEvery is how often a sender whose replies are not acceptances is
// told how to accept, at most: once tells a person; an auto-responder that
// answers every SMS must not loop with us.
const unclearEvery = time.Hour

// unclearKey is whom unclearOnce limits: a sender and the alarms waiting
// on them. An auto-responder answering each of our SMS is told once per
// alarm (each alarm's chain sends it a bounded number of SMS); a person's
// reply to a later alarm within the hour is still answered.
func unclearKey(from string, alarms []string) string {
	return from + "\x00" + strings.Join(slices.Sorted(slices.Values(alarms)), ",")
}

// unclearForget undoes unclearOnce's note of key (the answer could not be
// made).
func (s *Service) unclearForget(key string) {
	s.unclearMu.Lock()
	defer s.unclearMu.Unlock()
	delete(s.unclear, key)
}

// unclearOnce reports whether key (unclearKey) may be told how to accept
// now (and notes that it is). Kept in memory: after a restart, or on
// another alarmd of a cluster, a sender may be told once more.
func (s *Service) unclearOnce(key string) bool {
	now := s.clock.Now()
	s.unclearMu.Lock()
	defer s.unclearMu.Unlock()
	if s.unclear == nil {
		s.unclear = map[string]time.Time{}
	}
	if at, ok := s.unclear[key]; ok && now.Sub(at) < unclearEvery {
		return false
	}
	if len(s.unclear) >= 1000 {
		for k, at := range s.unclear {
			if now.Sub(at) >= unclearEvery {
				delete(s.unclear, k)
			}
		}
	}
	s.unclear[key] = now
	return true
}
