package sqlite

import "github.com/anxin-care/anxin"

// The store's filter and batch types live at the module root (package
// anxin, storetypes.go) so that other stores can speak them; these aliases
// keep the old names compiling.
type (
	Account          = anxin.Account
	WorkOrderFilter  = anxin.WorkOrderFilter
	RegisterChange   = anxin.RegisterChange
	ElderMatch       = anxin.ElderMatch
	ItemCount        = anxin.ItemCount
	ElderMonth       = anxin.ElderMonth
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
	HouseholdPlace   = anxin.HouseholdPlace
)

// Alarm ops, as the rules engine emits them.
const (
	AlarmOpOpen   = anxin.AlarmOpOpen
	AlarmOpRepeat = anxin.AlarmOpRepeat
	AlarmOpClose  = anxin.AlarmOpClose
)

var _ anxin.Store = (*DB)(nil)
