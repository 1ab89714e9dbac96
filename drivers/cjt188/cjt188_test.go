package cjt188

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	"gopkg.in/yaml.v3"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

// fixture is one annotated frame of testdata/fixtures/frames/cjt188_frames.json.
type fixture struct {
	ID      string `json:"id"`
	Hex     string `json:"hex"`
	Decoded struct {
		Addr    string   `json:"addr"`
		C       string   `json:"C"`
		CSOK    bool     `json:"cs_ok"`
		EndOK   bool     `json:"end_ok"`
		DIWire  string   `json:"DI_wire"`
		CurFlow *float64 `json:"cur_flow"`
		CurUnit string   `json:"cur_unit"`
		ST      string   `json:"ST"`
	} `json:"decoded"`
}

func (f fixture) bytes(t testing.TB) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(f.Hex, " ", ""))
	if err != nil {
		t.Fatalf("%s: %v", f.ID, err)
	}
	return b
}

func loadFixtures(t testing.TB) []fixture {
	b, err := os.ReadFile("../../testdata/fixtures/frames/cjt188_frames.json")
	if err != nil {
		t.Fatal(err)
	}
	var fs []fixture
	if err := json.Unmarshal(b, &fs); err != nil {
		t.Fatal(err)
	}
	if len(fs) == 0 {
		t.Fatal("no fixtures")
	}
	return fs
}

func testEnv() drivers.Env {
	return drivers.Env{Household: "hh-0001", Logger: slog.New(slog.DiscardHandler),
		Now: func() time.Time { return time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC) }, Metrics: metrics.NewRegistry()}
}

type result struct {
	msgs []anxin.Message
	errs []drivers.DecodeError
}

func decode(b []byte) result {
	var r result
	NewDecoder(testEnv()).DecodeBytes(b,
		func(m anxin.Message) { r.msgs = append(r.msgs, m) },
		func(e drivers.DecodeError) { r.errs = append(r.errs, e) })
	return r
}

// TestFixtures runs every published frame through the decoder and checks the
// values against the file's decoded section.
func TestFixtures(t *testing.T) {
	for _, fx := range loadFixtures(t) {
		t.Run(fx.ID, func(t *testing.T) {
			raw := fx.bytes(t)
			r := decode(raw)
			c, _ := hex.DecodeString(fx.Decoded.C)
			isReply := c[0]&0x80 != 0
			switch {
			case !fx.Decoded.CSOK || !fx.Decoded.EndOK:
				if len(r.msgs) != 0 || len(r.errs) != 1 {
					t.Fatalf("bad frame: %d messages, errors %v; want none and one error", len(r.msgs), r.errs)
				}
			case !isReply:
				if len(r.msgs) != 0 || len(r.errs) != 0 {
					t.Fatalf("request frame: %v %v, want nothing", r.msgs, r.errs)
				}
			case fx.Decoded.CurFlow == nil:
				// A reply that is not a 901F reading (read address, valve).
				if len(r.msgs) != 0 || len(r.errs) != 1 || !strings.Contains(r.errs[0].Err.Error(), "no flow reading") {
					t.Fatalf("non-reading reply: %v %v", r.msgs, r.errs)
				}
			default:
				if len(r.errs) != 0 || len(r.msgs) != 1 {
					t.Fatalf("reply: messages %v errors %v", r.msgs, r.errs)
				}
				m := r.msgs[0]
				if m.Device != fx.Decoded.Addr || m.Kind != anxin.KindWaterMeter || m.Household != "hh-0001" {
					t.Errorf("message %+v, want device %s", m, fx.Decoded.Addr)
				}
				if fx.Decoded.CurUnit != "m3" {
					t.Fatalf("fixture unit %q", fx.Decoded.CurUnit)
				}
				if got := m.Fields["total_m3"].Float(); math.Abs(got-*fx.Decoded.CurFlow) > 1e-9 {
					t.Errorf("total_m3 = %v, want %v", got, *fx.Decoded.CurFlow)
				}
				st, _ := hex.DecodeString(fx.Decoded.ST)
				wantValve := st[0]&3 == 0
				if v, ok := m.Fields["valve_open"]; st[0]&3 <= 1 && (!ok || v.True() != wantValve) {
					t.Errorf("valve_open = %v (present %v), ST %s", v, ok, fx.Decoded.ST)
				}
				if got := m.Fields["battery_low"].True(); got != (st[0]&4 != 0) {
					t.Errorf("battery_low = %v, ST %s", got, fx.Decoded.ST)
				}
				if err := m.Validate(); err != nil {
					t.Errorf("message violates the contract: %v", err)
				}
			}
			// The frame parser agrees with the file's structural fields.
			start := bytes.IndexByte(raw, start)
			f, err := ParseFrame(raw[start:])
			if (err == nil) != fx.Decoded.CSOK {
				t.Fatalf("ParseFrame: %v, cs_ok %v", err, fx.Decoded.CSOK)
			}
			if err == nil {
				if f.Address() != fx.Decoded.Addr {
					t.Errorf("address %s, want %s", f.Address(), fx.Decoded.Addr)
				}
				if got := strings.ToUpper(hex.EncodeToString(f.Data[:2])); got != fx.Decoded.DIWire {
					t.Errorf("DI on the wire %s, want %s", got, fx.Decoded.DIWire)
				}
			}
		})
	}
}

