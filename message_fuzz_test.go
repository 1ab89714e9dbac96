package anxin

import (
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzParseMessage: no panic on any payload, and an accepted payload
// re-marshals and re-parses to an equal message on its own topic.
func FuzzParseMessage(f *testing.F) {
	f.Add("anxin/v1/hh-0001/wm1/reading", []byte(`{"id":"01JDX3","ts":"2026-11-23T08:00:00.123Z","household":"hh-0001","device":"wm1","kind":"water_meter","fields":{"total_m3":1000.1,"battery_low":false}}`))
	f.Add("anxin/v1/hh-0001/btn1/event", []byte(`{"id":"01JDX4","ts":"2026-11-23T08:00:05+08:00","household":"hh-0001","device":"btn1","kind":"call_button","event":"button_pressed"}`))
	f.Add("", []byte(`{"id":"1","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"tracker","fields":{"lat":-1e-300,"lon":1.7976931348623157e308}}`))
	f.Add("", []byte(`{"id":"1","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"water_meter","fields":{"a":-0}}`))
	f.Add("x", []byte(`{"id":"\u0000","ts":"0001-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		m, err := ParseMessage(topic, payload)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("error code %s for bad input: %v", ErrorCode(err), err)
			}
			return
		}
		b, err := json.Marshal(&m)
		if err != nil {
			t.Fatalf("accepted message does not marshal: %v", err)
		}
		m2, err := ParseMessage(m.Topic(), b)
		if err != nil {
			t.Fatalf("re-marshalled message rejected: %v\n%s", err, b)
		}
		if !m.TS.Equal(m2.TS) {
			t.Fatalf("ts %v became %v", m.TS, m2.TS)
		}
		m2.TS = m.TS // same instant; the zone representation may differ
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, m2)
		}
	})
}

// FuzzParseStatus: no panic on any payload; an accepted status has a valid
// state and re-marshals (as gatewayd publishes it) to a payload that parses
// to the same status.
func FuzzParseStatus(f *testing.F) {
	f.Add([]byte(`{"state":"online","ts":"2026-12-02T08:00:00.123Z"}`))
	f.Add([]byte(`{"state":"offline"}`))
	f.Add([]byte(`{"state":"offline","ts":"2026-12-02T08:00:00+08:00","extra":[1,{"a":null}]}`))
	f.Add([]byte(`{"state":"online","ts":null}`))
	f.Add([]byte(`{"state":"\u006fnline"}`))
	f.Add([]byte(`offline`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, payload []byte) {
		s, err := ParseStatus(payload)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("error code %s for bad input: %v", ErrorCode(err), err)
			}
			return
		}
		if s.State != StateOnline && s.State != StateOffline {
			t.Fatalf("accepted state %q", s.State)
		}
		b, err := json.Marshal(s)
		if err != nil {
			return // a ts outside years 0-9999 parses but cannot be written back; gatewayd never makes one
		}
		s2, err := ParseStatus(b)
		if err != nil {
			t.Fatalf("re-marshalled status rejected: %v\n%s", err, b)
		}
		if s2.State != s.State || !s2.TS.Equal(s.TS) {
			t.Fatalf("round trip changed the status: %+v → %+v", s, s2)
		}
		if ds := (DeviceStatus{Household: "h", Device: "d", State: s.State, TS: s.TS}); !s.TS.IsZero() && ds.Validate() != nil {
			t.Fatalf("a parsed status does not make a valid device status: %v", ds.Validate())
		}
	})
}
