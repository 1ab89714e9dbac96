package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // Asia/Shanghai must load on a bare container too

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/configs"
	"github.com/anxin-care/anxin/internal/configerr"
	"gopkg.in/yaml.v3"
)

// DefaultTimezone is the zone of rule windows and of the times in reasons.
const DefaultTimezone = "Asia/Shanghai"

// Config is a parsed rules.yaml. Build it with Parse or Default; the zero
// Config has no rules.
type Config struct {
	Timezone string
	Rules    []*Rule

	loc *time.Location
}

// Location is the zone of windows and reasons.
func (c *Config) Location() *time.Location {
	if c == nil || c.loc == nil {
		return time.UTC
	}
	return c.loc
}

// Rule is one configured rule, with its kind's own parameters in Params
// (*EventParams, *NoUseParams, …) and the per-tier and per-household
// variants its overrides produce.
type Rule struct {
	Name        string         `yaml:"name"`
	Kind        string         `yaml:"kind"`
	Severity    anxin.Severity `yaml:"severity"`
	Route       anxin.Route    `yaml:"route"`
	Window      string         `yaml:"window"`
	Disabled    bool           `yaml:"disabled"`
	DeviceKinds []anxin.Kind   `yaml:"device_kinds"`

	Params any // the kind's parameter struct, decoded strictly

	// Tier and Household are complete rules with the overrides applied.
	Tier      map[anxin.Tier]*Rule
	Household map[string]*Rule

	overrides *yaml.Node // kept to marshal the config back
	window    window
}

// Duration is a YAML duration: "90m", "24h", "2d" (days are 24 h).
type Duration time.Duration

// Seconds is the duration in whole seconds, the engine's unit.
func (d Duration) Seconds() int64 { return int64(time.Duration(d) / time.Second) }

func (d Duration) String() string { return time.Duration(d).String() }

// ParseDuration reads "90m", "24h", "1h30m", "2d".
func ParseDuration(s string) (Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		f, err := strconv.ParseFloat(n, 64)
		if err == nil && f >= 0 && f <= 3650 {
			return Duration(f * float64(24*time.Hour)), nil
		}
		return 0, fmt.Errorf("%q is not a duration", clip(s))
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration", clip(s))
	}
	return Duration(d), nil
}

// Parse reads a rules file strictly: unknown keys, bad values and keys that
// do not belong to a rule's kind are errors naming the rule and the key.
func Parse(data []byte) (*Config, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return nil, invalid(configerr.Missing("rules", "rules file is empty"), "rules file is empty")
		}
		ce := configerr.AsConfigError(configerr.YAMLSyntax(data, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))))
		return nil, invalid(ce, "rules file: %s", clip(configerr.ScrubYAML(err.Error())))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		ce := configerr.NewConfigError(configerr.FileSyntax, "", "rules file must hold one YAML document")
		ce.Line = extra.Line
		return nil, invalid(ce, "rules file must hold one YAML document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, invalid(configerr.NewConfigError(configerr.ValueWrongType, "", "rules file must be a mapping with timezone and rules"),
			"rules file must be a mapping with timezone and rules")
	}
	c := &Config{Timezone: DefaultTimezone}
	var rulesNode *yaml.Node
	err := eachKey(root, "", func(key string, v *yaml.Node) error {
		switch key {
		case "timezone":
			return decodeValue(v, reflect.ValueOf(&c.Timezone).Elem(), "timezone")
		case "rules":
			if v.Kind != yaml.SequenceNode {
				return kindErr(configerr.ValueWrongType, "list", "rules", v, "must be a list")
			}
			rulesNode = v
			return nil
		}
		return unknownKey(key, v, "timezone", "rules")
	})
	if err != nil {
		return nil, invalid(configerr.AsConfigError(err), "%s", err.Error())
	}
	loc, lerr := time.LoadLocation(c.Timezone)
	if lerr != nil || c.Timezone == "" {
		ce := configerr.NewConfigError(configerr.ValueWrongType, "timezone", "%q is not a known time zone", clip(c.Timezone))
		ce.Value, ce.Want = clip(c.Timezone), "zone"
		return nil, invalid(ce, "timezone: %q is not a known time zone", clip(c.Timezone))
	}
	c.loc = loc
	if rulesNode == nil {
		return nil, invalid(configerr.Missing("rules", "missing"), "rules: missing")
	}
	if len(rulesNode.Content) > maxRules {
		ce := configerr.OutOfRange("rules", fmt.Sprintf("%d rules", len(rulesNode.Content)), fmt.Sprintf("at most %d", maxRules))
		return nil, invalid(ce, "rules: %d rules, at most %d", len(rulesNode.Content), maxRules)
	}
	names := map[string]string{}
	for i, rn := range rulesNode.Content {
		r, err := parseRule(rn, i)
		if err != nil {
			return nil, err
		}
		for _, n := range r.alarmNames() {
			if prev, dup := names[n]; dup {
				ce := configerr.Duplicate(fmt.Sprintf("rules[%d].name", i), n)
				return nil, invalid(ce, "rules[%d] (%s): alarm name %q is already used by %s", i, r.Name, n, prev)
			}
			names[n] = fmt.Sprintf("rules[%d] (%s)", i, r.Name)
		}
		c.Rules = append(c.Rules, r)
	}
	return c, nil
}

