package main

import "testing"

func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live    uint64
		current int
		want    int
	}{
		{0, gcSmall, gcSmall},
		{60 << 20, gcSmall, gcSmall},        // the harness's alarmd
		{200 << 20, gcSmall, gcSmall},       // between the thresholds: kept
		{gcLargeHeap, gcSmall, gcLarge},     // a large district
		{1700 << 20, gcSmall, gcLarge},      // 1,000,000 households
		{200 << 20, gcLarge, gcLarge},       // shrinking, still between: kept
		{gcSmallHeap - 1, gcLarge, gcSmall}, // small again
		{gcSmallHeap - 1, gcSmall, gcSmall},
	} {
		if got := gcPercentFor(c.live, c.current); got != c.want {
			t.Errorf("gcPercentFor(%d MiB, %d) = %d, want %d", c.live>>20, c.current, got, c.want)
		}
	}
}
