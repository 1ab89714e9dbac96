package configerr

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
)

// The readers both daemons' config loaders use, so that a YAML mistake, a
// value of the wrong type or a bad duration is typed the same way.

var yamlLine = regexp.MustCompile(`line ([0-9]+)`)

// YAMLSyntax types a YAML parser error with its line. yaml.v3 reports some
// indentation errors on the line before the one at fault, and a tab on the
// line of the key it follows, so a tab in an indentation is found here.
//
// A value that starts with * is read as an alias: yaml.v3 then quotes the
// rest ("unknown anchor 'Pw-271828' referenced"), which may be a password,
// a token or a phone number. That name is never repeated (ScrubYAML): the
// error names the line it is on and reads as an alias mistake (Value
// "alias"), as does the scanner's complaint about an anchor or alias name.
func YAMLSyntax(data []byte, err error) error {
	msg := ScrubYAML(err.Error())
	ce := &ConfigError{Kind: FileSyntax, Detail: "yaml: " + msg, Err: err}
	if msg != err.Error() {
		ce.Err = errors.New(msg)
	}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		ce.Line, _ = strconv.Atoi(m[1])
	}
	if m := yamlAnchor.FindStringSubmatch(err.Error()); m != nil {
		ce.Value = "alias"
		for i, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, "*"+m[1]) || strings.Contains(l, "&"+m[1]) {
				ce.Line = i + 1
				break
			}
		}
		return ce
	} else if strings.Contains(msg, "did not find expected alphabetic or numeric character") {
		ce.Value = "alias" // the scanner reading an anchor's or alias's name
		return ce
	}
	if ls := strings.Split(string(data), "\n"); ce.Line > 0 && ce.Line <= len(ls) && strings.HasPrefix(ls[ce.Line-1], "\t") {
		ce.Value = "tab" // "found character that cannot start any token": a tab before the key
	} else if strings.Contains(err.Error(), "tab character") {
		for i, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l[:len(l)-len(strings.TrimLeft(l, " \t"))], "\t") {
				ce.Line, ce.Value = i+1, "tab"
				break
			}
		}
	}
	return ce
}

var yamlAnchor = regexp.MustCompile(`anchor '(.*)' (?:referenced|value contains itself)`)

// ScrubYAML drops from a YAML parser's message the anchor names it quotes:
// they are what followed a * or & in a value, which may be a secret or
// personal.
func ScrubYAML(msg string) string {
	return yamlAnchor.ReplaceAllString(msg, "anchor (a value starting with * or & is read as one; quote it) referenced")
}

// FromDecode types mapstructure's report: one "key: problem" item per
// key, in key order, the first deciding the kind.
func FromDecode(err error, prefix string) *ConfigError {
	var leaves []*mapstructure.DecodeError
	var walk func(error) bool
	walk = func(err error) bool {
		found := false
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				found = walk(e) || found
			}
		case interface{ Unwrap() error }:
			found = walk(u.Unwrap())
		}
		if de, ok := err.(*mapstructure.DecodeError); ok && !found {
			leaves = append(leaves, de)
			return true
		}
		return found
	}
	walk(err)
	if len(leaves) == 0 {
		return AsConfigError(errors.New(tidyDecodeError(err.Error(), prefix)))
	}
	slices.SortStableFunc(leaves, func(a, b *mapstructure.DecodeError) int { return strings.Compare(a.Name(), b.Name()) })
	parts := make([]string, len(leaves))
	for i, de := range leaves {
		parts[i] = prefix + de.Name() + ": " + de.Unwrap().Error()
	}
	first := leaves[0]
	ce := &ConfigError{Kind: ValueBad, Key: prefix + first.Name(), Err: err,
		Detail: strings.Join(append([]string{first.Unwrap().Error()}, parts[1:]...), "; ")}
	var hook *ConfigError
	var ute *mapstructure.UnconvertibleTypeError
	var pe *mapstructure.ParseError
	switch inner := first.Unwrap(); {
	case errors.As(inner, &hook):
		ce.Kind, ce.Value, ce.Want, ce.Range, ce.Reason = hook.Kind, hook.Value, hook.Want, hook.Range, hook.Reason
	case errors.As(inner, &ute):
		ce.Kind, ce.Want, ce.Value = ValueWrongType, want(ute.Expected.Type()), fmt.Sprint(ute.Value)
		if ce.Want == "text" && unquotedScalar(ute.Value) {
			ce.Reason = ReasonUnquoted
		}
	case errors.As(inner, &pe):
		ce.Kind, ce.Want, ce.Value = ValueWrongType, want(pe.Expected.Type()), fmt.Sprint(pe.Value)
	case strings.Contains(inner.Error(), "has invalid keys: "):
		// a list entry's unknown key (care.surges[0]: {name: …}): the key
		// below the entry, as an unknown key reads anywhere else
		_, keys, _ := strings.Cut(inner.Error(), "has invalid keys: ")
		first, _, _ := strings.Cut(keys, ",")
		ce.Kind, ce.Key = KeyUnknown, joinKey(ce.Key, strings.TrimSpace(first))
	case strings.Contains(inner.Error(), "expected a map"):
		ce.Kind, ce.Want = ValueWrongType, "section"
	case strings.Contains(inner.Error(), "source data must be an array or slice"):
		ce.Kind, ce.Want = ValueWrongType, "list"
	}
	if SecretKey(ce.Key) {
		ce.Value = "" // a password of the wrong type is still a password
	}
	return ce
}

// SecretKey reports whether a key may hold a secret, whose value no
// message repeats.
func SecretKey(key string) bool {
	k := strings.ToLower(key)
	return strings.Contains(k, "password") || strings.Contains(k, "secret") || strings.Contains(k, "token") ||
		strings.HasSuffix(k, "key")
}

// ReasonUnquoted is a ValueWrongType's Reason when text is wanted and YAML
// read a number or true/false: the digits of an address, an id or a code
// written without quotes (0403 read as octal 259, 0x7028D5 as 7350485).
const ReasonUnquoted = "unquoted"

func unquotedScalar(v any) bool {
	switch reflect.ValueOf(v).Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// want names what a Go type is written as in YAML, for the Mandarin text.
func want(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "text"
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Map, reflect.Struct:
		return "section"
	}
	return ""
}

// tidyDecodeError turns mapstructure's multi-line report into one line of
// "key: problem" items, keys prefixed like drivers[2].
func tidyDecodeError(s, prefix string) string {
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "*"))
		if l == "" || strings.HasPrefix(l, "decoding failed") || strings.HasSuffix(l, "error(s) decoding:") {
			continue
		}
		if rest, ok := strings.CutPrefix(l, "'"); ok {
			if key, msg, ok := strings.Cut(rest, "' "); ok {
				l = prefix + key + ": " + msg
			}
		}
		parts = append(parts, l)
	}
	return strings.Join(parts, "; ")
}

var durationType = reflect.TypeFor[time.Duration]()

// DurationHook decodes a duration written like 30s; anything else is a
// ValueNotDuration.
func DurationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	s, ok := data.(string)
	if !ok {
		return nil, NewConfigError(ValueNotDuration, "", "%v is not a duration like 30s", data).WithValue(data)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, NewConfigError(ValueNotDuration, "", "%q is not a duration like 30s", s).WithValue(s)
	}
	return d, nil
}