// Default is the built-in rules (configs/rules.yaml, embedded).
func Default() *Config {
	c, err := Parse(configs.RulesYAML)
	if err != nil {
		// The embedded file is tested; this is a build defect.
		panic("rules: embedded configs/rules.yaml: " + err.Error())
	}
	return c
}

// alarmNames are the rule names a rule raises alarms under.
func (r *Rule) alarmNames() []string {
	names := []string{r.Name}
	if n := r.SilentRuleName(); n != "" {
		names = append(names, n)
	}
	return names
}

// SilentRuleName is the name of the rule's silent-meter alarm
// (device_silent) when it raises one (no_use; hazard, steps with silent_after),
// else "".
func (r *Rule) SilentRuleName() string {
	switch p := r.Params.(type) {
	case *NoUseParams:
		return p.SilentRule
	case interface{ silentRuleName() string }: // QuietParams: hazard, steps
		return p.silentRuleName()
	}
	return ""
}

func parseRule(n *yaml.Node, i int) (*Rule, error) {
	if n.Kind != yaml.MappingNode {
		ce := configerr.NewConfigError(configerr.ValueWrongType, fmt.Sprintf("rules[%d]", i), "must be a mapping")
		ce.Want, ce.Line = "section", n.Line
		return nil, invalid(ce, "rules[%d]: must be a mapping (line %d)", i, n.Line)
	}
	// Name and kind first: every later error names the rule.
	r := &Rule{}
	var overrides *yaml.Node
	for j := 0; j+1 < len(n.Content); j += 2 {
		switch n.Content[j].Value {
		case "name":
			if err := decodeValue(n.Content[j+1], reflect.ValueOf(&r.Name).Elem(), "name"); err != nil {
				return nil, ruleErr(i, "", err)
			}
		case "kind":
			if err := decodeValue(n.Content[j+1], reflect.ValueOf(&r.Kind).Elem(), "kind"); err != nil {
				return nil, ruleErr(i, r.Name, err)
			}
		}
	}
	if !anxin.ValidID(r.Name) {
		ce := configerr.NotID(fmt.Sprintf("rules[%d].name", i), clip(r.Name))
		ce.Line = n.Line
		return nil, invalid(ce, "rules[%d].name: %q is not [A-Za-z0-9_-]{1,64} (line %d)", i, clip(r.Name), n.Line)
	}
	def, ok := kindTable[r.Kind]
	if !ok {
		ce := configerr.NotChoice(fmt.Sprintf("rules[%d].kind", i), clip(r.Kind), KindNames()...)
		ce.Line = n.Line
		return nil, invalid(ce, "rules[%d] (%s).kind: %q is not one of %s (line %d)", i, r.Name, clip(r.Kind), strings.Join(KindNames(), ", "), n.Line)
	}
	r.Params = def.params()
	err := eachKey(n, "", func(key string, v *yaml.Node) error {
		switch key {
		case "name", "kind":
			return nil
		case "overrides":
			overrides = v
			return nil
		}
		return decodeInto(key, v, reflect.ValueOf(r).Elem(), reflect.ValueOf(r.Params).Elem())
	})
	if err != nil {
		return nil, ruleErr(i, r.Name, err)
	}
	if err := r.finish(def); err != nil {
		return nil, ruleErr(i, r.Name, err)
	}
	if overrides != nil {
		if err := r.parseOverrides(overrides, def); err != nil {
			return nil, ruleErr(i, r.Name, err)
		}
	}
	return r, nil
}

