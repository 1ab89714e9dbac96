package nmea

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/anxin-care/anxin"
)

// Fix is one merged fix epoch: what a `tracker` reading carries. The Has…
// flags say which optional values a sentence gave.
type Fix struct {
	Time     time.Time // UTC; the date part is zero when no RMC gave one
	Lat, Lon float64   // WGS-84 decimal degrees
	AltM     float64   // above mean sea level (GGA/GNS)
	SpeedKmh float64   // RMC speed over ground
	Quality  int       // GGA fix quality (1 GPS, 2 DGPS, 4 RTK, …)
	Sats     int
	HDOP     float64

	HasAlt, HasSpeed, HasQuality, HasSats, HasHDOP bool
}

// Fields are the reading's fields by the contract's names.
func (f *Fix) Fields() anxin.Fields {
	fs := anxin.Fields{"lat": anxin.Num(f.Lat), "lon": anxin.Num(f.Lon)}
	if f.HasAlt {
		fs["alt_m"] = anxin.Num(f.AltM)
	}
	if f.HasSpeed {
		fs["speed_kmh"] = anxin.Num(f.SpeedKmh)
	}
	if f.HasQuality {
		fs["fix_quality"] = anxin.Num(float64(f.Quality))
	}
	if f.HasSats {
		fs["sats"] = anxin.Num(float64(f.Sats))
	}
	if f.HasHDOP {
		fs["hdop"] = anxin.Num(f.HDOP)
	}
	return fs
}

// epoch gathers the fix sentences that share one time of day.
type epoch struct {
	tod            string
	fix            Fix
	hasPos         bool
	valid, invalid bool // some sentence said fix / no fix
	hasRMC, hasGGA bool
	date           string // ddmmyy from RMC
	hasGNS         bool
}

// Assembler merges sentences into fix epochs. An epoch is complete when both
// its RMC and GGA arrived, or when a sentence of another time starts the next
// epoch, or on Flush (end of input). It is not safe for concurrent use.
type Assembler struct {
	cur         *epoch
	lastTOD     string // the last completed epoch, to ignore its stragglers (GNS after RMC+GGA)
	Stats       Stats
	onFix       func(Fix)
	currentDate string // the last RMC date, for epochs without RMC
}

// Stats count what the assembler saw, for metrics and tests.
type Stats struct {
	Sentences   int // checksum-verified sentences
	Skipped     int // proprietary and unknown sentences, and those a fix does not use
	Malformed   int // bad framing, checksum or field
	BadChecksum int // of Malformed
	NoFix       int // epochs without a valid fix
	Fixes       int // epochs that produced a fix
}

// NewAssembler calls onFix once per completed epoch with a valid fix.
func NewAssembler(onFix func(Fix)) *Assembler { return &Assembler{onFix: onFix} }

// Line feeds one line. It returns an error for a line that is not a valid
// sentence (the caller reports it and goes on); unknown and proprietary
// sentences are skipped without error.
func (a *Assembler) Line(line string) error {
	s, err := parseSentence(line)
	if err != nil {
		a.Stats.Malformed++
		if err != errNotNMEA && err != errNoChecksum {
			a.Stats.BadChecksum++
		}
		return err
	}
	a.Stats.Sentences++
	if s.proprietary() {
		a.Stats.Skipped++
		return nil
	}
	switch s.talker {
	case "GP", "BD", "GB", "GN", "GL", "GA", "GI", "GQ":
	default: // $GYOACC and other talkers are not fixes we know
		a.Stats.Skipped++
		return nil
	}
	switch s.typ {
	case "RMC", "GGA", "GNS":
	default:
		a.Stats.Skipped++
		return nil
	}
	if err := a.fixSentence(&s); err != nil {
		a.Stats.Malformed++
		return fmt.Errorf("%s%s: %w", s.talker, s.typ, err)
	}
	return nil
}

func (a *Assembler) fixSentence(s *sentence) error {
	f := s.fields
	tod, err := parseTOD(field(f, 0))
	if err != nil {
		return err
	}
	// Position fields sit at 2..5 in RMC and 1..4 in GGA and GNS.
	p := 1
	if s.typ == "RMC" {
		p = 2
	}
	var lat, lon float64
	hasPos := field(f, p) != "" && field(f, p+2) != ""
	if hasPos {
		if lat, err = parseCoord(field(f, p), field(f, p+1), 90); err != nil {
			return err
		}
		if lon, err = parseCoord(field(f, p+2), field(f, p+3), 180); err != nil {
			return err
		}
	}
	var e epoch
	e.tod = tod
	switch s.typ {
	case "RMC":
		e.hasRMC = true
		status, mode := field(f, 1), field(f, 11)
		if status == "A" && mode != "N" {
			e.valid = true
		} else {
			e.invalid = true
		}
		if v := field(f, 6); v != "" {
			kn, err := strconv.ParseFloat(v, 64)
			if err != nil || kn < 0 {
				return fmt.Errorf("speed %q", v)
			}
			e.fix.SpeedKmh, e.fix.HasSpeed = math.Round(kn*1852)/1000, true // to the metre per hour
		}
		if d := field(f, 8); d != "" {
			if _, err := parseDate(d, "000000"); err != nil {
				return err
			}
			e.date = d
		}
	case "GGA":
		e.hasGGA = true
		q, err := atoiField(f, 5, "quality", 0, 9)
		if err != nil {
			return err
		}
		if q > 0 {
			e.valid = true
		} else {
			e.invalid = true
		}
		e.fix.Quality, e.fix.HasQuality = q, true
		if err := a.satsHdopAlt(&e, f, 6, 7, 8); err != nil {
			return err
		}
	case "GNS":
		e.hasGNS = true
		mode := field(f, 5)
		ok := false
		for i := 0; i < len(mode); i++ {
			if mode[i] != 'N' {
				ok = true
			}
		}
		if ok {
			e.valid = true
		} else {
			e.invalid = true
		}
		if err := a.satsHdopAlt(&e, f, 6, 7, 8); err != nil {
			return err
		}
	}
	if hasPos {
		e.fix.Lat, e.fix.Lon, e.hasPos = lat, lon, true
	}
	a.merge(&e)
	return nil
}

