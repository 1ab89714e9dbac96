package rf433

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

const fixtures = "../../testdata/fixtures/rf433"

type result struct {
	msgs  []anxin.Message
	fails []drivers.DecodeError
}

func decodeWith(t testing.TB, format string, codes []Code, in []byte) result {
	t.Helper()
	m, err := NewCodeMap(codes)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	d := &decoder{format: format, window: DefaultDebounce, codes: m,
		env: drivers.Env{Household: "hh-0001", Now: func() time.Time { return now }}}
	var r result
	if err := d.Decode(bytes.NewReader(in), func(m anxin.Message) { r.msgs = append(r.msgs, m) },
		func(e drivers.DecodeError) { r.fails = append(r.fails, e) }); err != nil {
		t.Fatal(err)
	}
	return r
}

// The presses in each rtl_433 capture, read from the files by hand: the
// code of every distinct press, in order. Repeats of a press are lines with
// the same code less than the 1.5 s window apart.
var rtl433Presses = map[string][]string{
	// data 0f0065 twice, then a 25-bit mis-read 8780328 (code 878032), then
	// the same burst as Generic-Remote id 30847 cmd 205 = 787fcd.
	"rtl433_tests-DY-SQ100B-WaterLeak-EV1527-01-g003.excerpt.json": {"0f0065", "878032", "787fcd"},
	"rtl433_tests-EV1527-Universal-Remote-g018.json":               {"8d3cf6"},
	"rtl433_tests-EV1527-Universal-Remote-g024.json":               {"81898a"},
	// Chuango id 577328 (0x8cf30) cmd_id 11 (0xb), three repeats.
	"rtl433_tests-chuango-02-gfile020-WI200-water.excerpt.json": {"8cf30b"},
	// Generic-Remote id 5069 (0x13cd) cmd 3, four repeats.
	"rtl433_tests-generic_remote-01-gfile003.json": {"13cd03"},
	"rtl433_tests-smoke_gs558-01-gfile001.json":    {"c1a96c"},
}

// TestRTL433Fixtures decodes every rtl_433 capture: one event per press,
// with device, kind and event from the code table, repeats collapsed.
func TestRTL433Fixtures(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "rtl433_*.json"))
	if len(files) != len(rtl433Presses) {
		t.Fatalf("%d rtl_433 fixtures, %d in the table", len(files), len(rtl433Presses))
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			want, ok := rtl433Presses[name]
			if !ok {
				t.Fatal("fixture missing from the table")
			}
			in, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var codes []Code
			for i, c := range want {
				codes = append(codes, Code{Code: c, Device: "dev" + c, Kind: anxin.KindWaterLeakDetector,
					Event: []anxin.EventType{anxin.EventWaterLeak, anxin.EventLowBattery}[i%2]})
			}
			r := decodeWith(t, FormatRTL433JSON, codes, in)
			if len(r.fails) != 0 {
				t.Errorf("errors: %v", r.fails)
			}
			if len(r.msgs) != len(want) {
				t.Fatalf("%d events, want %d: %+v", len(r.msgs), len(want), r.msgs)
			}
			for i, m := range r.msgs {
				if err := m.Validate(); err != nil {
					t.Error(err)
				}
				if m.Device != "dev"+want[i] || m.Event != codes[i].Event || m.Kind != anxin.KindWaterLeakDetector {
					t.Errorf("event %d: %+v, want code %s", i, m, want[i])
				}
			}
			// Without a code table, each press is one error naming its code.
			r = decodeWith(t, FormatRTL433JSON, nil, in)
			if len(r.msgs) != 0 || len(r.fails) != len(want) {
				t.Fatalf("no table: %d events, %d errors", len(r.msgs), len(r.fails))
			}
			for i, f := range r.fails {
				if got := f.Err.Error(); got != "unknown code "+want[i]+" (not in the code table)" {
					t.Errorf("error %d: %q", i, got)
				}
			}
		})
	}
}