// finish applies defaults and validates a rule (base or variant).
func (r *Rule) finish(def kindDef) error {
	if r.Severity == "" {
		r.Severity = anxin.SeverityWarning
	}
	if !r.Severity.Valid() {
		return configerr.NotChoice("severity", clip(string(r.Severity)), "critical", "warning", "info")
	}
	if r.Route == "" {
		r.Route = anxin.RouteFamily
	}
	if r.Route != anxin.RouteFamily && r.Route != anxin.RouteInstaller {
		return configerr.NotChoice("route", clip(string(r.Route)), "family", "installer")
	}
	for _, k := range r.DeviceKinds {
		if !k.Valid() {
			return notOneOf("device_kinds", clip(string(k)), "is not a device kind", kindNames())
		}
	}
	w, err := parseWindow(r.Window)
	if err != nil {
		return because("window", reasonWindow, clip(r.Window), "", err.Error())
	}
	r.window = w
	return def.check(r)
}

func (r *Rule) parseOverrides(n *yaml.Node, def kindDef) error {
	if n.Kind != yaml.MappingNode {
		return kindErr(configerr.ValueWrongType, "section", "overrides", n, "must be a mapping with tier and/or household")
	}
	r.overrides = n
	return eachKey(n, "overrides.", func(scope string, v *yaml.Node) error {
		if scope != "tier" && scope != "household" {
			return unknownKey("overrides."+scope, v, "tier", "household")
		}
		if v.Kind != yaml.MappingNode {
			return kindErr(configerr.ValueWrongType, "section", "overrides."+scope, v, "must be a mapping")
		}
		return eachKey(v, "overrides."+scope+".", func(id string, ov *yaml.Node) error {
			path := "overrides." + scope + "." + id
			if scope == "tier" && !anxin.Tier(id).Valid() {
				return withLine(oneOf(path, clip(id), "not a tier (irregular, general, key, high)", "irregular", "general", "key", "high"), ov)
			}
			if scope == "household" && !anxin.ValidID(id) {
				return withLine(notName(path, clip(id), "not a household id"), ov)
			}
			if ov.Kind != yaml.MappingNode {
				return kindErr(configerr.ValueWrongType, "section", path, ov, "must be a mapping of rule keys")
			}
			v := r.variant()
			err := eachKey(ov, path+".", func(key string, kv *yaml.Node) error {
				if slices.Contains([]string{"name", "kind", "overrides"}, key) {
					return fieldReason(path+"."+key, kv, reasonNoOverride, "", "cannot be overridden")
				}
				return decodeInto(path+"."+key, kv, reflect.ValueOf(v).Elem(), reflect.ValueOf(v.Params).Elem())
			})
			if err != nil {
				return err
			}
			if err := v.finish(def); err != nil {
				return fmt.Errorf("%s.%w", path, err)
			}
			if scope == "tier" {
				if r.Tier == nil {
					r.Tier = map[anxin.Tier]*Rule{}
				}
				r.Tier[anxin.Tier(id)] = v
			} else {
				if r.Household == nil {
					r.Household = map[string]*Rule{}
				}
				r.Household[id] = v
			}
			return nil
		})
	})
}

// variant is a deep copy of the base rule's settings, ready for an override.
func (r *Rule) variant() *Rule {
	v := &Rule{Name: r.Name, Kind: r.Kind, Severity: r.Severity, Route: r.Route, Window: r.Window,
		Disabled: r.Disabled, DeviceKinds: slices.Clone(r.DeviceKinds)}
	v.Params = deepCopy(r.Params)
	return v
}

func deepCopy(p any) any {
	src := reflect.ValueOf(p).Elem()
	dst := reflect.New(src.Type())
	copyValue(dst.Elem(), src)
	return dst.Interface()
}

