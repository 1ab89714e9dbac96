package replay

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
)

// Reading is one meter reading of a dataset: a cumulative counter in
// litres at an instant.
type Reading struct {
	Household string // sanitized, [A-Za-z0-9_-]{1,64}
	TS        time.Time
	Litres    float64
}

// LoadStats counts what a loader read and what it could not use. Nothing
// is cleaned away silently: every skipped line is counted here.
type LoadStats struct {
	Lines         int `json:"lines"`          // data lines read (header excluded)
	Readings      int `json:"readings"`       // readings handed on
	LostPrecision int `json:"lost_precision"` // counters written like 4e+05: unknown, skipped
	Malformed     int `json:"malformed"`      // lines that did not parse, skipped
}

// Source streams readings, grouped by household and in file order.
type Source interface {
	// Next returns the next reading, or io.EOF.
	Next() (Reading, error)
	Stats() LoadStats
	Close() error
}

// Formats are the datasets replay reads.
var Formats = []string{"daiad", "ampds2"}

// DefaultZone is the local zone of a format's timestamps and of the homes:
// DAIAD's smart-water-meter trial ran in Alicante, Spain; its datetimes are
// local wall-clock time and their DST transitions are CET's (no 02:xx on
// 27 Mar 2016, 02:xx twice on 30 Oct 2016). AMPds2 is a house near Vancouver (timestamps are
// unix seconds; the zone only places them on the home's clock).
func DefaultZone(format string) string {
	if format == "ampds2" {
		return "America/Vancouver"
	}
	return "Europe/Madrid"
}

// Open opens a dataset file of format ("daiad": the DAIAD zip, or its CSV;
// "ampds2": the gzip CSV, or plain CSV). loc is the zone of DAIAD's local
// datetimes.
func Open(format, path string, loc *time.Location) (Source, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, closer, err := decompress(f, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	cl := func() error {
		var e1 error
		if closer != nil {
			e1 = closer.Close()
		}
		return errors.Join(e1, f.Close())
	}
	switch format {
	case "daiad":
		return newDAIAD(r, loc, cl)
	case "ampds2":
		return newAMPds2(r, cl)
	}
	cl()
	return nil, fmt.Errorf("format: %q is not one of %s", format, strings.Join(Formats, ", "))
}

// decompress reads a zip (first .csv member), a gzip, or a plain file,
// streaming: the archive is never expanded in memory.
func decompress(f *os.File, path string) (io.Reader, io.Closer, error) {
	var magic [4]byte
	n, _ := io.ReadFull(f, magic[:])
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	switch {
	case n >= 4 && bytes.Equal(magic[:], []byte("PK\x03\x04")):
		st, err := f.Stat()
		if err != nil {
			return nil, nil, err
		}
		z, err := zip.NewReader(f, st.Size())
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		for _, m := range z.File {
			if strings.HasSuffix(strings.ToLower(m.Name), ".csv") {
				rc, err := m.Open()
				if err != nil {
					return nil, nil, fmt.Errorf("%s: %s: %w", path, m.Name, err)
				}
				return rc, rc, nil
			}
		}
		return nil, nil, fmt.Errorf("%s: no .csv member in the zip", path)
	case n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b:
		g, err := gzip.NewReader(f)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		return g, g, nil
	}
	return f, nil, nil
}

// lineReader reads lines of bounded length: a line longer than maxLine is
// malformed, never a reason to grow memory.
type lineReader struct {
	sc *bufio.Scanner
}

const maxLine = 4096

func newLineReader(r io.Reader) *lineReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, maxLine), maxLine)
	return &lineReader{sc: sc}
}

func (l *lineReader) next() ([]byte, error) {
	if l.sc.Scan() {
		return bytes.TrimRight(l.sc.Bytes(), "\r"), nil
	}
	if err := l.sc.Err(); err != nil {
		return nil, err
	}
	return nil, io.EOF
}

