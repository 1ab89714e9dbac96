package serialport

import (
	"errors"
	"io"
)

// Byte-oriented meter protocols (CJ/T 188, DL/T 645) share one shape: a start
// byte, a length field, a checksum and an end byte, with wake-up preambles
// and line noise around frames. FrameCheck describes one such format; the
// scanners below find frames in a stream with it.

// ErrTruncated is a frame cut off by the end of the input.
var ErrTruncated = errors.New("truncated frame")

var errTooLong = errors.New("frame longer than the format allows")

// FrameCheck examines a candidate frame at buf[0] (a start byte):
//   - n == 0, err == nil: not enough bytes yet to tell;
//   - n > 0, err == nil: buf[:n] is a well-formed frame;
//   - n > 0, err != nil: buf[:n] is a complete frame that is bad (checksum):
//     skip all of it;
//   - n == 0, err != nil: no frame starts here (a start byte in noise, no end
//     byte where the length says): skip one byte and look again.
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

// ReplyComplete turns a Framing into a Bus Complete function: it skips noise,
// preambles, bad frames (reported to bad, once each) and well-formed frames
// that want rejects (the echo of the request, another device's reply), and
// returns the first frame want accepts. A start byte in noise that claims a
// long frame does not hide a good frame after it.
func (f Framing) ReplyComplete(want func(frame []byte) bool, bad func(err error)) Complete {
	return func(buf []byte) (int, int, error) {
		p := f.next(buf, 0)
		if p < 0 {
			return 0, len(buf), nil
		}
		n, err := f.Check(buf[p:])
		switch {
		case n > 0 && err != nil:
			if bad != nil {
				bad(err)
			}
			return 0, p + n, nil
		case n > 0:
			if want(buf[p : p+n]) {
				return n, p, nil
			}
			return 0, p + n, nil
		case err != nil:
			return 0, p + 1, nil
		}
		// Incomplete candidate: a good frame may still start after it.
		for q := f.next(buf, p+1); q >= 0; q = f.next(buf, q+1) {
			if m, err := f.Check(buf[q:]); m > 0 && err == nil && want(buf[q:q+m]) {
				return m, q, nil
			}
		}
		return 0, p, nil
	}
}

// Scan reads r to its end and calls frame for every well-formed frame with
// its offset in the input, and fail for every bad frame (checksum, no end
// byte, truncated). Bytes between frames (preambles, noise) are skipped.
// After a failure at a false start, further false starts are not reported
// until a good frame is found, so one stretch of noise gives one error.
// Memory is bounded by the read chunk plus MaxFrame.
func (f Framing) Scan(r io.Reader, frame func(off int64, b []byte), fail func(off int64, err error)) error {
	const chunk = 4096
	buf := make([]byte, 0, chunk+f.MaxFrame)
	var base int64 // input offset of buf[start]
	start := 0     // buf[start:] is not scanned yet
	quiet, eof := false, false
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
		data := buf[start:]
		if len(data) == 0 {
			return nil
		}
		p := f.next(data, 0)
		if p < 0 {
			base += int64(len(data))
			start = len(buf)
			continue
		}
		n, err := f.Check(data[p:])
		var skip int
		switch {
		case n > 0 && err != nil:
			fail(base+int64(p), err)
			skip = p + n
		case n > 0:
			frame(base+int64(p), data[p:p+n])
			quiet = false
			skip = p + n
		case err != nil || len(data)-p >= f.MaxFrame:
			if err == nil {
				err = errTooLong
			}
			if !quiet {
				fail(base+int64(p), err)
				quiet = true
			}
			skip = p + 1
		case !eof:
			skip = p // incomplete: keep the candidate, read on
		default:
			if !quiet {
				fail(base+int64(p), ErrTruncated)
				quiet = true
			}
			skip = p + 1
		}
		base += int64(skip)
		start += skip
	}
}