func copyValue(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		n := reflect.New(src.Type().Elem())
		copyValue(n.Elem(), src.Elem())
		dst.Set(n)
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		n := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := 0; i < src.Len(); i++ {
			copyValue(n.Index(i), src.Index(i))
		}
		dst.Set(n)
	case reflect.Struct:
		for i := 0; i < src.NumField(); i++ {
			if dst.Field(i).CanSet() {
				copyValue(dst.Field(i), src.Field(i))
			}
		}
	default:
		dst.Set(src)
	}
}

func ruleErr(i int, name string, err error) error {
	ce := configerr.UnderKey(fmt.Sprintf("rules[%d]", i), configerr.AsConfigError(err))
	if name == "" {
		return invalid(configerr.AsConfigError(ce), "rules[%d].%s", i, err.Error())
	}
	return invalid(configerr.AsConfigError(ce), "rules[%d] (%s).%s", i, name, err.Error())
}

// parseError is a rules file's error: the EINVALID error its text always
// was, and the typed problem (key, kind, value, line) alarmd explains in
// Mandarin.
type parseError struct {
	err *anxin.Error
	ce  *configerr.ConfigError
}

func (e *parseError) Error() string   { return e.err.Error() }
func (e *parseError) Unwrap() []error { return []error{e.err, e.ce} }

func invalid(ce *configerr.ConfigError, format string, args ...any) error {
	return &parseError{err: anxin.Errorf(anxin.EINVALID, format, args...), ce: ce}
}

// fieldErr is the problem msg with the value n of key path:
// "path: msg (line N)".
func fieldErr(path string, n *yaml.Node, msg string) *configerr.ConfigError {
	return &configerr.ConfigError{Kind: configerr.ValueBad, Key: path, Detail: fmt.Sprintf("%s (line %d)", msg, n.Line), Line: n.Line}
}

// fieldReason is fieldErr for a reason no kind says (ErrorReasons); the
// value is quoted when n is a scalar.
func fieldReason(path string, n *yaml.Node, reason, allowed, msg string) *configerr.ConfigError {
	ce := fieldErr(path, n, msg)
	ce.Reason, ce.Range = reason, allowed
	if n.Kind == yaml.ScalarNode {
		ce.Value = clip(n.Value)
	}
	return ce
}

// aliasErr: a value starting with * or & reads as a YAML alias, which a
// rules file does not use (explained as configerr.YAMLSyntax's alias).
func aliasErr(path string, n *yaml.Node) *configerr.ConfigError {
	ce := fieldErr(path, n, "YAML aliases are not supported")
	ce.Kind, ce.Value = configerr.FileSyntax, "alias"
	return ce
}

// withLine adds n's line to a typed error, as fieldErr writes it.
func withLine(err error, n *yaml.Node) error {
	ce := err.(*configerr.ConfigError)
	ce.Line = n.Line
	ce.Detail = fmt.Sprintf("%s (line %d)", ce.Detail, n.Line)
	return ce
}

// kindErr is fieldErr of a kind: the value is not a duration, not of the
// type wanted (Want: number, bool, text, list, section), a key twice.
func kindErr(kind configerr.ConfigKind, want string, path string, n *yaml.Node, msg string) *configerr.ConfigError {
	ce := fieldErr(path, n, msg)
	ce.Kind, ce.Want = kind, want
	if n.Kind == yaml.ScalarNode {
		ce.Value = clip(n.Value)
	}
	return ce
}

// unknownKey is the error for a key none of known is, with the one
// probably meant (event for events).
func unknownKey(path string, n *yaml.Node, known ...string) *configerr.ConfigError {
	ce := fieldErr(path, n, "unknown key")
	ce.Kind, ce.Choices = configerr.KeyUnknown, known
	key := path[strings.LastIndexByte(path, '.')+1:]
	if best := configerr.Closest(key, known); best != "" {
		ce.Suggest = best
		ce.Detail = fmt.Sprintf("unknown key; did you mean %s? (line %d)", best, n.Line)
	}
	return ce
}

// notOneOf is the error for a value outside the contract's list:
// `key: "tumble" is not an event of the contract`.
func notOneOf(key, value, detail string, choices []string) *configerr.ConfigError {
	ce := configerr.NotChoice(key, value, choices...)
	ce.Detail = fmt.Sprintf("%q %s", value, detail)
	return ce
}

func eventNames() []string {
	out := make([]string, len(anxin.EventTypes))
	for i, e := range anxin.EventTypes {
		out[i] = string(e)
	}
	return out
}