// TestFixtureStream decodes all fixtures concatenated, with noise between
// them and a corrupted copy of one reply: one stream, every reading, one
// error per bad frame, offsets pointing at the frames.
func TestFixtureStream(t *testing.T) {
	var stream []byte
	want := 0
	var badAt int
	for _, fx := range loadFixtures(t) {
		stream = append(stream, 0x00, 0x55, 0xFF) // line noise
		if fx.Decoded.CurFlow != nil {
			want++
		}
		stream = append(stream, fx.bytes(t)...)
	}
	d1 := loadFixtures(t)[9].bytes(t) // D1
	badAt = len(stream) + 2
	d1 = append([]byte(nil), d1...)
	d1[len(d1)-2]++ // checksum
	stream = append(stream, d1...)
	r := decode(stream)
	if len(r.msgs) != want {
		t.Errorf("%d readings, want %d", len(r.msgs), want)
	}
	var cs []drivers.DecodeError
	for _, e := range r.errs {
		if errors.Is(e.Err, ErrChecksum) {
			cs = append(cs, e)
		}
	}
	if len(cs) != 1 || cs[0].Offset != int64(badAt) {
		t.Errorf("checksum errors %v, want one at offset %d", cs, badAt)
	}
}

func TestDecoderRobustness(t *testing.T) {
	reply, err := EncodeReply("12345678901234", DefaultType, 1234.56, false, true)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := EncodeRequest("12345678901234", DefaultType, 7)
	cases := []struct {
		name      string
		in        []byte
		readings  int
		errs      int
		errSubstr string
	}{
		{"reply", reply, 1, 0, ""},
		{"junk with 68 before", append([]byte{0x68, 0x10, 0x01, 0x68, 0xFF}, reply...), 1, 1, "no 16H"},
		{"request then reply", append(append([]byte{}, req...), reply...), 1, 0, ""},
		{"truncated", reply[:20], 0, 1, "truncated"},
		{"truncated then good", append(append([]byte{}, reply[2:20]...), reply...), 1, 1, ""},
		{"litres", litreReply(t), 1, 0, ""},
		{"heat unit", unitReply(t, 0x05), 0, 1, "kWh"},
		{"not bcd", notBCDReply(t), 0, 1, "not BCD"},
		{"empty", nil, 0, 0, ""},
	}
	for _, tc := range cases {
		r := decode(tc.in)
		if len(r.msgs) != tc.readings || len(r.errs) != tc.errs {
			t.Errorf("%s: %d readings %v, want %d and %d errors", tc.name, len(r.msgs), r.errs, tc.readings, tc.errs)
			continue
		}
		if tc.errSubstr != "" && !strings.Contains(r.errs[0].Err.Error(), tc.errSubstr) {
			t.Errorf("%s: error %v, want %q", tc.name, r.errs[0].Err, tc.errSubstr)
		}
	}
	r := decode(reply)
	f := r.msgs[0].Fields
	if f["total_m3"].Float() != 1234.56 || f["valve_open"].True() || !f["battery_low"].True() {
		t.Errorf("fields %v", f)
	}
	if r := decode(litreReply(t)); r.msgs[0].Fields["total_m3"].Float() != 1.23456 {
		t.Errorf("litres: %v", r.msgs[0].Fields)
	}
}

