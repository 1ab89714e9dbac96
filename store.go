package anxin

import (
	"context"
	"time"
)

// The store interfaces. alarmd keeps everything in one store (package
// sqlite by default, package postgres for several instances); the packages
// that use it depend on the small interfaces below, written in domain types
// only, never on an implementation. storetest is the contract every
// implementation passes.

// IngestStore is what the ingest pipeline writes and reads back at restart.
type IngestStore interface {
	// ApplyIngest applies a batch in one transaction. "open" creates an
	// alarm, or attaches as a repeat when one is already open for
	// (household, rule); "repeat" attaches to the newest unresolved alarm
	// (opening one if there is none); "close" resolves every unresolved
	// alarm of (household, rule). The batch's SeenIDs are remembered with
	// b.At; an id already remembered keeps its first time and is no error
	// (the pipeline drops a message whose id it remembers). A batch with a
	// Fence (several alarmd splitting households by partition leases) is
	// applied only while its owner still holds every lease it names, checked
	// in the same transaction by the database's clock; else nothing of it is
	// applied and the error is a *LeaseLostError (LeaseFence).
	ApplyIngest(ctx context.Context, b *IngestBatch) (IngestResult, error)
	// SeenIDs hands fn every remembered message id seen at or after since.
	SeenIDs(ctx context.Context, since time.Time, fn func(id string, seenAt time.Time)) error
	// ForgetSeenIDs drops ids seen before before; it returns how many.
	ForgetSeenIDs(ctx context.Context, before time.Time) (int64, error)
	// RuleStates hands fn every household's stored rules-engine state.
	RuleStates(ctx context.Context, fn func(household string, state []byte) error) error
	// Alarms lists alarms, newest first.
	Alarms(ctx context.Context, f AlarmFilter) ([]Alarm, error)
	// AlarmStateChanges lists the state changes after seq, oldest first (at most n).
	AlarmStateChanges(ctx context.Context, after int64, n int) ([]AlarmStateChange, error)
	// UnappliedAlarmStateChanges hands fn, oldest first, every state change
	// after the position its household's stored rule state reflects.
	UnappliedAlarmStateChanges(ctx context.Context, fn func(AlarmStateChange)) error
	// LastAlarmStateSeq is the newest state change's sequence number (0: none).
	LastAlarmStateSeq(ctx context.Context) (int64, error)
	// PutAwayMark records a household away or back, not yet applied, and
	// returns it with its version (one more than the household's last).
	PutAwayMark(ctx context.Context, household string, away bool, at time.Time) (AwayMark, error)
	// AwayMark is the household's last mark (ENOTFOUND: never marked).
	AwayMark(ctx context.Context, household string) (AwayMark, error)
	// PendingAwayMarks lists the marks not applied yet, oldest first.
	PendingAwayMarks(ctx context.Context) ([]AwayMark, error)
	// AwayMarkApplied records that the household's mark of version was
	// applied; a newer mark stays pending.
	AwayMarkApplied(ctx context.Context, household string, version int64) error
	// AdoptAwayMarks records each of households away and applied unless it
	// has a mark: the rules hold them away from before marks were stored.
	// One call for a restore's households (a few statements), not one a
	// household.
	AdoptAwayMarks(ctx context.Context, households []string, at time.Time) error
}

// AlarmStore reads alarms and records what people and chains did with them.
type AlarmStore interface {
	Alarm(ctx context.Context, id string) (Alarm, error) // ENOTFOUND when unknown
	Alarms(ctx context.Context, f AlarmFilter) ([]Alarm, error)
	// SetAlarmState moves an alarm (ENOTFOUND when unknown) and logs the
	// change (AlarmStateChanges).
	SetAlarmState(ctx context.Context, id string, st AlarmState, acceptedBy string, at time.Time) error
	// CloseAlarm resolves an alarm by hand with a note; an alarm already
	// resolved is ECONFLICT.
	CloseAlarm(ctx context.Context, id, by, reason string, at time.Time) error
	AlarmNotes(ctx context.Context, id string) ([]AlarmNote, error)
	// AlarmsAwaitingChain is the escalation outbox: open family alarms of
	// severity critical or warning (and, with installers, open installer
	// alarms) that have no chain yet, oldest first (at most n).
	AlarmsAwaitingChain(ctx context.Context, n int, installers bool) ([]Alarm, error)
	// AlarmsOpened lists alarms opened in [since, until) of the given
	// households (nil: all), oldest first, at most limit.
	AlarmsOpened(ctx context.Context, since, until time.Time, households map[string]bool, limit int) ([]Alarm, error)
	// EachAlarmOutcome calls fn for every family-route alarm opened in
	// [since, until) of the given households (nil: all), oldest first, with
	// its chain's acceptance time; no limit. fn must not use the store.
	EachAlarmOutcome(ctx context.Context, since, until time.Time, households map[string]bool, fn func(AlarmOutcome) error) error
}