func kindNames() []string {
	out := make([]string, len(anxin.Kinds))
	for i, k := range anxin.Kinds {
		out[i] = string(k)
	}
	return out
}

// tagsOf lists the keys structs take, for an unknown key's choices.
func tagsOf(structs ...reflect.Value) []string {
	var out []string
	for _, s := range structs {
		t := s.Type()
		for i := 0; i < t.NumField(); i++ {
			if isInline(t.Field(i)) {
				out = append(out, tagsOf(s.Field(i))...)
				continue
			}
			if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
				out = append(out, tag)
			}
		}
	}
	return out
}

// eachKey walks a mapping's keys in order, refusing aliases, merge keys and
// duplicates.
func eachKey(n *yaml.Node, prefix string, fn func(key string, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return kindErr(configerr.ValueWrongType, "section", strings.TrimSuffix(prefix, "."), n, "must be a mapping")
	}
	seen := map[string]bool{}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		if k.Kind != yaml.ScalarNode {
			return fieldReason(strings.TrimSuffix(prefix, "."), k, reasonPlainKeys, "", "keys must be plain strings")
		}
		if v.Kind == yaml.AliasNode || k.Kind == yaml.AliasNode {
			return aliasErr(prefix+k.Value, v)
		}
		if seen[k.Value] {
			return kindErr(configerr.ValueDuplicate, "", prefix+k.Value, k, "duplicate key")
		}
		seen[k.Value] = true
		if err := fn(k.Value, v); err != nil {
			return err
		}
	}
	return nil
}

// decodeInto decodes the value of key into the first of structs that has a
// field tagged with it. path is the key's full name for errors.
func decodeInto(path string, v *yaml.Node, structs ...reflect.Value) error {
	key := path[strings.LastIndexByte(path, '.')+1:]
	for _, s := range structs {
		if f, ok := fieldByTag(s, key); ok {
			return decodeValue(v, f, path)
		}
	}
	return unknownKey(path, v, tagsOf(structs...)...)
}

