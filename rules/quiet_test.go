package rules

import (
	"bytes"
	"testing"
)

// checkRestoreRingsAlike runs 20 ordinary days of household hh-1 under
// rules y and saves its state (sizeOK judges its length). Restored into a
// new engine the state must re-encode to the same bytes, and a morning
// with no use after 07:30 on day 20 must raise one alarm in each engine,
// at the same instant with the same reason; truncated state is refused.
// The persisted-state tests of the learning kinds (learned, hazard, steps)
// share it.
func checkRestoreRingsAlike(t *testing.T, y string, sizeOK func(tl *timeline, n int) bool) {
	t.Helper()
	tl := newTimeline(t, y)
	v := routine(tl, "hh-1", 0, 20, 100)
	b := saved(tl.e)["hh-1"]
	if !sizeOK(tl, len(b)) {
		t.Fatalf("state of %d bytes", len(b))
	}
	tl2 := newTimeline(t, y)
	tl2.now = tl.now
	if err := tl2.e.RestoreState("hh-1", b); err != nil {
		t.Fatal(err)
	}
	if again := tl2.e.State("hh-1"); !bytes.Equal(again, b) {
		t.Error("restored state does not re-encode identically")
	}
	morningOnly(tl, "hh-1", 20, v)
	morningOnly(tl2, "hh-1", 20, v)
	o1, o2 := opens(tl), opens(tl2)
	if len(o1) != 1 || len(o2) != 1 || !o1[0].At.Equal(o2[0].At) || o1[0].Reason != o2[0].Reason {
		t.Errorf("original %v, restored %v", tl.log, tl2.log)
	}
	if err := tl2.e.RestoreState("hh-1", b[:len(b)-10]); err == nil {
		t.Error("truncated state accepted")
	}
}

// restoreStable restores fuzzed state b as household hh into a new
// engine of cfg and returns it, or nil when the state is refused. State
// it accepts must re-encode stably (a second engine reads it back to the
// same bytes).
func restoreStable(t *testing.T, cfg *Config, hh string, b []byte) *Engine {
	t.Helper()
	e := New(cfg)
	if err := e.RestoreState(hh, b); err != nil {
		return nil
	}
	enc := e.State(hh)
	e2 := New(cfg)
	if err := e2.RestoreState(hh, enc); err != nil || !bytes.Equal(e2.State(hh), enc) {
		t.Fatalf("encoding not stable: %v", err)
	}
	return e
}

// quietMorning runs 20 ordinary days of household hh-1 under rules y,
// which must raise nothing (label, when set, names the case in the
// failure), then day 20 with no use after 07:30. It returns the timeline
// and the meter's reading.
func quietMorning(t *testing.T, y, label string) (*timeline, float64) {
	t.Helper()
	tl := newTimeline(t, y)
	v := routine(tl, "hh-1", 0, 20, 100)
	if o := opens(tl); len(o) != 0 {
		if label != "" {
			label += ": "
		}
		t.Fatalf("%sordinary days raised %v", label, tl.log)
	}
	morningOnly(tl, "hh-1", 20, v)
	return tl, v
}
