package rules

import (
	"encoding/binary"
	"math"
	"testing"
)

// TestRestoredDayBeyondRangeRefused: a learned state whose local day
// index (the last day with data, or the day steps last forgot its counts)
// is beyond year 9999 — near 2^31 — is refused as out of range, as an
// instant beyond it is. Restored, no later day would be a new one: the
// rule would never forget its counts again, nor count a day toward its
// warm-up. A state with sane days restores.
func TestRestoredDayBeyondRangeRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		y    string
		offs func(ev evaluator) []int
	}{
		{"steps", stepsRules(dripKeys), func(ev evaluator) []int { return []int{stOf(ev).lay.day, stOf(ev).lay.aged} }},
		{"hazard", hazardRules(""), func(ev evaluator) []int { return []int{ev.(*hazard).lay.day} }},
	} {
		tl := newTimeline(t, c.y)
		routine(tl, "hh-1", 0, 15, 100)
		if err := newTimeline(t, c.y).e.RestoreState("hh-1", tl.e.State("hh-1")); err != nil {
			t.Fatalf("%s: sane state refused: %v", c.name, err)
		}
		s := tl.e.get("hh-1").at(0) // s.ext: the household's own bytes
		for _, off := range c.offs(tl.e.rules[0].base.ev) {
			for _, day := range []uint32{math.MaxInt32 - 5, 2932897} { // near 2^31; 10000-01-01
				ext := append([]byte(nil), s.ext...)
				binary.LittleEndian.PutUint32(s.ext[off:], day)
				b := tl.e.State("hh-1")
				copy(s.ext, ext)
				if err := newTimeline(t, c.y).e.RestoreState("hh-1", b); err == nil {
					t.Errorf("%s: day %d at offset %d restored", c.name, day, off)
				}
			}
		}
	}
}
