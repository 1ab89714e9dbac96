package modbus

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

// fixtureFrame is one entry of testdata/fixtures/frames/modbus_rtu_frames.json.
type fixtureFrame struct {
	ID      string `json:"id"`
	Hex     string `json:"hex"`
	Decoded struct {
		Slave     byte     `json:"slave"`
		Func      byte     `json:"func"`
		CRCWire   string   `json:"crc_wire"`
		CRCOK     bool     `json:"crc_ok"`
		Start     *uint16  `json:"start"`
		Quantity  uint16   `json:"quantity"`
		ByteCount int      `json:"byte_count"`
		Registers []uint16 `json:"registers"`
		Wire      string   `json:"wire"` // the CRC vector's expected wire bytes
	} `json:"decoded"`
}

func loadFixtures(t testing.TB) map[string][]byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/fixtures/frames/modbus_rtu_frames.json")
	if err != nil {
		t.Fatal(err)
	}
	var frames []fixtureFrame
	if err := json.Unmarshal(b, &frames); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range frames {
		raw, err := hex.DecodeString(strings.ReplaceAll(f.Hex, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		out[f.ID] = raw
	}
	return out
}

// TestFixtureFrames: every fixture frame splits with its CRC, unit,
// function, start/quantity or registers as the fixture says; the CRC
// vector matches.
func TestFixtureFrames(t *testing.T) {
	b, err := os.ReadFile("../../testdata/fixtures/frames/modbus_rtu_frames.json")
	if err != nil {
		t.Fatal(err)
	}
	var frames []fixtureFrame
	if err := json.Unmarshal(b, &frames); err != nil {
		t.Fatal(err)
	}
	raws := loadFixtures(t)
	n := 0
	for _, ff := range frames {
		raw := raws[ff.ID]
		if ff.ID == "CRCVEC" {
			wire, _ := hex.DecodeString(strings.ReplaceAll(ff.Decoded.Wire, " ", ""))
			if got := AppendCRC(raw)[len(raw):]; !bytes.Equal(got, wire) {
				t.Errorf("CRC of %X = %X, want %X", raw, got, wire)
			}
			continue
		}
		n++
		f, l, _ := splitFrame(raw)
		if l != len(raw) || !ff.Decoded.CRCOK {
			t.Errorf("%s: split %d of %d bytes", ff.ID, l, len(raw))
			continue
		}
		if f.Unit != ff.Decoded.Slave || f.Function != ff.Decoded.Func {
			t.Errorf("%s: unit %d fc %d", ff.ID, f.Unit, f.Function)
		}
		if ff.Decoded.Start != nil {
			if !f.Request || f.Data[0] != byte(*ff.Decoded.Start>>8) || f.Data[1] != byte(*ff.Decoded.Start) ||
				int(f.Data[2])<<8|int(f.Data[3]) != int(ff.Decoded.Quantity) {
				t.Errorf("%s: request %+v", ff.ID, f)
			}
		} else {
			if f.Request || int(f.Data[0]) != ff.Decoded.ByteCount || len(f.Data)-1 != 2*len(ff.Decoded.Registers) {
				t.Errorf("%s: response %+v", ff.ID, f)
				continue
			}
			for i, r := range ff.Decoded.Registers {
				if got := uint16(f.Data[1+2*i])<<8 | uint16(f.Data[2+2*i]); got != r {
					t.Errorf("%s: register %d = %d, want %d", ff.ID, i, got, r)
				}
			}
		}
		// One flipped CRC byte: no frame.
		bad := bytes.Clone(raw)
		bad[len(bad)-1] ^= 0x01
		if _, l, _ := splitFrame(bad); l != 0 {
			t.Errorf("%s: frame with a bad CRC accepted", ff.ID)
		}
	}
	if n != 5 {
		t.Errorf("%d frames checked", n)
	}
}

func decodeCapture(t testing.TB, units []Unit, in []byte) (msgs []anxin.Message, fails []drivers.DecodeError) {
	t.Helper()
	c := NewConfig()
	c.Units = units
	if err := c.validateUnits(); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	d := &decoder{units: c.Units, env: drivers.Env{Household: "hh-0001", Now: func() time.Time { return now }}}
	if err := d.Decode(bytes.NewReader(in), func(m anxin.Message) { msgs = append(msgs, m) },
		func(e drivers.DecodeError) { fails = append(fails, e) }); err != nil {
		t.Fatal(err)
	}
	return msgs, fails
}

// TestDecodeCapture runs the fixture's request/response pairs through the
// capture decoder: requests print nothing; a response maps through the
// register map of the request before it; bad CRCs and unmapped responses
// are error lines; decoding goes on after each.
func TestDecodeCapture(t *testing.T) {
	fx := loadFixtures(t)
	// M1 asks unit 1 for 2 holding registers at 0x0064; answer with a
	// response built from M5's register values (the fixture has no reply to M1).
	m5 := fx["M5"]
	reply := AppendCRC([]byte{0x01, 0x03, 0x04, m5[3], m5[4], m5[5], m5[6]})
	units := []Unit{{Unit: 1, Device: "pm1", Kind: anxin.KindPowerMeter, Registers: []Register{
		{Name: "voltage_v", Register: 0x0064, Scale: 0.1},
		{Name: "power_w", Register: 0x0065},
		{Name: "energy_kwh", Register: 0x1000, Format: FormatUint32}, // not in any response here
	}}}
	badCRC := bytes.Clone(fx["M4"])
	badCRC[len(badCRC)-1] ^= 0xFF
	var in []byte
	in = append(in, fx["M1"]...)                      // request: nothing
	in = append(in, reply...)                         // mapped: voltage_v, power_w
	in = append(in, 0xFF, 0x00)                       // junk
	in = append(in, fx["M3"]...)                      // request for 1 register at 0x138C
	in = append(in, fx["M4"]...)                      // 3 registers: does not match the request
	in = append(in, fx["M2"]...)                      // request 2 registers at 0
	in = append(in, badCRC...)                        // a reply with a bad CRC
	in = append(in, AppendCRC([]byte{1, 0x83, 2})...) // exception: illegal data address
	msgs, fails := decodeCapture(t, units, in)
	if len(msgs) != 1 {
		t.Fatalf("%d messages: %+v", len(msgs), msgs)
	}
	m := msgs[0]
	if err := m.Validate(); err != nil || m.Device != "pm1" || len(m.Fields) != 2 {
		t.Fatalf("message %+v: %v", m, err)
	}
	if v := m.Fields["voltage_v"].Float(); math.Abs(v-0x0A80*0.1) > 1e-9 {
		t.Errorf("voltage_v = %v", v)
	}
	if v := m.Fields["power_w"].Float(); v != 0x17 {
		t.Errorf("power_w = %v", v)
	}
	var errs []string
	for _, f := range fails {
		errs = append(errs, f.Err.Error())
	}
	want := []string{
		"no RTU frame (junk or truncated)",
		"unit 1: function 3 response with 6 data bytes cannot be mapped: no matching request before it",
		"bad CRC: unit 1 function 3, wire 79 12, computed 79 ED",
		"unit 1: exception 2 (illegal data address) to function 3",
	}
	if strings.Join(errs, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(errs, "\n"), strings.Join(want, "\n"))
	}
	junkAt := int64(len(fx["M1"]) + len(reply))
	if fails[0].Offset != junkAt {
		t.Errorf("junk reported at %d, want %d", fails[0].Offset, junkAt)
	}
	// Without a register map the mapped response becomes an error line too.
	msgs, fails = decodeCapture(t, nil, append(bytes.Clone(fx["M1"]), reply...))
	if len(msgs) != 0 || len(fails) != 1 || !strings.Contains(fails[0].Err.Error(), "not in the register map") {
		t.Errorf("without a map: %v %v", msgs, fails)
	}
}

