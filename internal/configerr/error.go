// Package configerr is the configuration error both daemons return and its
// Mandarin rendering: gatewayd (drivers' Validate, gateway.Load) and alarmd
// (alarmd.Load, the households and rules files) type each problem with its
// key, kind and value, and Text explains it to an installer or a district
// operator, before the English line developers read.
package configerr

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
)

// ConfigKind says what is wrong with a configuration key, so that it can
// be explained in Mandarin (Text) while the English detail stays in
// Error() for developers.
type ConfigKind string

// The kinds of configuration error; an empty kind reads as ValueBad.
const (
	KeyUnknown       ConfigKind = "unknown_key"    // Choices: the known keys
	KeyMissing       ConfigKind = "missing"        // Choices: what may be written, if a choice
	KeyNeedsOther    ConfigKind = "needs"          // set without the keys in Choices
	ValueBad         ConfigKind = "bad_value"      // anything else; Detail says why
	ValueNotChoice   ConfigKind = "not_a_choice"   // Value is not one of Choices
	ValueWrongType   ConfigKind = "wrong_type"     // Want: number, bool, text, list, section
	ValueNotDuration ConfigKind = "bad_duration"   // not like 30s
	ValueNotSize     ConfigKind = "bad_size"       // not like 64MiB
	ValueNotID       ConfigKind = "bad_id"         // not [A-Za-z0-9_-]{1,64}
	ValueOutOfRange  ConfigKind = "out_of_range"   // Range: what is allowed, e.g. 1..247
	ValueDuplicate   ConfigKind = "duplicate"      // Value appears twice
	KeysConflict     ConfigKind = "conflict"       // keys that do not go together
	DriverUnknown    ConfigKind = "unknown_driver" // Choices: the registered drivers
	FileUnreadable   ConfigKind = "unreadable"     // the config or a file it names
	FileSyntax       ConfigKind = "yaml_syntax"    // Line: where the YAML parser stopped
)

// ConfigKinds lists every kind, for tests that each has its words.
var ConfigKinds = []ConfigKind{KeyUnknown, KeyMissing, KeyNeedsOther, ValueBad, ValueNotChoice, ValueWrongType,
	ValueNotDuration, ValueNotSize, ValueNotID, ValueOutOfRange, ValueDuplicate, KeysConflict, DriverUnknown,
	FileUnreadable, FileSyntax}

// ConfigError is one problem in gatewayd's configuration. A driver's
// Validate returns it with Key relative to the driver's entry (port.baud);
// gatewayd prefixes the entry (drivers[0].port.baud) and fills Entry,
// Instance and Driver. Error() is the English line developers grep for:
// "key: detail".
type ConfigError struct {
	Kind   ConfigKind
	Key    string // dotted path with list indexes, e.g. drivers[0].port.baud; "" for the whole file
	Detail string // English, after the key

	Value   string   // the offending value as written (never a secret), for the Mandarin text
	Choices []string // known keys, drivers, or allowed values
	Suggest string   // KeyUnknown: the key probably meant, e.g. port.baud
	Range   string   // ValueOutOfRange: what is allowed
	Want    string   // ValueWrongType: number, bool, text, list, section, address, url, zone or phone
	Reason  string   // KeysConflict of serial ports: port-settings, port-alone or usb-ambiguous; ValueOutOfRange: port (BadPort); ValueWrongType: unquoted (ReasonUnquoted)
	Line    int      // FileSyntax: 1-based line; 0 unknown

	Entry    int    // 1-based number of the drivers: entry; 0 outside drivers
	Instance string // the entry's instance name, when known
	Driver   string // the entry's driver, when known
	File     string // the config file; a FileUnreadable with a Key has the file it names in Value

	Err error // the cause, for errors.Is (fs.ErrNotExist …)
}

func (e *ConfigError) Error() string {
	switch {
	case e.Key == "":
		return e.Detail
	case e.Detail == "":
		return e.Key
	}
	return e.Key + ": " + e.Detail
}

func (e *ConfigError) Unwrap() error { return e.Err }

// NewConfigError makes a ConfigError for key with an English detail.
func NewConfigError(kind ConfigKind, key, format string, args ...any) *ConfigError {
	return &ConfigError{Kind: kind, Key: key, Detail: fmt.Sprintf(format, args...)}
}

// WithValue records the offending value for the Mandarin text; a duration
// reads as written (2m, not 2m0s).
func (e *ConfigError) WithValue(v any) *ConfigError {
	if d, ok := v.(time.Duration); ok {
		e.Value = ShortDuration(d)
		return e
	}
	e.Value = fmt.Sprint(v)
	return e
}

// ShortDuration is d as a config file writes it: it drops the zero units
// time.Duration prints (2m0s → 2m, 1h0m0s → 1h).
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// WithChoices records what may be written instead.
func (e *ConfigError) WithChoices(c ...string) *ConfigError { e.Choices = c; return e }

// WithRange records the allowed range, e.g. "1..247" or ">= 1s".
func (e *ConfigError) WithRange(r string) *ConfigError { e.Range = r; return e }

// NotChoice is the error for a value outside a fixed set:
// `key: "evn" is not none|even|odd`.
func NotChoice(key, value string, choices ...string) *ConfigError {
	return NewConfigError(ValueNotChoice, key, "%q is not %s", value, strings.Join(choices, "|")).
		WithValue(value).WithChoices(choices...)
}

