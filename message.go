package anxin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// MaxPayload is the largest MQTT payload the contract allows.
const MaxPayload = 16 << 10

// Kind is the kind of device a message comes from.
type Kind string

// Device kinds of the MQTT contract.
const (
	KindCallButton        Kind = "call_button"
	KindWaterMeter        Kind = "water_meter"
	KindPowerMeter        Kind = "power_meter"
	KindGasDetector       Kind = "gas_detector"
	KindSmokeDetector     Kind = "smoke_detector"
	KindWaterLeakDetector Kind = "water_leak_detector"
	KindTracker           Kind = "tracker"
)

// Kinds lists every valid Kind.
var Kinds = []Kind{KindCallButton, KindWaterMeter, KindPowerMeter, KindGasDetector,
	KindSmokeDetector, KindWaterLeakDetector, KindTracker}

// Valid reports whether k is one of the contract's kinds.
func (k Kind) Valid() bool {
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// EventType is what happened, for messages that are events.
type EventType string

// Events of the MQTT contract.
const (
	EventButtonPressed  EventType = "button_pressed"
	EventSmoke          EventType = "smoke"
	EventSmokeClear     EventType = "smoke_clear"
	EventGas            EventType = "gas"
	EventGasClear       EventType = "gas_clear"
	EventWaterLeak      EventType = "water_leak"
	EventWaterLeakClear EventType = "water_leak_clear"
	EventFall           EventType = "fall"
	EventTamper         EventType = "tamper"
	EventLowBattery     EventType = "low_battery"
)

// EventTypes lists every valid EventType.
var EventTypes = []EventType{EventButtonPressed, EventSmoke, EventSmokeClear, EventGas,
	EventGasClear, EventWaterLeak, EventWaterLeakClear, EventFall, EventTamper, EventLowBattery}

// Valid reports whether e is one of the contract's events.
func (e EventType) Valid() bool {
	for _, v := range EventTypes {
		if e == v {
			return true
		}
	}
	return false
}

// Clears returns the event that e clears ("smoke" for "smoke_clear") and
// whether e is a clearing event at all.
func (e EventType) Clears() (EventType, bool) {
	s, ok := strings.CutSuffix(string(e), "_clear")
	return EventType(s), ok
}

// Value is one field of a reading: a number or a boolean (the contract has
// no strings). The zero Value is the number 0.
type Value struct {
	num    float64
	isBool bool
}

// Num makes a numeric Value.
func Num(f float64) Value { return Value{num: f} }

// Bool makes a boolean Value.
func Bool(b bool) Value {
	if b {
		return Value{num: 1, isBool: true}
	}
	return Value{isBool: true}
}

// Float is the value as a number; booleans are 1 and 0.
func (v Value) Float() float64 { return v.num }

// IsBool reports whether the value is a boolean.
func (v Value) IsBool() bool { return v.isBool }

// True reports whether the value is boolean true or a non-zero number.
func (v Value) True() bool { return v.num != 0 }

// MarshalJSON writes a number or true/false.
func (v Value) MarshalJSON() ([]byte, error) {
	if v.isBool {
		if v.num != 0 {
			return []byte("true"), nil
		}
		return []byte("false"), nil
	}
	if math.IsNaN(v.num) || math.IsInf(v.num, 0) {
		return nil, errors.New("field value is not a finite number")
	}
	return strconv.AppendFloat(nil, v.num, 'g', -1, 64), nil
}

// UnmarshalJSON accepts a finite number or true/false.
func (v *Value) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch string(b) {
	case "true":
		*v = Bool(true)
		return nil
	case "false":
		*v = Bool(false)
		return nil
	}
	if len(b) == 0 || !(b[0] == '-' || (b[0] >= '0' && b[0] <= '9')) {
		return errors.New("field value must be a number or a boolean")
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return errors.New("field value is not a finite number")
	}
	*v = Num(f)
	return nil
}

// String formats the value as JSON would.
func (v Value) String() string {
	b, err := v.MarshalJSON()
	if err != nil {
		return "NaN"
	}
	return string(b)
}

// Fields are the measured values of a reading, by the contract's field names.
type Fields map[string]Value

// Message is one normalized reading or event: the payload of the MQTT
// contract. A message with Event set is an event, otherwise a reading.
type Message struct {
	ID        string    `json:"id"`
	TS        time.Time `json:"ts"`
	Household string    `json:"household"`
	Device    string    `json:"device"`
	Kind      Kind      `json:"kind"`
	Event     EventType `json:"event,omitempty"`
	Fields    Fields    `json:"fields,omitempty"`
}

// IsEvent reports whether m is an event rather than a reading.
func (m *Message) IsEvent() bool { return m.Event != "" }

