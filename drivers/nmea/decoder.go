package nmea

import (
	"errors"
	"io"
	"strings"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

// decoder reads an NMEA capture for `gatewayd decode`.
type decoder struct {
	cfg *Config
	env drivers.Env
}

// Decode emits one tracker reading per fix epoch. A reading's ts is the fix
// time when the receiver gave a date (RMC), else the decoding time. Lines
// that are empty or start with '#' (comments in gpsd's captures) are
// skipped; other undecodable lines are reported with their byte offset.
func (d *decoder) Decode(r io.Reader, emit func(anxin.Message), fail func(drivers.DecodeError)) error {
	asm := NewAssembler(func(f Fix) {
		ts := f.Time
		if ts.Year() < 2000 {
			ts = d.env.Now()
		}
		emit(d.cfg.message(f, ts, d.env.Household))
	})
	split := newLineSplitter(maxLine)
	onLine := func(b []byte, off int64) {
		line := strings.TrimSpace(string(b))
		if line == "" || line[0] == '#' {
			return
		}
		if err := asm.Line(line); err != nil {
			fail(drivers.DecodeError{Offset: off, Err: err})
		}
	}
	tooLong := func(off int64) { fail(drivers.DecodeError{Offset: off, Err: errTooLong}) }
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		split.feed(buf[:n], onLine, tooLong)
		if errors.Is(err, io.EOF) {
			split.end(onLine)
			asm.Flush()
			return nil
		}
		if err != nil {
			asm.Flush()
			return err
		}
	}
}
