package nmea

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

// FuzzDecode: any input decodes without panic; every reading is a valid
// contract message with a position on the globe; every error points into
// the input; the line buffer never grows past maxLine.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("$GNRMC,074157.799,A,3114.8902,N,12135.2443,E,0.32,4.94,250215,,,A*7F\r\n"))
	f.Add([]byte("$GPGGA,182139.000,4404.1165102,N,12118.8704702,W,2,07,1.1,1215.141,M,-20.300,M,,0000*54\n$PQGSA,A,3,12,,,,,,,,,,,,1.2,0.9,0.9,4*3C\n"))
	f.Add(EncodeFix(Fix{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Lat: -33.5, Lon: 151.25, Quality: 1, HasQuality: true}))
	if b, err := os.ReadFile(filepath.Join(fixtures, "gpsd-beidou-gb.log")); err == nil && len(b) > 2048 {
		f.Add(b[len(b)-2048:])
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		dec := &decoder{cfg: &Config{Device: "trk1"}, env: drivers.Env{Household: "hh-1", Now: time.Now}}
		err := dec.Decode(strings.NewReader(string(in)), func(m anxin.Message) {
			if err := m.Validate(); err != nil {
				t.Fatalf("invalid message %+v: %v", m, err)
			}
			lat, lon := m.Fields["lat"].Float(), m.Fields["lon"].Float()
			if math.Abs(lat) > 90 || math.Abs(lon) > 180 {
				t.Fatalf("position %v,%v off the globe", lat, lon)
			}
		}, func(e drivers.DecodeError) {
			if e.Offset < 0 || e.Offset > int64(len(in)) || e.Err == nil {
				t.Fatalf("bad error %+v for %d bytes", e, len(in))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzEncodeFix: decode(EncodeFix(x)) == x within the encoding's precision.
func FuzzEncodeFix(f *testing.F) {
	f.Add(int64(1763884800123), 31.2479816, 121.5874033, 153.8, 4.5, uint8(1), uint8(9), 0.9)
	f.Add(int64(0), -89.9999999, -179.9999999, -10.0, 0.0, uint8(2), uint8(0), 0.0)
	f.Fuzz(func(t *testing.T, ms int64, lat, lon, alt, speed float64, q, sats uint8, hdop float64) {
		ts := time.UnixMilli(ms).UTC()
		if ts.Year() < 2000 || ts.Year() > 2099 || math.IsNaN(lat+lon+alt+speed+hdop) ||
			math.Abs(lat) > 89.9999 || math.Abs(lon) > 179.9999 || alt < -1000 || alt > 100000 ||
			speed < 0 || speed > 5000 || hdop < 0 || hdop > 99 || q < 1 || q > 8 || sats > 99 {
			t.Skip()
		}
		in := Fix{Time: ts, Lat: lat, Lon: lon, AltM: alt, SpeedKmh: speed, Quality: int(q), Sats: int(sats), HDOP: hdop,
			HasQuality: true, HasSats: true, HasHDOP: true}
		var got []Fix
		asm := NewAssembler(func(x Fix) { got = append(got, x) })
		for _, line := range strings.SplitAfter(string(EncodeFix(in)), "\n") {
			if line != "" {
				if err := asm.Line(line); err != nil {
					t.Fatalf("%q: %v", line, err)
				}
			}
		}
		asm.Flush()
		if len(got) != 1 {
			t.Fatalf("%d fixes", len(got))
		}
		assertSameFix(t, in, got[0])
	})
}

// BenchmarkDecode measures sentences decoded per second over a real capture.
func BenchmarkDecode(b *testing.B) {
	in, err := os.ReadFile(filepath.Join(fixtures, "gpsd-quectel-eg25-g-2.log"))
	if err != nil {
		b.Fatal(err)
	}
	lines := strings.Count(string(in), "\n")
	dec := &decoder{cfg: &Config{Device: "trk1"}, env: drivers.Env{Household: "hh-1", Now: time.Now}}
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := dec.Decode(strings.NewReader(string(in)), func(anxin.Message) {}, func(drivers.DecodeError) {}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "sentences/s")
}
