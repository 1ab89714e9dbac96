package jt808

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
	ID      string `json:"id"`
	Note    string `json:"note"`
	Hex     string `json:"hex"`
	Decoded struct {
		MsgID string   `json:"msgId"`
		Phone string   `json:"phone"`
		Lat   *float64 `json:"lat"`
		Lon   *float64 `json:"lon"`
		Alt   *float64 `json:"alt_m"`
		Speed *float64 `json:"speed_kmh"`
		Time  *string  `json:"time"`
	} `json:"decoded"`
}

func fixtures(t testing.TB) []fixture {
	b, err := os.ReadFile("testdata/jt808_frames.json")
	if err != nil {
		t.Fatal(err)
	}
	var fs []fixture
	if err := json.Unmarshal(b, &fs); err != nil {
		t.Fatal(err)
	}
	return fs
}

func mustHex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var now = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

func decodeAll(t testing.TB, in []byte) ([]anxin.Message, []drivers.DecodeError) {
	ms, errs, err := tcpserver.DecodeAll(&decoder{cfg: NewConfig(), env: drivers.Env{Household: "decode", Now: func() time.Time { return now }}}, in)
	if err != nil {
		t.Fatal(err)
	}
	return ms, errs
}

// TestRecordedFrames: every frame recorded from a real device parses, and
// positions decode to what Traccar's tests assert.
func TestRecordedFrames(t *testing.T) {
	batteries := map[string]float64{"T4": 69, "T3": 64}
	for _, f := range fixtures(t) {
		t.Run(f.ID, func(t *testing.T) {
			raw := mustHex(t, f.Hex)
			p, err := Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if p.Phone != f.Decoded.Phone || fmt.Sprintf("0x%04X", p.MsgID) != strings.ToUpper(f.Decoded.MsgID[:2])[:0]+"0x"+strings.ToUpper(f.Decoded.MsgID[2:]) {
				t.Fatalf("phone %s msg %04X, want %s %s", p.Phone, p.MsgID, f.Decoded.Phone, f.Decoded.MsgID)
			}
			ms, errs := decodeAll(t, raw)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if f.Decoded.Lat == nil {
				if len(ms) != 0 {
					t.Fatalf("%s printed %v", f.Note, ms)
				}
				return
			}
			wantN := 1
			if f.ID == "T2" { // alarm bit 7, main power low: a low_battery event
				wantN = 2
				if len(ms) != 2 || ms[1].Event != anxin.EventLowBattery || !ms[1].TS.Equal(ms[0].TS) {
					t.Errorf("event %+v", ms[1])
				}
			}
			if len(ms) != wantN {
				t.Fatalf("%d messages", len(ms))
			}
			m := ms[0]
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			if m.Device != f.Decoded.Phone {
				t.Errorf("device %s", m.Device)
			}
			near := func(k string, want float64) {
				if got := m.Fields[k].Float(); math.Abs(got-want) > 1e-6 {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
			near("lat", *f.Decoded.Lat)
			near("lon", *f.Decoded.Lon)
			near("alt_m", *f.Decoded.Alt)
			near("speed_kmh", *f.Decoded.Speed)
			if b, ok := batteries[f.ID]; ok {
				near("battery_pct", b)
			}
			want, _ := time.ParseInLocation("2006-01-02 15:04:05", strings.TrimSuffix(*f.Decoded.Time, " (GMT+8)"), chinaTime)
			if !m.TS.Equal(want) {
				t.Errorf("ts %v, want %v", m.TS, want)
			}
		})
	}
}

func TestEncodeParseRoundTripAndEscapes(t *testing.T) {
	for _, v19 := range []bool{false, true} {
		p := Packet{MsgID: MsgLocation, V2019: v19, Version: 1, Phone: "013800138000", Serial: 0x7E7D,
			Body: []byte{0x7E, 0x7D, 0x01, 0x02, 0x7E}}
		if v19 {
			p.Phone = "00000000013800138000"
		}
		b := Encode(p)
		if bytes.Count(b, []byte{0x7E}) != 2 {
			t.Fatalf("flags inside: % X", b)
		}
		q, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if q.Phone != p.Phone || q.Serial != p.Serial || !bytes.Equal(q.Body, p.Body) || q.V2019 != v19 {
			t.Fatalf("got %+v want %+v", q, p)
		}
		bad := bytes.Clone(b)
		bad[len(bad)-2] ^= 1
		if _, err := Parse(bad); err == nil {
			t.Error("bad check accepted")
		}
	}
}

// TestEveryMessageType decodes built frames of each message a terminal
// sends: only positions print.
func TestEveryMessageType(t *testing.T) {
	ts := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	term := &Terminal{Phone: "013800138000"}
	fix := Fix{Lat: 31.2304, Lon: 121.4737, AltM: 12, SpeedKmh: 3.5, Course: 90, Time: ts, BatteryPct: 80}
	sos := fix
	sos.Alarm = AlarmSOS
	sos.Time = ts.Add(time.Minute)
	sos2 := sos
	sos2.Time = ts.Add(2 * time.Minute)
	var in []byte
	for _, p := range []Packet{
		term.Packet(MsgRegister, make([]byte, 37)),
		term.Packet(MsgAuth, []byte("code")),
		term.Packet(MsgHeartbeat, nil),
		term.Packet(MsgLocation, LocationBody(fix)),
		term.Packet(MsgLocation, LocationBody(sos)),  // press
		term.Packet(MsgLocation, LocationBody(sos2)), // still held: no second event
		term.Packet(MsgTerminalReply, []byte{0, 1, 0x80, 0x01, 0}),
	} {
		in = append(in, Encode(p)...)
	}
	ms, errs := decodeAll(t, in)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var events []anxin.Message
	for _, m := range ms {
		if err := m.Validate(); err != nil {
			t.Fatal(err)
		}
		if m.IsEvent() {
			events = append(events, m)
		}
	}
	if len(ms) != 4 || len(events) != 1 || events[0].Event != anxin.EventButtonPressed || !events[0].TS.Equal(sos.Time) {
		t.Fatalf("messages %+v", ms)
	}
	r := ms[0].Fields
	if r["lat"].Float() != 31.2304 || r["course_deg"].Float() != 90 || r["battery_pct"].Float() != 80 || r["speed_kmh"].Float() != 3.5 {
		t.Errorf("reading %v", r)
	}
}

// TestBatchLateAlarmsKeepTheirTime: an SOS pressed out of coverage and sent
// in a blind-area batch raises one event at the press time, even though the
// live state has no SOS.
func TestBatchLateAlarmsKeepTheirTime(t *testing.T) {
	ts := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	term := &Terminal{Phone: "013800138000", V2019: true}
	f := func(min int, alarm uint32) Fix {
		return Fix{Lat: 30, Lon: 120, Time: ts.Add(time.Duration(min) * time.Minute), Alarm: alarm, BatteryPct: -1}
	}
	in := Encode(term.Packet(MsgLocation, LocationBody(f(10, 0))))
	in = append(in, Encode(term.Packet(MsgLocationBatch, BatchBody(true, f(1, 0), f(2, AlarmSOS), f(3, AlarmSOS), f(4, 0))))...)
	ms, errs := decodeAll(t, in)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var ev []anxin.Message
	for _, m := range ms {
		if m.IsEvent() {
			ev = append(ev, m)
		}
	}
	if len(ms) != 6 || len(ev) != 1 || !ev[0].TS.Equal(ts.Add(2*time.Minute)) || ev[0].Device != "00000000013800138000" {
		t.Fatalf("%d messages, events %+v", len(ms), ev)
	}
	// The same batch resent (unanswered) gives the same ids: de-duplicated downstream.
	again, _ := decodeAll(t, in)
	if again[2].ID != ms[2].ID {
		t.Error("resent report got a new id")
	}
}

func TestBadFramesReportedWithOffsets(t *testing.T) {
	good := mustHex(t, fixtures(t)[0].Hex)
	bad := bytes.Clone(good)
	bad[10] ^= 0xFF // check fails
	in := append([]byte("noise"), bad...)
	in = append(in, good...)
	in = append(in, good[:20]...) // truncated at the end
	ms, errs := decodeAll(t, in)
	if len(ms) != 1 {
		t.Fatalf("%d messages", len(ms))
	}
	if len(errs) != 2 || errs[0].Offset != 5 || errs[1].Offset != int64(5+2*len(good)) {
		t.Fatalf("errors %+v", errs)
	}
}

// FuzzScannerResyncs: noise followed by a valid frame yields that frame
// last, however the stream is cut into reads.
func FuzzScannerResyncs(f *testing.F) {
	for _, fx := range fixtures(f) {
		f.Add([]byte{0x7E, 0x01, 0x7E}, mustHex(f, fx.Hex)[1:min(20, len(fx.Hex)/2)], uint8(7))
	}
	f.Add([]byte{0x7E, 0x7E, 0x7D}, []byte{1, 2}, uint8(1))
	f.Fuzz(func(t *testing.T, noise, body []byte, cut uint8) {
		if len(body) > maxBody {
			body = body[:maxBody]
		}
		frame := Encode(Packet{MsgID: MsgLocation, Phone: "013800138000", Body: body})
		got := tcpserver.SplitAll(Framing, append(bytes.Clone(noise), frame...), int(cut)+1)
		if len(got) == 0 || !bytes.Equal(got[len(got)-1], frame) {
			t.Fatalf("noise % X + frame % X: got %d frames, last % X", noise, frame, len(got), got)
		}
	})
}

// FuzzDecode: any input decodes without panic to valid messages.
func FuzzDecode(f *testing.F) {
	for _, fx := range fixtures(f) {
		f.Add(mustHex(f, fx.Hex))
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

// FuzzEncodeParse: Parse(Encode(p)) == p for any header and body.
func FuzzEncodeParse(f *testing.F) {
	f.Add(uint16(MsgLocation), true, "013800138000", uint16(0x7E7D), []byte{0x7E, 0x7D})
	f.Fuzz(func(t *testing.T, id uint16, v19 bool, phone string, serial uint16, body []byte) {
		if !terminalID(phone) || len(phone) > 12 && !v19 || len(body) > maxBody {
			return
		}
		p := Packet{MsgID: id, V2019: v19, Version: 1, Phone: phone, Serial: serial, Body: body}
		q, err := Parse(Encode(p))
		width := 12
		if v19 {
			width = 20
		}
		want := strings.Repeat("0", width-len(phone)) + phone
		if err != nil || q.MsgID != id || q.V2019 != v19 || q.Phone != want || q.Serial != serial || !bytes.Equal(q.Body, body) {
			t.Fatalf("%+v → %+v, %v", p, q, err)
		}
	})
}

// TestModelProfiles: a terminal naming a model gets that model's heart
// rate item and fall bit; others keep the default mapping.
func TestModelProfiles(t *testing.T) {
	c := NewConfig()
	c.Models = map[string]Vendor{"w4g": {BatteryTLV: 0xFE, HeartRateTLV: 0xE1, FallAlarmBit: 30}}
	c.Terminals = []tcpserver.Terminal{{ID: "13800000001", Device: "w", Model: "w4g"}, {ID: "13800000002", Device: "x"}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := *c
	bad.Terminals = []tcpserver.Terminal{{ID: "1", Device: "y", Model: "nope"}}
	if err := bad.Validate(); err == nil {
		t.Error("unknown model accepted")
	}
	var in []byte
	for _, phone := range []string{"013800000001", "013800000002"} {
		term := &Terminal{Phone: phone}
		body := append(LocationBody(Fix{Lat: 1, Lon: 1, Time: now, Alarm: 1 << 30, BatteryPct: 40}), 0xE1, 1, 72)
		in = append(in, Encode(term.Packet(MsgLocation, body))...)
	}
	ms, errs, err := tcpserver.DecodeAll(&decoder{cfg: c, dir: c.Directory("hh"), env: drivers.Env{Household: "hh", Now: time.Now}}, in)
	if err != nil || len(errs) > 0 {
		t.Fatal(err, errs)
	}
	if len(ms) != 3 || ms[0].Fields["heart_rate_bpm"].Float() != 72 || ms[1].Event != anxin.EventFall || ms[2].IsEvent() {
		t.Fatalf("%+v", ms)
	}
	if _, ok := ms[2].Fields["heart_rate_bpm"]; ok {
		t.Error("default profile read the heart rate item")
	}
}
