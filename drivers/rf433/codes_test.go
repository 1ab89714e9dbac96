package rf433

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

func TestParseCode(t *testing.T) {
	ok := map[string]uint32{
		"8d3cf6": 0x8d3cf6, "8D3CF6": 0x8d3cf6, "0x7028D5": 0x7028d5, "0X7028d5": 0x7028d5,
		"4AF10A": 0x4af10a, "0f0065": 983141, "f0065": 983141, " 81898a ": 0x81898a, "000000": 0,
	}
	for s, want := range ok {
		got, err := ParseCode(s)
		if err != nil || got != want {
			t.Errorf("ParseCode(%q) = %x, %v; want %x", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0x", "1000000", "8d3cfg", "-1", "0x1234567", "+12345"} {
		if v, err := ParseCode(s); err == nil {
			t.Errorf("ParseCode(%q) = %x, want an error", s, v)
		}
	}
	if v, err := CodeFromInt(142465); err != nil || v != 0x022c81 {
		t.Errorf("CodeFromInt(142465) = %x, %v", v, err)
	}
	for _, n := range []int64{-1, 1 << 24} {
		if _, err := CodeFromInt(n); err == nil {
			t.Errorf("CodeFromInt(%d) accepted", n)
		}
	}
	if FormatCode(0x0f0065) != "0f0065" || FormatCode(0xffffff) != "ffffff" {
		t.Errorf("FormatCode: %s %s", FormatCode(0x0f0065), FormatCode(0xffffff))
	}
}

func TestCodeMap(t *testing.T) {
	m, err := NewCodeMap([]Code{
		{Code: "8D3CF6", Device: "smoke1", Kind: anxin.KindSmokeDetector, Event: anxin.EventSmoke},
		{Code: "0x7028d5", Device: "btn1", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed},
		{Code: "7028d6", Device: "smoke1", Kind: anxin.KindSmokeDetector, Event: anxin.EventLowBattery},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, ok := m.Lookup(0x8d3cf6)
	if !ok || c.Device != "smoke1" || c.Event != anxin.EventSmoke || c.Code != "8d3cf6" {
		t.Errorf("Lookup(8d3cf6) = %+v, %v", c, ok)
	}
	if _, ok := m.Lookup(0x123456); ok {
		t.Error("unknown code found")
	}
	if m.Len() != 3 {
		t.Errorf("Len = %d", m.Len())
	}
	var nilMap *CodeMap
	if _, ok := nilMap.Lookup(1); ok {
		t.Error("nil map found a code")
	}

	bad := []struct {
		codes []Code
		want  string
	}{
		{[]Code{{Code: "zz", Device: "a", Kind: "call_button", Event: "button_pressed"}}, "codes[0].code"},
		{[]Code{{Code: "1", Device: "a b", Kind: "call_button", Event: "button_pressed"}}, "codes[0].device"},
		{[]Code{{Code: "1", Device: "a", Kind: "doorbell", Event: "button_pressed"}}, "codes[0].kind"},
		{[]Code{{Code: "1", Device: "a", Kind: "call_button", Event: "ring"}}, "codes[0].event"},
		{[]Code{
			{Code: "0x01", Device: "a", Kind: "call_button", Event: "button_pressed"},
			{Code: "000001", Device: "b", Kind: "call_button", Event: "button_pressed"},
		}, "codes[1].code: 000001 is already learned for device a"},
	}
	for _, b := range bad {
		_, err := NewCodeMap(b.codes)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("NewCodeMap(%+v) = %v, want %q", b.codes, err, b.want)
		}
	}
}

func TestDebouncer(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	d := NewDebouncer(1500 * time.Millisecond)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	steps := []struct {
		code uint32
		ms   int
		want bool
	}{
		{1, 0, true}, {1, 60, false}, {1, 120, false}, {2, 130, true}, // another remote in between
		{1, 1000, false}, {1, 2400, false}, // gaps < window: still the same press
		{1, 3900, true},  // paused a full window: a new press
		{1, 3000, false}, // clock stepped back: a repeat
		{1, 4600, true},  // window restarted at the step back
	}
	for i, s := range steps {
		if got := d.Accept(s.code, at(s.ms)); got != s.want {
			t.Errorf("step %d: Accept(%d, +%dms) = %v, want %v", i, s.code, s.ms, got, s.want)
		}
	}
	if NewDebouncer(0).window != DefaultDebounce {
		t.Error("zero window is not the default")
	}
}

func TestDebouncerBoundedMemory(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	d := NewDebouncer(time.Second)
	for i := range 5000 {
		// Fresh codes within one window: eviction must drop the oldest.
		if !d.Accept(uint32(i), t0.Add(time.Duration(i)*time.Microsecond)) {
			t.Fatalf("fresh code %d rejected", i)
		}
		if len(d.last) > maxTracked {
			t.Fatalf("%d codes tracked, at most %d", len(d.last), maxTracked)
		}
	}
	// The most recent code is still remembered.
	if d.Accept(4999, t0.Add(100*time.Millisecond)) {
		t.Error("recent code forgotten")
	}
}

// TestTasmotaAndOMGCodes: the code forms in the Tasmota / OpenMQTTGateway
// examples parse: "Data" as hex (with or without 0x), OMG's "value" as a number.
func TestTasmotaAndOMGCodes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(fixtures, "tasmota-rfbridge-RESULT-examples.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(string(b), "\n") {
		_, payload, ok := strings.Cut(line, "{")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		var p struct {
			RfReceived struct{ Data string }
			Value      *int64 `json:"value"`
		}
		if err := json.Unmarshal([]byte("{"+payload), &p); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		var code uint32
		switch {
		case p.RfReceived.Data != "":
			code, err = ParseCode(p.RfReceived.Data)
		case p.Value != nil:
			code, err = CodeFromInt(*p.Value)
		default:
			t.Fatalf("no code in %q", line)
		}
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		got = append(got, FormatCode(code))
	}
	want := "4af10a 4af10e abcdef 7028d5 022c81"
	if strings.Join(got, " ") != want {
		t.Errorf("codes %v, want %s", got, want)
	}
}