// TestDecodeDiscreteInputs: edges of discrete inputs in a capture are the
// driver's events: first state raises if active, then rising/falling edges.
func TestDecodeDiscreteInputs(t *testing.T) {
	units := []Unit{{Unit: 2, Inputs: []InputEvent{
		{Input: 0, Device: "smoke1", Kind: anxin.KindSmokeDetector, Event: anxin.EventSmoke},
		{Input: 1, Device: "gas1", Kind: anxin.KindGasDetector, Event: anxin.EventGas, Invert: true},
	}}}
	req := AppendCRC([]byte{2, 2, 0, 0, 0, 2})
	var in []byte
	for _, bits := range []byte{0b00, 0b01, 0b11, 0b10, 0b00} { // smoke bit 0, gas (NC) bit 1
		in = append(in, req...)
		in = append(in, AppendCRC([]byte{2, 2, 1, bits})...)
	}
	msgs, fails := decodeCapture(t, units, in)
	var got []string
	for _, m := range msgs {
		got = append(got, m.Device+":"+string(m.Event))
	}
	// 00: gas contact open at start → gas; 01: smoke; 11: gas clears; 10: smoke clears; 00: gas again.
	want := "gas1:gas smoke1:smoke gas1:gas_clear smoke1:smoke_clear gas1:gas"
	if strings.Join(got, " ") != want || len(fails) != 0 {
		t.Errorf("events %v, fails %v; want %s", got, fails, want)
	}
}