func (a *Assembler) satsHdopAlt(e *epoch, f []string, is, ih, ia int) error {
	if field(f, is) != "" {
		n, err := atoiField(f, is, "satellites", 0, 999)
		if err != nil {
			return err
		}
		e.fix.Sats, e.fix.HasSats = n, true
	}
	if v := field(f, ih); v != "" {
		h, err := strconv.ParseFloat(v, 64)
		if err != nil || h < 0 || h > 1000 {
			return fmt.Errorf("hdop %q", v)
		}
		e.fix.HDOP, e.fix.HasHDOP = h, true
	}
	if v := field(f, ia); v != "" {
		alt, err := strconv.ParseFloat(v, 64)
		if err != nil || alt < -20000 || alt > 1e6 {
			return fmt.Errorf("altitude %q", v)
		}
		e.fix.AltM, e.fix.HasAlt = alt, true
	}
	return nil
}

func atoiField(f []string, i int, name string, lo, hi int) (int, error) {
	v := field(f, i)
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s %q", name, v)
	}
	return n, nil
}

// merge adds one sentence's part to the current epoch.
func (a *Assembler) merge(e *epoch) {
	if e.tod == a.lastTOD {
		return // a straggler of the epoch just completed
	}
	if a.cur != nil && a.cur.tod != e.tod {
		a.Flush()
	}
	if a.cur == nil {
		a.cur = &epoch{tod: e.tod}
	}
	c := a.cur
	c.valid = c.valid || e.valid
	c.invalid = c.invalid || e.invalid
	if e.hasPos && (!c.hasPos || e.hasGGA) { // GGA's position wins; all agree in practice
		c.fix.Lat, c.fix.Lon, c.hasPos = e.fix.Lat, e.fix.Lon, true
	}
	if e.fix.HasSpeed {
		c.fix.SpeedKmh, c.fix.HasSpeed = e.fix.SpeedKmh, true
	}
	if e.date != "" {
		c.date = e.date
		a.currentDate = e.date
	}
	// GGA's quality, satellites, HDOP and altitude win over GNS's.
	if e.hasGGA || !c.hasGGA {
		if e.fix.HasQuality {
			c.fix.Quality, c.fix.HasQuality = e.fix.Quality, true
		}
		if e.fix.HasSats {
			c.fix.Sats, c.fix.HasSats = e.fix.Sats, true
		}
		if e.fix.HasHDOP {
			c.fix.HDOP, c.fix.HasHDOP = e.fix.HDOP, true
		}
		if e.fix.HasAlt {
			c.fix.AltM, c.fix.HasAlt = e.fix.AltM, true
		}
	}
	c.hasRMC = c.hasRMC || e.hasRMC
	c.hasGGA = c.hasGGA || e.hasGGA
	if c.hasRMC && c.hasGGA {
		a.Flush()
	}
}

// Flush completes the current epoch: it emits a fix when some sentence said
// the fix is valid, none said it is not, and a position was given.
func (a *Assembler) Flush() {
	c := a.cur
	if c == nil {
		return
	}
	a.cur, a.lastTOD = nil, c.tod
	if !c.valid || c.invalid || !c.hasPos {
		a.Stats.NoFix++
		return
	}
	date := c.date
	if date == "" {
		date = a.currentDate
	}
	c.fix.Time, _ = parseDate(date, c.tod)
	a.Stats.Fixes++
	a.onFix(c.fix)
}

// parseDate combines an RMC date ddmmyy (years 2000–2099; "" for none) and
// a time of day into a UTC time.
func parseDate(date, tod string) (time.Time, error) {
	var y, mo, d int
	if date != "" {
		if len(date) != 6 {
			return time.Time{}, fmt.Errorf("date %q is not ddmmyy", date)
		}
		n, err := strconv.Atoi(date)
		if err != nil || n < 0 {
			return time.Time{}, fmt.Errorf("date %q is not ddmmyy", date)
		}
		d, mo, y = n/10000, n/100%100, 2000+n%100
		if d < 1 || d > 31 || mo < 1 || mo > 12 {
			return time.Time{}, fmt.Errorf("date %q out of range", date)
		}
	}
	h, _ := strconv.Atoi(tod[0:2])
	mi, _ := strconv.Atoi(tod[2:4])
	s, _ := strconv.Atoi(tod[4:6])
	var ns int
	if len(tod) > 7 {
		frac := tod[7:]
		n, _ := strconv.Atoi(frac)
		for i := len(frac); i < 9; i++ {
			n *= 10
		}
		ns = n
	}
	if date == "" {
		return time.Date(0, 1, 1, h, mi, s, ns, time.UTC), nil
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC), nil
}
