// Package frametest holds the resync invariant of serialport framings, for
// the fuzz targets of every framed driver.
package frametest

import (
	"bytes"
	"testing"

	"github.com/anxin-care/anxin/drivers/serialport"
)

// NoiseThenFrame fails t unless scanning noise followed by sent (a valid
// frame after pre wake-up bytes) yields that frame at its offset. The one
// exception: a candidate in the noise that validated (its end byte and
// checksum right by chance, 1 in 65,536) overlapping the frame; a valid
// frame is consumed whole, and the protocol cannot tell which of the two is
// the device's.
func NoiseThenFrame(t testing.TB, f serialport.Framing, noise, sent []byte, pre int) {
	t.Helper()
	in := append(append([]byte{}, noise...), sent...)
	at := int64(len(noise) + pre)
	found, swallowed := false, false
	err := f.Scan(bytes.NewReader(in), func(off int64, b []byte) {
		end := off + int64(len(b))
		found = found || off == at && bytes.Equal(b, sent[pre:])
		swallowed = swallowed || off < at && end > at
	}, func(int64, error) {})
	if err != nil {
		t.Fatal(err)
	}
	if !found && !swallowed {
		t.Fatalf("noise % X then a valid frame: frame not found", noise)
	}
}
