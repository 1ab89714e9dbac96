package alarmd

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/anxin-care/anxin"
)

// TestRegisterPatchAgainstAModel: random sequences of register changes
// (edits, adds, removes, re-adds, households never in the view) installed
// as refreshSome does, each view compared with a plain map of what the
// register holds; every earlier view, which readers may still hold, must
// keep answering as it did when it was current.
func TestRegisterPatchAgainstAModel(t *testing.T) {
	tiers := []anxin.Tier{anxin.TierGeneral, anxin.TierUnassessed, "high", "custom"}
	devLists := [][]anxin.Device{
		{{ID: "wm1", Kind: anxin.KindWaterMeter}, {ID: "btn1", Kind: anxin.KindCallButton}},
		{{ID: "btn1", Kind: anxin.KindCallButton}},
		{},
		{{ID: "sd1", Kind: anxin.KindSmokeDetector, Place: "厨房"}},
	}
	for seed := range uint64(40) {
		rng := rand.New(rand.NewPCG(seed, 7))
		kit := func(h string) anxin.Kit {
			d := slices.Clone(devLists[rng.IntN(len(devLists))])
			if rng.IntN(4) == 0 {
				d = append(d, anxin.Device{ID: fmt.Sprintf("x%d", rng.IntN(5))})
			}
			return anxin.Kit{Household: h, Tier: tiers[rng.IntN(len(tiers))], Devices: d, Elder: fmt.Sprintf("e%d", rng.IntN(3))}
		}
		universe := 20 + rng.IntN(300)
		id := func(i int) string { return fmt.Sprintf("hh-%04d", i) }
		model := map[string]anxin.Kit{}
		var fresh []anxin.Kit
		for i := range universe {
			if rng.IntN(2) == 0 {
				k := kit(id(i))
				model[k.Household] = k
				fresh = append(fresh, k)
			}
		}
		slices.SortFunc(fresh, func(a, b anxin.Kit) int { return strings.Compare(a.Household, b.Household) })
		s := merge(1, nil, nil, fresh)
		type held struct {
			s     *registerSnap
			model map[string]anxin.Kit
		}
		var history []held
		patched := 0
		for step := range 200 {
			check(t, seed, step, s, model, universe, id)
			history = append(history, held{s, clonedModel(model)})
			// a change: a few households written (edited, added, removed)
			drop := map[string]bool{}
			var fresh []anxin.Kit
			for range 1 + rng.IntN(1+universe/16) {
				h := id(rng.IntN(universe))
				if drop[h] {
					continue
				}
				drop[h] = true
				if rng.IntN(3) == 0 {
					delete(model, h) // removed (or never there)
					continue
				}
				k := kit(h)
				model[h] = k
				fresh = append(fresh, k)
			}
			slices.SortFunc(fresh, func(a, b anxin.Kit) int { return strings.Compare(a.Household, b.Household) })
			next := patch(uint64(step+2), s, drop, fresh)
			if next == nil {
				next = merge(uint64(step+2), s, drop, fresh)
			} else {
				patched++
			}
			s = next
		}
		if patched == 0 {
			t.Fatalf("seed %d: no change was patched", seed)
		}
		for i, h := range history {
			check(t, seed, -i, h.s, h.model, universe, id)
		}
	}
}

func clonedModel(m map[string]anxin.Kit) map[string]anxin.Kit {
	c := make(map[string]anxin.Kit, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func check(t *testing.T, seed uint64, step int, s *registerSnap, model map[string]anxin.Kit, universe int, id func(int) string) {
	t.Helper()
	r := &Register{}
	r.snap.Store(s)
	for i := range universe {
		h := id(i)
		want, in := model[h]
		hk, dk := r.Knows(h, "btn1")
		if hk != in {
			t.Fatalf("seed %d step %d: Knows(%s) household %v, want %v", seed, step, h, hk, in)
		}
		if in {
			if wantDev := hasDevice(want.Devices, "btn1"); dk != wantDev {
				t.Fatalf("seed %d step %d: Knows(%s, btn1) device %v, want %v", seed, step, h, dk, wantDev)
			}
			j, _ := s.find(h)
			if got := s.kit(j); got.Household != h || got.Tier != want.Tier || got.Elder != want.Elder || !slices.Equal(got.Devices, want.Devices) {
				t.Fatalf("seed %d step %d: kit of %s %+v, want %+v", seed, step, h, got, want)
			}
		}
	}
	seen := map[string]bool{}
	for k := range r.Kits() {
		if seen[k.Household] {
			t.Fatalf("seed %d step %d: Kits yields %s twice", seed, step, k.Household)
		}
		seen[k.Household] = true
		if _, ok := model[k.Household]; !ok {
			t.Fatalf("seed %d step %d: Kits yields %s, not in the register", seed, step, k.Household)
		}
	}
	if len(seen) != len(model) || s.at.Len() != len(model) {
		t.Fatalf("seed %d step %d: %d kits, index %d, want %d", seed, step, len(seen), s.at.Len(), len(model))
	}
}
