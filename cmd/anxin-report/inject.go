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

// chooseEmergencies picks, per household, one emergency (or every, for a
// single long series, one per period): a random day after the warm-up, a
// random time of day, then the first reading at or after that time that
// shows use (≥ minUse litres since the reading before) — the elder was
// active and then stopped — with at least window of data after it. The
// random source is seeded: the same seed gives the same set.
func chooseEmergencies(src replay.Source, seed uint64, warmUp, window, period time.Duration, minUse float64) ([]emergency, error) {
	rng := rand.New(rand.NewPCG(seed, 0x616e78696e))
	var out []emergency
	var cur *meterSeries
	flush := func() {
		if cur == nil || len(cur.ts) < 2 {
			return
		}
		first, last := cur.ts[0], cur.ts[len(cur.ts)-1]
		start := first.Add(warmUp)
		for from := start; from.Add(window).Before(last); {
			to := last.Add(-window)
			if period > 0 && from.Add(period).Before(to) {
				to = from.Add(period)
			}
			for try := 0; try < 50; try++ {
				at := from.Add(time.Duration(rng.Int64N(int64(to.Sub(from)))))
				if t, ok := cur.useAfter(at, minUse, 24*time.Hour); ok && t.Add(window).Before(last) {
					out = append(out, emergency{cur.id, t.UTC()})
					break
				}
			}
			if period <= 0 {
				break
			}
			from = to.Add(window)
		}
	}
	for {
		r, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if cur == nil || cur.id != r.Household {
			flush()
			cur = &meterSeries{id: r.Household}
		}
		cur.ts = append(cur.ts, r.TS)
		cur.v = append(cur.v, r.Litres)
	}
	flush()
	return out, nil
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
