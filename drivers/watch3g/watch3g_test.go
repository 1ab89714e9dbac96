package watch3g

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/tcpserver"
)

type fixture struct {
	Frame   string `json:"frame"`
	Decoded struct {
		ID      string   `json:"id"`
		Index   *string  `json:"index"`
		LenHdr  int      `json:"len_hdr"`
		Type    string   `json:"type"`
		Battery string   `json:"battery"`
		Alarms  []string `json:"alarms"`
	} `json:"decoded"`
}

func fixtures(t testing.TB) []fixture {
	b, err := os.ReadFile("testdata/watch_3g_frames.json")
	if err != nil {
		t.Fatal(err)
	}
	var fs []fixture
	if err := json.Unmarshal(b, &fs); err != nil {
		t.Fatal(err)
	}
	return fs
}

var now = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func decodeAll(t testing.TB, in []byte) ([]anxin.Message, []drivers.DecodeError) {
	ms, errs, err := tcpserver.DecodeAll(&decoder{env: drivers.Env{Household: "decode", Now: func() time.Time { return now }}}, in)
	if err != nil {
		t.Fatal(err)
	}
	return ms, errs
}

func TestRecordedFrames(t *testing.T) {
	events := map[string]anxin.EventType{"SOS": anxin.EventButtonPressed}
	for _, fx := range fixtures(t) {
		t.Run(fx.Decoded.ID+"-"+fx.Decoded.Type, func(t *testing.T) {
			f, err := Parse([]byte(fx.Frame))
			if err != nil {
				t.Fatal(err)
			}
			if f.ID != fx.Decoded.ID || f.Type != fx.Decoded.Type || f.Len != fx.Decoded.LenHdr ||
				(fx.Decoded.Index != nil) != (f.Index != "") {
				t.Fatalf("parsed %+v", f)
			}
			ms, errs := decodeAll(t, []byte(fx.Frame))
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			var evs []anxin.EventType
			for _, m := range ms {
				if err := m.Validate(); err != nil {
					t.Fatal(err)
				}
				if m.Device != fx.Decoded.ID {
					t.Errorf("device %s", m.Device)
				}
				if m.IsEvent() {
					evs = append(evs, m.Event)
				} else if fx.Decoded.Battery != "" && m.Fields["battery_pct"].String() != fx.Decoded.Battery {
					t.Errorf("battery %v, want %s", m.Fields["battery_pct"], fx.Decoded.Battery)
				}
			}
			var want []anxin.EventType
			for _, a := range fx.Decoded.Alarms {
				if e, ok := events[a]; ok {
					want = append(want, e)
				}
			}
			if len(evs) != len(want) || (len(want) > 0 && evs[0] != want[0]) {
				t.Errorf("events %v, want %v", evs, want)
			}
		})
	}
}

// TestEveryMessageType: positions, alarms and health readings from built
// frames, escapes included.
func TestEveryMessageType(t *testing.T) {
	ts := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	fix := Fix{Time: ts, Lat: 31.2304, Lon: -121.4737, SpeedKmh: 1.5, Course: 180, AltM: 20, BatteryPct: 77}
	fall := fix
	fall.Status = AlarmFall
	var in []byte
	for _, c := range []string{
		"LK,100,2,77",
		PositionContent("UD", fix),
		PositionContent("UD_LTE", fix),
		PositionContent("AL", fall),
		"bphrt,120,79,73,,,,",
		"oxygen,0,98",
		"btemp2,1,36.51",
		"btemp2,1,1", // measurement failed: nothing
		"TKQ",
		"CONFIG,TY:g]w[f}", // escaped brackets and brace
	} {
		in = append(in, Encode("3G", "1234567890", "", c)...)
	}
	ms, errs := decodeAll(t, in)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got := map[string]float64{}
	var evs []anxin.Message
	for _, m := range ms {
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		if m.IsEvent() {
			evs = append(evs, m)
		}
		for k, v := range m.Fields {
			got[k] = v.Float()
		}
	}
	for k, v := range map[string]float64{"lat": 31.2304, "lon": -121.4737, "battery_pct": 77, "heart_rate_bpm": 73,
		"spo2_pct": 98, "body_temp_c": 36.51, "course_deg": 180, "speed_kmh": 1.5, "alt_m": 20} {
		if math.Abs(got[k]-v) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(evs) != 1 || evs[0].Event != anxin.EventFall || !evs[0].TS.Equal(ts) {
		t.Errorf("events %+v", evs)
	}
	f, err := Parse(Encode("3G", "1", "", "CONFIG,TY:g]w[f}"))
	if err != nil || f.Content != "CONFIG,TY:g]w[f}" {
		t.Errorf("escapes: %q %v", f.Content, err)
	}
}

func TestBadFramesReportedWithOffsets(t *testing.T) {
	good := Encode("3G", "1234567890", "", "LK,1,2,50")
	in := []byte("[3G*12*zz*LK]") // bad length field
	in = append(in, "noise[]"...)
	in = append(in, good...)
	in = append(in, "[3G*1*0002*LK"...)
	ms, errs := decodeAll(t, in)
	if len(ms) != 1 || len(errs) != 3 || errs[0].Offset != 0 || errs[1].Offset != 18 || errs[2].Offset != int64(20+len(good)) {
		t.Fatalf("messages %d, errors %+v", len(ms), errs)
	}
}

// FuzzScannerResyncs: noise followed by a valid frame yields that frame
// last, however the stream is cut into reads.
func FuzzScannerResyncs(f *testing.F) {
	f.Add([]byte("[3G*1*0002*"), "UD,1,2", uint8(3))
	f.Add([]byte("[[}"), "LK", uint8(0))
	f.Fuzz(func(t *testing.T, noise []byte, content string, cut uint8) {
		if content == "" || len(content) > 1000 {
			return
		}
		frame := Encode("3G", "1234567890", "", content)
		if _, err := Parse(frame); err != nil {
			return // content that is not a frame's (a '}' escape byte raw, say)
		}
		got := tcpserver.SplitAll(Framing, append(bytes.Clone(noise), frame...), int(cut)+1)
		if len(got) == 0 || !bytes.Equal(got[len(got)-1], frame) {
			t.Fatalf("noise %q + frame %q: got %q", noise, frame, got)
		}
	})
}

// FuzzDecode: any input decodes without panic to valid messages.
func FuzzDecode(f *testing.F) {
	for _, fx := range fixtures(f) {
		f.Add([]byte(fx.Frame))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		ms, _ := decodeAll(t, in)
		for _, m := range ms {
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// FuzzEncodeParse: what Encode frames, Parse returns unchanged, and the
// scanner finds it as one frame.
func FuzzEncodeParse(f *testing.F) {
	f.Add("ZJ", "014111001332708", "0075", "CONFIG,TY:g]w[f}")
	f.Add("3G", "1234567890", "", "UD,1,2")
	f.Fuzz(func(t *testing.T, maker, id, index, content string) {
		if !alnum(maker, 4) || !alnum(id, 20) || content == "" || len(content) > 0xFFFF || strings.ContainsAny(content, "*") {
			return
		}
		if _, ok := hex4(index); !ok {
			index = ""
		}
		b := Encode(maker, id, index, content)
		f, err := Parse(b)
		if err != nil || f.Maker != maker || f.ID != id || f.Index != index || f.Content != content || f.Len != len(content) {
			t.Fatalf("%q → %+v, %v", b, f, err)
		}
		if len(b) < MaxFrame {
			if got := tcpserver.SplitAll(Framing, b, 7); len(got) != 1 {
				t.Fatalf("%q scanned as %d frames", b, len(got))
			}
		}
	})
}
