package alarmd

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/anxin-care/anxin/internal/configerr"
)

// alarmd's configuration errors are *configerr.ConfigError behind the
// "config: " the English lines start with, so that ConfigErrorText can
// explain each in Mandarin. These make them.

func typed(ce *configerr.ConfigError) error { return fmt.Errorf("config: %w", ce) }

// outOfRange: `key: 0 is out of range (allowed: 1..10)`.
func outOfRange(key string, v any, allowed string) error {
	return typed(configerr.OutOfRange(key, v, allowed))
}

// durBetween checks lo <= d <= hi.
func durBetween(key string, d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return outOfRange(key, d, configerr.ShortDuration(lo)+".."+configerr.ShortDuration(hi))
	}
	return nil
}

func notChoice(key, v string, choices ...string) error {
	return typed(configerr.NotChoice(key, v, choices...))
}

// needs: key is set (or has a value) that needs the others too.
func needs(key, detail string, others ...string) error {
	return typed(configerr.NewConfigError(configerr.KeyNeedsOther, key, "%s", detail).WithChoices(others...))
}

// conflict: key does not go with the others.
func conflict(key, detail string, others ...string) error {
	return typed(configerr.NewConfigError(configerr.KeysConflict, key, "%s", detail).WithChoices(others...))
}

func missing(key, detail string) error { return typed(configerr.Missing(key, "%s", detail)) }

// notForm: the value is not written as want (address, url, zone, phone);
// v is "" where the value may be a secret or personal.
func notForm(key, v, want, detail string) error {
	ce := configerr.NewConfigError(configerr.ValueWrongType, key, "%s", detail)
	ce.Value, ce.Want = v, want
	return typed(ce)
}

// badValue is any other problem, with the reason configReasons words
// (the Mandarin line) and the English detail; v as for notForm.
func badValue(reason, key, v, format string, args ...any) error {
	ce := configerr.Because(key, reason, format, args...)
	ce.Value = v
	return typed(ce)
}

// unreadableFile: the file key names cannot be read.
func unreadableFile(key, path string, err error) error {
	ce := configerr.NewConfigError(configerr.FileUnreadable, key, "%v", err).WithValue(path)
	ce.Err = err
	return typed(ce)
}

// unknownKey types the first of the keys Parse does not know, with the
// keys that may be written at its level and the one probably meant.
func unknownKey(unknown []string, known map[string]any) error {
	sections := map[string]bool{}
	var all []string
	for k := range known {
		all = append(all, k)
		for p := parentKey(k); p != ""; p = parentKey(p) {
			sections[p] = true
		}
	}
	all = append(all, listKeys...)
	for _, k := range listKeys {
		for p := parentKey(k); p != ""; p = parentKey(p) {
			sections[p] = true
		}
	}
	slices.Sort(all)
	k := unknown[0]
	if sections[k] { // mqtt: [1, 2]
		return notForm(k, "", "section", "must be a mapping of keys")
	}
	// the outermost part that is neither a key nor a section: sms, not sms.provider
	parts := strings.Split(k, ".")
	for i := 1; i <= len(parts); i++ {
		p := strings.Join(parts[:i], ".")
		if v, ok := known[p]; ok && i < len(parts) { // http: {listen: {a: b}}
			return notForm(p, "", wantOf(v), "is a single value, not a mapping of keys")
		}
		if knownList(p) && i < len(parts) { // api: {tokens: {name: a}}
			return notForm(p, "", "list", "must be a list of entries (each line starting with -)")
		}
		if _, ok := known[p]; !ok && !sections[p] {
			k = p
			break
		}
	}
	parent, leaf := parentKey(k), leafKey(k)
	var siblings []string
	for _, c := range all {
		for ; c != ""; c = parentKey(c) {
			if parentKey(c) == parent && !slices.Contains(siblings, leafKey(c)) {
				siblings = append(siblings, leafKey(c))
			}
		}
	}
	slices.Sort(siblings)
	detail := "unknown key"
	if len(unknown) > 1 {
		var more []string
		for _, u := range unknown[1:] {
			if u != k && !strings.HasPrefix(u, k+".") {
				more = append(more, u)
			}
		}
		if len(more) > 0 {
			detail += " (also unknown: " + strings.Join(more, ", ") + ")"
		}
	}
	ce := configerr.NewConfigError(configerr.KeyUnknown, k, "%s", detail).WithChoices(siblings...)
	if ce.Suggest = suggestKey(parent, leaf, siblings, all); ce.Suggest != "" {
		ce.Detail += "; did you mean " + ce.Suggest + "?"
	}
	return typed(ce)
}