// ChainsSinceLimit bounds what ChainStore.ChainsSince returns.
const ChainsSinceLimit = 500

// ChainStore keeps escalation chains and their attempts. SaveChain and
// SaveAttempt refuse (ECONFLICT) a write based on an older read than the
// row's Version, and SaveAttempt a provider id another attempt holds.
type ChainStore interface {
	CreateChain(ctx context.Context, c *Chain) (created bool, err error)
	SaveChain(ctx context.Context, c *Chain) error
	Chain(ctx context.Context, alarmID string) (Chain, error)
	UnfinishedChains(ctx context.Context) ([]Chain, error)
	// ChainsSince are the chains started at or after since, finished or
	// not, the latest first, at most ChainsSinceLimit.
	ChainsSince(ctx context.Context, since time.Time) ([]Chain, error)
	CreateAttempt(ctx context.Context, a *Attempt) (created bool, err error)
	SaveAttempt(ctx context.Context, a *Attempt) error
	Attempt(ctx context.Context, id string) (Attempt, error)
	Attempts(ctx context.Context, alarmID string) ([]Attempt, error)
	AttemptByProviderID(ctx context.Context, provider, providerID string) (Attempt, error)
}

// ChainClaims lets several alarmd sharing one database drive chains: a
// pass of a chain runs under a lease (owner, until, and an epoch that every
// claim increments: the fencing token), and the chain's next pass is a
// wake time in the database, so any instance may take over a chain whose
// holder died (when its lease runs out) or that waits (at its wake time).
type ChainClaims interface {
	// ClaimChain takes the lease if it is free or ran out before now; the
	// chain is then due at now at the latest (a holder dying mid-pass
	// leaves it due). ok false: another holds it (or there is no chain).
	ClaimChain(ctx context.Context, alarmID, owner string, now, until time.Time) (epoch int64, ok bool, err error)
	// RenewChain extends owner's lease of that epoch; false: another
	// claim came since, the caller's pass is stale and must not send.
	RenewChain(ctx context.Context, alarmID, owner string, epoch int64, until time.Time) (ok bool, err error)
	// ReleaseChain frees the lease and stores wake (zero: none) as the next
	// pass, unless PokeChain was called during the pass: then the chain
	// stays due and poked is true. A lease lost meanwhile is ECONFLICT.
	ReleaseChain(ctx context.Context, alarmID, owner string, epoch int64, wake time.Time) (poked bool, err error)
	// PokeChain makes the chain due now: something changed (a key press, an
	// ack link, a status report, a close).
	PokeChain(ctx context.Context, alarmID string, now time.Time) error
	// DueChains lists unfinished chains due at now whose lease is free or
	// ran out, earliest first (at most limit).
	DueChains(ctx context.Context, now time.Time, limit int) ([]string, error)
}

// RegisterStore is the care register and its visits.
type RegisterStore interface {
	Register
	Visits
	Visits(ctx context.Context, f VisitFilter) ([]Visit, error)
	Elders(ctx context.Context, f ElderFilter) ([]ElderRecord, error)
	CountElders(ctx context.Context, f ElderFilter) (int, error)
	// ImportElders stores every record in one transaction, all or nothing;
	// clashing resident ID numbers are a *ConflictError.
	ImportElders(ctx context.Context, es []ElderRecord, now time.Time) error
	Schedules(ctx context.Context, f ScheduleFilter) ([]Scheduled, error)
	HouseholdInArea(ctx context.Context, household string, area Area) (bool, error)
	HouseholdPlaces(ctx context.Context, area Area, households []string) (map[string]HouseholdPlace, error)
	AreaHouseholds(ctx context.Context, area Area) (map[string]bool, error)
	// EldersByID reads the stored records of ids at once (missing ids are absent).
	EldersByID(ctx context.Context, ids []string) (map[string]ElderRecord, error)
	// ElderIDsByIDNumber maps resident ID numbers to the elders holding them.
	ElderIDsByIDNumber(ctx context.Context, idNumbers []string) (map[string]string, error)
	// VisitsDone counts each elder's recorded visits (alarm outcomes excluded).
	VisitsDone(ctx context.Context, ids []string) (map[string]int, error)
	Visit(ctx context.Context, id string) (Visit, error) // ENOTFOUND when unknown
	// EldersByName lists the elders of an area with that name (and in that
	// village when village is not empty), by id.
	EldersByName(ctx context.Context, area Area, name, village string) ([]ElderMatch, error)
	// HouseholdElders lists the ids of the elders registered in a household.
	HouseholdElders(ctx context.Context, household string) ([]string, error)
	// VisitItemCounts counts, per 附件2 item, an area's households by the
	// option their latest visit in [since, until) recorded.
	VisitItemCounts(ctx context.Context, area Area, since, until time.Time) ([]ItemCount, error)
	// MonthVisits lists the elders of the area registered before until, each
	// with the household's visit records in [since, until) counted by method,
	// and for consenting elders with none that counts, the last one before.
	MonthVisits(ctx context.Context, area Area, since, until time.Time) ([]ElderMonth, error)
	// RecordsVersion changes whenever an elder or a visit is written (by
	// any process): a kept report is stale when it moved.
	RecordsVersion(ctx context.Context) (int64, error)
}

