package escalate

import (
	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/words"
)

// Every text people read or hear is written by package words, from the
// alarm's cause, in the configured language and time zone (Config.Words).

// smsBodies are a step's SMS and the same SMS with the elder's name and
// address masked, for logs (the log notifier prints it so that a new user
// sees what a family reads).
func smsBodies(b *words.Book, a *anxin.Alarm, h *anxin.Household, link string) (body, masked string) {
	m := maskedHousehold(h)
	return b.SMS(a, h, link), b.SMS(a, &m, link)
}

// takenBodies are the "taken" notice and its masked twin.
func takenBodies(b *words.Book, a *anxin.Alarm, h *anxin.Household, who string) (body, masked string) {
	m := maskedHousehold(h)
	return b.Taken(a, h, who), b.Taken(a, &m, anxin.MaskName(who))
}

// closedBodies are the "alarm is over" notice and its masked twin.
func closedBodies(b *words.Book, a *anxin.Alarm, h *anxin.Household) (body, masked string) {
	m := maskedHousehold(h)
	return b.Closed(a, h), b.Closed(a, &m)
}

// dutyBodies are the duty notice and its masked twin.
func dutyBodies(b *words.Book, a *anxin.Alarm, h *anxin.Household, calls int, link string) (body, masked string) {
	m := maskedHousehold(h)
	return b.Duty(a, h, calls, link), b.Duty(a, &m, calls, link)
}

// maskedHousehold is h with its personal data masked: name, address, phone.
func maskedHousehold(h *anxin.Household) anxin.Household {
	m := *h
	m.Elder.Name, m.Elder.Address, m.Elder.Phone = anxin.MaskName(h.Elder.Name), "", anxin.MaskPhone(h.Elder.Phone)
	return m
}

// callsPlaced counts the steps with a call a provider took: a refused or
// never-sent call is an attempt, not a call; a step failed over to a
// second provider is one call. The visit record and the duty SMS say it.
func callsPlaced(attempts []anxin.Attempt) int {
	placed := map[int]bool{}
	for _, at := range attempts {
		if at.Purpose == anxin.PurposeStep && at.Channel == anxin.ChannelVoice && at.ProviderID != "" {
			placed[at.Step] = true
		}
	}
	return len(placed)
}

// outcomeOf is how chain c ended, for the visit record's words.
// duty is how many community duty contacts an unanswered chain tells.
func outcomeOf(c *anxin.Chain, attempts []anxin.Attempt, rounds, duty int) words.Outcome {
	if c.State != anxin.ChainAccepted {
		return words.Outcome{Steps: len(c.Steps), Rounds: rounds, Calls: callsPlaced(attempts), Duty: duty}
	}
	who, _ := acceptor(c) // by position: names repeat or are empty
	rel := who.Relation
	if rel == "" {
		rel = who.Role
	}
	return words.Outcome{
		Accepted: true, By: c.AcceptedBy, Relation: rel, Via: c.AcceptedVia,
		After: c.AcceptedAt.Sub(c.StartedAt), NoContactRung: rel == "elder" && c.Step == 0,
		AfterUnanswered: c.Step >= len(c.Steps),
	}
}
