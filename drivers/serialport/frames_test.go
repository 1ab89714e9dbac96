package serialport

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

var errBadLen, errNoEnd, errBad = errors.New("bad length"), errors.New("no end"), errors.New("bad frame")

// A toy framing: 'S' len payload... 'E', checksum-free, bad when payload has 'X'.
var toy = Framing{Start: 'S', MaxFrame: 16, Check: func(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, nil
	}
	n := 2 + int(b[1]-'0') + 1
	if int(b[1]-'0') > 9 {
		return 0, errBadLen
	}
	if len(b) < n {
		return 0, nil
	}
	if b[n-1] != 'E' {
		return 0, errNoEnd
	}
	if bytes.IndexByte(b[2:n-1], 'X') >= 0 {
		return n, errBad
	}
	return n, nil
}}

type got struct {
	frames []string
	offs   []int64
	errs   []string
	eoffs  []int64
}

func scan(t *testing.T, r io.Reader) got {
	t.Helper()
	var g got
	err := toy.Scan(r, func(off int64, b []byte) {
		g.frames = append(g.frames, string(b))
		g.offs = append(g.offs, off)
	}, func(off int64, err error) {
		g.errs = append(g.errs, err.Error())
		g.eoffs = append(g.eoffs, off)
	})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestScanOffsetsAndErrors(t *testing.T) {
	in := "..S3abcE..S2XyE.S9zz..S1qE.SS1wE..S4ab"
	// one byte at a time: frames split across every read
	g := scan(t, &oneByte{data: []byte(in)})
	wantFrames := []string{"S3abcE", "S1qE", "S1wE"}
	wantOffs := []int64{2, 22, 28}
	if len(g.frames) != 3 {
		t.Fatalf("frames %q", g.frames)
	}
	for i := range wantFrames {
		if g.frames[i] != wantFrames[i] || g.offs[i] != wantOffs[i] {
			t.Errorf("frame %d = %q at %d, want %q at %d", i, g.frames[i], g.offs[i], wantFrames[i], wantOffs[i])
		}
	}
	// bad frame at 10; the false start at 16 ("S9zz..S1qE" has no E at +11) is
	// reported once; "SS1wE" false start at 27 reported once; truncated tail at 34.
	wantErrs := []int64{10, 16, 27, 34}
	if len(g.eoffs) != len(wantErrs) {
		t.Fatalf("errors %q at %v, want at %v", g.errs, g.eoffs, wantErrs)
	}
	for i, o := range wantErrs {
		if g.eoffs[i] != o {
			t.Errorf("error %d (%s) at %d, want %d", i, g.errs[i], g.eoffs[i], o)
		}
	}
}

type oneByte struct{ data []byte }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(o.data) == 0 {
		return 0, io.EOF
	}
	p[0] = o.data[0]
	o.data = o.data[1:]
	return 1, nil
}

// noise yields n bytes of start bytes and junk without ever ending a frame.
type noise struct{ n int }

func (z *noise) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), z.n)
	for i := range k {
		p[i] = "S9ab"[i%4]
	}
	z.n -= k
	return k, nil
}

// TestScanBoundedMemory: megabytes of false starts allocate no more than a
// short input does (the buffer never grows with the input).
func TestScanBoundedMemory(t *testing.T) {
	allocs := func(n int) float64 {
		return testing.AllocsPerRun(3, func() {
			errs := 0
			if err := toy.Scan(&noise{n: n}, func(int64, []byte) {}, func(int64, error) { errs++ }); err != nil {
				t.Fatal(err)
			}
			if errs != 1 {
				t.Fatalf("%d errors for one stretch of noise", errs)
			}
		})
	}
	small, big := allocs(100), allocs(4<<20)
	if big > small+2 {
		t.Errorf("4 MiB of noise: %v allocations, 100 bytes: %v", big, small)
	}
}

func TestReplyComplete(t *testing.T) {
	bad := 0
	c := toy.ReplyComplete(func(b []byte) bool { return b[2] == 'a' }, func(error) { bad++ })
	// the echo/other device S1bE is skipped, the bad frame counted once, the
	// long false start does not hide the good frame after it and is counted
	// once too.
	frame := feed(t, c, "..S1bE S2XXE S9...S2abE", 0)
	if frame != "S2abE" || bad != 2 {
		t.Errorf("frame %q, bad %d", frame, bad)
	}
}

// TestScanBadFrameCostsItsStartByte: a candidate with a frame's shape and a
// bad checksum ("S4XS1qE", whose payload holds X) is reported once and costs
// only its start byte: the valid frame inside it is found, and the bad
// frame's other inner candidates are not reported.
func TestScanBadFrameCostsItsStartByte(t *testing.T) {
	g := scan(t, strings.NewReader("S4XS1qE..S5SXXSE.S1aE"))
	if len(g.frames) != 2 || g.frames[0] != "S1qE" || g.offs[0] != 3 || g.frames[1] != "S1aE" || g.offs[1] != 17 {
		t.Errorf("frames %q at %v", g.frames, g.offs)
	}
	if len(g.eoffs) != 2 || g.eoffs[0] != 0 || g.eoffs[1] != 9 {
		t.Errorf("errors %q at %v, want at [0 9]", g.errs, g.eoffs)
	}
	// The same through a Bus Complete function fed a byte at a time.
	var bad []string
	c := toy.ReplyComplete(func(b []byte) bool { return string(b) == "S1aE" }, func(err error) { bad = append(bad, err.Error()) })
	frame := feed(t, c, "S4XS1qE..S5SXXSE.S1aE", 1)
	if frame != "S1aE" || len(bad) != 2 {
		t.Errorf("frame %q, bad %q", frame, bad)
	}
}

// feed gives in to c as a Bus does, chunk bytes per read (0: all at once),
// and returns the reply c found, if any.
func feed(t *testing.T, c Complete, in string, chunk int) string {
	t.Helper()
	if chunk <= 0 {
		chunk = len(in)
	}
	var buf []byte
	for len(in) > 0 {
		k := min(chunk, len(in))
		buf, in = append(buf, in[:k]...), in[k:]
		for len(buf) > 0 {
			n, skip, err := c(buf)
			if err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				return string(buf[skip : skip+n])
			}
			if skip == 0 {
				break
			}
			buf = buf[skip:]
		}
	}
	return ""
}
