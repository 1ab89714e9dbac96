package jsonmap

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
)

// Errors callers tell apart.
var (
	ErrNoMapping = errors.New("no mapping for the topic")
	ErrNoData    = errors.New("no mapped field or event in the payload")
)

// maxEdges bounds the edge state kept for `edge: true` rules.
const maxEdges = 4096

// Mapper applies the mappings to payloads. It is not safe for concurrent use.
type Mapper struct {
	mappings  []*mapping
	household string
	edges     map[edgeKey]bool
}

type edgeKey struct {
	device string
	rule   *eventRule
}

// NewMapper compiles a config's mappings.
func NewMapper(cfg *Config, household string) (*Mapper, error) {
	ms, err := compile(cfg.Mappings)
	if err != nil {
		return nil, err
	}
	return &Mapper{mappings: ms, household: household, edges: make(map[edgeKey]bool)}, nil
}

// Filters are the MQTT filters to subscribe to, one per distinct topic pattern.
func (m *Mapper) Filters() []string {
	var fs []string
	seen := map[string]bool{}
	for _, cm := range m.mappings {
		if !seen[cm.filter] {
			seen[cm.filter] = true
			fs = append(fs, cm.filter)
		}
	}
	return fs
}

// Handle maps one payload received on topic at now: events first, then one
// reading with the fields found. A field or event whose path is missing or
// null is skipped; a value of the wrong type is an error returned after the
// rest was emitted.
func (m *Mapper) Handle(topic string, payload []byte, now time.Time, emit func(anxin.Message)) error {
	if len(payload) > anxin.MaxPayload {
		return fmt.Errorf("payload of %d bytes exceeds %d", len(payload), anxin.MaxPayload)
	}
	cm, caps := m.match(topic)
	if cm == nil {
		return fmt.Errorf("%q: %w", clip(topic), ErrNoMapping)
	}
	var sb strings.Builder
	for _, p := range cm.device {
		if p.capture < 0 {
			sb.WriteString(p.lit)
		} else {
			sb.WriteString(caps[p.capture])
		}
	}
	dev := sb.String()
	if !anxin.ValidID(dev) {
		return fmt.Errorf("device id %q from topic %q is not [A-Za-z0-9_-]{1,64}", clip(dev), clip(topic))
	}
	doc, err := decodePayload(payload)
	if err != nil {
		return err
	}
	found := false
	var bad []string
	for i := range cm.events {
		r := &cm.events[i]
		v, ok := r.path.Lookup(doc)
		hit := ok && matches(v, r.equals)
		found = found || ok && v != nil
		if r.edge {
			k := edgeKey{dev, r}
			prev := m.edges[k]
			if len(m.edges) >= maxEdges {
				clear(m.edges) // bounded memory; the next true raises again, never silences
			}
			m.edges[k] = hit
			if prev {
				continue
			}
		}
		if hit {
			emit(anxin.Message{ID: anxin.NewID(now), TS: now, Household: m.household, Device: dev, Kind: cm.kind, Event: r.event})
		}
	}
	fields := anxin.Fields{}
	for _, f := range cm.fields {
		v, ok := f.path.Lookup(doc)
		if !ok || v == nil {
			continue
		}
		found = true
		var val anxin.Value
		var err error
		if f.boolean {
			val, err = toBool(v)
		} else {
			val, err = toValue(v, f.scale)
		}
		if err != nil {
			bad = append(bad, f.name+" ("+f.path.String()+"): "+err.Error())
			continue
		}
		fields[f.name] = val
	}
	if len(fields) > 0 {
		emit(anxin.Message{ID: anxin.NewID(now), TS: now, Household: m.household, Device: dev, Kind: cm.kind, Fields: fields})
	}
	if len(bad) > 0 {
		return fmt.Errorf("device %s: %s", dev, strings.Join(bad, "; "))
	}
	if !found {
		return ErrNoData
	}
	return nil
}

// match finds the first mapping whose topic pattern matches, and the
// captured levels.
func (m *Mapper) match(topic string) (*mapping, []string) {
	if strings.HasPrefix(topic, "$") { // $SYS and friends never match wildcards
		return nil, nil
	}
	tl := strings.Split(topic, "/")
next:
	for _, cm := range m.mappings {
		var caps []string
		for i, l := range cm.levels {
			if l == "#" {
				return cm, caps
			}
			if i >= len(tl) {
				continue next
			}
			switch {
			case l == "+":
			case strings.HasPrefix(l, "{"):
				caps = append(caps, tl[i])
			case l != tl[i]:
				continue next
			}
		}
		if len(tl) == len(cm.levels) {
			return cm, caps
		}
	}
	return nil, nil
}

func toValue(v any, scale float64) (anxin.Value, error) {
	var f float64
	switch x := v.(type) {
	case bool:
		return anxin.Bool(x), nil
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return anxin.Value{}, errors.New("number out of range")
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return anxin.Value{}, errors.New("a string that is not a number")
		}
	default:
		return anxin.Value{}, errors.New("an object or array, not a number or boolean")
	}
	f *= scale
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return anxin.Value{}, errors.New("not a finite number")
	}
	return anxin.Num(f), nil
}

// toBool reads a contract boolean field: JSON true/false, the numbers 0
// and 1, or the strings "true"/"false"/"1"/"0" (any case, spaces trimmed).
// Anything else is an error rather than a guess: battery_low 2 or "low"
// says nothing the contract can carry.
func toBool(v any) (anxin.Value, error) {
	const want = "not a boolean (true/false, 0/1)"
	switch x := v.(type) {
	case bool:
		return anxin.Bool(x), nil
	case json.Number:
		if f, err := x.Float64(); err == nil && (f == 0 || f == 1) {
			return anxin.Bool(f == 1), nil
		}
		return anxin.Value{}, fmt.Errorf("%s is %s", clip(string(x)), want)
	case string:
		switch strings.ToLower(strings.TrimSpace(x)) {
		case "true", "1":
			return anxin.Bool(true), nil
		case "false", "0":
			return anxin.Bool(false), nil
		}
		return anxin.Value{}, fmt.Errorf("%q is %s", clip(x), want)
	default:
		return anxin.Value{}, errors.New("an object or array, " + want)
	}
}

// matches tells whether a value meets an event rule's condition.
func matches(v any, equals *string) bool {
	if equals == nil {
		switch x := v.(type) {
		case bool:
			return x
		case json.Number:
			f, err := x.Float64()
			return err == nil && f != 0
		case string:
			return x != ""
		}
		return false
	}
	e := *equals
	switch x := v.(type) {
	case string:
		return x == e
	case bool:
		if x {
			return e == "true" || e == "1"
		}
		return e == "false" || e == "0"
	case json.Number:
		if string(x) == e {
			return true
		}
		f1, err1 := x.Float64()
		f2, err2 := strconv.ParseFloat(e, 64)
		return err1 == nil && err2 == nil && f1 == f2
	case nil:
		return e == "null"
	}
	return false
}
