package anxin

import (
	"context"
	"time"
)

// AckToken is a short acknowledgement link's server-side half: the token
// in the link (about 10 URL-safe characters, so an SMS keeps its room for
// words) maps to the alarm and the chain step whose SMS carried it.
type AckToken struct {
	Token    string
	AlarmID  string
	Step     int     // chain step: it names the contact
	PhoneTag [4]byte // the step's number when the link was made: a changed number kills the link
	Expires  time.Time
}

// AckTokens keeps short ack tokens (*sqlite.DB implements it).
type AckTokens interface {
	// PutAckToken stores t; storing the same token again keeps the first.
	PutAckToken(ctx context.Context, t AckToken) error
	// AckToken finds a token (ENOTFOUND when unknown or pruned).
	AckToken(ctx context.Context, token string) (AckToken, error)
}
