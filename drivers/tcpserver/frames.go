// Package tcpserver is the shared side of drivers whose devices dial in over
// TCP (JT/T 808 trackers, 3G watches): a frame scanner with one
// resynchronisation rule, a listener with bounded per-connection memory and
// idle timeouts, and small helpers for masking terminal ids and making
// repeatable message ids.
package tcpserver

import (
	"bytes"
	"errors"
	"io"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

// ErrTooLong is a candidate frame longer than the format allows.
var ErrTooLong = errors.New("frame longer than the format allows")

// ErrTruncated is a frame cut off by the end of the input.
var ErrTruncated = errors.New("truncated frame")

// Check examines buf, which begins with the format's start byte:
//   - n > 0: buf[:n] is a frame that validated (framing, length, check);
//   - err != nil: no valid frame starts here (the reason is reported);
//   - both zero: not enough bytes yet to tell.
type Check func(buf []byte) (n int, err error)

// Framing is a frame format.
type Framing struct {
	Start    byte
	Check    Check
	MaxFrame int // largest frame in bytes; bounds what a candidate may hold
	// SharedEnd: the last byte of a frame may also open the next one
	// (JT/T 808's 0x7E flag), so scanning resumes on it.
	SharedEnd bool
}

// Scanner finds frames in a byte stream fed in pieces. The rule, in one
// place: bytes are discarded past a candidate start p only when a frame
// validated there; otherwise scanning resumes at p+1, so noise (or a false
// start claiming a long frame) never hides a valid frame after it. Memory is
// bounded by MaxFrame plus the piece fed.
type Scanner struct {
	f     Framing
	buf   []byte
	base  int64 // input offset of buf[0]
	quiet bool  // a failure was reported since the last good frame
}

// NewScanner returns a scanner for f.
func NewScanner(f Framing) *Scanner { return &Scanner{f: f} }

// Feed adds p to the stream and calls frame for every valid frame (with its
// input offset; b is valid only during the call) and fail for every bad
// frame (delimited, but its length or check is wrong). A start byte whose
// frame never ends within MaxFrame is reported once until the next good
// frame, so one stretch of noise gives one error.
func (s *Scanner) Feed(p []byte, frame func(off int64, b []byte), fail func(off int64, err error)) {
	s.buf = append(s.buf, p...)
	s.scan(false, frame, fail)
}

// End reports what is left at the end of the input as truncated.
func (s *Scanner) End(frame func(off int64, b []byte), fail func(off int64, err error)) {
	s.scan(true, frame, fail)
	s.buf = s.buf[:0]
}

// Held is the number of bytes buffered waiting for a frame to complete.
func (s *Scanner) Held() int { return len(s.buf) }

func (s *Scanner) scan(eof bool, frame func(int64, []byte), fail func(int64, error)) {
	i := 0
	report := func(off int64, err error) {
		if !s.quiet && fail != nil {
			fail(off, err)
		}
		s.quiet = true
	}
	for i < len(s.buf) {
		p := i
		for p < len(s.buf) && s.buf[p] != s.f.Start {
			p++
		}
		if p == len(s.buf) {
			i = p
			break
		}
		n, err := s.f.Check(s.buf[p:])
		switch {
		case n > 0:
			frame(s.base+int64(p), s.buf[p:p+n])
			s.quiet = false
			i = p + n
			if s.f.SharedEnd {
				i--
			}
		case err != nil:
			if !errors.Is(err, errNotAFrame) && fail != nil {
				fail(s.base+int64(p), err) // a delimited bad frame: each one is reported
			}
			i = p + 1
		case len(s.buf)-p >= s.f.MaxFrame:
			report(s.base+int64(p), ErrTooLong)
			i = p + 1
		case eof && s.f.SharedEnd && len(s.buf)-p == 1:
			i = p + 1 // the closing flag of the last frame
		case eof:
			report(s.base+int64(p), ErrTruncated)
			i = p + 1
		default:
			i = p // incomplete: keep the candidate, read on
			s.compact(i)
			return
		}
	}
	s.compact(i)
}

// compact drops buf[:i], keeping the backing array small when idle.
func (s *Scanner) compact(i int) {
	s.base += int64(i)
	rest := len(s.buf) - i
	if rest == 0 {
		if cap(s.buf) > 4096 {
			s.buf = nil // a large frame passed: give the memory back
		} else {
			s.buf = s.buf[:0]
		}
		return
	}
	copy(s.buf, s.buf[i:])
	s.buf = s.buf[:rest]
}

// errNotAFrame is a Check result for a start byte that cannot begin any
// frame (two JT/T 808 flags in a row): skipped without a report.
var errNotAFrame = errors.New("not a frame")

// NotAFrame returns the error a Check gives for a start byte that plainly
// begins nothing and is not worth reporting.
func NotAFrame() error { return errNotAFrame }

// ScanReader reads r to its end through a Scanner: for `gatewayd decode`.
func ScanReader(r io.Reader, f Framing, frame func(off int64, b []byte), fail func(off int64, err error)) error {
	sc := NewScanner(f)
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		sc.Feed(buf[:n], frame, fail)
		if errors.Is(err, io.EOF) {
			sc.End(frame, fail)
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// SplitAll returns the valid frames of in, fed to a Scanner in reads of
// chunk bytes: for tests and tools.
func SplitAll(f Framing, in []byte, chunk int) [][]byte {
	sc := NewScanner(f)
	var out [][]byte
	keep := func(_ int64, b []byte) { out = append(out, append([]byte(nil), b...)) }
	for len(in) > 0 {
		k := min(max(chunk, 1), len(in))
		sc.Feed(in[:k], keep, nil)
		in = in[k:]
	}
	sc.End(keep, nil)
	return out
}

// DecodeAll runs a capture decoder over in and collects what it emits and
// the frames it could not decode: for tests and tools.
func DecodeAll(d drivers.Decoder, in []byte) ([]anxin.Message, []drivers.DecodeError, error) {
	var ms []anxin.Message
	var errs []drivers.DecodeError
	err := d.Decode(bytes.NewReader(in), func(m anxin.Message) { ms = append(ms, m) },
		func(e drivers.DecodeError) { errs = append(errs, e) })
	return ms, errs, err
}
