package serialport

import (
	"errors"
	"io"
)

// Byte-oriented meter protocols (CJ/T 188, DL/T 645) share one shape: a start
// byte, a length field, a checksum and an end byte, with wake-up preambles
// and line noise around frames. FrameCheck describes one such format; a
// Resync finds frames in a stream with it, for both the capture decoder
// (Scan) and the polling reader (ReplyComplete).

// ErrTruncated is a frame cut off by the end of the input, or a frame start
// whose claimed length runs into a valid frame.
var ErrTruncated = errors.New("truncated frame")

var errTooLong = errors.New("frame longer than the format allows")

// FrameCheck examines a candidate frame at buf[0] (a start byte):
//   - n == 0, err == nil: not enough bytes yet to tell;
//   - n > 0, err == nil: buf[:n] is a well-formed frame;
//   - n > 0, err != nil: buf[:n] has a frame's shape but is bad (checksum);
//   - n == 0, err != nil: no frame starts here (a start byte in noise, no end
//     byte where the length says).
//
// A bad candidate only ever costs its start byte: the next candidate may be
// inside it (see Resync).
type FrameCheck func(buf []byte) (n int, err error)

// Framing is a frame format: its start byte, checker and largest frame.
type Framing struct {
	Start    byte
	Check    FrameCheck
	MaxFrame int // bytes; bounds buffering of a candidate
}

func (f Framing) next(buf []byte, from int) int {
	for i := from; i < len(buf); i++ {
		if buf[i] == f.Start {
			return i
		}
	}
	return -1
}

// Resync is the one resynchronisation rule of framed byte streams: every
// start byte is a candidate; bytes are discarded past a candidate's start
// byte only when a frame validated there. A candidate whose claimed length
// runs past the bytes held yet does not hide a valid frame after it. Bad
// candidates are reported once each, a bad frame's inner candidates and a
// stretch of false starts not at all.
type Resync struct {
	Framing
	// Bad, if set, is told of bad candidates with their stream offsets.
	Bad func(off int64, err error)

	base  int64 // stream offset of the buf given to Next
	mute  int64 // candidates before this offset are not reported
	quiet bool  // a false start was reported and no frame followed yet
}

// Next looks at buf, the stream's bytes from the end of what the previous
// call consumed. It returns a validated frame buf[off:off+n] (n > 0), or
// n == 0 and off, the count of leading bytes that can never begin a frame.
// Either way the caller then drops buf[:off+n]. final says no byte will
// follow buf: a candidate still incomplete is then bad.
func (s *Resync) Next(buf []byte, final bool) (off, n int) {
	pending := -1
	for p := s.next(buf, 0); p >= 0; p = s.next(buf, p+1) {
		m, err := s.Check(buf[p:])
		if m > 0 && err == nil {
			if pending >= 0 {
				s.report(pending, 0, ErrTruncated)
			}
			s.quiet = false
			s.base += int64(p + m)
			return p, m
		}
		if pending >= 0 {
			continue // behind an undecided candidate only a valid frame counts
		}
		if m == 0 && err == nil {
			switch {
			case final:
				err = ErrTruncated
			case len(buf)-p >= s.MaxFrame:
				err = errTooLong
			default:
				pending = p
				continue
			}
		}
		s.report(p, m, err)
	}
	if pending < 0 {
		pending = len(buf)
	}
	s.base += int64(pending)
	return pending, 0
}

// report tells Bad of the candidate at buf[p] (n > 0: a bad frame of n bytes,
// whose inner candidates then stay unreported).
func (s *Resync) report(p, n int, err error) {
	off := s.base + int64(p)
	if off < s.mute {
		return
	}
	s.mute = off + int64(max(n, 1))
	if n == 0 {
		if s.quiet {
			return
		}
		s.quiet = true
	}
	if s.Bad != nil {
		s.Bad(off, err)
	}
}

// ReplyComplete turns a Framing into a Bus Complete function: it skips noise,
// preambles, bad candidates (reported to bad, once each) and valid frames
// that want rejects (the echo of the request, another device's reply), and
// returns the first frame want accepts.
func (f Framing) ReplyComplete(want func(frame []byte) bool, bad func(err error)) Complete {
	s := &Resync{Framing: f}
	if bad != nil {
		s.Bad = func(_ int64, err error) { bad(err) }
	}
	// The Bus drops what Complete skips and calls again with the rest: the
	// Resync's idea of the stream stays in step (except after the Bus's
	// MaxBuffer trim, which at worst repeats or misses one report).
	return func(buf []byte) (int, int, error) {
		off, n := s.Next(buf, false)
		if n > 0 && want(buf[off:off+n]) {
			return n, off, nil
		}
		return 0, off + n, nil
	}
}

// Scan reads r to its end and calls frame for every valid frame with its
// offset in the input, and fail for every bad candidate (checksum, no end
// byte, truncated) as Resync reports them. Memory is bounded by the read
// chunk plus MaxFrame.
func (f Framing) Scan(r io.Reader, frame func(off int64, b []byte), fail func(off int64, err error)) error {
	const chunk = 4096
	s := &Resync{Framing: f, Bad: fail}
	buf := make([]byte, 0, chunk+f.MaxFrame)
	start := 0 // buf[start:] is not scanned yet
	eof := false
	for {
		// Look only when a largest frame fits in what is held, or at the end.
		if !eof && len(buf)-start < f.MaxFrame {
			if start > 0 {
				buf = append(buf[:0], buf[start:]...)
				start = 0
			}
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err == io.EOF {
				eof = true
			} else if err != nil {
				return err
			}
			continue
		}
		if start == len(buf) {
			return nil
		}
		at := s.base
		off, n := s.Next(buf[start:], eof)
		if n > 0 {
			frame(at+int64(off), buf[start+off:start+off+n])
		}
		start += off + n
	}
}
