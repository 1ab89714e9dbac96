package main

import (
	"io"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/anxin-care/anxin/replay"
)

// emergency is one injected emergency: the instant the meter stops.
type emergency struct {
	Household string
	StopAt    time.Time
}

// household readings kept while choosing emergencies: times and counters.
type meterSeries struct {
	id string
	ts []time.Time
	v  []float64
}

// readSeries streams a source one household at a time (its readings are
// grouped by household) and hands each household's series to fn.
func readSeries(src replay.Source, fn func(s *meterSeries) error) error {
	var cur *meterSeries
	for {
		r, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if cur == nil || cur.id != r.Household {
			if cur != nil {
				if err := fn(cur); err != nil {
					return err
				}
			}
			cur = &meterSeries{id: r.Household}
		}
		cur.ts = append(cur.ts, r.TS)
		cur.v = append(cur.v, r.Litres)
	}
	if cur != nil {
		return fn(cur)
	}
	return nil
}

// newInjectRNG is the seeded source of the injected emergencies: the same
// seed gives the same set.
func newInjectRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x616e78696e)) }

// emergencies picks, for one household, one emergency (or, for a single
// long series, one per period): a random day after the warm-up, a random
// time of day, then the first reading at or after that time that shows use
// (≥ minUse litres since the reading before) — the elder was active and
// then stopped — with at least window of data after it.
func (s *meterSeries) emergencies(rng *rand.Rand, warmUp, window, period time.Duration, minUse float64) []emergency {
	if len(s.ts) < 2 {
		return nil
	}
	var out []emergency
	first, last := s.ts[0], s.ts[len(s.ts)-1]
	for from := first.Add(warmUp); from.Add(window).Before(last); {
		to := last.Add(-window)
		if period > 0 && from.Add(period).Before(to) {
			to = from.Add(period)
		}
		for try := 0; try < 50; try++ {
			at := from.Add(time.Duration(rng.Int64N(int64(to.Sub(from)))))
			if t, ok := s.useAfter(at, minUse, 24*time.Hour); ok && t.Add(window).Before(last) {
				out = append(out, emergency{s.id, t.UTC()})
				break
			}
		}
		if period <= 0 {
			break
		}
		from = to.Add(window)
	}
	return out
}

// useAfter is the first reading in [at, at+within) whose counter rose by
// at least minUse over the reading before.
func (s *meterSeries) useAfter(at time.Time, minUse float64, within time.Duration) (time.Time, bool) {
	for i := max(1, sort.Search(len(s.ts), func(i int) bool { return !s.ts[i].Before(at) })); i < len(s.ts); i++ {
		if !s.ts[i].Before(at.Add(within)) {
			break
		}
		if d := s.v[i] - s.v[i-1]; d >= minUse && d < 5000 {
			return s.ts[i], true
		}
	}
	return time.Time{}, false
}
