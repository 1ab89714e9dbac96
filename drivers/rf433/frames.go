package rf433

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Formats of the receiver's serial output.
const (
	// FormatRTL433JSON is one rtl_433 `-F json` object per line (an SDR or
	// an rtl_433-compatible bridge feeding the gateway's serial port).
	FormatRTL433JSON = "rtl433_json"
	// FormatHex is what UART decoder modules send: either a text line of up
	// to 6 hex digits ("8D3CF6\r\n") or the binary frame FD A2 A1 A0 P DF
	// (A2..A0 the code, most significant byte first; P a vendor byte —
	// pulse width or protocol — that is ignored).
	FormatHex = "hex"
)

// maxLine bounds one line of either format; longer lines are dropped.
const maxLine = 512

var errTooLong = fmt.Errorf("line longer than %d bytes", maxLine)

// reception is one code heard by the receiver. at is the capture's own
// time when it has one (rtl_433's "time"), else zero.
type reception struct {
	code uint32
	at   time.Time
	rel  time.Duration // rtl_433 "@0.043120s": offset from the capture's start
	hasR bool
	off  int64 // stream offset of the line or frame
}

// framer cuts a receiver's byte stream into receptions.
type framer struct {
	format string
	buf    []byte
	start  int64 // stream offset of buf[0]
	pos    int64
	drop   bool // dropping an overlong line up to its newline
}

func newFramer(format string) *framer {
	return &framer{format: format, buf: make([]byte, 0, maxLine)}
}

// feed consumes p, calling got for each reception and bad for each
// undecodable line or frame (with its stream offset).
func (f *framer) feed(p []byte, got func(reception), bad func(off int64, err error)) {
	for _, c := range p {
		f.pos++
		if f.format == FormatHex && c == 0xFD && !f.drop && (len(f.buf) == 0 || f.buf[0] != 0xFD) {
			// A binary frame starts; a text line in progress is cut off.
			if len(f.buf) > 0 {
				f.line(got, bad)
			}
			f.buf = append(f.buf[:0], c)
			f.start = f.pos - 1
			continue
		}
		if len(f.buf) > 0 && f.buf[0] == 0xFD && f.format == FormatHex {
			f.buf = append(f.buf, c)
			if len(f.buf) < 6 {
				continue
			}
			frame := f.buf
			f.buf = f.buf[:0]
			if frame[5] != 0xDF {
				bad(f.start, fmt.Errorf("binary frame % X does not end in DF", frame))
				f.start = f.pos
				// Resynchronise on the bytes after the FD.
				rest := append([]byte(nil), frame[1:]...)
				f.pos -= int64(len(rest))
				f.feed(rest, got, bad)
				continue
			}
			got(reception{code: uint32(frame[1])<<16 | uint32(frame[2])<<8 | uint32(frame[3]), off: f.start})
			f.start = f.pos
			continue
		}
		if c == '\n' || c == '\r' {
			if f.drop {
				f.drop = false
			} else if len(f.buf) > 0 {
				f.line(got, bad)
			}
			f.buf = f.buf[:0]
			f.start = f.pos
			continue
		}
		if f.drop {
			continue
		}
		if f.format == FormatHex && (c < 0x20 || c > 0x7e) {
			continue // stray binary between frames (a frame's tail after a resync)
		}
		if len(f.buf) >= maxLine {
			bad(f.start, errTooLong)
			f.drop = true
			f.buf = f.buf[:0]
			continue
		}
		if len(f.buf) == 0 {
			f.start = f.pos - 1
		}
		f.buf = append(f.buf, c)
	}
}

// end handles a last line without newline (end of a capture).
func (f *framer) end(got func(reception), bad func(off int64, err error)) {
	if len(f.buf) > 0 && !f.drop {
		if f.buf[0] == 0xFD && f.format == FormatHex {
			bad(f.start, fmt.Errorf("truncated binary frame % X", f.buf))
		} else {
			f.line(got, bad)
		}
	}
	f.reset()
}

// reset forgets a partial line or frame (the port was reopened).
func (f *framer) reset() { f.buf, f.drop, f.start = f.buf[:0], false, f.pos }

func (f *framer) line(got func(reception), bad func(off int64, err error)) {
	line := bytes.TrimSpace(f.buf)
	off := f.start
	f.buf = f.buf[:0]
	if len(line) == 0 {
		return
	}
	var r reception
	var err error
	if f.format == FormatHex && line[0] != '{' { // a JSON line is rtl_433's, whatever the format
		r.code, err = ParseCode(string(line))
	} else {
		r, err = parseRTL433(line)
	}
	if err != nil {
		bad(off, err)
		return
	}
	r.off = off
	got(r)
}

