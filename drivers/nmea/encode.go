package nmea

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// EncodeFix writes f as a GNRMC and a GNGGA sentence of the same epoch, each
// with its checksum and CRLF: what a BeiDou/GPS module sends per fix. Time
// is written to the hundredth of a second, lat/lon to 1e-6 of a minute,
// speed in knots to 0.001, altitude to 0.1 m. Quality 0 writes a no-fix
// epoch (RMC status V, GGA quality 0, no position). The demo simulator and
// the tests use it.
func EncodeFix(f Fix) []byte {
	t := f.Time.UTC()
	tod := fmt.Sprintf("%02d%02d%02d.%02d", t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1e7)
	date := fmt.Sprintf("%02d%02d%02d", t.Day(), int(t.Month()), t.Year()%100)
	q := f.Quality
	if !f.HasQuality {
		q = 1
	}
	var rmc, gga string
	if q == 0 {
		rmc = "GNRMC," + tod + ",V,,,,,,," + date + ",,,N"
		gga = "GNGGA," + tod + ",,,,,0,00,,,M,,M,,"
	} else {
		lat, ns := coord(f.Lat, 2, "N", "S")
		lon, ew := coord(f.Lon, 3, "E", "W")
		rmc = fmt.Sprintf("GNRMC,%s,A,%s,%s,%s,%s,%.3f,,%s,,,A", tod, lat, ns, lon, ew, f.SpeedKmh/1.852, date)
		sats, hdop := "", ""
		if f.HasSats {
			sats = fmt.Sprintf("%02d", f.Sats)
		}
		if f.HasHDOP {
			hdop = strconv.FormatFloat(f.HDOP, 'f', 2, 64)
		}
		gga = fmt.Sprintf("GNGGA,%s,%s,%s,%s,%s,%d,%s,%s,%.1f,M,,M,,", tod, lat, ns, lon, ew, q, sats, hdop, f.AltM)
	}
	var b strings.Builder
	for _, s := range []string{rmc, gga} {
		fmt.Fprintf(&b, "$%s*%02X\r\n", s, checksum(s))
	}
	return []byte(b.String())
}

// coord writes decimal degrees as (d)ddmm.mmmmmm and a hemisphere.
func coord(deg float64, width int, pos, neg string) (string, string) {
	h := pos
	if deg < 0 {
		h, deg = neg, -deg
	}
	// Round in micro-minutes first, so 59.9999999 minutes carries into the degree.
	um := int64(math.Round(deg * 60 * 1e6))
	d, m := um/(60*1e6), um%(60*1e6)
	return fmt.Sprintf("%0*d%02d.%06d", width, d, m/1e6, m%1e6), h
}
