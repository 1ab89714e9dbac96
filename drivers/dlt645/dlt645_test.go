package dlt645

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

type fixture struct {
	ID      string `json:"id"`
	Hex     string `json:"hex"`
	Decoded struct {
		Addr  string   `json:"addr"`
		C     string   `json:"C"`
		CSOK  bool     `json:"cs_ok"`
		EndOK bool     `json:"end_ok"`
		DI    string   `json:"DI(DI3..DI0)"`
		DI97  string   `json:"DI97"`
		KWh   *float64 `json:"total_active_kWh"`
		Volts *float64 `json:"voltage_V"`
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
	b, err := os.ReadFile("../../testdata/fixtures/frames/dlt645_frames.json")
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

func TestFixtures(t *testing.T) {
	for _, fx := range loadFixtures(t) {
		t.Run(fx.ID, func(t *testing.T) {
			raw := fx.bytes(t)
			r := decode(raw)
			c, _ := hex.DecodeString(fx.Decoded.C)
			want := map[string]float64{}
			switch {
			case fx.Decoded.KWh != nil && fx.Decoded.DI == "00000000":
				want["energy_kwh"] = *fx.Decoded.KWh
			case fx.Decoded.KWh != nil && fx.Decoded.DI == "00010000":
				want["forward_energy_kwh"] = *fx.Decoded.KWh
			case fx.Decoded.Volts != nil:
				want["voltage_v"] = *fx.Decoded.Volts
			}
			switch {
			case !fx.Decoded.CSOK || !fx.Decoded.EndOK:
				if len(r.msgs) != 0 || len(r.errs) != 1 {
					t.Fatalf("bad frame: %v %v", r.msgs, r.errs)
				}
			case c[0]&0x80 == 0:
				if len(r.msgs) != 0 || len(r.errs) != 0 {
					t.Fatalf("request: %v %v, want nothing", r.msgs, r.errs)
				}
			case len(want) == 0:
				// A reply whose value has no contract field (G3: 1997 B613,
				// phase C voltage): an error naming the DI.
				if len(r.msgs) != 0 || len(r.errs) != 1 || !strings.Contains(r.errs[0].Err.Error(), fx.Decoded.DI97) {
					t.Fatalf("unmapped reply: %v %v", r.msgs, r.errs)
				}
			default:
				if len(r.errs) != 0 || len(r.msgs) != 1 {
					t.Fatalf("reply: %v %v", r.msgs, r.errs)
				}
				m := r.msgs[0]
				if m.Device != fx.Decoded.Addr || m.Kind != anxin.KindPowerMeter || len(m.Fields) != len(want) {
					t.Errorf("message %+v, want device %s fields %v", m, fx.Decoded.Addr, want)
				}
				for k, v := range want {
					if got := m.Fields[k].Float(); math.Abs(got-v) > 1e-9 {
						t.Errorf("%s = %v, want %v", k, got, v)
					}
				}
				if err := m.Validate(); err != nil {
					t.Error(err)
				}
			}
			f, err := ParseFrame(raw[bytes.IndexByte(raw, start):])
			if err != nil {
				t.Fatal(err)
			}
			if f.Address() != fx.Decoded.Addr {
				t.Errorf("address %s, want %s", f.Address(), fx.Decoded.Addr)
			}
		})
	}
}

func TestErrorReplies(t *testing.T) {
	b, _ := EncodeErrorReply("000000000001", 0x02|0x04)
	r := decode(b)
	if len(r.msgs) != 0 || len(r.errs) != 1 {
		t.Fatalf("%v %v", r.msgs, r.errs)
	}
	var me *MeterError
	if !errors.As(r.errs[0].Err, &me) || me.Code != 0x06 || me.Edition != 2007 {
		t.Fatalf("error %v", r.errs[0].Err)
	}
	for _, w := range []string{"no requested data", "无请求数据", "密码错", "000000000001"} {
		if !strings.Contains(me.Error(), w) {
			t.Errorf("%q lacks %q", me.Error(), w)
		}
	}
	all := []string{"其他错误", "无请求数据", "密码错", "通信速率不能更改", "年时区数超", "日时段数超", "费率数超"}
	got := strings.Join((&MeterError{Edition: 2007, Code: 0x7F}).Meanings(), ";")
	for _, w := range all {
		if !strings.Contains(got, w) {
			t.Errorf("meanings %q lack %q", got, w)
		}
	}
	// 1997 error reply C1, error byte 02 = 数据标识错.
	b97, _ := encode("000000001111", func1997Read|ctrlReply|ctrlAbnormal, []byte{0x02})
	r = decode(b97)
	if len(r.errs) != 1 || !strings.Contains(r.errs[0].Err.Error(), "数据标识错") {
		t.Fatalf("1997 error reply: %v", r.errs)
	}
}

func TestDecoderRobustness(t *testing.T) {
	reply, _ := EncodeReply("210805420004", DIForwardEnergy, 189.81)
	req, _ := EncodeRequest("210805420004", DIForwardEnergy)
	badcs := append([]byte(nil), reply...)
	badcs[len(badcs)-2]++
	cases := []struct {
		name     string
		in       []byte
		readings int
		errs     []error
	}{
		{"reply", reply, 1, nil},
		{"junk then reply", append([]byte{0x00, 0x68, 0x12, 0x68, 0x16, 0xFF}, reply...), 1, []error{ErrNotFrame}},
		{"request then reply", append(append([]byte{}, req...), reply...), 1, nil},
		{"bad checksum then reply", append(append([]byte{}, badcs...), reply...), 1, []error{ErrChecksum}},
		{"truncated", reply[:15], 0, []error{nil}},
		{"empty", nil, 0, nil},
	}
	for _, tc := range cases {
		r := decode(tc.in)
		if len(r.msgs) != tc.readings || len(r.errs) != len(tc.errs) {
			t.Errorf("%s: %v %v", tc.name, r.msgs, r.errs)
			continue
		}
		for i, e := range tc.errs {
			if e != nil && !errors.Is(r.errs[i].Err, e) {
				t.Errorf("%s: error %v, want %v", tc.name, r.errs[i].Err, e)
			}
		}
	}
	// A negative combined energy (export exceeds import) keeps its sign.
	neg, _ := EncodeReply("000000000001", DICombinedEnergy, -12.34)
	if r := decode(neg); len(r.msgs) != 1 || r.msgs[0].Fields["energy_kwh"].Float() != -12.34 {
		t.Errorf("negative energy: %v %v", r.msgs, r.errs)
	}
}

func TestEncodeMatchesPublishedFrames(t *testing.T) {
	fx := map[string]fixture{}
	for _, f := range loadFixtures(t) {
		fx[f.ID] = f
	}
	q, _ := EncodeRequest("000000000001", DICombinedEnergy)
	p, _ := EncodeReply("210805420004", DICombinedEnergy, 189.81)
	v, _ := EncodeReply("223002000066", DIVoltageA, 235.0)
	for id, got := range map[string][]byte{"Q2": q, "P13": p, "P11": v} {
		if !bytes.Equal(got, fx[id].bytes(t)) {
			t.Errorf("%s: encoded % X, published %s", id, got, fx[id].Hex)
		}
	}
	g2, _ := EncodeRequest("000000000161", DIForwardEnergy)
	if want := fx["G2"].bytes(t); !bytes.Equal(g2[4:], want) {
		t.Errorf("G2: % X", g2)
	}
}

func TestConfig(t *testing.T) {
	p, ok := drivers.Lookup(Name)
	if !ok {
		t.Fatal("dlt645 not registered")
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
	if _, err := p.New(cfg, testEnv()); err != nil {
		t.Fatal(err)
	}
	bad := []struct{ yaml, key string }{
		{"meters: []", "meters"},
		{"meters: [{address: '12345', device: pm1}]", "meters[0].address"},
		{"meters: [{address: '000000000001', device: ''}]", "meters[0].device"},
		{"meters: [{address: '000000000001', device: pm1, protocol: '2009'}]", "meters[0].protocol"},
		{"meters: [{address: '000000000001', device: pm1, protocol: '1997', fields: [energy_kwh]}]", "meters[0].fields"},
		{"meters: [{address: '000000000001', device: pm1, fields: [voltage_v, voltage_v]}]", "meters[0].fields"},
		{"meters: [{address: '000000000001', device: a}, {address: '000000000002', device: a}]", "meters[1].device"},
		{"poll_interval: 0s", "poll_interval"},
		{"misses_before_silent: 0", "misses_before_silent"},
		{"gap: -1s", "gap"},
		{"reconnect: {min: 10s, max: 1s}", "reconnect.max"},
		{"port: {stop_bits: 3}", "port.stop_bits"},
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
}

func FuzzDecode(f *testing.F) {
	for _, fx := range loadFixtures(f) {
		f.Add(fx.bytes(f))
	}
	e, _ := EncodeErrorReply("000000000001", 0x41)
	f.Add(e)
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		NewDecoder(testEnv()).DecodeBytes(b, func(m anxin.Message) {
			n++
			if err := m.Validate(); err != nil {
				t.Fatalf("decoded message violates the contract: %v", err)
			}
		}, func(e drivers.DecodeError) {
			if e.Offset < 0 || e.Offset >= int64(len(b)) {
				t.Fatalf("error offset %d outside %d bytes", e.Offset, len(b))
			}
		})
		if n > len(b)/headerLen {
			t.Fatalf("%d readings from %d bytes", n, len(b))
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint8(0), int64(18981))
	f.Add(uint64(223002000066), uint8(2), int64(2350))
	f.Add(uint64(1111), uint8(4), int64(220))
	f.Fuzz(func(t *testing.T, addr uint64, which uint8, raw int64) {
		a := "000000000000" + uintStr(addr%1000000000000)
		a = a[len(a)-12:]
		type kase struct {
			enc   func() ([]byte, error)
			field string
			value float64
		}
		var k kase
		switch which % 5 {
		case 0:
			v := float64(raw%8000000) / 100 // signed
			k = kase{func() ([]byte, error) { return EncodeReply(a, DICombinedEnergy, v) }, "energy_kwh", v}
		case 1:
			v := float64(abs(raw)%100000000) / 100
			k = kase{func() ([]byte, error) { return EncodeReply(a, DIForwardEnergy, v) }, "forward_energy_kwh", v}
		case 2:
			v := float64(abs(raw)%10000) / 10
			k = kase{func() ([]byte, error) { return EncodeReply(a, DIVoltageA, v) }, "voltage_v", v}
		case 3:
			v := float64(abs(raw)%100000000) / 100
			k = kase{func() ([]byte, error) { return EncodeReply1997(a, DI97Forward, v) }, "forward_energy_kwh", v}
		default:
			v := float64(abs(raw) % 10000)
			k = kase{func() ([]byte, error) { return EncodeReply1997(a, DI97VoltageA, v) }, "voltage_v", v}
		}
		b, err := k.enc()
		if err != nil {
			t.Fatal(err)
		}
		r := decode(b)
		if len(r.msgs) != 1 || len(r.errs) != 0 {
			t.Fatalf("decode(encode) = %v %v", r.msgs, r.errs)
		}
		if m := r.msgs[0]; m.Device != a || m.Fields[k.field].Float() != k.value {
			t.Fatalf("round trip %s %s=%v gave %s %v", a, k.field, k.value, m.Device, m.Fields)
		}
	})
}

func abs(v int64) int64 {
	if v < 0 {
		return -(v + 1) // no overflow at MinInt64
	}
	return v
}

func uintStr(v uint64) string {
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
	for b.Loop() {
		d.DecodeBytes(stream, func(anxin.Message) {}, func(drivers.DecodeError) {})
	}
	b.ReportMetric(float64(frames*b.N)/b.Elapsed().Seconds(), "frames/s")
}