// fieldByTag finds the field tagged key in s, or in a struct s embeds
// with tag ",inline" (QuietParams in HazardParams and StepsParams).
func fieldByTag(s reflect.Value, key string) (reflect.Value, bool) {
	t := s.Type()
	for i := 0; i < t.NumField(); i++ {
		if isInline(t.Field(i)) {
			if f, ok := fieldByTag(s.Field(i), key); ok {
				return f, true
			}
			continue
		}
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag == key && tag != "" && tag != "-" {
			return s.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// isInline reports whether f is an embedded struct whose keys stand beside
// the outer struct's (yaml ",inline").
func isInline(f reflect.StructField) bool {
	return f.Anonymous && f.Type.Kind() == reflect.Struct && f.Tag.Get("yaml") == ",inline"
}

var (
	durationType = reflect.TypeOf(Duration(0))
	silenceType  = reflect.TypeOf(Silence{})
)

// decodeValue decodes n into f by f's type, with errors that quote the value.
func decodeValue(n *yaml.Node, f reflect.Value, path string) error {
	if n.Kind == yaml.AliasNode {
		return aliasErr(path, n)
	}
	switch f.Type() {
	case durationType:
		if n.Kind != yaml.ScalarNode {
			return kindErr(configerr.ValueNotDuration, "", path, n, "must be a duration like 24h")
		}
		d, err := ParseDuration(n.Value)
		if err != nil {
			return kindErr(configerr.ValueNotDuration, "", path, n, err.Error())
		}
		f.Set(reflect.ValueOf(d))
		return nil
	case silenceType:
		if n.Kind != yaml.ScalarNode {
			return fieldReason(path, n, reasonSilence, "", "must be a duration like 25h or a multiple of the reading interval like 2x")
		}
		s, err := ParseSilence(n.Value)
		if err != nil {
			return fieldReason(path, n, reasonSilence, "", err.Error())
		}
		f.Set(reflect.ValueOf(s))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
			return kindErr(configerr.ValueWrongType, "text", path, n, "must be a string")
		}
		f.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&b) != nil {
			return kindErr(configerr.ValueWrongType, "bool", path, n, fmt.Sprintf("%q is not true or false", clip(n.Value)))
		}
		f.SetBool(b)
	case reflect.Float64:
		x, err := strconv.ParseFloat(n.Value, 64)
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") || err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return kindErr(configerr.ValueWrongType, "number", path, n, fmt.Sprintf("%q is not a number", clip(n.Value)))
		}
		f.SetFloat(x)
	case reflect.Int:
		x, err := strconv.ParseInt(n.Value, 10, 32)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil {
			return kindErr(configerr.ValueWrongType, "number", path, n, fmt.Sprintf("%q is not a whole number", clip(n.Value)))
		}
		f.SetInt(x)
	case reflect.Pointer:
		p := reflect.New(f.Type().Elem())
		if err := decodeValue(n, p.Elem(), path); err != nil {
			return err
		}
		f.Set(p)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return kindErr(configerr.ValueWrongType, "list", path, n, "must be a list")
		}
		if len(n.Content) > maxList {
			return fieldReason(path, n, reasonListLong, fmt.Sprint(maxList), fmt.Sprintf("at most %d items", maxList))
		}
		s := reflect.MakeSlice(f.Type(), len(n.Content), len(n.Content))
		for i, e := range n.Content {
			if err := decodeValue(e, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		f.Set(s)
	case reflect.Struct:
		return eachKey(n, path+".", func(key string, v *yaml.Node) error {
			return decodeInto(path+"."+key, v, f)
		})
	default:
		return fieldReason(path, n, reasonUnsupported, "", "unsupported type "+f.Type().String())
	}
	return nil
}

// maxList bounds lists in a rules file (polygon points, event names).
const maxList = 1000

// maxRules bounds the rules of one file (slots number rules in 16 bits).
const maxRules = 1000

func clip(s string) string {
	const n = 60
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Silence is when a meter counts as silent: a fixed duration, or a multiple
// of the interval between its last two readings ("2x").
type Silence struct {
	Dur   Duration
	Times float64
}

// ParseSilence reads "25h" or "2x".
func ParseSilence(s string) (Silence, error) {
	if n, ok := strings.CutSuffix(s, "x"); ok {
		f, err := strconv.ParseFloat(n, 64)
		if err != nil || !(f >= 1 && f <= 1000) {
			return Silence{}, fmt.Errorf("%q is not a multiple between 1x and 1000x", clip(s))
		}
		return Silence{Times: f}, nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return Silence{}, err
	}
	return Silence{Dur: d}, nil
}

func (s Silence) String() string {
	if s.Times != 0 {
		return strconv.FormatFloat(s.Times, 'g', -1, 64) + "x"
	}
	return s.Dur.String()
}

// IsZero reports whether no silence limit is set.
func (s Silence) IsZero() bool { return s.Dur == 0 && s.Times == 0 }

// window is a time-of-day window in minutes since local midnight;
// start == end means always.
type window struct{ start, end int16 }

func (w window) always() bool { return w.start == w.end }

func parseWindow(s string) (window, error) {
	if s == "" {
		return window{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	sa, ea := parseClock(a)
	sb, eb := parseClock(b)
	if !ok || ea != nil || eb != nil || sa == sb {
		return window{}, fmt.Errorf("%q is not a window like 22:00-06:00", clip(s))
	}
	return window{sa, sb}, nil
}

func parseClock(s string) (int16, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, e1 := strconv.Atoi(h)
	mm, e2 := strconv.Atoi(m)
	if !ok || e1 != nil || e2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) || len(m) != 2 {
		return 0, fmt.Errorf("bad clock")
	}
	return int16(hh*60 + mm), nil
}

// contains reports whether the local time of day of t is inside the window.
func (w window) contains(t time.Time) bool {
	if w.always() {
		return true
	}
	m := int16(t.Hour()*60 + t.Minute())
	if w.start < w.end {
		return m >= w.start && m < w.end
	}
	return m >= w.start || m < w.end
}

// nextStart is the first instant at or after t inside the window.
func (w window) nextStart(t time.Time) time.Time {
	if w.contains(t) {
		return t
	}
	y, mo, d := t.Date()
	s := time.Date(y, mo, d, int(w.start)/60, int(w.start)%60, 0, 0, t.Location())
	if !s.After(t) {
		s = time.Date(y, mo, d+1, int(w.start)/60, int(w.start)%60, 0, 0, t.Location())
	}
	return s
}
