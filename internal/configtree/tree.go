// Package configtree assembles a daemon's settings from defaults, one YAML
// file and environment overrides, as both daemons did with spf13/viper
// before: the same layers in the same order, keys lowercased, dotted keys
// for nested ones. It is the part of viper anxin used, on yaml.v3 and
// mapstructure alone, so the binaries do not link the packages viper
// brought (23 in alarmd, 38 in gatewayd, some with initialisers run and
// pages mapped before main; docs/alarmd.md, "Without viper").
//
// A key's value is the first found of: an override (Set), a bound
// environment variable (BindEnv), the file, a default. A value that is a
// single value (not a mapping) hides every key below it in the layers
// under it; a null in the file is no value (the layers under it show).
//
// Where viper's answer depended on Go's map order, the tree decides, and
// says so here: keys that differ only in case give the value of the last
// in byte order that is not all lower case (Mqtt: over mqtt:, as viper;
// Mqtt: over MQTT:); a file's single value where an overridden key needs
// a mapping (mqtt: 5 with ANXIN_MQTT_PASSWORD set) stays, so the decoder
// reports it; a dotted key's single value beside the nested mapping it
// names (mqtt.tls: 5 and mqtt: {tls: {...}}) hides nothing.
package configtree

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"gopkg.in/yaml.v3"
)

// Tree holds the layers of one configuration. The zero value is not
// usable; use New.
type Tree struct {
	override map[string]any
	env      map[string]string // bound keys whose variable is set
	bound    map[string]bool   // every bound key, set or not
	file     map[string]any
	defaults map[string]any
	// fileParts is the most parts (dots + 1) of any key in the file: a
	// longer prefix of a key looked up cannot be one of its keys
	fileParts int
}

// New returns an empty tree.
func New() *Tree {
	return &Tree{override: map[string]any{}, env: map[string]string{}, bound: map[string]bool{},
		file: map[string]any{}, defaults: map[string]any{}}
}

// SetDefault sets the default of a dotted key.
func (t *Tree) SetDefault(key string, value any) {
	setPath(t.defaults, strings.ToLower(key), lowerValue(value))
}

// Set overrides a dotted key above every other layer.
func (t *Tree) Set(key string, value any) {
	setPath(t.override, strings.ToLower(key), lowerValue(value))
}

// BindEnv makes key's value the environment's when set is true, above
// the file and the defaults. A bound key is listed by AllKeys even when
// not set, and the file's keys below it are not (its mapping is its value).
func (t *Tree) BindEnv(key, value string, set bool) {
	key = strings.ToLower(key)
	t.bound[key] = true
	if set {
		t.env[key] = value
	}
}

// EnvName is the variable that overrides key: prefix_KEY with dots as
// underscores (ANXIN, notify.twilio.auth_token: ANXIN_NOTIFY_TWILIO_AUTH_TOKEN).
func EnvName(prefix, key string) string {
	return strings.ToUpper(prefix + "_" + strings.ReplaceAll(key, ".", "_"))
}

// ReadYAML replaces the file layer with the YAML document in data, which
// must be a mapping (or empty). The error is yaml.v3's, or says that a
// second document follows (after ---): it would not be read, and what an
// operator wrote there would do nothing without a word.
func (t *Tree) ReadYAML(data []byte) error {
	file := map[string]any{}
	if err := yaml.Unmarshal(data, &file); err != nil {
		return err
	}
	if err := OneDocument(data); err != nil {
		return err
	}
	lowerMap(file)
	t.file, t.fileParts = file, mostParts(file)
	return nil
}

// mostParts is the most parts (dots + 1) of a key in v's mappings, at
// least 1.
func mostParts(v any) int {
	most := 1
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			most = max(most, strings.Count(k, ".")+1, mostParts(e))
		}
	case []any:
		for _, e := range t {
			most = max(most, mostParts(e))
		}
	}
	return most
}

// Get returns the value of a dotted key (nil: none). Maps in it have
// lower-case string keys.
func (t *Tree) Get(key string) any {
	key = strings.ToLower(key)
	path := strings.Split(key, ".")
	nested := len(path) > 1
	if v := searchMap(t.override, path); v != nil {
		return v
	}
	if nested && shadowedIn(t.override, path) {
		return nil
	}
	if v, ok := t.env[key]; ok {
		return v
	}
	if v := searchPrefixes(t.file, path, max(t.fileParts, 1)); v != nil {
		return v
	}
	if nested && shadowedIn(t.file, path) {
		return nil
	}
	return searchMap(t.defaults, path)
}