// counter parses a litres counter. Scientific notation (4e+05) means the
// exporter lost the precision: the value is unknown, not a huge use nor a
// decrease.
func counter(s string) (v float64, lost bool, ok bool) {
	s = strings.TrimSpace(s)
	if strings.ContainsAny(s, "eE") {
		return 0, true, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1e12 {
		return 0, false, false
	}
	return f, false, true
}

// householdIDs shortens dataset keys to ids of the MQTT contract: the key
// with characters outside [A-Za-z0-9_-] removed, its first 8 characters —
// longer only when two keys of one file would collide.
type householdIDs struct {
	short map[string]string // key → id
	used  map[string]bool
}

func (h *householdIDs) id(key string) string {
	if id, ok := h.short[key]; ok {
		return id
	}
	if h.short == nil {
		h.short, h.used = map[string]string{}, map[string]bool{}
	}
	clean := strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return -1
	}, key)
	clean = strings.ReplaceAll(clean, "-", "")
	if clean == "" {
		clean = "hh"
	}
	id := ""
	for n := 8; ; n += 4 {
		if n >= len(clean) || n >= 60 {
			id = clean[:min(len(clean), 60)]
			for i := 2; h.used[id]; i++ {
				id = fmt.Sprintf("%s_%d", clean[:min(len(clean), 56)], i)
			}
			break
		}
		if !h.used[clean[:n]] {
			id = clean[:n]
			break
		}
	}
	if !anxin.ValidID(id) {
		id = fmt.Sprintf("hh%d", len(h.short)+1)
	}
	h.short[key] = id
	h.used[id] = true
	return id
}

// daiad reads swm_trialA.csv: "user key;datetime;meter reading;diff",
// datetime dd/mm/yyyy HH:MM:SS local time, meter reading in litres.
type daiad struct {
	lr    *lineReader
	loc   *time.Location
	ids   householdIDs
	st    LoadStats
	close func() error
	head  bool
}

func newDAIAD(r io.Reader, loc *time.Location, cl func() error) (*daiad, error) {
	if loc == nil {
		loc = time.UTC
	}
	return &daiad{lr: newLineReader(r), loc: loc, close: cl}, nil
}

func (d *daiad) Stats() LoadStats { return d.st }
func (d *daiad) Close() error     { return d.close() }

func (d *daiad) Next() (Reading, error) {
	for {
		line, err := d.lr.next()
		if err != nil {
			if err == bufio.ErrTooLong {
				return Reading{}, fmt.Errorf("daiad: a line is longer than %d bytes", maxLine)
			}
			return Reading{}, err
		}
		if !d.head {
			d.head = true
			if bytes.HasPrefix(bytes.ToLower(line), []byte("user key")) {
				continue
			}
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		d.st.Lines++
		f := strings.Split(string(line), ";")
		if len(f) < 3 || strings.TrimSpace(f[0]) == "" {
			d.st.Malformed++
			continue
		}
		ts, err := time.ParseInLocation("02/01/2006 15:04:05", strings.TrimSpace(f[1]), d.loc)
		if err != nil {
			d.st.Malformed++
			continue
		}
		v, lost, ok := counter(f[2])
		if lost {
			d.st.LostPrecision++
			continue
		}
		if !ok {
			d.st.Malformed++
			continue
		}
		d.st.Readings++
		return Reading{Household: d.ids.id(strings.TrimSpace(f[0])), TS: ts, Litres: v}, nil
	}
}

// ampds2 reads the AMPds2 water CSV: "unix_ts,counter,avg_rate,inst_rate",
// counter in litres. One house.
type ampds2 struct {
	lr    *lineReader
	st    LoadStats
	close func() error
	head  bool
}

// AMPds2Household is the household id of AMPds2's one house.
const AMPds2Household = "ampds2"

func newAMPds2(r io.Reader, cl func() error) (*ampds2, error) {
	return &ampds2{lr: newLineReader(r), close: cl}, nil
}

func (a *ampds2) Stats() LoadStats { return a.st }
func (a *ampds2) Close() error     { return a.close() }

func (a *ampds2) Next() (Reading, error) {
	for {
		line, err := a.lr.next()
		if err != nil {
			if err == bufio.ErrTooLong {
				return Reading{}, fmt.Errorf("ampds2: a line is longer than %d bytes", maxLine)
			}
			return Reading{}, err
		}
		if !a.head {
			a.head = true
			if bytes.HasPrefix(line, []byte("unix_ts")) {
				continue
			}
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		a.st.Lines++
		f := strings.Split(string(line), ",")
		if len(f) < 2 {
			a.st.Malformed++
			continue
		}
		sec, err := strconv.ParseInt(strings.TrimSpace(f[0]), 10, 64)
		if err != nil || sec < 0 || sec > 253402300799 {
			a.st.Malformed++
			continue
		}
		v, lost, ok := counter(f[1])
		if lost {
			a.st.LostPrecision++
			continue
		}
		if !ok {
			a.st.Malformed++
			continue
		}
		a.st.Readings++
		return Reading{Household: AMPds2Household, TS: time.Unix(sec, 0).UTC(), Litres: v}, nil
	}
}
