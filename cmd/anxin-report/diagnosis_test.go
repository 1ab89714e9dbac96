package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestBoundWithFallback: quiet periods over 24 h are paid first wherever
// they start; then free cells, then the best catch per false alarm.
func TestBoundWithFallback(t *testing.T) {
	at := func(hour int) time.Time { return time.Date(2016, 3, 1, hour, 0, 0, 0, time.UTC) }
	hs := []householdQuiets{{id: "a", days: 10, quiets: []quiet{
		{start: at(7), hours: 1, weight: 0.3},   // hour 7: free
		{start: at(13), hours: 10, weight: 0.2}, // hour 13: one false alarm at 8 h
		{start: at(13), hours: 1, weight: 0.2},
		{start: at(20), hours: 30, weight: 0.3}, // over 24 h: rings at the fallback anyway
	}}}
	got, fixed := boundWithFallback(hs, 8, 1)
	if fixed != 1 || math.Abs(got-0.6) > 1e-9 { // budget 1 - 1 fixed: free cells only (hours 7 and 20)
		t.Errorf("bound %v with %v fixed, want 0.6 with 1", got, fixed)
	}
	if got, _ := boundWithFallback(hs, 8, 2); math.Abs(got-1) > 1e-9 {
		t.Errorf("bound %v with one more false alarm, want 1", got)
	}
}

// TestPastOnlySteps: a home whose 08:00 quiet periods last 2 h and whose
// 22:00 ones last 10 h: with steps {8 h, 24 h} the learner rings at 8 h
// for the mornings after the warm-up and never for nothing; with every
// hour as a choice and a low cost it rings before 10 h at night and pays.
func TestPastOnlySteps(t *testing.T) {
	h := householdQuiets{id: "a", days: 60}
	day0 := time.Date(2016, 3, 1, 0, 0, 0, 0, time.UTC)
	for d := 0; d < 60; d++ {
		h.quiets = append(h.quiets,
			quiet{start: day0.AddDate(0, 0, d).Add(8 * time.Hour), hours: 2},
			quiet{start: day0.AddDate(0, 0, d).Add(22 * time.Hour), hours: 10})
	}
	hs := uniformWeights([]householdQuiets{h})
	w8, fa := pastOnly(hs, 100, []int{8, 24})
	// mornings after the 14-day warm-up: 46 of 120 periods
	if math.Abs(w8-46.0/120) > 1e-9 || fa != 0 {
		t.Errorf("steps: within 8 h %v, false alarms %v", w8, fa)
	}
	w8, fa = pastOnly(hs, 2, nil)
	if w8 <= 46.0/120 || fa == 0 {
		t.Errorf("every hour, cheap false alarms: within 8 h %v, false alarms %v", w8, fa)
	}
	d := diagnose(hs, 0)
	// the mornings (half the weight) free, 3 of the 60 long nights' false alarms
	if math.Abs(d.BoundUniform-0.525) > 1e-9 || d.Left != goalFalse {
		t.Errorf("diagnosis %+v", d)
	}
}

// TestMissBreakdown: -misses on the committed DAIAD slice prints the
// breakdowns for a no-use rule and refuses a rule of another family.
func TestMissBreakdown(t *testing.T) {
	var b strings.Builder
	const slice = "../../testdata/replay/daiad_slice.zip"
	if err := missBreakdown(&b, slice, "{name: f, kind: no_use, field: total_m3, min_delta: 0.003, for: 8h}"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"f: ", "home's age ≥  14 d", "use at 07 h", "of the 8 h misses", "a data gap (> 2 h) within 8 h"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
	if err := missBreakdown(&b, slice, "{name: hot, kind: threshold, field: temp_c, above: 35}"); err == nil {
		t.Error("a threshold rule accepted")
	}
}