// AllKeys lists, sorted, every dotted key that has a value or a null in
// some layer and is not hidden by a single value above it; a mapping is
// listed by its keys, an empty one not at all.
func (t *Tree) AllKeys() []string {
	seen := map[string]bool{}
	flatten(seen, t.override, "")
	for _, k := range slices.Sorted(maps.Keys(t.bound)) {
		if !hiddenBy(seen, k) {
			seen[k] = true
		}
	}
	flatten(seen, t.file, "")
	flatten(seen, t.defaults, "")
	return slices.Sorted(maps.Keys(seen))
}

// AllSettings is every key of AllKeys with its value, as nested maps.
func (t *Tree) AllSettings() map[string]any {
	out := map[string]any{}
outer:
	for _, k := range t.AllKeys() {
		v := copyMaps(t.Get(k)) // the keys after it may write into it
		if v == nil {
			continue
		}
		path := strings.Split(k, ".")
		m := out
		for _, p := range path[:len(path)-1] {
			next, ok := m[p]
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			sub, ok := next.(map[string]any)
			if !ok { // a single value where a mapping goes: kept for the decoder to name
				continue outer
			}
			m = sub
		}
		m[path[len(path)-1]] = v
	}
	return out
}

// UnmarshalExact decodes AllSettings into out as viper's UnmarshalExact
// did: weakly typed input (strings from the environment become numbers
// and booleans; "1" and 1 and true are interchangeable), a key out does
// not have is an error, fields matched by their mapstructure tag or,
// ignoring case, their name. hook replaces viper's default hooks, as
// alarmd always did.
func (t *Tree) UnmarshalExact(out any, hook mapstructure.DecodeHookFunc) error {
	d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result: out, WeaklyTypedInput: true, ErrorUnused: true, DecodeHook: hook,
	})
	if err != nil {
		return err
	}
	return d.Decode(t.AllSettings())
}

// copyMaps copies v's nested mappings (not its lists).
func copyMaps(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m))
	for k, e := range m {
		out[k] = copyMaps(e)
	}
	return out
}

// setPath stores value at a dotted key, making the mappings on the way
// (and replacing a single value on the way with one).
func setPath(m map[string]any, key string, value any) {
	path := strings.Split(key, ".")
	for _, p := range path[:len(path)-1] {
		sub, ok := m[p].(map[string]any)
		if !ok {
			sub = map[string]any{}
			m[p] = sub
		}
		m = sub
	}
	m[path[len(path)-1]] = value
}

// searchMap follows path through nested mappings.
func searchMap(m map[string]any, path []string) any {
	for i, p := range path {
		v, ok := m[p]
		if !ok {
			return nil
		}
		if i == len(path)-1 {
			return v
		}
		if m, ok = v.(map[string]any); !ok {
			return nil
		}
	}
	return m
}

// searchPrefixes is searchMap for the file, whose keys may themselves be
// dotted (mqtt.client_id: x at the top): the longest dotted prefix of path
// found in a mapping wins, and a number indexes a list. Prefixes of more
// than most parts are not tried (no key has that many): tried at every
// level, they made a key of n parts cost n³ steps.
func searchPrefixes(source any, path []string, most int) any {
	if len(path) == 0 {
		return source
	}
	for i := min(len(path), most); i > 0; i-- {
		prefix := strings.Join(path[:i], ".")
		var next any
		switch s := source.(type) {
		case map[string]any:
			v, ok := s[prefix]
			if !ok {
				continue
			}
			next = v
		case []any:
			n, err := strconv.Atoi(prefix)
			if err != nil || n < 0 || n >= len(s) {
				continue
			}
			next = s[n]
		default:
			continue
		}
		if i == len(path) {
			if next != nil { // a null: a shorter prefix may still hold the key
				return next
			}
			continue
		}
		switch next.(type) {
		case map[string]any, []any:
			if v := searchPrefixes(next, path[i:], most); v != nil {
				return v
			}
		}
	}
	return nil
}

// shadowedIn reports whether a single value in m sits on path's way.
func shadowedIn(m map[string]any, path []string) bool {
	for i := 1; i < len(path); i++ {
		v := searchMap(m, path[:i])
		if v == nil {
			return false
		}
		if _, ok := v.(map[string]any); !ok {
			return true
		}
	}
	return false
}

// hiddenBy reports whether a key above k's parents is already listed.
func hiddenBy(seen map[string]bool, k string) bool {
	for i := strings.Index(k, "."); i >= 0; i = nextDot(k, i) {
		if seen[k[:i]] {
			return true
		}
	}
	return false
}

