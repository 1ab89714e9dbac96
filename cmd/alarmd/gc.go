package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// alarmd's GOGC when the environment sets none depends on the live heap.
// Most of a small deployment's resident memory is the GC's headroom, so it
// collects at 1.5× the live heap (GOGC 50: peak RSS on the shared harness
// ~69 → ~60 MiB, CPU not measurably different). A district of a million
// households keeps ~1.7 GB live, where marking it twice as often is a
// large share of alarmd's CPU (docs/alarmd.md, "1,000,000 households
// through a broker"), so past gcLargeHeap it collects at 2× (GOGC 100).
const (
	gcSmall      = 50
	gcLarge      = 100
	gcLargeHeap  = 256 << 20 // live bytes from which gcLarge applies
	gcSmallHeap  = 192 << 20 // and below which gcSmall applies again
	gcCheckEvery = 10 * time.Second
)

// gcPercentFor is the GOGC for a live heap, given the one in force: the gap
// between the two thresholds keeps a heap near one of them from flapping.
func gcPercentFor(live uint64, current int) int {
	switch {
	case live >= gcLargeHeap:
		return gcLarge
	case live < gcSmallHeap:
		return gcSmall
	default:
		return current
	}
}

// tuneGC sets GOGC (gcSmall when it starts) from the live heap every
// gcCheckEvery until ctx ends.
func tuneGC(ctx context.Context) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	current := gcSmall
	t := time.NewTicker(gcCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return // not reported by this runtime: stay at gcSmall
		}
		if p := gcPercentFor(sample[0].Value.Uint64(), current); p != current {
			debug.SetGCPercent(p)
			current = p
		}
	}
}