// rewrite changes a reply's data byte and fixes the checksum.
func rewrite(t *testing.T, i int, v byte) []byte {
	b, err := EncodeReply("12345678901234", DefaultType, 1234.56, true, false)
	if err != nil {
		t.Fatal(err)
	}
	b = b[2:] // no preamble
	b[headerLen+i] = v
	b[len(b)-2] = sum(b[:len(b)-2])
	return b
}

func litreReply(t *testing.T) []byte        { return rewrite(t, 7, unitLitre) }
func unitReply(t *testing.T, u byte) []byte { return rewrite(t, 7, u) }
func notBCDReply(t *testing.T) []byte       { return rewrite(t, 4, 0xAB) }

func TestEncodeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		total        float64
		valve, batLo bool
	}{{0, true, false}, {0.01, false, false}, {999999.99, true, true}, {1000.1, false, true}} {
		b, err := EncodeReply("00201510270588", 0x11, tc.total, tc.valve, tc.batLo)
		if err != nil {
			t.Fatal(err)
		}
		r := decode(b)
		if len(r.msgs) != 1 {
			t.Fatalf("%v: %v", tc, r.errs)
		}
		f := r.msgs[0].Fields
		if f["total_m3"].Float() != tc.total || f["valve_open"].True() != tc.valve || f["battery_low"].True() != tc.batLo ||
			r.msgs[0].Device != "00201510270588" {
			t.Errorf("%v: got %v", tc, f)
		}
	}
	for _, bad := range []float64{-1, 1e6, math.NaN(), math.Inf(1)} {
		if _, err := EncodeReply("00201510270588", 0x10, bad, true, false); err == nil {
			t.Errorf("EncodeReply(%v) accepted", bad)
		}
	}
	// The request encoder reproduces a published request byte for byte.
	got, _ := EncodeRequest("00000000000012", 0x10, 0)
	if want := "FEFE6810120000000000000103901F003D16"; strings.ToUpper(hex.EncodeToString(got)) != want {
		t.Errorf("request %X, want %s", got, want)
	}
}

func TestSimulatorAnswersOwnAddressBothDIOrders(t *testing.T) {
	s, err := NewSimulator("78330011223344")
	if err != nil {
		t.Fatal(err)
	}
	s.SetTotal(556677)
	for _, fx := range loadFixtures(t) {
		raw := fx.bytes(t)
		reply, ok := s.Reply(raw[bytes.IndexByte(raw, start):])
		wantAnswer := (fx.ID == "R6") || fx.Decoded.Addr == broadcastAddr && strings.HasPrefix(fx.ID, "R") && fx.ID != "R7"
		if ok != wantAnswer {
			t.Errorf("%s: answered %v, want %v", fx.ID, ok, wantAnswer)
			continue
		}
		if !ok {
			continue
		}
		f, err := ParseFrame(reply[2:])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Data[:3], raw[len(raw)-5:len(raw)-2]) {
			t.Errorf("%s: reply DI/SER % X, request % X", fx.ID, f.Data[:3], raw[len(raw)-5:len(raw)-2])
		}
	}
}