func nextDot(k string, i int) int {
	j := strings.Index(k[i+1:], ".")
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// flatten adds m's dotted keys under prefix to seen, except below a key
// already there.
func flatten(seen map[string]bool, m map[string]any, prefix string) {
	if prefix != "" && seen[prefix] {
		return
	}
	if prefix != "" {
		prefix += "."
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		full := prefix + k
		if sub, ok := m[k].(map[string]any); ok {
			flatten(seen, sub, full)
			continue
		}
		seen[strings.ToLower(full)] = true
	}
}

// lowerValue is value with the keys of its mappings lowercased, copied.
func lowerValue(value any) any {
	switch v := value.(type) {
	case map[string]any:
		return lowerMap(maps.Clone(v))
	case map[any]any:
		return lowerMap(stringKeys(v))
	}
	return value
}

// lowerMap lowercases m's keys in place, and those of the mappings in it
// and in its lists; mappings with keys other than text get text keys.
func lowerMap(m map[string]any) map[string]any {
	keys := slices.Sorted(maps.Keys(m))
	for _, k := range keys {
		m[k] = lowerIn(m[k])
	}
	for _, k := range keys {
		l := strings.ToLower(k)
		if l == k {
			continue
		}
		// Mqtt: beats mqtt:, and the last of several upper-case spellings wins
		m[l] = m[k]
		delete(m, k)
	}
	return m
}

func lowerIn(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return lowerMap(t)
	case map[any]any:
		return lowerMap(stringKeys(t))
	case []any:
		for i := range t {
			t[i] = lowerIn(t[i])
		}
	}
	return v
}

// stringKeys turns YAML's non-text keys (1:, true:, ~:) into text as viper
// did (spf13/cast's ToString: 1, true, 1.5, "" for null).
func stringKeys(m map[any]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[keyText(k)] = v
	}
	return out
}

func keyText(k any) string {
	switch t := k.(type) {
	case nil:
		return ""
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case int:
		return strconv.Itoa(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case uint64:
		return strconv.FormatUint(t, 10)
	case fmt.Stringer:
		return t.String()
	}
	return ""
}

// OneDocument is the error, in yaml.v3's form with the line, for data
// that holds a second document (SecondDocument); nil for one.
func OneDocument(data []byte) error {
	if line := SecondDocument(data); line > 0 {
		return fmt.Errorf("yaml: line %d: a second document begins here (after ---); only the first is read: keep one", line)
	}
	return nil
}

// SecondDocument is the line where a second, non-empty YAML document of
// data begins, or 0 (one document; a leading --- or a trailing --- or ...
// with nothing after it). A reader of one document ignores the rest: what
// is written there would do nothing without a word. A line scan, without
// parsing: a document marker is --- or ... at the start of a line (YAML
// allows it nowhere else), and a households file of a million entries must
// not become a node tree to be checked.
func SecondDocument(data []byte) int {
	open, docs, second := false, 0, 0 // a document open; documents begun; the line the second begins
	begin := func(n int) {
		open, docs = true, docs+1
		if docs == 2 {
			second = n
		}
	}
	for n := 1; len(data) > 0; n++ {
		var l []byte
		l, data = nextLine(data)
		switch {
		case marker(l, "---"): // begins a document, the first one too
			begin(n)
			if docs >= 2 && content(l[3:]) { // "--- key: value"
				return second
			}
		case marker(l, "..."): // ends the open one
			open = false
		case len(l) > 0 && l[0] == '%': // a directive (%YAML 1.1)
		case content(l):
			if !open {
				begin(n)
			}
			if docs >= 2 {
				return second
			}
		}
	}
	return 0
}

// nextLine cuts data at YAML's line breaks: LF, CRLF, a lone CR, and NEL,
// LS and PS (which yaml.v3 also takes as breaks).
func nextLine(data []byte) (line, rest []byte) {
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case c == '\n':
			return data[:i], data[i+1:]
		case c == '\r':
			if i+1 < len(data) && data[i+1] == '\n' {
				return data[:i], data[i+2:]
			}
			return data[:i], data[i+1:]
		case c == 0xc2 && i+1 < len(data) && data[i+1] == 0x85:
			return data[:i], data[i+2:]
		case c == 0xe2 && i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xa8 || data[i+2] == 0xa9):
			return data[:i], data[i+3:]
		}
	}
	return data, nil
}

// marker reports whether line is the document marker m (--- or ...).
func marker(line []byte, m string) bool {
	return bytes.HasPrefix(line, []byte(m)) && (len(line) == 3 || line[3] == ' ' || line[3] == '\t')
}

// content reports whether a line holds more than blanks and a comment.
func content(l []byte) bool {
	l = bytes.TrimLeft(l, " \t")
	return len(l) > 0 && l[0] != '#'
}
