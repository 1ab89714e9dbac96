package postgres

import "github.com/anxin-care/anxin"

// Short names for the root store types (storetypes.go), as package sqlite
// has them, so that the two stores' code reads alike.
type (
	Account          = anxin.Account
	Session          = anxin.Session
	AlarmFilter      = anxin.AlarmFilter
	AlarmNote        = anxin.AlarmNote
	AlarmStateChange = anxin.AlarmStateChange
	AlarmOp          = anxin.AlarmOp
	AlarmChange      = anxin.AlarmChange
	RuleState        = anxin.RuleState
	IngestBatch      = anxin.IngestBatch
	IngestResult     = anxin.IngestResult
	AlarmOutcome     = anxin.AlarmOutcome
	AuditEntry       = anxin.AuditEntry
	AuditFilter      = anxin.AuditFilter
	VisitFilter      = anxin.VisitFilter
	ElderFilter      = anxin.ElderFilter
	Conflict         = anxin.Conflict
	ConflictError    = anxin.ConflictError
	Scheduled        = anxin.Scheduled
	DueCut           = anxin.DueCut
	Cut              = anxin.Cut
	ScheduleFilter   = anxin.ScheduleFilter
	VisitCount       = anxin.VisitCount
	HouseholdPlace   = anxin.HouseholdPlace
	ElderPlace       = anxin.ElderPlace
)

// Alarm ops, as the rules engine emits them.
const (
	AlarmOpOpen   = anxin.AlarmOpOpen
	AlarmOpRepeat = anxin.AlarmOpRepeat
	AlarmOpClose  = anxin.AlarmOpClose
)
