package anxin

import (
	"context"
	"errors"
	"time"
)

// Channel is how a notification reaches a person.
type Channel string

// Channels.
const (
	ChannelSMS   Channel = "sms"
	ChannelVoice Channel = "voice"
)

// Notification is one message or call to one person. The provider sees only
// this: no alarm, household or contact types, so an SMS gateway, a domestic
// voice platform or a GSM modem can implement Notifier without importing more.
type Notification struct {
	AttemptID string  // ours; carried in callback URLs so reports find their attempt
	AlarmID   string  // for the provider's own records only
	To        string  // E.164
	Channel   Channel // sms or voice
	Body      string  // the SMS text, or the words a call speaks
	Masked    string  // SMS: Body with personal data masked, for logs
	AckURL    string  // SMS: the acknowledgement link (already inside Body)
	// Rest is a one-part SMS with the link, sent when Body went out only
	// in part (a modem whose later part the network refused: the link
	// comes last); "" none.
	Rest   string
	AskKey bool // voice: ask for the key 1 (a notice only speaks)
	// Params are the same words as template variables, for providers that
	// send only registered templates (Aliyun): name, where, what, link.
	// Empty: the provider sends Body.
	Params map[string]string
}

// ErrMaybeSent marks a failed Send whose request may nevertheless have reached
// the provider (a timeout or a connection reset after the request was
// written). Such a send is retryable only after Lookup has confirmed that the
// first request did not go through.
var ErrMaybeSent = errors.New("the request may have gone through")

// ErrAccount marks a failed Send that the provider refused for the
// account's sake, not the message's: wrong credentials, no balance, a
// suspended or unsubscribed account, a sender or region the account may
// not use. It comes with retry false (the same request fails until an
// operator acts: an escalation moves on) but, unlike a refused number, the
// same message goes through once the account is mended.
var ErrAccount = errors.New("the provider refused the account (credentials, balance, sender or permissions)")

// ErrNumber marks a failed Send that the provider refused for the
// recipient's number, not for its own sake or the account's: an invalid
// number, a landline or another number that cannot get SMS, a number the
// sender may not reach. It comes with retry false. It says nothing of the
// provider's health: one household's bad number must not mark a provider
// down for every household.
var ErrNumber = errors.New("the provider refused the number")

// ErrProviderIDHeld marks a save of an attempt whose provider id another
// attempt holds: a call or message belongs to one attempt. It is an
// ECONFLICT that a fresh read does not cure.
var ErrProviderIDHeld = errors.New("the provider id is held by another attempt")

// Notifier sends SMS and calls. Send follows Alertmanager's notifier
// contract: retry reports whether the same request may be tried again later.
//
//   - err == nil: sent; providerID names it at the provider.
//   - retry && !errors.Is(err, ErrMaybeSent): it certainly did not go through
//     (429, 5xx, refused connection): try again after a backoff.
//   - retry && errors.Is(err, ErrMaybeSent): unknown; Lookup before sending again.
//   - !retry: permanent (invalid number, bad credentials): move on.
//     errors.Is(err, ErrAccount): the account, not this request, is at
//     fault; a later send may go once an operator mends it.
//     errors.Is(err, ErrNumber): the recipient's number was refused; the
//     provider works.
//
// RetryableStatus is the one place that maps a provider's HTTP status.
type Notifier interface {
	Send(ctx context.Context, n Notification) (providerID string, retry bool, err error)
	// Lookup lists the provider ids of notifications like n that the
	// provider accepted at or after since (the attempt row's creation time),
	// oldest first: none when it certainly did not arrive; an error means
	// "cannot tell now". A provider that cannot tell two calls to one number
	// apart lists them all: the caller skips those another attempt holds.
	Lookup(ctx context.Context, n Notification, since time.Time) (providerIDs []string, err error)
	// Cancel ends a call that is queued or ringing; answered true hangs up a
	// call in progress instead. Ending a call that already ended is no error.
	Cancel(ctx context.Context, providerID string, answered bool) error
}

// CallLimiter is implemented by a Notifier whose calls end by themselves
// within known times: a decided chain whose call the provider will not
// end (it is down, or refuses the request) stops asking once the call
// cannot last any longer.
type CallLimiter interface {
	// CallLimits are the longest a call that is not answered rings, from
	// its request, and the longest an answered call lasts.
	CallLimits() (ring, answered time.Duration)
}

// RetryableStatus reports whether an HTTP status from a provider means
// "did not go through, try again": 429 and every 5xx. Other 4xx are
// permanent for that request.
func RetryableStatus(status int) bool {
	return status == 429 || status >= 500
}

// StatusReport is what a provider reports back about one attempt.
type StatusReport struct {
	AttemptID  string  // from the callback URL
	ProviderID string  // MessageSid or CallSid
	Channel    Channel // sms or voice
	Status     string  // queued, sent, delivered, undelivered, failed; initiated, ringing, in-progress, completed, busy, no-answer, failed, canceled
	AnsweredBy string  // voice: human, machine_start, machine_end_beep, fax, unknown ("" when not detected)
	ErrorCode  string  // provider error code, if any
}

