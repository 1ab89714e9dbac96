package main

import (
	"io"
	"time"

	"github.com/anxin-care/anxin/replay"
)

// meterSeries is one household's readings: times and counters.
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