// Class is "event" or "reading": the last segment of the message's topic.
func (m *Message) Class() string {
	if m.IsEvent() {
		return "event"
	}
	return "reading"
}

// Topic is the MQTT topic the message is published on.
func (m *Message) Topic() string {
	return TopicPrefix + m.Household + "/" + m.Device + "/" + m.Class()
}

// TopicPrefix starts every topic of the contract.
const TopicPrefix = "anxin/v1/"

// NewID returns a new message id: a ULID, sortable by time, unique per process
// and practically unique across gateways.
func NewID(t time.Time) string {
	return ulid.MustNew(ulid.Timestamp(t), ulid.DefaultEntropy()).String()
}

// ValidID reports whether s may be a household or device id:
// [A-Za-z0-9_-]{1,64}.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// MaxFields bounds how many fields one reading may carry.
const MaxFields = 64

// Validate checks m against the MQTT contract.
func (m *Message) Validate() error {
	if err := m.ValidateHead(); err != nil {
		return err
	}
	for k, v := range m.Fields {
		if err := ValidateField(k, v); err != nil {
			return err
		}
	}
	return nil
}

// ValidateHead is Validate without ValidateField's checks of each field.
func (m *Message) ValidateHead() error {
	switch {
	case m.ID == "" || len(m.ID) > 64:
		return Errorf(EINVALID, "id must be 1..64 characters")
	case m.TS.IsZero():
		return Errorf(EINVALID, "ts is missing")
	case !ValidID(m.Household):
		return Errorf(EINVALID, "household %q is not [A-Za-z0-9_-]{1,64}", clip(m.Household))
	case !ValidID(m.Device):
		return Errorf(EINVALID, "device %q is not [A-Za-z0-9_-]{1,64}", clip(m.Device))
	case !m.Kind.Valid():
		return Errorf(EINVALID, "kind %q is not one of the contract's kinds", clip(string(m.Kind)))
	case m.Event != "" && !m.Event.Valid():
		return Errorf(EINVALID, "event %q is not one of the contract's events", clip(string(m.Event)))
	case m.Event == "" && len(m.Fields) == 0:
		return Errorf(EINVALID, "a reading needs at least one field")
	case len(m.Fields) > MaxFields:
		return Errorf(EINVALID, "%d fields, at most %d allowed", len(m.Fields), MaxFields)
	}
	return nil
}

// ValidateField checks one field of a reading: its name, and that a meter
// total is not negative. Validate checks every field with it; a decoder
// that checked each as it read it calls ValidateHead instead.
func ValidateField(name string, v Value) error {
	if !ValidID(name) {
		return Errorf(EINVALID, "field name %q is not [A-Za-z0-9_-]{1,64}", clip(name))
	}
	if v.Float() < 0 && cumulative(name) {
		return Errorf(EINVALID, "%s is a meter total and cannot be negative", name)
	}
	return nil
}

// cumulative reports a field that is a meter's running total: never
// negative (a negative one is a decoding fault, and would read as a huge use).
func cumulative(name string) bool {
	switch name {
	case "total_m3", "energy_kwh", "forward_energy_kwh":
		return true
	}
	return false
}

// ParseMessage decodes and validates one payload received on topic. topic
// may be empty (no topic to check against, as in a capture file).
func ParseMessage(topic string, payload []byte) (Message, error) {
	var m Message
	if len(payload) > MaxPayload {
		return m, Errorf(EINVALID, "payload of %d bytes exceeds %d", len(payload), MaxPayload)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return Message{}, Errorf(EINVALID, "payload is not a contract message: %s", clip(err.Error()))
	}
	if dec.More() {
		return Message{}, Errorf(EINVALID, "payload has data after the JSON object")
	}
	if err := m.Validate(); err != nil {
		return Message{}, err
	}
	if topic != "" && topic != m.Topic() {
		return Message{}, Errorf(EINVALID, "topic %q does not match payload (%s)", clip(topic), m.Topic())
	}
	return m, nil
}

// ParseTopic splits a contract topic into household, device and class
// ("reading", "event" or "status": anxin/v1/<hh>/<dev>/status, where
// <dev> "gateway" is the gateway's own status).
func ParseTopic(topic string) (household, device, class string, err error) {
	rest, ok := strings.CutPrefix(topic, TopicPrefix)
	parts := strings.Split(rest, "/")
	if !ok || len(parts) != 3 || !ValidID(parts[0]) || !ValidID(parts[1]) {
		return "", "", "", Errorf(EINVALID, "topic %q is not anxin/v1/<hh>/<dev>/<class>", clip(topic))
	}
	switch parts[2] {
	case "reading", "event", "status":
	default:
		return "", "", "", Errorf(EINVALID, "topic class %q is not reading, event or status", clip(parts[2]))
	}
	return parts[0], parts[1], parts[2], nil
}