// suggestKey guesses the key meant: the same name one level down
// (notify.auth_token for notify.twilio.auth_token), a key named after it
// (rules for rules_file), or one a letter or two away (borker).
func suggestKey(parent, leaf string, siblings, all []string) string {
	join := func(s string) string {
		if parent == "" {
			return s
		}
		return parent + "." + s
	}
	var below []string
	for _, c := range all {
		if leafKey(c) == leaf && (parent == "" || strings.HasPrefix(c, parent+".")) && strings.Count(c, ".") == strings.Count(join(leaf), ".")+1 {
			below = append(below, c)
		}
	}
	if len(below) == 1 {
		return below[0]
	}
	for _, s := range siblings {
		if strings.HasPrefix(s, leaf+"_") {
			return join(s)
		}
	}
	if best := configerr.Closest(leaf, siblings); best != "" {
		return join(best)
	}
	return ""
}

func parentKey(k string) string {
	if i := strings.LastIndex(k, "."); i >= 0 {
		return k[:i]
	}
	return ""
}

func leafKey(k string) string { return k[strings.LastIndex(k, ".")+1:] }

// redact replaces every secret value in err's text, keeping its type: each
// of a joined error's parts, and a ConfigError's detail and value.
func redact(err error, secrets []string) error {
	scrub := func(s string) string {
		for _, sec := range secrets {
			if sec != "" {
				s = strings.ReplaceAll(s, sec, redacted)
			}
		}
		return s
	}
	s := err.Error()
	if scrub(s) == s {
		return err
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts := j.Unwrap()
		out := make([]error, len(parts))
		for i, p := range parts {
			out[i] = redact(p, secrets)
		}
		return errors.Join(out...)
	}
	var ce *configerr.ConfigError
	if errors.As(err, &ce) && strings.HasSuffix(s, ce.Error()) {
		c := *ce
		c.Detail, c.Value, c.Err = scrub(c.Detail), scrub(c.Value), nil
		if p := strings.TrimSuffix(s, ce.Error()); p != "" {
			return fmt.Errorf("%s%w", scrub(p), &c)
		}
		return &c
	}
	return errors.New(scrub(s))
}

// durationHook types a duration written wrongly (soon, 3 minutes) as
// configerr.ValueNotDuration; a number is left to the decoder as before.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if _, ok := data.(string); !ok || to != reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	return configerr.DurationHook(from, to, data)
}

// secretKey reports whether a key may hold a secret or a DSN with a
// password, whose value no message repeats.
func secretKey(key string) bool {
	return configerr.SecretKey(key) || strings.HasSuffix(key, ".url") || strings.HasSuffix(key, ".urls")
}

// wantOf names how a key with default v is written, for the Mandarin text.
func wantOf(v any) string {
	switch v.(type) {
	case bool:
		return "bool"
	case int, float64:
		return "number"
	}
	return "text"
}

// personalKey reports whether a key holds a person's name, phone number or
// address (notify.installers), which no message repeats either.
func personalKey(key string) bool {
	switch leafKey(key) {
	case "name", "phone", "address", "from", "called_show_number":
		return true
	}
	return strings.Contains(key, "installers")
}
