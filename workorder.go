package anxin

import (
	"context"
	"time"
)

// OrderKind is what a work order asks a community worker to handle.
type OrderKind string

// Work order kinds.
const (
	OrderAlarm    OrderKind = "alarm"     // an alarm nobody took (or an operator handed on)
	OrderFollowUp OrderKind = "follow_up" // an alarm's follow-up visit, handed to someone
)

// OrderStatus is where a work order is: 派单 → 化解 → 反馈.
type OrderStatus string

// Work order statuses, in the programme's words.
const (
	OrderPending  OrderStatus = "待处理" // dispatched, nobody has taken it yet
	OrderWorking  OrderStatus = "处理中" // the assignee took it
	OrderResolved OrderStatus = "已化解" // the assignee recorded what was done (a visit)
	// OrderWithdrawn: the alarm was closed (by staff, or the device
	// cleared) before anyone recorded a visit; a visit recorded after it
	// still resolves the order.
	OrderWithdrawn OrderStatus = "已撤销"
)

// OrderMove is one assignment of a work order: the first dispatch and every
// reassignment after it, oldest first.
type OrderMove struct {
	At     time.Time `json:"at"`
	To     string    `json:"to"`      // the assignee's login
	ToName string    `json:"to_name"` // as shown
	By     string    `json:"by"`      // a login, or "auto" for alarmd itself
	Why    string    `json:"why"`     // dispatched, unanswered, untouched, …
	// SMS is the notice to the assignee: "" not yet sent, sending, sent,
	// failed, none (no phone known); SMSError says why it failed or was not sent.
	SMS      string `json:"sms"`
	SMSError string `json:"sms_error,omitempty"`
	// SMSTries counts the sends tried; SMSAt is when the last was. A
	// failed notice is tried again with backoff, a few times.
	SMSTries int       `json:"sms_tries,omitempty"`
	SMSAt    time.Time `json:"sms_at,omitzero"`
	// SMSMaybe: the last failed try may have reached the provider
	// (ErrMaybeSent); it is asked (Lookup) before the notice goes again.
	SMSMaybe bool `json:"sms_maybe,omitempty"`
	// SMSRefused: the provider refused the notice for good (an invalid
	// number, an unknown sender: retry false); it is not tried again, and
	// SMSError says why.
	SMSRefused bool `json:"sms_refused,omitempty"`
	// SMSAccount: the provider refused the account, not the notice (bad
	// credentials, no balance, a suspended account: ErrAccount). It is
	// tried again slowly while the order is open, and goes once an
	// operator has mended the account.
	SMSAccount bool `json:"sms_account,omitempty"`
}

// WorkOrder is one task handed to one person at a time: an unanswered alarm
// or a follow-up visit, closed by the visit that records what was done.
type WorkOrder struct {
	ID   string    `json:"id"`
	Key  string    `json:"key"` // idempotency: "alarm:<id>" or "follow_up:<household>:<due ms>"; one order per key, ever
	Kind OrderKind `json:"kind"`
	// AlarmID is the alarm (Kind alarm, or the alarm a follow-up follows).
	AlarmID      string      `json:"alarm_id,omitempty"`
	Household    string      `json:"household"`
	Elder        string      `json:"elder"`    // the register's elder id
	Assignee     string      `json:"assignee"` // the one active assignee's login
	AssigneeName string      `json:"assignee_name"`
	AssigneeRole string      `json:"assignee_role"` // worker, operator, admin
	DispatchedBy string      `json:"dispatched_by"` // a login, or "auto"
	Note         string      `json:"note,omitempty"`
	Status       OrderStatus `json:"status"`
	CreatedAt    time.Time   `json:"created_at"`
	AssignedAt   time.Time   `json:"assigned_at"` // of the current assignee: the timeout counts from here
	AcceptedAt   time.Time   `json:"accepted_at,omitzero"`
	ResolvedAt   time.Time   `json:"resolved_at,omitzero"`
	VisitID      string      `json:"visit_id,omitempty"` // the visit that closed it (反馈)
	Outcome      string      `json:"outcome,omitempty"`
	History      []OrderMove `json:"history"`
	// Version counts the order's writes; a save based on an older read is
	// refused (ECONFLICT), as Chain.Version: two writers never both assign.
	Version int64 `json:"-"`
}

// Open reports whether the order still waits for its visit.
func (o *WorkOrder) Open() bool { return o.Status != OrderResolved && o.Status != OrderWithdrawn }

// WorkOrders keeps work orders.
type WorkOrders interface {
	// CreateWorkOrder stores o (ID, Version set) unless an order with its
	// Key exists: created is false then and o is the stored order.
	CreateWorkOrder(ctx context.Context, o *WorkOrder) (created bool, err error)
	WorkOrder(ctx context.Context, id string) (WorkOrder, error) // ENOTFOUND when unknown
	// SaveWorkOrder writes o if its Version is the stored one (ECONFLICT
	// otherwise) and moves o.Version on.
	SaveWorkOrder(ctx context.Context, o *WorkOrder) error
}

// WorkOrderFilter selects work orders. Zero fields do not filter.
type WorkOrderFilter struct {
	Assignee  string
	Household string
	Area      Area // households wholly inside it (see HouseholdInArea)
	Open      bool // neither resolved nor withdrawn
	Pending   bool // nobody took it yet (待处理)
	// WithdrawnSince non-zero: only orders withdrawn at or after it (their
	// withdrawal notice may still be due).
	WithdrawnSince time.Time
	Limit          int // default 100, at most 10000
}
