package anxin

import (
	"errors"
	"fmt"
)

// Error codes: the kinds of failure callers act on. HTTP maps them to
// statuses in one table; only EINTERNAL is logged as an error.
const (
	EINVALID  = "invalid"
	ENOTFOUND = "not_found"
	ECONFLICT = "conflict"
	EFORBID   = "forbidden"
	EINTERNAL = "internal"
)

// Error is a domain error with a code and a message fit for the user.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf makes a domain error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode is the code of err: its domain code, or EINTERNAL.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage is the user-facing message of err.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// SchemaNewer is the refusal of a store whose schema (version have) a newer
// alarmd made than this one knows (known): the same words for every store.
func SchemaNewer(have, known int) error {
	return fmt.Errorf("the database's schema is version %d, newer than this alarmd's %d: run a newer alarmd", have, known)
}
