package anxin

import (
	"context"
	"time"
)

// Severity orders alarms: it sets the pace of the contact chain.
type Severity string

// Severities.
const (
	SeverityCritical Severity = "critical" // button, smoke, gas, fall: walk the chain at once
	SeverityWarning  Severity = "warning"  // no use, water running: may ring the elder first
	SeverityInfo     Severity = "info"     // device silent, low battery: installers, not family
)

// Valid reports whether s is a known severity.
func (s Severity) Valid() bool {
	return s == SeverityCritical || s == SeverityWarning || s == SeverityInfo
}

// Route says who an alarm is for.
type Route string

// Routes.
const (
	RouteFamily    Route = "family"    // the household's contact chain
	RouteInstaller Route = "installer" // maintenance: silent device, low battery
)

// AlarmState is where an alarm is in its life.
type AlarmState string

// Alarm states.
const (
	AlarmOpen       AlarmState = "open"       // raised, chain being walked
	AlarmAccepted   AlarmState = "accepted"   // a person accepted it
	AlarmUnanswered AlarmState = "unanswered" // every round of the chain went unanswered
	AlarmResolved   AlarmState = "resolved"   // cleared by the device (smoke_clear) or closed by staff
)

// Alarm is one alarm: at most one open per (household, rule).
type Alarm struct {
	ID         string     `json:"id"`
	Household  string     `json:"household"`
	Rule       string     `json:"rule"`      // rule name from rules.yaml
	RuleKind   string     `json:"rule_kind"` // event, no_use, continuous, threshold, offline, geofence, …
	Device     string     `json:"device"`    // device that triggered it, if any
	Severity   Severity   `json:"severity"`
	Route      Route      `json:"route"`
	State      AlarmState `json:"state"`
	Reason     string     `json:"reason"`         // operators' words (English), kept for the API
	Cause      Cause      `json:"cause,omitzero"` // what raised it, as data: people's words are written from it
	MessageID  string     `json:"message_id"`     // the message that raised it, if any
	OpenedAt   time.Time  `json:"opened_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	ClosedAt   time.Time  `json:"closed_at,omitzero"`
	Repeats    int        `json:"repeats"` // later triggers attached to this alarm
	AcceptedBy string     `json:"accepted_by,omitempty"`
}

// Escalator walks an alarm's contact chain. alarmd hands every new family
// alarm to it; implementations persist their progress so that a restart
// resumes the chain.
type Escalator interface {
	// Escalate starts walking the chain for a newly opened alarm. It must be
	// idempotent: escalating the same alarm id twice has no second effect.
	Escalate(ctx context.Context, a Alarm) error
	// Resolve stops a chain because the alarm cleared (smoke_clear) or staff
	// closed it.
	Resolve(ctx context.Context, alarmID, reason string) error
}
