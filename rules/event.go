package rules

import (
	"fmt"
	"slices"

	"github.com/anxin-care/anxin"
)

// EventParams are the keys of kind event: an alarm at once for each listed
// event; the matching "_clear" event (smoke_clear) closes a detector's
// alarm. Events without a clear (button_pressed, fall) are closed by people.
type EventParams struct {
	Events []anxin.EventType `yaml:"events"`
}

func init() {
	registerKind("event", kindDef{
		params: func() any { return &EventParams{} },
		check: func(r *Rule) error {
			p := r.Params.(*EventParams)
			if len(p.Events) == 0 {
				return absent("events", "at least one event is needed")
			}
			for i, ev := range p.Events {
				if !ev.Valid() {
					return notOneOf(fmt.Sprintf("events[%d]", i), clip(string(ev)), "is not an event of the contract", eventNames())
				}
				if _, isClear := ev.Clears(); isClear {
					return because(fmt.Sprintf("events[%d]", i), reasonClearsAlarm, clip(string(ev)), "", fmt.Sprintf("%q clears an alarm, it cannot raise one", ev))
				}
			}
			return nil
		},
		compile: func(r *Rule) evaluator {
			p := r.Params.(*EventParams)
			ev := &eventRule{raise: p.Events}
			for _, e := range p.Events {
				c := anxin.EventType(string(e) + "_clear")
				if c.Valid() {
					ev.clears = append(ev.clears, c)
				}
			}
			return ev
		},
	})
}

type eventRule struct {
	raise, clears []anxin.EventType
}

var eventWords = map[anxin.EventType]string{
	anxin.EventButtonPressed: "the call button was pressed",
	anxin.EventSmoke:         "smoke detected",
	anxin.EventGas:           "gas detected",
	anxin.EventWaterLeak:     "water leak detected",
	anxin.EventFall:          "a fall was detected",
	anxin.EventTamper:        "a device was tampered with",
	anxin.EventLowBattery:    "a device battery is low",
}

func (r *eventRule) match(m *anxin.Message) bool {
	return m.Event != "" && (slices.Contains(r.raise, m.Event) || slices.Contains(r.clears, m.Event))
}

func (r *eventRule) observe(x *evalCtx, s *slot, m *anxin.Message, t int64) {
	if slices.Contains(r.clears, m.Event) {
		what, _ := m.Event.Clears()
		x.clear(s, fOpen, func() string { return fmt.Sprintf("%s: %s cleared at %s", x.deviceWords(s.dev), what, x.clock(t)) })
		return
	}
	w := eventWords[m.Event]
	if w == "" {
		w = string(m.Event)
	}
	reason := func() string { return fmt.Sprintf("%s at %s (%s)", capitalize(w), x.clock(t), x.deviceWords(s.dev)) }
	cause := func() anxin.Cause { return anxin.Cause{Code: anxin.CauseCode(m.Event), At: causeTime(t)} }
	s.t1 = t
	s.n++
	if !x.raise(s, fOpen, reason, cause) {
		x.repeat(s, fOpen, reason, cause)
	}
}

func (r *eventRule) tick(*evalCtx, *slot)           {}
func (r *eventRule) deadline(*evalCtx, *slot) int64 { return 0 }
func (r *eventRule) closedByPeople()                {}