// KitStore is the register's side that alarmd's households come from: each
// household's kit (devices, and the chain where no elder record names the
// household), loaded from households_file or set through the API.
type KitStore interface {
	// OnRegisterChange calls f after every committed register write.
	OnRegisterChange(f func(RegisterChange))
	RegisterVersion() uint64
	HouseholdsFileHash(ctx context.Context) (string, error)
	LoadHouseholdsFile(ctx context.Context, list []Household, hash string, now time.Time) error
	PutKit(ctx context.Context, h *Household, now time.Time) error
	RegisterHouseholds(ctx context.Context) ([]Household, error)
	RegisterHouseholdsOf(ctx context.Context, households []string) ([]Household, map[string]string, error)
	// RegisterKits is RegisterHouseholdsOf without the people: what alarmd
	// keeps in memory of each household (nil: all), in id order.
	RegisterKits(ctx context.Context, households []string) ([]Kit, error)
}

// Kit is a household of the register as alarmd keeps it in memory: its
// devices, its tier and the elder record it follows, by the rule of
// RegisterHouseholdsOf; its elder and chain are read when needed.
type Kit struct {
	Household string
	Tier      Tier
	Devices   []Device
	Elder     string // the elder record giving elder, tier and chain ("": the kit's own)
}

// AuditStore is the append-only log of reads and changes of personal data.
type AuditStore interface {
	Audit(ctx context.Context, entries ...AuditEntry) error
	AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, error) // newest first
}

// AccountStore keeps web accounts, their sessions and form keys.
type AccountStore interface {
	PutAccount(ctx context.Context, a Account, now time.Time) error
	Account(ctx context.Context, login string) (Account, error)
	SignInFailed(ctx context.Context, login string, limit int, lockUntil time.Time) (int, error)
	SignedIn(ctx context.Context, login string) error
	CreateSession(ctx context.Context, digest []byte, s Session) error
	Session(ctx context.Context, digest []byte, now time.Time) (Session, Account, error)
	DeleteSession(ctx context.Context, digest []byte, now time.Time) error
	ClaimFormKey(ctx context.Context, key, login string, now time.Time) (visitID string, claimed bool, err error)
	FinishFormKey(ctx context.Context, key, visitID string) error
	ReleaseFormKey(ctx context.Context, key string) error
	// EnteredVisit reports whether a form login sent recorded visitID
	// (FinishFormKey; keys are kept 30 days): the visit's 录入人 is a
	// display name, which two accounts may share.
	EnteredVisit(ctx context.Context, login, visitID string) (bool, error)
	// AccountsNamed lists the accounts whose login or name is who.
	AccountsNamed(ctx context.Context, who string) ([]Account, error)
	// AccountsWithRole lists the accounts of one role.
	AccountsWithRole(ctx context.Context, role string) ([]Account, error)
}

// WorkOrderStore keeps work orders (派单 → 化解 → 反馈): one order per key,
// versioned writes (a save from a stale read is ECONFLICT).
type WorkOrderStore interface {
	// CreateWorkOrder stores o unless an order with o.Key exists; then
	// created is false and o is the stored order.
	CreateWorkOrder(ctx context.Context, o *WorkOrder) (created bool, err error)
	WorkOrder(ctx context.Context, id string) (WorkOrder, error)       // ENOTFOUND when unknown
	WorkOrderByKey(ctx context.Context, key string) (WorkOrder, error) // ENOTFOUND when unknown
	// DispatchedAlarms is the set of those of alarmIDs that have an order
	// (key "alarm:<id>"): bounded by what the caller asks about, not by
	// every order ever made.
	DispatchedAlarms(ctx context.Context, alarmIDs []string) (map[string]bool, error)
	SaveWorkOrder(ctx context.Context, o *WorkOrder) error
	WorkOrders(ctx context.Context, f WorkOrderFilter) ([]WorkOrder, error) // oldest first
}

// WebhookReplays remembers handled webhook keys so that a replay is seen.
type WebhookReplays interface {
	NoteWebhook(ctx context.Context, key string, at time.Time, window time.Duration) (replay bool, err error)
	ForgetWebhook(ctx context.Context, key string) error
	ForgetWebhooksBefore(ctx context.Context, t time.Time) (int64, error)
}

// Store is all of alarmd's store: what an implementation provides.
type Store interface {
	IngestStore
	WorkOrderStore
	KitStore
	AlarmStore
	ChainStore
	ChainClaims
	RegisterStore
	AuditStore
	AccountStore
	WebhookReplays
	AckTokens
	Ping(ctx context.Context) error
	Close() error
}