// KeyPress is the reply to a digit pressed in a call.
type KeyPress struct {
	Accepted   bool   // this press accepted the alarm
	TakenBy    string // someone else accepted it first (a name fit to speak to a contact of this household)
	Prompt     string // the alarm's words to speak again when another key was pressed
	Unknown    bool   // the attempt is not known (or its chain is over)
	AcceptedBy string // who accepted, when Accepted
	Elder      bool   // the one who accepted is the elder (rung first on a warning): nobody else was rung
}

// DeliveryReports receives what providers post back; escalation implements
// it and the provider's webhook handlers call it after checking signatures.
type DeliveryReports interface {
	Report(ctx context.Context, r StatusReport) error
	Press(ctx context.Context, attemptID, providerID, digits string) (KeyPress, error)
	// Reply is an inbound SMS: it accepts an alarm where the sender's country
	// allows two-way SMS and the text means "I take it".
	// When the sender waits on several alarms none is accepted and answer
	// is the SMS to send back (each alarm's link); "" otherwise.
	Reply(ctx context.Context, from, body string) (answer string, err error)
}

// ChainState is where an escalation chain is.
type ChainState string

// Chain states.
const (
	ChainWalking    ChainState = "walking"    // ringing contacts step by step
	ChainAccepted   ChainState = "accepted"   // a person accepted
	ChainUnanswered ChainState = "unanswered" // every round passed without acceptance
	ChainResolved   ChainState = "resolved"   // the alarm cleared or staff closed it
	ChainNotice     ChainState = "notice"     // an installer alarm: the installers are told once, nobody is walked
)

// ChainTarget is one person on a snapshotted chain.
type ChainTarget struct {
	Name     string `json:"name"`
	Phone    string `json:"phone"`
	Relation string `json:"relation,omitempty"` // child, …; "elder" for the elder
	Role     string `json:"role,omitempty"`     // grid_worker, …
}

// Chain is the persisted progress of one alarm's contact chain.
type Chain struct {
	AlarmID     string        `json:"alarm_id"`
	Household   string        `json:"household"`
	Severity    Severity      `json:"severity"`
	State       ChainState    `json:"state"`
	Targets     []ChainTarget `json:"targets"` // snapshot of the chain when it started
	Steps       []int         `json:"steps"`   // target index of each step, all rounds flattened
	Step        int           `json:"step"`    // current step (== len(Steps) when walked out)
	Deadline    time.Time     `json:"deadline"`
	StartedAt   time.Time     `json:"started_at"`
	UpdatedAt   time.Time     `json:"updated_at"`
	AcceptedBy  string        `json:"accepted_by,omitempty"`
	AcceptedVia string        `json:"accepted_via,omitempty"` // key_press, ack_link, sms_reply
	AcceptedAt  time.Time     `json:"accepted_at,omitzero"`
	Finished    bool          `json:"finished"` // notices sent and outcome recorded
	VisitID     string        `json:"visit_id,omitempty"`
	// AcceptedTarget is the acceptor's index in Targets (-1: nobody): people
	// are told apart by position, never by name (names repeat or are empty).
	AcceptedTarget int `json:"accepted_target"`
	// Version counts the chain's writes; a save based on an older read is
	// refused (ECONFLICT), so concurrent writers never undo each other.
	Version int64 `json:"-"`
}

// AttemptPurpose says why an attempt was made.
type AttemptPurpose string

// Attempt purposes.
const (
	PurposeStep      AttemptPurpose = "step"      // a chain step: "please accept"
	PurposeTaken     AttemptPurpose = "taken"     // "X accepted it" to those already told
	PurposeDuty      AttemptPurpose = "duty"      // "nobody accepted" to community duty contacts
	PurposeInstaller AttemptPurpose = "installer" // "the kit needs care" to the installer/duty route
	PurposeClosed    AttemptPurpose = "closed"    // "the alarm is over" to those told, when it clears or staff close it
)

// Attempt statuses of our own (besides the provider's).
const (
	AttemptSending = "sending" // row written, request under way or fate unknown: Lookup before re-sending
	AttemptRetry   = "retry"   // did not go through; send again at NextTry
	AttemptFailed  = "failed"  // permanent failure or given up
	// A call of a decided chain that we asked the provider to end, not yet
	// confirmed ended: recorded before the request, so a crash between the
	// two leaves the request to be sent again. NextTry is the latest the
	// call can still last (CallLimiter); past it the call is recorded
	// ended ("cancel not confirmed").
	AttemptCanceling = "canceling"  // a queued or ringing call: to be canceled
	AttemptHangingUp = "hanging-up" // an answered call: to be hung up
)

// Attempt is one SMS or call of a chain, stored before it is sent.
type Attempt struct {
	ID         string         `json:"id"` // deterministic: <alarm>/<purpose>/<step or target>/<channel>
	AlarmID    string         `json:"alarm_id"`
	Purpose    AttemptPurpose `json:"purpose"`
	Step       int            `json:"step"`   // chain step (-1 for notices)
	Target     int            `json:"target"` // index into Chain.Targets
	Channel    Channel        `json:"channel"`
	Provider   string         `json:"provider"`
	ProviderID string         `json:"provider_id,omitempty"`
	Status     string         `json:"status"`
	AnsweredBy string         `json:"answered_by,omitempty"`
	Error      string         `json:"error,omitempty"`
	Tries      int            `json:"tries"`
	NextTry    time.Time      `json:"next_try,omitzero"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	Version    int64          `json:"-"` // as Chain.Version
}
