package anxin

import (
	"fmt"
	"strings"
	"time"
)

// The types the store interfaces (store.go) speak: filters, batches and
// rows that are not domain records of their own. Package sqlite keeps type
// aliases of them under their old names.

// Account is one person who signs in to the web app.
type Account struct {
	Login       string
	Name        string // shown and recorded as the visitor
	Area        string // as ParseArea reads it; "" the whole district
	Role        string // worker, operator, admin
	Hash        string // argon2id, PHC string
	Failures    int    // failed sign-ins in a row
	LockedUntil time.Time
}

// Session is one signed-in browser.
type Session struct {
	Login   string
	CSRF    string
	Expires time.Time
}

// AlarmFilter selects alarms; zero fields select everything.
type AlarmFilter struct {
	Household string
	State     AlarmState
	Since     time.Time // opened at or after
	Limit     int       // default 100, at most 10,000
}

// AlarmNote is what a person did with an alarm, in their words: who closed
// it by hand and why.
type AlarmNote struct {
	At   time.Time `json:"at"`
	By   string    `json:"by"`   // the API token's holder
	What string    `json:"what"` // "closed"
	Text string    `json:"text"` // the reason given
}

// AlarmStateChange is one change made by SetAlarmState.
type AlarmStateChange struct {
	Seq                      int64
	AlarmID, Household, Rule string
	State                    AlarmState
}

// AlarmOp is what a rule decided about the alarm of (Household, Rule).
type AlarmOp string

// Alarm ops, as the rules engine emits them.
const (
	AlarmOpOpen   AlarmOp = "open"
	AlarmOpRepeat AlarmOp = "repeat"
	AlarmOpClose  AlarmOp = "close"
)

// AlarmChange is one decision of the rules engine, to apply to the store.
type AlarmChange struct {
	Op                                AlarmOp
	Household, Rule, RuleKind, Device string
	Severity                          Severity
	Route                             Route
	At                                time.Time
	Reason, MessageID                 string
	Cause                             Cause
}

// RuleState is the encoded rules-engine state of one household.
// AppliedSeq is the alarm_state_log position the state reflects: what
// people did with its alarms up to there is in it, later changes are not
// (UnappliedAlarmStateChanges hands them over at restart).
type RuleState struct {
	Household  string
	State      []byte
	AppliedSeq int64
}

// IngestBatch is everything one ingest batch changes, committed together so
// that a crash leaves either all of it or none (and the broker redelivers).
type IngestBatch struct {
	Changes []AlarmChange
	SeenIDs []string // "household/id" of messages with an effect, remembered for de-duplication
	States  []RuleState
	At      time.Time // when the batch was processed
	// Fence (nil: none, one alarmd) is the partition leases the batch's
	// households were processed under: the store applies the batch only
	// while Fence.Owner still holds every one of them (LeaseFence).
	Fence *LeaseFence
}

// IngestResult says which alarms a batch opened and closed.
type IngestResult struct {
	Opened  []Alarm // new alarms: hand family ones to escalation
	Closed  []Alarm // resolved by their device: stop their chains
	Repeats int
}

// AlarmOutcome is what the monthly alarm statistics need of one alarm.
type AlarmOutcome struct {
	ID         string
	Household  string
	Rule       string
	State      AlarmState
	AcceptedBy string
	OpenedAt   time.Time
	UpdatedAt  time.Time
	// ChainAcceptedAt is when the escalation chain recorded the acceptance
	// (zero: no chain, or nobody accepted).
	ChainAcceptedAt time.Time
}

// AuditEntry is one thing done to or read of personal data: who (a token's
// name or a user), what (elder.read, elder.update, …), which record, when.
// Detail never holds personal data.
type AuditEntry struct {
	ID     int64     `json:"id"`
	At     time.Time `json:"at"`
	Who    string    `json:"who"`
	Action string    `json:"action"`
	Record string    `json:"record"`
	Detail string    `json:"detail,omitempty"`
}

// AuditFilter selects audit entries. Zero fields do not filter.
type AuditFilter struct {
	Who, Action, Record string
	Since, Until        time.Time // at >= Since, at < Until
	Limit, Offset       int       // default 100, at most 10000
}

// VisitFilter selects visits. Zero fields do not filter.
type VisitFilter struct {
	ID        string // one visit
	Elder     string // visits recorded for this 档案编号
	Household string
	Area      Area // households wholly inside it (see HouseholdInArea)
	Visitor   string
	AlarmID   string
	Since     time.Time // date >= Since
	Until     time.Time // date < Until
	Item      string    // an anxin.VisitItems key: only visits that recorded ItemValue for it
	ItemValue string
	Limit     int // default 100, at most 10000
	Offset    int
}

