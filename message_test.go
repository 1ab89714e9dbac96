package anxin

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseMessage(t *testing.T) {
	long := strings.Repeat("a", 65)
	for _, tc := range []struct {
		name, topic, payload string
		want                 string // substring of the error; "" accepts
	}{
		{"reading", "anxin/v1/hh-0001/wm1/reading",
			`{"id":"01JDX3","ts":"2026-11-23T08:00:00.123Z","household":"hh-0001","device":"wm1","kind":"water_meter","fields":{"total_m3":1000.1,"battery_low":false}}`, ""},
		{"event", "anxin/v1/hh-0001/btn1/event",
			`{"id":"01JDX4","ts":"2026-11-23T08:00:05Z","household":"hh-0001","device":"btn1","kind":"call_button","event":"button_pressed"}`, ""},
		{"no topic to check", "",
			`{"id":"1","ts":"2026-11-23T08:00:05+08:00","household":"h","device":"d","kind":"tracker","fields":{"lat":31.2,"lon":121.5}}`, ""},
		{"topic mismatch", "anxin/v1/hh-0002/btn1/event",
			`{"id":"x","ts":"2026-11-23T08:00:05Z","household":"hh-0001","device":"btn1","kind":"call_button","event":"fall"}`, "does not match"},
		{"reading on event topic", "anxin/v1/hh-0001/wm1/event",
			`{"id":"x","ts":"2026-11-23T08:00:05Z","household":"hh-0001","device":"wm1","kind":"water_meter","fields":{"total_m3":1}}`, "does not match"},
		{"unknown key", "", `{"id":"x","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"call_button","event":"fall","extra":1}`, "unknown field"},
		{"no id", "", `{"ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"call_button","event":"fall"}`, "id must be"},
		{"no ts", "", `{"id":"x","household":"h","device":"d","kind":"call_button","event":"fall"}`, "ts is missing"},
		{"bad ts", "", `{"id":"x","ts":"yesterday","household":"h","device":"d","kind":"call_button","event":"fall"}`, "not a contract message"},
		{"bad household", "", `{"id":"x","ts":"2026-11-23T08:00:05Z","household":"h h","device":"d","kind":"call_button","event":"fall"}`, "household"},
		{"long device", "", `{"id":"x","ts":"2026-11-23T08:00:05Z","household":"h","device":"` + long + `","kind":"call_button","event":"fall"}`, "device"},
		{"bad kind", "", `{"id":"x","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"toaster","event":"fall"}`, "kind"},
		{"bad event", "", `{"id":"x","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"call_button","event":"party"}`, "event"},
		{"reading without fields", "", `{"id":"x","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"water_meter"}`, "at least one field"},
		{"string field", "", `{"id":"x","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"water_meter","fields":{"a":"1"}}`, "number or a boolean"},
		{"null field", "", `{"id":"x","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"water_meter","fields":{"a":null}}`, "number or a boolean"},
		{"huge number", "", `{"id":"x","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"water_meter","fields":{"a":1e999}}`, "finite"},
		{"bad field name", "", `{"id":"x","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"water_meter","fields":{"a b":1}}`, "field name"},
		{"trailing data", "", `{"id":"x","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"call_button","event":"fall"} {}`, "after the JSON"},
		{"not an object", "", `[1,2]`, "not a contract message"},
		{"too large", "", `{"id":"` + strings.Repeat("x", MaxPayload) + `"}`, "exceeds"},
	} {
		m, err := ParseMessage(tc.topic, []byte(tc.payload))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: rejected: %v", tc.name, err)
		case tc.want != "" && err == nil:
			t.Errorf("%s: accepted %+v", tc.name, m)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: error %q, want it to mention %q", tc.name, err, tc.want)
		case tc.want != "" && ErrorCode(err) != EINVALID:
			t.Errorf("%s: code %s, want invalid", tc.name, ErrorCode(err))
		}
	}
	m, err := ParseMessage("", []byte(`{"id":"1","ts":"2026-11-23T08:00:00.123Z","household":"h","device":"d","kind":"water_meter","fields":{"total_m3":1000.1,"battery_low":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !m.TS.Equal(time.Date(2026, 11, 23, 8, 0, 0, 123e6, time.UTC)) || m.Fields["total_m3"].Float() != 1000.1 ||
		!m.Fields["battery_low"].IsBool() || !m.Fields["battery_low"].True() || m.IsEvent() {
		t.Fatalf("decoded %+v", m)
	}
}

func TestParseGatewayStatusAndTopic(t *testing.T) {
	for payload, ok := range map[string]bool{
		`{"state":"online","ts":"2026-11-23T08:00:00Z"}`: true,
		`{"state":"offline"}`:                            true,
		`{"state":"asleep"}`:                             false,
		`online`:                                         false,
	} {
		_, err := ParseStatus([]byte(payload))
		if (err == nil) != ok {
			t.Errorf("%s: error %v", payload, err)
		}
	}
	for topic, class := range map[string]string{
		"anxin/v1/hh-1/wm1/reading":    "reading",
		"anxin/v1/hh-1/btn1/event":     "event",
		"anxin/v1/hh-1/gateway/status": "status",
		"anxin/v1/hh-1/wm1/status":     "status", // a device status (added 2026-12-02)
		"anxin/v1/hh-1/wm1/state":      "",
		"anxin/v1/hh-1/wm1/status/x":   "",
		"anxin/v2/hh-1/wm1/reading":    "",
		"anxin/v1/hh 1/wm1/reading":    "",
	} {
		_, _, c, err := ParseTopic(topic)
		if c != class || (err == nil) != (class != "") {
			t.Errorf("%s: class %q err %v, want %q", topic, c, err, class)
		}
	}
}

func TestParseStatus(t *testing.T) {
	for payload, want := range map[string]string{
		`{"state":"online","ts":"2026-12-02T08:00:00Z"}`:         "online",
		`{"state":"offline","ts":"2026-12-02T08:00:00.5+08:00"}`: "offline",
		`{"state":"offline"}`:                                    "offline", // the gateway's will
		`{"state":"offline","ts":"2026-12-02T08:00:00Z","x":1}`:  "offline", // unknown keys are ignored
		`{"state":"Online"}`:                                     "",
		`{"state":"offline","ts":"soon"}`:                        "",
		`{"state":"offline"} {}`:                                 "",
		`offline`:                                                "",
		``:                                                       "",
		`{"state":"online","ts":"` + strings.Repeat("1", MaxPayload) + `"}`: "",
	} {
		st, err := ParseStatus([]byte(payload))
		if want == "" {
			if err == nil || ErrorCode(err) != EINVALID {
				t.Errorf("%.60s: accepted %+v (%v)", payload, st, err)
			}
			continue
		}
		if err != nil || st.State != want || st.Online() != (want == StateOnline) {
			t.Errorf("%s: %+v %v, want %s", payload, st, err, want)
		}
	}
	st, err := ParseStatus([]byte(`{"state":"offline","ts":"2026-12-02T08:00:00.5+08:00"}`))
	if err != nil || !st.TS.Equal(time.Date(2026, 12, 2, 0, 0, 0, 5e8, time.UTC)) {
		t.Errorf("ts: %v %v", st.TS, err)
	}
}

func TestDeviceStatus(t *testing.T) {
	ts := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	s := DeviceStatus{Household: "hh-0001", Device: "btn1", State: StateOffline, TS: ts}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := s.Topic(); got != "anxin/v1/hh-0001/btn1/status" {
		t.Errorf("topic %s", got)
	}
	if got := StatusTopic("hh-0001"); got != "anxin/v1/hh-0001/gateway/status" {
		t.Errorf("gateway topic %s", got)
	}
	b, err := json.Marshal(s.Payload())
	if err != nil || string(b) != `{"state":"offline","ts":"2026-12-02T08:00:00Z"}` {
		t.Errorf("payload %s %v", b, err)
	}
	hh, dev, class, err := ParseTopic(s.Topic())
	if err != nil || hh != "hh-0001" || dev != "btn1" || class != "status" {
		t.Errorf("ParseTopic: %s %s %s %v", hh, dev, class, err)
	}
	for name, mod := range map[string]func(*DeviceStatus){
		"household": func(s *DeviceStatus) { s.Household = "h h" },
		"device":    func(s *DeviceStatus) { s.Device = "" },
		"reserved":  func(s *DeviceStatus) { s.Device = GatewayDevice },
		"state":     func(s *DeviceStatus) { s.State = "asleep" },
		"ts":        func(s *DeviceStatus) { s.TS = time.Time{} },
	} {
		bad := s
		mod(&bad)
		if err := bad.Validate(); err == nil || ErrorCode(err) != EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// A cumulative meter total cannot be negative: a gateway sending one has a
// decoding fault, and a negative total would read as a huge use next time.
func TestNegativeMeterTotalsRejected(t *testing.T) {
	for _, field := range []string{"total_m3", "energy_kwh", "forward_energy_kwh"} {
		m := Message{ID: "m1", TS: time.Now(), Household: "hh-1", Device: "m1", Kind: KindWaterMeter,
			Fields: Fields{field: Num(-0.5)}}
		if err := m.Validate(); err == nil || ErrorCode(err) != EINVALID || !strings.Contains(err.Error(), field) {
			t.Errorf("%s -0.5: %v", field, err)
		}
		m.Fields[field] = Num(0)
		if err := m.Validate(); err != nil {
			t.Errorf("%s 0: %v", field, err)
		}
	}
	// other fields may be negative (a temperature, a longitude)
	m := Message{ID: "m1", TS: time.Now(), Household: "hh-1", Device: "t1", Kind: KindTracker,
		Fields: Fields{"lon": Num(-70.5)}}
	if err := m.Validate(); err != nil {
		t.Error(err)
	}
}
