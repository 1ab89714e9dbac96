package modem

import (
	"bytes"
	"io"
)

// heldLines are the lines the filter shows whole to ended: the results that
// end a ringing call after ATD answered, and OK (ATD's answer starts the ring).
var heldLines = [][]byte{[]byte("BUSY"), []byte("NO ANSWER"), []byte("NO CARRIER"), []byte("OK")}

// callFilter sits between the port and the AT layer and takes the lines
// that end a ringing call out of the stream: the AT layer would otherwise
// hand them, as final results, to the next command (warthog618/modem v0.4.0
// passes indication lines on to the command reader too). Everything else
// passes unchanged and without delay (the SMS prompt "> " has no newline).
type callFilter struct {
	r     io.Reader
	ended func(line string) bool // true: the line was a call's end, taken
	cur   []byte                 // a partial line that may become a call end
	mid   bool                   // part of the current line was passed on
	out   []byte
	tmp   [256]byte
}

func (f *callFilter) Read(p []byte) (int, error) {
	for len(f.out) == 0 {
		n, err := f.r.Read(f.tmp[:])
		f.push(f.tmp[:n])
		if err != nil {
			if len(f.out) > 0 {
				break
			}
			f.out = append(f.out, f.cur...) // nothing more will come: give back what was held
			f.cur = f.cur[:0]
			if len(f.out) == 0 {
				return 0, err
			}
		}
	}
	n := copy(p, f.out)
	f.out = f.out[n:]
	return n, nil
}

// push sorts bytes into out, holding a partial line only while it could
// still be a call end.
func (f *callFilter) push(b []byte) {
	for _, c := range b {
		if f.mid { // the rest of a line already passed on: never a call end
			f.out = append(f.out, c)
			f.mid = c != '\n'
			continue
		}
		f.cur = append(f.cur, c)
		if c == '\n' {
			line := bytes.TrimSpace(f.cur)
			if len(line) == 0 || !f.ended(string(line)) {
				f.out = append(f.out, f.cur...)
			}
			f.cur = f.cur[:0]
			continue
		}
		if !mayEndCall(f.cur) {
			f.out = append(f.out, f.cur...)
			f.cur = f.cur[:0]
			f.mid = true
		}
	}
}

func mayEndCall(cur []byte) bool {
	t := bytes.TrimRight(bytes.TrimLeft(cur, "\r"), "\r")
	if len(t) == 0 {
		return true
	}
	for _, w := range heldLines {
		if bytes.HasPrefix(w, t) || bytes.Equal(t, w) {
			return true
		}
	}
	return false
}