// ElderFilter selects elder records. Zero fields do not filter.
type ElderFilter struct {
	Area       Area // of the current address, matched exactly
	Village    string
	Tier       Tier
	GridWorker string
	Household  string
	Limit      int // default 100, at most 10000; -1: all
	Offset     int
}

// Conflict is one record of an import that clashes with the store or with
// another record of the same import.
type Conflict struct {
	Index   int    // position in the imported slice
	Field   string // "id_number"
	Message string // for logs (English)
	Holder  string // the stored elder already holding the ID number ("" for a clash within the import)
	InFile  string // a clash within the import: the record of the other row with the same ID number
}

// ConflictError lists every conflict of an import; nothing was stored.
type ConflictError struct{ Conflicts []Conflict }

func (e *ConflictError) Error() string {
	msgs := make([]string, 0, len(e.Conflicts))
	for _, c := range e.Conflicts {
		msgs = append(msgs, fmt.Sprintf("record %d: %s: %s", c.Index+1, c.Field, c.Message))
	}
	return ECONFLICT + ": " + strings.Join(msgs, "; ")
}

// Scheduled is an elder with the dates the visit cadence runs from.
type Scheduled struct {
	ID            string    `json:"id"`
	Household     string    `json:"household"`
	Name          string    `json:"name"`
	Phone         string    `json:"phone,omitempty"`
	Township      string    `json:"township"`
	Village       string    `json:"village"`
	Address       string    `json:"address,omitempty"` // current address detail (street, house number)
	Tier          Tier      `json:"tier"`
	GridWorker    string    `json:"grid_worker"`
	Consent       bool      `json:"consent"`
	Registered    time.Time `json:"registered"`
	LastContact   time.Time `json:"last_contact,omitzero"` // latest visit but remote monitoring
	LastHome      time.Time `json:"last_home,omitzero"`
	FollowUpDue   time.Time `json:"follow_up_due,omitzero"` // open follow-up after an alarm
	FollowUpAlarm string    `json:"follow_up_alarm,omitempty"`
}

// DueCut narrows a schedule query to elders who may be due: for each tier
// listed, only those whose last contact is before Contact or whose last
// home visit is before Home (never visited counts as before). Tiers not
// listed are not narrowed. The caller still computes the exact due days.
type DueCut struct {
	Tiers map[Tier]Cut
}

// Cut is one tier's bounds for DueCut.
type Cut struct{ Contact, Home time.Time }

// ScheduleFilter selects schedule rows.
type ScheduleFilter struct {
	ElderFilter
	ConsentOnly  bool
	FollowUpOnly bool    // only elders with an open follow-up
	Due          *DueCut // nil: no narrowing
}

// HouseholdPlace counts a household's registered elders inside and outside an area.
type HouseholdPlace struct{ Inside, Outside int }

// RegisterChange says what a committed write of the register touched:
// everything (a households file loaded), or these elders and households.
type RegisterChange struct {
	All        bool
	Elders     []string // elder ids written
	Households []string // households written (an elder's new household, a kit)
}

// ElderMatch is an elder found by name: enough to tell namesakes apart.
type ElderMatch struct {
	ID, Household, Village string
}

// ItemCount is, for one 附件2 item, how many households' latest visit in a
// period (that recorded the item) gave each option.
type ItemCount struct {
	Key    string         `json:"key"`
	Label  string         `json:"label"`
	Counts map[string]int `json:"counts"` // option → households
}

// ElderMonth is one elder registered before a month ended, with the
// month's visit records counted by method, for the monthly report.
type ElderMonth struct {
	ID, Household, Name, Phone string
	Township, Village, Address string // current address (detail)
	Tier                       Tier
	GridWorker                 string
	Consent                    bool
	Home, PhoneCalls           int // visit records in the month by method
	AudioVideo, Other, Remote  int
	// LastContact is the household's last visit other than remote
	// monitoring before until; looked up only for elders with no such
	// visit in the month (zero otherwise, or when there is none).
	LastContact time.Time
}

// AwayMark is what a person last said of a household through any alarmd:
// away (visiting family, in hospital) or back. The alarmd that holds the
// household's partition applies it to its rules; Applied says it did (the
// rule state with the mark is committed).
type AwayMark struct {
	Household string
	Away      bool
	At        time.Time
	Version   int64 // counts the household's marks
	Applied   bool
}
