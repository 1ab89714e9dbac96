package rules

import (
	"slices"

	"github.com/anxin-care/anxin"
)

// A rule kind is a kindDef registered by name from an init function in the
// kind's own file (event.go, nouse.go, …; learned.go may add one). See
// docs/rules.md.
type kindDef struct {
	// params returns a pointer to a new, zero parameter struct whose fields
	// carry yaml tags: those are the kind's own keys in rules.yaml.
	params func() any
	// check applies defaults to r.Params and validates it; errors name the
	// key ("for: must be positive").
	check func(r *Rule) error
	// compile makes the evaluator of a checked rule (base or variant).
	compile func(r *Rule) evaluator
	// extBytes is the size of the kind's extra per-slot state (slot.ext),
	// persisted after the slot's fields; 0 for kinds whose slot suffices.
	// State version 1 holds exactly extBytes; version 2 holds a length
	// (0: no history), which is extBytes unless the kind has adoptExt.
	extBytes int
	// saneExt, when set, reports whether a restored slot.ext holds values
	// the kind can run on (its instants and intervals in range); a state
	// that does not is corrupt, as one with a slot time out of range.
	saneExt func(ext []byte) bool
	// upgradeExt, when set, converts an ext of state version 1 to the
	// kind's current encoding (nil: unreadable) before saneExt sees it.
	upgradeExt func(ext []byte) []byte
	// adoptExt, when set, converts a restored (sane) ext to the layout of
	// the rule it is restored into (ev: the rule's base evaluator); the
	// kind's ext then varies in size with the rule's parameters.
	adoptExt func(ev evaluator, ext []byte) []byte
	// share, when set, is given the evaluators of a rule's base and all its
	// variants after they are compiled: they keep one slot per device, so
	// whatever fixes the layout of slot.ext must be common to them.
	share func(evs []evaluator)
}

// kindTable holds the rule kinds; written only by init functions.
var kindTable = map[string]kindDef{}

func registerKind(name string, d kindDef) {
	if _, dup := kindTable[name]; dup {
		panic("rules: kind " + name + " registered twice")
	}
	kindTable[name] = d
}

// KindNames lists the registered rule kinds, sorted.
func KindNames() []string {
	var n []string
	for k := range kindTable {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// evaluator is one rule of one kind with its parameters resolved (base rule,
// or a tier or household variant). Every method is a pure function of the
// slot, the input and x.now; the engine holds the lock.
type evaluator interface {
	// match reports cheaply whether message m is input for this rule
	// (device kinds are already filtered).
	match(m *anxin.Message) bool
	// observe feeds m, measured at t (unix seconds, ≤ x.now), into s.
	observe(x *evalCtx, s *slot, m *anxin.Message, t int64)
	// tick re-evaluates s at x.now: timers.
	tick(x *evalCtx, s *slot)
	// deadline is the next x.now at which tick could change something for
	// s; 0 for none.
	deadline(x *evalCtx, s *slot) int64
}

// Optional evaluator extras, found by type assertion.
type (
	// perHousehold evaluators keep one slot per household, not per device.
	perHousehold interface{ perHousehold() }
	// awayAware evaluators are paused while the household is away (no_use,
	// learned); rebaseline restarts their timers when the elder is back.
	awayAware interface {
		rebaseline(x *evalCtx, s *slot)
	}
	// statusWatcher evaluators receive statuses (anxin/v1/<hh>/<dev>/status):
	// the gateway's own when they are perHousehold (its slot), else the
	// devices' own (one slot per device).
	statusWatcher interface {
		observeStatus(x *evalCtx, s *slot, st anxin.Status, t int64)
	}
	// sparse evaluators that say so take messages only into slots that
	// exist already (made by a status): a rule that matters for the few
	// devices that report a status costs no slot for every other device.
	sparse interface{ sparse() bool }
	// secondAlarm evaluators raise a second alarm (bit fOpen2) under
	// another name: no_use's device_silent.
	secondAlarm interface {
		second() alarmID
	}
	// closedByPeople evaluators re-arm at once when staff close the alarm
	// (a button press); others stay quiet until the condition clears.
	closedByPeople interface{ closedByPeople() }
	// seenInExt evaluators keep a reading's time and value in slot.ext
	// (steps, hazard): extLearned reports whether a reading changed ext
	// (prev: before it) in more than those, or woke a signal last heard
	// before floor (Engine.learnedChange).
	seenInExt interface {
		extLearned(prev, cur []byte, floor int64) bool
	}
)

// alarmID is who an alarm is for and how it is named.
type alarmID struct {
	Rule, Kind string
	Severity   anxin.Severity
	Route      anxin.Route
}
