package modem

import (
	"bytes"
	"io"
	"regexp"
	"testing"
	"testing/iotest"
)

var callEndLine = regexp.MustCompile(`^\r*(BUSY|NO ANSWER|NO CARRIER)\r*\n$`)

// expected is the stream without the call-end lines (what the filter takes
// while a call rings).
func expected(in []byte) []byte {
	var out []byte
	for len(in) > 0 {
		i := bytes.IndexByte(in, '\n')
		if i < 0 {
			return append(out, in...)
		}
		if !callEndLine.Match(in[:i+1]) {
			out = append(out, in[:i+1]...)
		}
		in = in[i+1:]
	}
	return out
}

func filtered(t *testing.T, in []byte, ringing bool, oneByte bool) ([]byte, []string) {
	var taken []string
	var r io.Reader = bytes.NewReader(in)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	f := &callFilter{r: r, ended: func(line string) bool {
		if ringing && callEndLine.MatchString(line+"\n") {
			taken = append(taken, line)
			return true
		}
		return false
	}}
	out, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return out, taken
}

func TestCallFilter(t *testing.T) {
	in := []byte("\r\nOK\r\n\r\n> \r\n+CMGS: 12\r\n\r\nOK\r\n\r\nNO CARRIER\r\n\r\nBUSY\r\nBUS\r\nNO CARRIERS\r\n")
	out, taken := filtered(t, in, true, true)
	if want := expected(in); !bytes.Equal(out, want) || len(taken) != 2 {
		t.Fatalf("got %q taken %q, want %q", out, taken, want)
	}
	if out, _ := filtered(t, in, false, false); !bytes.Equal(out, in) {
		t.Fatalf("not ringing: %q", out)
	}
}

// The AT stream through the filter: with no call ringing it is unchanged;
// while one rings exactly the call-end lines are taken out; no panic, and
// nothing held beyond one short line.
func FuzzCallFilter(f *testing.F) {
	f.Add([]byte("\r\nOK\r\n\r\n> "), true)
	f.Add([]byte("\r\nBUSY\r\n\r\nNO ANSWER\r\nRING\r\n+CLCC: 1,0,3,0,0,\"+8613900000001\",145\r\n"), true)
	f.Add([]byte("\r\n+CMT: ,24\r\n0891683108200005F0040D91683109000000F10008\r\n"), false)
	f.Fuzz(func(t *testing.T, in []byte, oneByte bool) {
		if out, _ := filtered(t, in, false, oneByte); !bytes.Equal(out, in) {
			t.Fatalf("not ringing: %q → %q", in, out)
		}
		out, _ := filtered(t, in, true, oneByte)
		if want := expected(in); !bytes.Equal(out, want) {
			t.Fatalf("ringing: %q → %q, want %q", in, out, want)
		}
	})
}
