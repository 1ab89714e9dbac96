package ingest

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestSeenWindowMatchesAReference: random adds (repeats included),
// forgets (of an id whose batch was handed back) and expiries against a
// plain map and queue, with keys crowded onto few home slots so probe runs
// collide, wrap around the table's end and are shifted back as the oldest
// ids are forgotten. A forgotten id keeps its place in the ring until it is
// the oldest; added again, it is remembered until its new entry goes.
// Every key of the universe is asked every 25 steps.
func TestSeenWindowMatchesAReference(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		const max = 300
		w := newSeenWindow(max, time.Hour)
		universe := make([]idKey, 2000)
		for i := range universe {
			// homes: 16 values near the table's end, so runs wrap to slot 0
			universe[i] = idKey{uint64(w.mask-uint32(rng.IntN(16))) | uint64(i)<<32, uint64(i)}
		}
		type entry struct {
			k      idKey
			at     time.Time
			serial int
		}
		var queue []entry
		live := map[idKey]int{} // key → serial of its remembered entry
		serial := 0
		pop := func() {
			if live[queue[0].k] == queue[0].serial {
				delete(live, queue[0].k)
			}
			queue = queue[1:]
		}
		now := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
		for step := range 5000 {
			now = now.Add(time.Duration(rng.IntN(3)) * time.Second)
			switch r := rng.IntN(50); {
			case r == 0:
				now = now.Add(time.Duration(rng.IntN(90)) * time.Minute)
				w.Expire(now)
				for len(queue) > 0 && queue[0].at.Before(now.Add(-time.Hour)) {
					pop()
				}
			case r < 6:
				k := universe[rng.IntN(len(universe))]
				w.forget(k)
				delete(live, k)
			default:
				k := universe[rng.IntN(len(universe))]
				w.addKey(k, now)
				if _, ok := live[k]; !ok {
					if len(queue) == max {
						pop()
					}
					serial++
					queue = append(queue, entry{k, now, serial})
					live[k] = serial
				}
			}
			if w.Len() != len(queue) {
				t.Fatalf("seed %d step %d: %d ids remembered, want %d", seed, step, w.Len(), len(queue))
			}
			if step%25 != 0 {
				continue
			}
			for _, k := range universe {
				if _, want := live[k]; w.hasKey(k) != want {
					t.Fatalf("seed %d step %d: key %d remembered %v, want %v", seed, step, k[1], w.hasKey(k), want)
				}
			}
		}
	}
}

// TestKey2IsKeyOfJoined: a message's key (household, id) is the key of
// "household/id", the form the store's seen_ids restores (Restore: Add),
// whatever the lengths, without an allocation.
func TestKey2IsKeyOfJoined(t *testing.T) {
	w := newSeenWindow(10, time.Hour)
	long := strings.Repeat("x", 200) // past key2's stack buffer
	for _, c := range [][2]string{{"hh-1", "01JDX3"}, {"", ""}, {"h", long}, {long, long}, {"hh-00042", "r1-000000042"}} {
		if w.key2(c[0], c[1]) != w.key(c[0]+"/"+c[1]) {
			t.Errorf("key2(%q, %q) is not the key of the joined id", c[0], c[1])
		}
	}
	if n := testing.AllocsPerRun(100, func() { w.key2("hh-00042", "r1-000000042") }); n != 0 {
		t.Errorf("%v allocations for a key", n)
	}
}
