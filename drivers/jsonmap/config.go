package jsonmap

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/mqttsource"
)

// maxMappings bounds the mappings of one driver.
const maxMappings = 256

// Config is the jsonmap driver's section of the gatewayd config.
type Config struct {
	mqttsource.Config `mapstructure:",squash" yaml:",inline"`
	Mappings          []Mapping `mapstructure:"mappings" yaml:"mappings"`
}

// Mapping turns the JSON payloads of one topic pattern into a device's
// readings and events.
type Mapping struct {
	// Topic is an MQTT filter whose levels may also be named captures:
	// vendor/{device}/up subscribes to vendor/+/up and captures the level.
	Topic string `mapstructure:"topic" yaml:"topic"`
	// Device is the contract device id: literal (wm1), or made of captures
	// (tracker-{imei}). Empty: {device}, when the topic captures device.
	Device string     `mapstructure:"device" yaml:"device"`
	Kind   anxin.Kind `mapstructure:"kind" yaml:"kind"`
	// Fields maps contract field names to JSON paths ($.gps.lat, $.data[0].v).
	Fields map[string]string `mapstructure:"fields" yaml:"fields"`
	// Scale multiplies a numeric field (litres to m³: 0.001). Default 1.
	Scale  map[string]float64 `mapstructure:"scale" yaml:"scale"`
	Events []EventRule        `mapstructure:"events" yaml:"events"`
}

// EventRule emits Event when the value at Path equals Equals (compared as
// text: "sos", "true", "1"), or, with no Equals, when it is true, a non-zero
// number or a non-empty string.
type EventRule struct {
	Path   string          `mapstructure:"path" yaml:"path"`
	Equals *string         `mapstructure:"equals" yaml:"equals"`
	Event  anxin.EventType `mapstructure:"event" yaml:"event"`
	// Edge emits only when the condition turns true (a tracker that repeats
	// "alarm":"sos" in every uplink until it is reset).
	Edge bool `mapstructure:"edge" yaml:"edge"`
}

// NewConfig returns the defaults: the local broker and no mappings.
func NewConfig() *Config { return &Config{Config: mqttsource.DefaultConfig()} }

// Validate checks the config, paths included, without touching the network.
func (c *Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if len(c.Mappings) == 0 {
		// checked here, not only in New: gatewayd check must refuse what would not start
		return drivers.Missing("mappings", "at least one mapping")
	}
	_, err := compile(c.Mappings)
	return err
}

// mapping is a compiled Mapping.
type mapping struct {
	filter   string
	levels   []string // literal, "+", "#", or "{name}"
	captures []string // capture names, in level order
	device   []part
	kind     anxin.Kind
	fields   []fieldRule
	events   []eventRule
}

// part is a literal piece of a device template or a capture reference.
type part struct {
	lit     string
	capture int // index into captures; -1 for a literal
}

type fieldRule struct {
	name    string
	path    Path
	scale   float64
	boolean bool // a contract boolean: true/false, 0/1, "true"/"false"
}

// boolFields are the contract's boolean fields (ARCHITECTURE.md, field
// names and units). Vendors send them as 0/1 or strings; the contract
// says true/false.
var boolFields = map[string]bool{"battery_low": true, "valve_open": true}

type eventRule struct {
	path   Path
	equals *string
	event  anxin.EventType
	edge   bool
}

func compile(ms []Mapping) ([]*mapping, error) {
	if len(ms) > maxMappings {
		return nil, drivers.OutOfRange("mappings", len(ms), fmt.Sprintf("<= %d mappings", maxMappings))
	}
	out := make([]*mapping, 0, len(ms))
	for i, m := range ms {
		cm, err := compileOne(m)
		if err != nil {
			return nil, drivers.UnderKey(fmt.Sprintf("mappings[%d]", i), err)
		}
		out = append(out, cm)
	}
	return out, nil
}