// rtl433Line is the part of an rtl_433 JSON event that carries a code.
type rtl433Line struct {
	Time     string          `json:"time"`
	Model    string          `json:"model"`
	Code     json.RawMessage `json:"code"`
	ID       *int64          `json:"id"`
	Cmd      json.RawMessage `json:"cmd"`
	CmdID    *int64          `json:"cmd_id"`
	Tristate string          `json:"tristate"`
}

var errNoCode = errors.New("no EV1527 code in the rtl_433 line")

// parseRTL433 finds the 24-bit code in one rtl_433 JSON line. The decoders
// write it differently:
//   - "code": "8d3cf6" (hex string: Smoke-GS558) or 983141 (number:
//     DY-SQ100B, where it is the 24 data bits);
//   - "tristate": "0Z01101Z0001" (Generic-Remote: 12 symbols of 2 bits,
//     0=00 1=11 Z=01 X=10);
//   - "id" and "cmd_id" (Chuango: 20-bit id, 4-bit command);
//   - "id" and a numeric "cmd" (Generic-Remote: 16-bit id, 8-bit command).
func parseRTL433(line []byte) (reception, error) {
	var l rtl433Line
	if err := json.Unmarshal(line, &l); err != nil {
		return reception{}, fmt.Errorf("not an rtl_433 JSON line: %w", err)
	}
	var r reception
	if rel, ok := strings.CutPrefix(l.Time, "@"); ok {
		if d, err := time.ParseDuration(rel); err == nil && d >= 0 {
			r.rel, r.hasR = d, true
		}
	} else if t, err := time.ParseInLocation(time.DateTime, l.Time, time.Local); err == nil {
		r.at = t
	}
	code, err := rtl433Code(&l)
	if err != nil {
		return reception{}, err
	}
	r.code = code
	return r, nil
}

func rtl433Code(l *rtl433Line) (uint32, error) {
	if len(l.Code) > 0 {
		if l.Code[0] == '"' {
			var s string
			if err := json.Unmarshal(l.Code, &s); err != nil {
				return 0, err
			}
			return ParseCode(s)
		}
		n, err := strconv.ParseInt(string(l.Code), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("code %s is not an integer", clip(string(l.Code)))
		}
		return CodeFromInt(n)
	}
	if l.Tristate != "" {
		return tristateCode(l.Tristate)
	}
	if l.ID != nil && l.CmdID != nil {
		if *l.ID < 0 || *l.ID >= 1<<20 || *l.CmdID < 0 || *l.CmdID >= 1<<4 {
			return 0, fmt.Errorf("id %d / cmd_id %d do not fit 20+4 bits", *l.ID, *l.CmdID)
		}
		return uint32(*l.ID<<4 | *l.CmdID), nil
	}
	if l.ID != nil && len(l.Cmd) > 0 {
		cmd, err := strconv.ParseInt(string(l.Cmd), 10, 64)
		if err != nil || *l.ID < 0 || *l.ID >= 1<<16 || cmd < 0 || cmd >= 1<<8 {
			return 0, fmt.Errorf("id %d / cmd %s do not fit 16+8 bits", *l.ID, clip(string(l.Cmd)))
		}
		return uint32(*l.ID<<8 | cmd), nil
	}
	return 0, fmt.Errorf("%w (model %s)", errNoCode, clip(l.Model))
}

func tristateCode(s string) (uint32, error) {
	if len(s) != 12 {
		return 0, fmt.Errorf("tristate %s is not 12 symbols", clip(s))
	}
	var v uint32
	for i := 0; i < 12; i++ {
		var bits uint32
		switch s[i] {
		case '0':
			bits = 0
		case '1':
			bits = 3
		case 'Z':
			bits = 1
		case 'X':
			bits = 2
		default:
			return 0, fmt.Errorf("tristate %s: symbol %q is not 0, 1, Z or X", clip(s), s[i])
		}
		v = v<<2 | bits
	}
	return v, nil
}

// EncodePress writes the serial bytes a receiver sends for one press of
// code: four repeats (a remote sends 4–13), as rtl_433 JSON lines 65 ms
// apart, or as binary FD…DF frames for FormatHex. The demo simulator and the
// tests use it.
func EncodePress(format string, code uint32) []byte {
	code &= MaxCode
	var b []byte
	for i := range 4 {
		switch format {
		case FormatHex:
			b = append(b, 0xFD, byte(code>>16), byte(code>>8), byte(code), 0x2C, 0xDF)
		default:
			b = fmt.Appendf(b, `{"time" : "@%.6fs", "model" : "EV1527", "code" : "%s"}`+"\n",
				0.1+0.065*float64(i), FormatCode(code))
		}
	}
	return b
}
