package rules

import (
	"time"

	"github.com/anxin-care/anxin"
)

// Op is what a Decision asks the alarm store to do.
type Op string

// Ops: one open alarm per (household, rule).
const (
	OpOpen   Op = "open"   // rising edge: a new alarm
	OpRepeat Op = "repeat" // the condition fired again while the alarm is open
	OpClose  Op = "close"  // falling edge: the device cleared it (smoke_clear, water used again)
)

// Decision is one change the engine asks alarmd to make to the alarm of
// (Household, Rule).
type Decision struct {
	Op        Op
	Household string
	Rule      string // rule name from rules.yaml ("device_silent" for a silent meter)
	RuleKind  string // event, no_use, device_silent, continuous, threshold, offline, geofence, …
	Device    string // device concerned, if any
	Severity  anxin.Severity
	Route     anxin.Route
	At        time.Time
	Reason    string      // operators' words: "no water used since 06:40 (24 h)"
	Cause     anxin.Cause // what happened, as data; zero for a close
	MessageID string      // message that caused it, if any
}