func TestConfig(t *testing.T) {
	p, ok := drivers.Lookup(Name)
	if !ok {
		t.Fatal("cjt188 not registered")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), p.SampleConfig) {
		t.Error("README.md does not contain the embedded sample config")
	}
	cfg := p.NewConfig()
	dec := yaml.NewDecoder(strings.NewReader(p.SampleConfig))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		t.Fatalf("sample does not parse strictly: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("sample does not validate: %v", err)
	}
	c := cfg.(*Config)
	if c.PollInterval != 15*time.Minute || c.Meters[0].Device != "wm1" || c.Port.Parity != "even" {
		t.Errorf("sample decoded as %+v", c)
	}
	if _, err := p.New(cfg, testEnv()); err != nil {
		t.Errorf("New: %v", err)
	}
	bad := []struct{ yaml, key string }{
		{"meters: []", "meters"},
		{"meters: [{address: '123', device: wm1}]", "meters[0].address"},
		{"meters: [{address: '12345678901234', device: 'w m'}]", "meters[0].device"},
		{"meters: [{address: '12345678901234', device: a}, {address: '12345678901234', device: b}]", "meters[1].address"},
		{"meter_type: '1G'", "meter_type"},
		{"di_order: '9010'", "di_order"},
		{"poll_interval: 0s", "poll_interval"},
		{"timeout: -1s", "timeout"},
		{"misses_before_silent: 0", "misses_before_silent"},
		{"port: {path: '', usb: {vid: '', pid: ''}}", "port.path"},
		{"port: {parity: mark}", "port.parity"},
	}
	for _, b := range bad {
		cfg := p.NewConfig()
		if err := yaml.Unmarshal([]byte(p.SampleConfig), cfg); err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal([]byte(b.yaml), cfg); err != nil {
			t.Fatalf("%s: %v", b.yaml, err)
		}
		if err := cfg.Validate(); err == nil || !strings.HasPrefix(err.Error(), b.key) {
			t.Errorf("%s: error %v, want one naming %s", b.yaml, err, b.key)
		}
	}
	dec = yaml.NewDecoder(strings.NewReader("pol_interval: 1m"))
	dec.KnownFields(true)
	if err := dec.Decode(p.NewConfig()); err == nil {
		t.Error("unknown key accepted")
	}
}

func FuzzDecode(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.bytes(f))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		NewDecoder(testEnv()).DecodeBytes(b, func(m anxin.Message) {
			n++
			if err := m.Validate(); err != nil {
				t.Fatalf("decoded message violates the contract: %v", err)
			}
			if v := m.Fields["total_m3"].Float(); v < 0 || v > 999999.99 {
				t.Fatalf("total_m3 %v out of range", v)
			}
		}, func(e drivers.DecodeError) {
			if e.Offset < 0 || e.Offset >= int64(len(b)) {
				t.Fatalf("error offset %d outside input of %d bytes", e.Offset, len(b))
			}
		})
		if n > len(b)/headerLen {
			t.Fatalf("%d readings from %d bytes", n, len(b))
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add(uint32(100010), true, false, uint64(12), byte(0x10))
	f.Add(uint32(0), false, true, uint64(78330011223344), byte(0x11))
	f.Fuzz(func(t *testing.T, hundredths uint32, valve, bat bool, addr uint64, typ byte) {
		hundredths %= 100000000
		addr %= 100000000000000
		a := strings.Repeat("0", 14) + strconvU(addr)
		a = a[len(a)-14:]
		total := float64(hundredths) / 100
		b, err := EncodeReply(a, typ, total, valve, bat)
		if err != nil {
			t.Fatal(err)
		}
		r := decode(b)
		if len(r.msgs) != 1 || len(r.errs) != 0 {
			t.Fatalf("decode(EncodeReply) = %v %v", r.msgs, r.errs)
		}
		m := r.msgs[0]
		if m.Device != a || m.Fields["total_m3"].Float() != total || m.Fields["valve_open"].True() != valve || m.Fields["battery_low"].True() != bat {
			t.Fatalf("round trip of %s %v %v %v gave %s %v", a, total, valve, bat, m.Device, m.Fields)
		}
	})
}

func strconvU(v uint64) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for v > 0 {
		b = append([]byte{byte('0' + v%10)}, b...)
		v /= 10
	}
	return string(b)
}

func BenchmarkDecode(b *testing.B) {
	var stream []byte
	frames := 0
	for _, fx := range loadFixtures(b) {
		stream = append(stream, fx.bytes(b)...)
		frames++
	}
	d := NewDecoder(testEnv())
	b.SetBytes(int64(len(stream)))
	b.ResetTimer()
	for b.Loop() {
		d.DecodeBytes(stream, func(anxin.Message) {}, func(drivers.DecodeError) {})
	}
	b.ReportMetric(float64(frames*b.N)/b.Elapsed().Seconds(), "frames/s")
}
