package modbus

import (
	"bytes"
	"math"
	"testing"

	"github.com/anxin-care/anxin"
)

var fuzzUnits = []Unit{
	{Unit: 1, Device: "pm1", Kind: anxin.KindPowerMeter, Registers: []Register{
		{Name: "voltage_v", Register: 0x0064, Scale: 0.1}, {Name: "energy_kwh", Register: 0x0000, Format: FormatFloat32}}},
	{Unit: 2, Inputs: []InputEvent{{Input: 0, Device: "smoke1", Kind: anxin.KindSmokeDetector, Event: anxin.EventSmoke}}},
}

// FuzzDecode: any capture decodes without panic into valid messages, with
// errors pointing into the input.
func FuzzDecode(f *testing.F) {
	for _, raw := range loadFixtures(f) {
		f.Add(raw)
	}
	f.Add(append(AppendCRC([]byte{1, 3, 0, 0x64, 0, 1}), AppendCRC([]byte{1, 3, 2, 0x09, 0x00})...))
	f.Add(append(AppendCRC([]byte{2, 2, 0, 0, 0, 1}), AppendCRC([]byte{2, 2, 1, 1})...))
	f.Fuzz(func(t *testing.T, in []byte) {
		msgs, fails := decodeCapture(t, fuzzUnits, in)
		for _, m := range msgs {
			if err := m.Validate(); err != nil {
				t.Fatalf("invalid message %+v: %v", m, err)
			}
		}
		for _, e := range fails {
			if e.Offset < 0 || e.Offset >= int64(len(in)) {
				t.Fatalf("offset %d outside %d bytes", e.Offset, len(in))
			}
		}
	})
}

// FuzzRegisterRoundTrip: Decode(Encode(x)) == x × scale for every format and order.
func FuzzRegisterRoundTrip(f *testing.F) {
	f.Add(uint8(3), true, false, int64(-123456))
	f.Add(uint8(4), false, true, int64(0x43661))
	f.Fuzz(func(t *testing.T, format uint8, little, lowFirst bool, raw int64) {
		formats := []string{FormatUint16, FormatInt16, FormatUint32, FormatInt32, FormatFloat32}
		r := Register{Name: "v", Format: formats[int(format)%len(formats)], Scale: 1}
		if little {
			r.Byte = LittleEndian
		}
		if lowFirst {
			r.Word = LowFirst
		}
		r.setDefaults()
		bounds := map[string][2]int64{FormatUint16: {0, math.MaxUint16}, FormatInt16: {math.MinInt16, math.MaxInt16},
			FormatUint32: {0, math.MaxUint32}, FormatInt32: {math.MinInt32, math.MaxInt32},
			FormatFloat32: {-1 << 24, 1 << 24}} // integers a float32 holds exactly
		lo, hi := bounds[r.Format][0], bounds[r.Format][1]
		if raw < lo || raw > hi {
			t.Skip()
		}
		wire := r.Encode(float64(raw))
		if len(wire) != 2*int(r.Count()) {
			t.Fatalf("%d bytes", len(wire))
		}
		got, err := r.Decode(wire)
		if err != nil || got != float64(raw) {
			t.Fatalf("%+v: %v → % X → %v, %v", r, raw, wire, got, err)
		}
		if again := r.Encode(got); !bytes.Equal(again, wire) {
			t.Fatalf("re-encode % X != % X", again, wire)
		}
	})
}

// BenchmarkDecode measures RTU frames (request + response pairs) decoded per second.
func BenchmarkDecode(b *testing.B) {
	var in []byte
	pairs := 1000
	for i := range pairs {
		in = append(in, AppendCRC([]byte{1, 3, 0, 0x64, 0, 1})...)
		in = append(in, AppendCRC([]byte{1, 3, 2, byte(i >> 8), byte(i)})...)
	}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		msgs, fails := decodeCapture(b, fuzzUnits, in)
		if len(msgs) != pairs || len(fails) != 0 {
			b.Fatalf("%d messages, %d errors", len(msgs), len(fails))
		}
	}
	b.ReportMetric(float64(2*pairs*b.N)/b.Elapsed().Seconds(), "frames/s")
}