func TestRegisterDecode(t *testing.T) {
	cases := []struct {
		r    Register
		wire []byte
		want float64
	}{
		{Register{Format: FormatUint16}, []byte{0x0A, 0x7E}, 2686},
		{Register{Format: FormatInt16}, []byte{0xFF, 0xBA}, -70},
		{Register{Format: FormatUint16, Byte: LittleEndian}, []byte{0x7E, 0x0A}, 2686},
		{Register{Format: FormatUint32, Scale: 0.01}, []byte{0x00, 0x01, 0xE2, 0x40}, 1234.56},
		{Register{Format: FormatUint32, Word: LowFirst}, []byte{0xE2, 0x40, 0x00, 0x01}, 123456},
		{Register{Format: FormatUint32, Byte: LittleEndian, Word: LowFirst}, []byte{0x40, 0xE2, 0x01, 0x00}, 123456},
		{Register{Format: FormatUint32, Byte: LittleEndian}, []byte{0x01, 0x00, 0x40, 0xE2}, 123456},
		{Register{Format: FormatInt32}, []byte{0xFF, 0xFE, 0x1D, 0xC0}, -123456},
		{Register{Format: FormatFloat32}, []byte{0x43, 0x66, 0x19, 0x9A}, float64(float32(230.1))}, // IEEE 754 0x4366199A
		{Register{Format: FormatFloat32, Word: LowFirst}, []byte{0x19, 0x9A, 0x43, 0x66}, float64(float32(230.1))},
	}
	for i, c := range cases {
		c.r.Name = "v"
		c.r.setDefaults()
		got, err := c.r.Decode(c.wire)
		if err != nil || math.Abs(got-c.want) > 1e-9 {
			t.Errorf("case %d: %v, %v; want %v", i, got, err, c.want)
		}
		if enc := c.r.Encode(got / c.r.Scale); !bytes.Equal(enc, c.wire) {
			t.Errorf("case %d: Encode = % X, want % X", i, enc, c.wire)
		}
	}
	nan := Register{Name: "v", Format: FormatFloat32}
	nan.setDefaults()
	if _, err := nan.Decode([]byte{0x7F, 0xC0, 0, 0}); err == nil {
		t.Error("NaN accepted")
	}
	if _, err := nan.Decode([]byte{1, 2}); err == nil {
		t.Error("short value accepted")
	}
}
