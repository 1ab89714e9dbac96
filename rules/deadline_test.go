package rules

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// TestDeadlineHeapStaysExact: NextDeadline is always the earliest
// deadline of any household, and Tick leaves no household due: checked
// against every household's own deadline through random readings, events
// and ticks (a guard for changes to the timer heap: a lazy variant that
// left moved deadlines in place until they surfaced was tried and
// measured slower, see the branch cpu's history).
func TestDeadlineHeapStaysExact(t *testing.T) {
	e := New(Default())
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	earliest := func() (min int64) {
		for h := range e.hh.All() {
			if h.next != 0 && (min == 0 || int64(h.next) < min) {
				min = int64(h.next)
			}
		}
		return min
	}
	total := 1.0
	for step := range 20_000 {
		now = now.Add(time.Duration(rng.IntN(20*60)) * time.Second)
		hh := fmt.Sprintf("hh-%02d", rng.IntN(40))
		switch r := rng.IntN(100); {
		case r < 2:
			e.Observe(now, &anxin.Message{ID: fmt.Sprint(step), TS: now, Household: hh, Device: "btn1",
				Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed})
		case r < 10:
			e.Tick(now)
			for h := range e.hh.All() {
				if h.next != 0 && int64(h.next) <= now.Unix() {
					t.Fatalf("step %d: %s due at %d left by Tick(%d)", step, h.id, h.next, now.Unix())
				}
			}
		default:
			if rng.IntN(3) == 0 {
				total += rng.Float64() * 0.01
			}
			e.Observe(now, &anxin.Message{ID: fmt.Sprint(step), TS: now, Household: hh, Device: "wm1",
				Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(total)}})
		}
		want := earliest()
		got := e.NextDeadline()
		if (want == 0) != got.IsZero() || (want != 0 && got.Unix() != want) {
			t.Fatalf("step %d: NextDeadline %v, earliest household deadline %d", step, got, want)
		}
	}
}
