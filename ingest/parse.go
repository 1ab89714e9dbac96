package ingest

import (
	"strings"

	"github.com/anxin-care/anxin"
)

// parseMessage is anxin.ParseMessage with a fast path for the common shape
// of a contract payload (ASCII strings without escapes, no duplicate keys):
// encoding/json with reflection costs ~10 µs a message, a quarter of
// alarmd's CPU under load. Anything else takes anxin.ParseMessage itself;
// FuzzFastParse checks that whatever the fast path accepts, ParseMessage
// decodes to the same message.
func parseMessage(topic string, payload []byte) (anxin.Message, error) {
	return (*parser)(nil).parse(topic, payload)
}

// parser is the batch loop's: it reuses one Fields map (a message's Fields
// are valid only until the next parse: the rules read them, the archive
// encodes them, nobody keeps them) and interns the few strings that repeat
// (field names, kinds, devices, households, up to internMax), so a
// contract reading costs one allocation (its id) instead of ~15.
type parser struct {
	fields anxin.Fields
	names  map[string]string
}

// internMax bounds the interned strings (~100 bytes each).
const internMax = 8192

func newParser() *parser {
	return &parser{fields: make(anxin.Fields, 8), names: make(map[string]string, 256)}
}

// parse is parseMessage; ps may be nil (nothing reused).
func (ps *parser) parse(topic string, payload []byte) (anxin.Message, error) {
	if len(payload) <= anxin.MaxPayload {
		if m, ok := fastDecode(payload, ps); ok {
			// (fastDecode checked each field: anxin.ValidateField)
			if err := m.ValidateHead(); err != nil {
				return anxin.Message{}, err
			}
			if topic != "" && !isTopicOf(topic, &m) {
				return anxin.ParseMessage(topic, payload) // the same error, worded by the contract
			}
			return m, nil
		}
	}
	return anxin.ParseMessage(topic, payload)
}

// isTopicOf reports topic == m.Topic() without building m.Topic().
func isTopicOf(topic string, m *anxin.Message) bool {
	rest, ok := strings.CutPrefix(topic, anxin.TopicPrefix)
	if !ok {
		return false
	}
	if rest, ok = strings.CutPrefix(rest, m.Household); !ok || len(rest) == 0 || rest[0] != '/' {
		return false
	}
	if rest, ok = strings.CutPrefix(rest[1:], m.Device); !ok || len(rest) == 0 || rest[0] != '/' {
		return false
	}
	return rest[1:] == m.Class()
}

// fastDecode decodes payload when it is a plain contract object; ok false
// means "let encoding/json decide", never "invalid". ps may be nil.
func fastDecode(b []byte, ps *parser) (m anxin.Message, ok bool) {
	d := decoder{b: b, ps: ps}
	d.space()
	if !d.byte('{') {
		return m, false
	}
	var seen uint8
	d.space()
	if d.peek() == '}' {
		return m, false // let the slow path say what is missing
	}
	for {
		d.space()
		key, ok := d.raw()
		if !ok {
			return m, false
		}
		d.space()
		if !d.byte(':') {
			return m, false
		}
		d.space()
		var bit uint8
		switch string(key) {
		case "id":
			bit = 1
			m.ID, ok = d.str()
		case "ts":
			bit = 2
			start := d.i
			if _, ok = d.raw(); ok {
				ok = m.TS.UnmarshalJSON(b[start:d.i]) == nil
			}
		case "household":
			bit = 4
			m.Household, ok = d.istr()
		case "device":
			bit = 8
			m.Device, ok = d.istr()
		case "kind":
			bit = 16
			m.Kind, ok = d.kind()
		case "event":
			bit = 32
			var s string
			s, ok = d.str()
			m.Event = anxin.EventType(s)
		case "fields":
			bit = 64
			m.Fields, ok = d.fields()
		default:
			return m, false
		}
		if !ok || seen&bit != 0 {
			return m, false
		}
		seen |= bit
		d.space()
		if d.byte(',') {
			continue
		}
		if !d.byte('}') {
			return m, false
		}
		break
	}
	d.space()
	return m, d.i == len(b)
}

type decoder struct {
	b  []byte
	i  int
	ps *parser
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) peek() byte {
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *decoder) byte(c byte) bool {
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes.
func (d *decoder) str() (string, bool) {
	raw, ok := d.raw()
	return string(raw), ok
}

// raw is str's bytes, not copied.
func (d *decoder) raw() ([]byte, bool) {
	if !d.byte('"') {
		return nil, false
	}
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return d.b[start : d.i-1], true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, false
		}
		d.i++
	}
	return nil, false
}

// istr is str, interned by the parser when there is one.
func (d *decoder) istr() (string, bool) {
	if d.ps == nil {
		return d.str()
	}
	raw, ok := d.raw()
	if !ok {
		return "", false
	}
	if s, ok := d.ps.names[string(raw)]; ok {
		return s, true
	}
	s := string(raw)
	if len(d.ps.names) < internMax {
		d.ps.names[s] = s
	}
	return s, true
}

// kind reads a kind: one of the contract's without an allocation or a map
// look-up, any other as str does (Validate rejects it).
func (d *decoder) kind() (anxin.Kind, bool) {
	raw, ok := d.raw()
	if !ok {
		return "", false
	}
	for _, k := range anxin.Kinds {
		if string(k) == string(raw) {
			return k, true
		}
	}
	return anxin.Kind(raw), true
}

// fields reads {"name": number|true|false, …}, each field checked as it
// comes (anxin.ValidateField: one that fails is left to the slow path,
// which words the error as the contract does).
func (d *decoder) fields() (anxin.Fields, bool) {
	if !d.byte('{') {
		return nil, false
	}
	var f anxin.Fields
	if d.ps != nil {
		f = d.ps.fields
		clear(f)
	} else {
		f = make(anxin.Fields, 4)
	}
	d.space()
	if d.byte('}') {
		return f, true
	}
	for {
		d.space()
		k, ok := d.istr()
		if !ok {
			return nil, false
		}
		d.space()
		if !d.byte(':') {
			return nil, false
		}
		d.space()
		v, ok := d.value()
		if !ok || anxin.ValidateField(k, v) != nil {
			return nil, false
		}
		n := len(f)
		if f[k] = v; len(f) == n {
			return nil, false // a duplicate name: encoding/json keeps the last, ParseMessage decides
		}
		if n == anxin.MaxFields {
			// one too many (ParseMessage refuses it): stop before the
			// reused map grows, which would make clearing it cost every
			// later message in proportion
			return nil, false
		}
		d.space()
		if d.byte(',') {
			continue
		}
		return f, d.byte('}')
	}
}

// value reads true, false or a number in JSON's grammar, decoded by
// anxin.Value's own UnmarshalJSON (as encoding/json would).
func (d *decoder) value() (anxin.Value, bool) {
	var v anxin.Value
	rest := d.b[d.i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		d.i += 4
		return anxin.Bool(true), true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		d.i += 5
		return anxin.Bool(false), true
	}
	start := d.i
	d.byte('-')
	switch {
	case d.byte('0'):
	case d.peek() >= '1' && d.peek() <= '9':
		d.digits()
	default:
		return v, false
	}
	if d.byte('.') && !d.digits() {
		return v, false
	}
	if c := d.peek(); c == 'e' || c == 'E' {
		d.i++
		if c := d.peek(); c == '+' || c == '-' {
			d.i++
		}
		if !d.digits() {
			return v, false
		}
	}
	return v, v.UnmarshalJSON(d.b[start:d.i]) == nil
}

func (d *decoder) digits() bool {
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > start
}