// NotID is the error for a name or device id that anxin.ValidID refuses.
func NotID(key, value string) *ConfigError {
	return NewConfigError(ValueNotID, key, "%q is not [A-Za-z0-9_-]{1,64}", value).WithValue(value)
}

// Missing is the error for a required key left out.
func Missing(key, format string, args ...any) *ConfigError {
	return NewConfigError(KeyMissing, key, format, args...)
}

// Duplicate is the error for a value listed twice: `key: VALUE is listed twice`.
func Duplicate(key, value string) *ConfigError {
	return NewConfigError(ValueDuplicate, key, "%s is listed twice", value).WithValue(value)
}

// OutOfRange is the error for a value outside what is allowed:
// `key: 2m is out of range (allowed: 0..1m)`.
func OutOfRange(key string, value any, allowed string) *ConfigError {
	e := (&ConfigError{Kind: ValueOutOfRange, Key: key}).WithValue(value).WithRange(allowed)
	e.Detail = fmt.Sprintf("%s is out of range (allowed: %s)", e.Value, allowed)
	return e
}

// Because is the error for key refused for reason, a problem no
// ConfigKind says (the daemon words each reason in Mandarin in one table),
// with an English detail. Add the value as written with WithValue, unless
// it may be a secret.
func Because(key, reason, format string, args ...any) *ConfigError {
	e := NewConfigError(ValueBad, key, format, args...)
	e.Reason = reason
	return e
}

// BadPort is the error for a URL or address whose port no server listens
// on (anxin.CheckURLPorts): `key: port 99999 is not 1..65535`. The port is
// quoted only when it is digits: what stands after a colon may be a
// password written where the host goes.
func BadPort(key string, pe *anxin.PortError) *ConfigError {
	return &ConfigError{Kind: ValueOutOfRange, Key: key, Value: pe.Shown(), Range: "1..65535", Reason: ReasonPort, Detail: pe.Error(), Err: pe}
}

// ReasonPort is BadPort's Reason: Text words it on its own, not as a range.
const ReasonPort = "port"

// UnderKey puts err below the key prefix: a driver's Validate turns the
// port's `baud: …` into `port.baud: …`. A typed error keeps its kind; any
// other error is prefixed as text, as `prefix.%w` would.
func UnderKey(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var ce *ConfigError
	if !errors.As(err, &ce) || err.Error() != ce.Error() {
		// a domain error's code is not a key: "port.invalid: …" would read as one
		var de *anxin.Error
		if errors.As(err, &de) && err.Error() == de.Error() {
			return fmt.Errorf("%s.%s", prefix, de.Message)
		}
		return fmt.Errorf("%s.%w", prefix, err)
	}
	c := *ce
	c.Key = joinKey(prefix, c.Key)
	return &c
}

func joinKey(prefix, key string) string {
	switch {
	case prefix == "":
		return key
	case key == "":
		return prefix
	case strings.HasPrefix(key, "["):
		return prefix + key
	}
	return prefix + "." + key
}

// keyPath is a config key as the English errors start: mqtt.keepalive,
// drivers[2].port.parity, meters[0].address.
var keyPath = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(\[[0-9]+\])*(\.[A-Za-z_][A-Za-z0-9_]*(\[[0-9]+\])*)*$`)

// AsConfigError returns err as a *ConfigError: the typed error it wraps
// (with any key prefix the wrapping added), or, for an error not yet typed,
// a ValueBad whose Key is read from the "key: detail" form the drivers'
// English errors have. Error() of the result is err.Error() whenever err
// is of that form. Nil for nil.
func AsConfigError(err error) *ConfigError {
	if err == nil {
		return nil
	}
	s := err.Error()
	var ce *ConfigError
	if errors.As(err, &ce) {
		if s == ce.Error() {
			return ce
		}
		c := *ce
		// wrapped as fmt.Errorf("port.%w", typed): the key grew a prefix
		if p, ok := strings.CutSuffix(s, ce.Error()); ok && strings.HasSuffix(p, ".") && keyPath.MatchString(strings.TrimSuffix(p, ".")) {
			c.Key = joinKey(strings.TrimSuffix(p, "."), c.Key)
			return &c
		}
		// wrapped with other words: keep the kind, the whole text is the detail
		c.Key, c.Detail = splitKey(s)
		return &c
	}
	key, detail := splitKey(s)
	return &ConfigError{Kind: ValueBad, Key: key, Detail: detail, Err: err}
}

// splitKey reads "key: detail"; a text without a key is all detail.
func splitKey(s string) (key, detail string) {
	if k, d, ok := strings.Cut(s, ": "); ok && keyPath.MatchString(k) {
		return k, d
	}
	return "", s
}

// Closest is the name in names that key is probably a misspelling of
// (adress for address): at most two edits away, and fewer than half the
// name's length; "" when none is. The first of equally close names wins.
func Closest(key string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := EditDistance(key, n); d < bestD && d < len(n)/2+1 {
			best, bestD = n, d
		}
	}
	return best
}

// EditDistance is the Damerau (adjacent swap) variant of Levenshtein, on
// bytes: keys are ASCII. Long inputs are not compared (a fuzzed key).
func EditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
