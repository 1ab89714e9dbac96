package tcpserver

import (
	"bytes"
	"testing"
)

// A format for tests: '<' payload '>' with no other rule.
var angle = Framing{Start: '<', MaxFrame: 64, Check: func(b []byte) (int, error) {
	if i := bytes.IndexByte(b, '>'); i >= 0 {
		return i + 1, nil
	}
	return 0, nil
}}

// TestHugeCandidateIsBounded: a start byte followed by 1 MB without an end
// holds at most MaxFrame bytes, is reported once, and a frame after it is
// found.
func TestHugeCandidateIsBounded(t *testing.T) {
	sc := NewScanner(angle)
	var fails, frames int
	held := 0
	chunk := bytes.Repeat([]byte{'x'}, 4096)
	sc.Feed([]byte{'<'}, nil, nil)
	for range 256 {
		sc.Feed(chunk, func(int64, []byte) { frames++ }, func(int64, error) { fails++ })
		held = max(held, sc.Held())
	}
	sc.Feed([]byte("<ok>"), func(_ int64, b []byte) {
		if string(b) == "<ok>" {
			frames++
		}
	}, func(int64, error) { fails++ })
	if held > angle.MaxFrame+len(chunk) || fails != 1 || frames != 1 {
		t.Errorf("held %d bytes, %d failures, %d frames", held, fails, frames)
	}
}
