package rf433

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/anxin-care/anxin"
)

// FuzzFramer: any receiver output, in either format, decodes without panic
// into valid events or errors pointing into the input, with a bounded buffer.
func FuzzFramer(f *testing.F) {
	f.Add(false, EncodePress(FormatHex, 0x8d3cf6))
	f.Add(true, EncodePress(FormatRTL433JSON, 0x0f0065))
	f.Add(false, []byte("8D3CF6\r\n\xFD\x01\x02\x03\x04\x05\xFD"))
	if b, err := os.ReadFile(filepath.Join(fixtures, "rtl433_tests-DY-SQ100B-WaterLeak-EV1527-01-g003.excerpt.json")); err == nil {
		f.Add(true, b)
	}
	codes := []Code{
		{Code: "8d3cf6", Device: "btn1", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed},
		{Code: "0f0065", Device: "leak1", Kind: anxin.KindWaterLeakDetector, Event: anxin.EventWaterLeak},
	}
	f.Fuzz(func(t *testing.T, json bool, in []byte) {
		format := FormatHex
		if json {
			format = FormatRTL433JSON
		}
		r := decodeWith(t, format, codes, in)
		for _, m := range r.msgs {
			if err := m.Validate(); err != nil {
				t.Fatalf("invalid event %+v: %v", m, err)
			}
		}
		for _, e := range r.fails {
			if e.Offset < 0 || e.Offset > int64(len(in)) {
				t.Fatalf("offset %d outside %d bytes", e.Offset, len(in))
			}
		}
		fr := newFramer(format)
		fr.feed(in, func(reception) {}, func(int64, error) {})
		if cap(fr.buf) > maxLine {
			t.Fatalf("buffer grew to %d", cap(fr.buf))
		}
	})
}

// FuzzEncodePress: decode(EncodePress(code)) is exactly one press of code.
func FuzzEncodePress(f *testing.F) {
	f.Add(false, uint32(0x8d3cf6))
	f.Add(true, uint32(0xfd0adf))
	f.Fuzz(func(t *testing.T, json bool, code uint32) {
		code &= MaxCode
		format := FormatHex
		if json {
			format = FormatRTL433JSON
		}
		var got []uint32
		fr := newFramer(format)
		fr.feed(EncodePress(format, code), func(r reception) { got = append(got, r.code) },
			func(_ int64, err error) { t.Fatal(err) })
		fr.end(func(reception) { t.Fatal("left-over reception") }, func(_ int64, err error) { t.Fatal(err) })
		if len(got) != 4 {
			t.Fatalf("%d receptions", len(got))
		}
		for _, c := range got {
			if c != code {
				t.Fatalf("got %06x, want %06x", c, code)
			}
		}
	})
}

func benchmarkFormat(b *testing.B, format string) {
	var in []byte
	for i := range 1000 {
		in = append(in, EncodePress(format, uint32(i*7919)&MaxCode)...)
	}
	frames := 4000
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		fr := newFramer(format)
		fr.feed(in, func(reception) { n++ }, func(int64, error) {})
		if n != frames {
			b.Fatalf("%d frames", n)
		}
	}
	b.ReportMetric(float64(frames*b.N)/b.Elapsed().Seconds(), "frames/s")
}

func BenchmarkFramerHex(b *testing.B)    { benchmarkFormat(b, FormatHex) }
func BenchmarkFramerRTL433(b *testing.B) { benchmarkFormat(b, FormatRTL433JSON) }