// Status states.
const (
	StateOnline  = "online"
	StateOffline = "offline"
)

// GatewayDevice is the <dev> of the gateway's own status topic,
// anxin/v1/<hh>/gateway/status; no device may report a status under it.
const GatewayDevice = "gateway"

// Status is the retained payload of a status topic,
// anxin/v1/<hh>/<dev>/status: {"state":"online"|"offline","ts":…}. The
// gateway's MQTT will is {"state":"offline"} without ts. The gateway's
// online status also says how each of its driver instances fares:
// "drivers":{"<instance>":"running"|"failed"|"stopped"} (absent with no
// drivers, and in the will).
type Status struct {
	State   string            `json:"state"` // "online" or "offline"
	TS      time.Time         `json:"ts"`
	Drivers map[string]string `json:"drivers,omitempty"` // gateway only: instance -> DriverRunning…
}

// Driver instance states in the gateway's status.
const (
	DriverRunning = "running" // started and reading
	DriverFailed  = "failed"  // could not start or stopped with an error; a reload restarts it
	DriverStopped = "stopped" // returned on its own; a reload restarts it
)

// GatewayStatus is the payload of anxin/v1/<hh>/gateway/status: a Status.
type GatewayStatus = Status

// Online reports whether the state is "online".
func (s Status) Online() bool { return s.State == StateOnline }

// StatusTopic is the gateway status topic of a household.
func StatusTopic(household string) string { return DeviceStatusTopic(household, GatewayDevice) }

// DeviceStatusTopic is the status topic of a device: anxin/v1/<hh>/<dev>/status.
func DeviceStatusTopic(household, device string) string {
	return TopicPrefix + household + "/" + device + "/status"
}

// ParseStatus decodes and checks a status payload (of a device or of the
// gateway). An empty payload (a cleared retained status) is not a status:
// callers skip it before parsing.
func ParseStatus(payload []byte) (Status, error) {
	var s Status
	if len(payload) > MaxPayload {
		return s, Errorf(EINVALID, "payload of %d bytes exceeds %d", len(payload), MaxPayload)
	}
	if err := json.Unmarshal(payload, &s); err != nil {
		return Status{}, Errorf(EINVALID, "status payload: %s", clip(err.Error()))
	}
	if err := checkState(s.State); err != nil {
		return Status{}, err
	}
	return s, nil
}

func checkState(state string) error {
	if state != StateOnline && state != StateOffline {
		return Errorf(EINVALID, "status state %q is not online or offline", clip(state))
	}
	return nil
}

// DeviceStatus is a device's online/offline status as a driver reports it
// (zigbee2mqtt availability, its bridge's state). gatewayd spools it and
// publishes Payload retained on Topic.
type DeviceStatus struct {
	Household string
	Device    string
	State     string // StateOnline or StateOffline
	TS        time.Time
}

// Topic is anxin/v1/<hh>/<dev>/status.
func (s *DeviceStatus) Topic() string { return DeviceStatusTopic(s.Household, s.Device) }

// Payload is what is published on Topic.
func (s *DeviceStatus) Payload() Status { return Status{State: s.State, TS: s.TS} }

// Validate checks s against the contract.
func (s *DeviceStatus) Validate() error {
	switch {
	case !ValidID(s.Household):
		return Errorf(EINVALID, "household %q is not [A-Za-z0-9_-]{1,64}", clip(s.Household))
	case !ValidID(s.Device):
		return Errorf(EINVALID, "device %q is not [A-Za-z0-9_-]{1,64}", clip(s.Device))
	case s.Device == GatewayDevice:
		return Errorf(EINVALID, "device id %q is reserved for the gateway's own status", GatewayDevice)
	}
	if err := checkState(s.State); err != nil {
		return err
	}
	if s.TS.IsZero() {
		return Errorf(EINVALID, "ts is missing")
	}
	return nil
}

// String is a short description for logs.
func (s *DeviceStatus) String() string { return s.Household + "/" + s.Device + " " + s.State }

// StatusSink is implemented by a driver's sink that also takes device
// statuses (gatewayd's: it spools them like events). Drivers find it by a
// type assertion on their drivers.Sink; a sink without it gets none.
type StatusSink interface {
	PutStatus(ctx context.Context, s DeviceStatus) error
}

// clip shortens hostile input before it is quoted in an error.
func clip(s string) string {
	const n = 80
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// String is a short description for logs (no personal data in messages).
func (m *Message) String() string {
	if m.IsEvent() {
		return fmt.Sprintf("%s/%s %s %s", m.Household, m.Device, m.Kind, m.Event)
	}
	return fmt.Sprintf("%s/%s %s %d fields", m.Household, m.Device, m.Kind, len(m.Fields))
}
