package drivers

import (
	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/configerr"
)

// The configuration error type is shared with alarmd (internal/configerr),
// so that both daemons explain a bad key the same way in Mandarin; these
// names keep the drivers' Validate code as it was.
type (
	ConfigKind  = configerr.ConfigKind
	ConfigError = configerr.ConfigError
)

// The kinds of configuration error (see configerr).
const (
	KeyUnknown       = configerr.KeyUnknown
	KeyMissing       = configerr.KeyMissing
	KeyNeedsOther    = configerr.KeyNeedsOther
	ValueBad         = configerr.ValueBad
	ValueNotChoice   = configerr.ValueNotChoice
	ValueWrongType   = configerr.ValueWrongType
	ValueNotDuration = configerr.ValueNotDuration
	ValueNotSize     = configerr.ValueNotSize
	ValueNotID       = configerr.ValueNotID
	ValueOutOfRange  = configerr.ValueOutOfRange
	ValueDuplicate   = configerr.ValueDuplicate
	KeysConflict     = configerr.KeysConflict
	DriverUnknown    = configerr.DriverUnknown
	FileUnreadable   = configerr.FileUnreadable
	FileSyntax       = configerr.FileSyntax
)

// ConfigKinds lists every kind, for tests that each has its words.
var ConfigKinds = configerr.ConfigKinds

// The constructors drivers' Validate uses.
var (
	NewConfigError = configerr.NewConfigError
	NotChoice      = configerr.NotChoice
	NotID          = configerr.NotID
	Missing        = configerr.Missing
	Duplicate      = configerr.Duplicate
	OutOfRange     = configerr.OutOfRange
	UnderKey       = configerr.UnderKey
	AsConfigError  = configerr.AsConfigError
)

// NotKind is the error for a device kind the contract does not have.
func NotKind(key string, kind anxin.Kind) *ConfigError {
	c := make([]string, len(anxin.Kinds))
	for i, k := range anxin.Kinds {
		c[i] = string(k)
	}
	return NotChoice(key, string(kind), c...)
}

// NotEvent is the error for an event type the contract does not have.
func NotEvent(key string, ev anxin.EventType) *ConfigError {
	c := make([]string, len(anxin.EventTypes))
	for i, e := range anxin.EventTypes {
		c[i] = string(e)
	}
	return NotChoice(key, string(ev), c...)
}