// TestRTL433CodeForms: where one line carries a code twice (data and code,
// tristate and id/cmd), both forms give the same 24 bits.
func TestRTL433CodeForms(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "rtl433_*.json"))
	checked := 0
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var l struct {
				Data     string          `json:"data"`
				Len      int             `json:"len"`
				ID       *int64          `json:"id"`
				Cmd      json.RawMessage `json:"cmd"`
				Tristate string          `json:"tristate"`
			}
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatal(err)
			}
			r, err := parseRTL433(sc.Bytes())
			if err != nil {
				t.Fatalf("%s: %v", sc.Text(), err)
			}
			if l.Data != "" && l.Len == 24 {
				checked++
				if d, err := ParseCode(l.Data); err != nil || d != r.code {
					t.Errorf("data %s vs code %s", l.Data, FormatCode(r.code))
				}
			}
			if cmd, err := strconv.ParseInt(string(l.Cmd), 10, 64); err == nil && l.Tristate != "" && l.ID != nil {
				checked++
				if idcmd := uint32(*l.ID<<8 | cmd); idcmd != r.code {
					t.Errorf("id/cmd %06x vs tristate %s", idcmd, FormatCode(r.code))
				}
			}
		}
		f.Close()
	}
	if checked < 3 {
		t.Errorf("only %d cross-checks", checked)
	}
	if _, err := parseRTL433([]byte(`{"model":"Acurite-Tower","id":1,"temperature_C":3}`)); err == nil {
		t.Error("a line without a code was accepted")
	}
}

func TestHexFraming(t *testing.T) {
	codes := []Code{
		{Code: "8d3cf6", Device: "btn1", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed},
		{Code: "0a0a0a", Device: "gas1", Kind: anxin.KindGasDetector, Event: anxin.EventGas},
		{Code: "fdfdfd", Device: "smoke1", Kind: anxin.KindSmokeDetector, Event: anxin.EventSmoke},
	}
	in := "junk!\r\n" + // not hex
		"8D3CF6\r\n8d3cf6\n" + // a press as text, repeated
		string(EncodePress(FormatHex, 0x0a0a0a)) + // binary frames holding '\n' bytes
		"\xFD\x01\x02\x03\x04\x05" + // a frame with a bad end: resync
		string(EncodePress(FormatHex, 0xfdfdfd)) + // frames whose code bytes are FD
		"0x123456\n" + // unknown
		strings.Repeat("A", 600) + "\n" + // too long
		"\xFD\x01\x02" // truncated at the end
	r := decodeWith(t, FormatHex, codes, []byte(in))
	var devs []string
	for _, m := range r.msgs {
		devs = append(devs, m.Device+":"+string(m.Event))
	}
	if strings.Join(devs, ",") != "btn1:button_pressed,gas1:gas,smoke1:smoke" {
		t.Errorf("events %v", devs)
	}
	var errs []string
	for _, f := range r.fails {
		errs = append(errs, f.Err.Error())
	}
	want := []string{`invalid: code "junk!" is not hex`,
		"binary frame FD 01 02 03 04 05 does not end in DF",
		"unknown code 123456 (not in the code table)",
		errTooLong.Error(),
		"truncated binary frame FD 01 02"}
	if strings.Join(errs, "|") != strings.Join(want, "|") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(want, "\n"))
	}
	if r.fails[0].Offset != 0 || r.fails[1].Offset != int64(strings.Index(in, "\xFD\x01")) {
		t.Errorf("offsets %d %d", r.fails[0].Offset, r.fails[1].Offset)
	}
}

func TestEncodePressRoundTrip(t *testing.T) {
	for _, format := range []string{FormatHex, FormatRTL433JSON} {
		for _, code := range []uint32{0, 0x8d3cf6, 0xfd0adf, MaxCode} {
			codes := []Code{{Code: FormatCode(code), Device: "btn1", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed}}
			r := decodeWith(t, format, codes, EncodePress(format, code))
			if len(r.msgs) != 1 || len(r.fails) != 0 {
				t.Errorf("%s %06x: %d events, errors %v", format, code, len(r.msgs), r.fails)
			}
		}
	}
}