func compileOne(m Mapping) (*mapping, error) {
	cm := &mapping{kind: m.Kind}
	levels := strings.Split(m.Topic, "/")
	filter := make([]string, len(levels))
	for i, l := range levels {
		filter[i] = l
		if strings.HasPrefix(l, "{") && strings.HasSuffix(l, "}") {
			name := l[1 : len(l)-1]
			if !validName(name) {
				return nil, drivers.Because("topic", drivers.ReasonTopicCapture, "%q: capture {%s} is not [A-Za-z0-9_]+", clip(m.Topic), clip(name)).
					WithValue(m.Topic)
			}
			if slices.Contains(cm.captures, name) {
				return nil, drivers.NewConfigError(drivers.ValueDuplicate, "topic", "%q: capture {%s} twice", clip(m.Topic), name).
					WithValue("{" + name + "}")
			}
			cm.captures = append(cm.captures, name)
			filter[i] = "+"
		} else if strings.ContainsAny(l, "{}") {
			return nil, drivers.Because("topic", drivers.ReasonTopicCapture, "%q: a capture must be a whole level", clip(m.Topic)).
				WithValue(m.Topic)
		}
	}
	cm.levels = levels
	cm.filter = strings.Join(filter, "/")
	if m.Topic == "" {
		return nil, drivers.Missing("topic", "an MQTT topic filter such as vendor/{device}/up")
	}
	if err := mqttsource.ValidFilter(cm.filter); err != nil {
		return nil, drivers.Because("topic", drivers.ReasonTopicFilter, "%s", anxin.ErrorMessage(err)).WithValue(m.Topic)
	}

	dev := m.Device
	if dev == "" {
		if !slices.Contains(cm.captures, "device") {
			return nil, drivers.Missing("device", "required unless the topic captures {device}")
		}
		dev = "{device}"
	}
	parts, err := cm.template(dev)
	if err != nil {
		return nil, drivers.Because("device", drivers.ReasonDeviceTemplate, "%q: %v", clip(dev), err).WithValue(dev)
	}
	cm.device = parts

	if !m.Kind.Valid() {
		return nil, drivers.NotKind("kind", m.Kind)
	}
	if len(m.Fields) == 0 && len(m.Events) == 0 {
		return nil, drivers.Missing("fields", "a mapping needs at least one field or event")
	}
	if len(m.Fields) > 64 {
		return nil, drivers.OutOfRange("fields", len(m.Fields), "<= 64 fields")
	}
	names := make([]string, 0, len(m.Fields))
	for name := range m.Fields {
		names = append(names, name)
	}
	slices.Sort(names) // a stable order for errors and tests
	for _, name := range names {
		if !anxin.ValidID(name) {
			return nil, drivers.NotID("fields", name)
		}
		p, err := ParsePath(m.Fields[name])
		if err != nil {
			return nil, drivers.Because("fields."+name, drivers.ReasonJSONPath, "%v", err).WithValue(m.Fields[name])
		}
		scale := 1.0
		if s, ok := m.Scale[name]; ok {
			if boolFields[name] {
				return nil, drivers.Because("scale."+name, drivers.ReasonScaleBoolean, "%s is a boolean field, it has no scale", name).WithValue(s)
			}
			if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
				return nil, drivers.Because("scale."+name, drivers.ReasonScaleNumber, "%v is not a finite non-zero number", s).WithValue(s)
			}
			scale = s
		}
		cm.fields = append(cm.fields, fieldRule{name: name, path: p, scale: scale, boolean: boolFields[name]})
	}
	for name := range m.Scale {
		if _, ok := m.Fields[name]; !ok {
			return nil, drivers.NewConfigError(drivers.KeyUnknown, "scale."+clip(name), "no such field (fields: %s)", strings.Join(names, ", ")).
				WithChoices(names...)
		}
	}
	for j, e := range m.Events {
		p, err := ParsePath(e.Path)
		if err != nil {
			return nil, drivers.Because(fmt.Sprintf("events[%d].path", j), drivers.ReasonJSONPath, "%v", err).WithValue(e.Path)
		}
		if !e.Event.Valid() {
			return nil, drivers.NotEvent(fmt.Sprintf("events[%d].event", j), e.Event)
		}
		cm.events = append(cm.events, eventRule{path: p, equals: e.Equals, event: e.Event, edge: e.Edge})
	}
	return cm, nil
}

// template parses a device template of literal id characters and {capture}s.
func (cm *mapping) template(s string) ([]part, error) {
	var parts []part
	for s != "" {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			open = len(s)
		}
		if lit := s[:open]; lit != "" {
			if strings.ContainsAny(lit, "}") || !anxin.ValidID(lit) {
				return nil, fmt.Errorf("%q is not [A-Za-z0-9_-]", clip(lit))
			}
			parts = append(parts, part{lit: lit, capture: -1})
		}
		if open == len(s) {
			break
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("{ without }")
		}
		name := s[open+1 : open+end]
		idx := slices.Index(cm.captures, name)
		if idx < 0 {
			return nil, fmt.Errorf("{%s} is not captured by the topic", clip(name))
		}
		parts = append(parts, part{capture: idx})
		s = s[open+end+1:]
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("empty")
	}
	return parts, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
