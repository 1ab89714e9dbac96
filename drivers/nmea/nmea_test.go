package nmea

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

// withSum frames a sentence body with '$', its checksum and CRLF.
func withSum(body string) string {
	return "$" + body + "*" + strings.ToUpper(hex2(checksum(body))) + "\r\n"
}

func hex2(b byte) string {
	const h = "0123456789abcdef"
	return string([]byte{h[b>>4], h[b&15]})
}

type decoded struct {
	msgs  []anxin.Message
	fails []drivers.DecodeError
}

func decodeString(t *testing.T, in string) decoded {
	t.Helper()
	var d decoded
	dec := &decoder{cfg: &Config{Device: "trk1"}, env: drivers.Env{Household: "hh-1", Now: func() time.Time {
		return time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	}}}
	err := dec.Decode(strings.NewReader(in), func(m anxin.Message) { d.msgs = append(d.msgs, m) },
		func(e drivers.DecodeError) { d.fails = append(d.fails, e) })
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestChecksumAndSkipping(t *testing.T) {
	rmc := "$GNRMC,074157.799,A,3114.8902,N,12135.2443,E,0.32,4.94,250215,,,A*7F\r\n"
	gga := withSum("BDGGA,074157.799,3114.8902,N,12135.2443,E,1,07,1.2,138.9,M,8.3,M,,0000")
	badSum := strings.Replace(rmc, "*7F", "*7E", 1)
	in := "garbage without dollar\r\n" +
		"$PQGSV,4,4,14,23,09,350,,24,04,248,,0,4*6C\r\n" + // proprietary, valid checksum
		"$GYOACC,1,2,3*" + hex2(checksum("GYOACC,1,2,3")) + "\r\n" + // unknown talker
		"$PSRFEPE,074150.799,V,,,,,*23\r\n" +
		"$GPGSV,7,7,25,04,08,012,*41\r\n" + // known talker, unused type
		badSum +
		"$GPRMC,no checksum\r\n" +
		rmc + gga
	d := decodeString(t, in)
	if len(d.msgs) != 1 {
		t.Fatalf("%d readings, want 1: %+v", len(d.msgs), d.msgs)
	}
	m := d.msgs[0]
	want := map[string]float64{"lat": 31 + 14.8902/60, "lon": 121 + 35.2443/60, "alt_m": 138.9,
		"speed_kmh": 0.593, "fix_quality": 1, "sats": 7, "hdop": 1.2} // 0.32 kn = 0.59264 km/h, kept to the metre per hour
	for k, v := range want {
		if got := m.Fields[k].Float(); math.Abs(got-v) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	if len(m.Fields) != len(want) {
		t.Errorf("fields %v", m.Fields)
	}
	if !m.TS.Equal(time.Date(2015, 2, 25, 7, 41, 57, 799e6, time.UTC)) {
		t.Errorf("ts %s", m.TS)
	}
	// Errors: the garbage line, the bad checksum, the missing checksum, each at its line's offset.
	if len(d.fails) != 3 {
		t.Fatalf("fails %v", d.fails)
	}
	if d.fails[0].Offset != 0 || !errors.Is(d.fails[0].Err, errNotNMEA) {
		t.Errorf("fail 0: %+v", d.fails[0])
	}
	if off := int64(strings.Index(in, badSum)); d.fails[1].Offset != off || !errors.Is(d.fails[1].Err, errBadChecksum) {
		t.Errorf("fail 1: %+v, want offset %d", d.fails[1], off)
	}
	if !errors.Is(d.fails[2].Err, errNoChecksum) {
		t.Errorf("fail 2: %+v", d.fails[2])
	}
}

func TestNoReadingWithoutValidFix(t *testing.T) {
	cases := map[string]string{
		"rmc V, gga 0":                        "$GNRMC,074150.799,V,,,,,,,250215,,,N*52\r\n$GNGGA,074150.799,,,,,0,00,,,M,0.0,M,,0000,*64\r\n",
		"gga quality 0 with a stale position": withSum("GPGGA,120000.00,3000.0000,N,12000.0000,E,0,03,9.9,10.0,M,,M,,"),
		"rmc V with a position":               withSum("GNRMC,120000.00,V,3000.0000,N,12000.0000,E,0.0,,231126,,,N"),
		"rmc A but gga says no fix": withSum("GNRMC,120000.00,A,3000.0000,N,12000.0000,E,0.0,,231126,,,A") +
			withSum("GNGGA,120000.00,3000.0000,N,12000.0000,E,0,03,9.9,10.0,M,,M,,"),
		"gns no fix": withSum("GNGNS,120000.00,3000.0000,N,12000.0000,E,NN,03,9.9,10.0,,,"),
	}
	for name, in := range cases {
		if d := decodeString(t, in); len(d.msgs) != 0 || len(d.fails) != 0 {
			t.Errorf("%s: %d readings, fails %v", name, len(d.msgs), d.fails)
		}
	}
}

func TestEpochMerging(t *testing.T) {
	// GGA-only module: the epoch ends when the next one starts, or at the end.
	in := withSum("GPGGA,120000.00,3000.0000,S,12000.0000,W,2,05,1.0,10.0,M,,M,,") +
		withSum("GPGGA,120001.00,3000.0060,S,12000.0000,W,2,05,1.0,10.0,M,,M,,")
	d := decodeString(t, in)
	if len(d.msgs) != 2 {
		t.Fatalf("%d readings", len(d.msgs))
	}
	if lat := d.msgs[1].Fields["lat"].Float(); math.Abs(lat-(-30.0001)) > 1e-9 {
		t.Errorf("lat %v", lat)
	}
	if lon := d.msgs[0].Fields["lon"].Float(); lon != -120 {
		t.Errorf("lon %v", lon)
	}
	if _, ok := d.msgs[0].Fields["speed_kmh"]; ok {
		t.Error("speed without RMC")
	}
	// Without a date (no RMC) the ts is the decoding time.
	if d.msgs[0].TS.Year() != 2026 {
		t.Errorf("ts %s", d.msgs[0].TS)
	}
	// RMC+GGA+GNS of one epoch: one reading; the GNS straggler after the
	// complete pair does not start a second one.
	in = withSum("GNRMC,120000.00,A,3000.0000,N,12000.0000,E,10.0,,231126,,,A") +
		withSum("GNGGA,120000.00,3000.0000,N,12000.0000,E,1,05,1.0,10.0,M,,M,,") +
		withSum("GNGNS,120000.00,3000.0000,N,12000.0000,E,AA,12,0.8,11.0,,,")
	d = decodeString(t, in)
	if len(d.msgs) != 1 || d.msgs[0].Fields["sats"].Float() != 5 {
		t.Fatalf("readings %+v", d.msgs)
	}
}

func TestMalformedFields(t *testing.T) {
	for _, body := range []string{
		"GNGGA,250000.00,3000.0000,N,12000.0000,E,1,05,1.0,10.0,M,,M,,", // hour 25
		"GNGGA,120000.00,3060.0000,N,12000.0000,E,1,05,1.0,10.0,M,,M,,", // 60 minutes
		"GNGGA,120000.00,9100.0000,N,12000.0000,E,1,05,1.0,10.0,M,,M,,", // lat > 90
		"GNGGA,120000.00,3000.0000,X,12000.0000,E,1,05,1.0,10.0,M,,M,,", // hemisphere
		"GNGGA,120000.00,3000.0000,N,12000.0000,E,x,05,1.0,10.0,M,,M,,", // quality
		"GNRMC,120000.00,A,3000.0000,N,12000.0000,E,-1,,231126,,,A",     // speed
		"GNRMC,120000.00,A,3000.0000,N,12000.0000,E,1,,321326,,,A",      // date
		"GNRMC,120000.00,A,30.0000,N,12000.0000,E,1,,231126,,,A",        // too few digits
	} {
		d := decodeString(t, withSum(body))
		if len(d.msgs) != 0 || len(d.fails) != 1 {
			t.Errorf("%s: %d readings, fails %v", body, len(d.msgs), d.fails)
		}
	}
}

func TestLongLineBounded(t *testing.T) {
	long := "$GPGGA," + strings.Repeat("9", 10000)
	rmc := withSum("GNRMC,120000.00,A,3000.0000,N,12000.0000,E,10.0,,231126,,,A")
	d := decodeString(t, long+"\n"+rmc)
	if len(d.msgs) != 1 || len(d.fails) != 1 || !errors.Is(d.fails[0].Err, errTooLong) || d.fails[0].Offset != 0 {
		t.Fatalf("readings %d, fails %v", len(d.msgs), d.fails)
	}
	s := newLineSplitter(maxLine)
	s.feed([]byte(long), func([]byte, int64) {}, func(int64) {})
	if cap(s.buf) > maxLine {
		t.Errorf("buffer grew to %d", cap(s.buf))
	}
}

func TestEncodeFix(t *testing.T) {
	f := Fix{Time: time.Date(2026, 11, 23, 8, 30, 15, 250e6, time.UTC), Lat: 31.2479816, Lon: -121.5874033,
		AltM: 153.8, SpeedKmh: 4.5, Quality: 1, Sats: 9, HDOP: 0.9, HasQuality: true, HasSats: true, HasHDOP: true}
	out := EncodeFix(f)
	var got []Fix
	asm := NewAssembler(func(x Fix) { got = append(got, x) })
	for _, line := range strings.SplitAfter(string(out), "\n") {
		if line == "" {
			continue
		}
		if !strings.HasSuffix(line, "\r\n") {
			t.Errorf("line %q does not end in CRLF", line)
		}
		if err := asm.Line(line); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
	}
	asm.Flush()
	if len(got) != 1 {
		t.Fatalf("%d fixes from %q", len(got), out)
	}
	assertSameFix(t, f, got[0])
	// A no-fix epoch encodes to sentences that give no reading.
	asm = NewAssembler(func(x Fix) { t.Errorf("reading from a no-fix epoch: %+v", x) })
	for _, line := range bytes.SplitAfter(EncodeFix(Fix{Time: f.Time, HasQuality: true}), []byte("\n")) {
		if len(line) > 0 {
			if err := asm.Line(string(line)); err != nil {
				t.Fatal(err)
			}
		}
	}
	asm.Flush()
}

func assertSameFix(t *testing.T, want, got Fix) {
	t.Helper()
	if !got.Time.Equal(want.Time.Truncate(10 * time.Millisecond)) {
		t.Errorf("time %s, want %s", got.Time, want.Time)
	}
	if math.Abs(got.Lat-want.Lat) > 1e-7 || math.Abs(got.Lon-want.Lon) > 1e-7 {
		t.Errorf("position %.9f,%.9f, want %.9f,%.9f", got.Lat, got.Lon, want.Lat, want.Lon)
	}
	if math.Abs(got.AltM-want.AltM) > 0.051 || math.Abs(got.SpeedKmh-want.SpeedKmh) > 0.002 {
		t.Errorf("alt %v speed %v, want %v %v", got.AltM, got.SpeedKmh, want.AltM, want.SpeedKmh)
	}
	if got.Quality != want.Quality || (want.HasSats && got.Sats != want.Sats) || (want.HasHDOP && math.Abs(got.HDOP-want.HDOP) > 0.0051) {
		t.Errorf("quality/sats/hdop %d/%d/%v, want %d/%d/%v", got.Quality, got.Sats, got.HDOP, want.Quality, want.Sats, want.HDOP)
	}
}
