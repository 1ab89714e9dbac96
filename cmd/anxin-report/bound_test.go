package main

import (
	"io"
	"math"
	"testing"
	"time"

	"github.com/anxin-care/anxin/replay"
)

type sliceSource struct{ rs []replay.Reading }

func (s *sliceSource) Next() (replay.Reading, error) {
	if len(s.rs) == 0 {
		return replay.Reading{}, io.EOF
	}
	r := s.rs[0]
	s.rs = s.rs[1:]
	return r, nil
}
func (s *sliceSource) Stats() replay.LoadStats { return replay.LoadStats{} }
func (s *sliceSource) Close() error            { return nil }

// TestQuietPeriods: small rises add up to a use as the no-use rules count
// them, a gap ends a quiet (censored), and only a 10 l rise is a use the
// injection can pick.
func TestQuietPeriods(t *testing.T) {
	t0 := time.Date(2016, 3, 1, 6, 0, 0, 0, time.UTC)
	h := func(n float64) time.Time { return t0.Add(time.Duration(n * float64(time.Hour))) }
	r := func(at time.Time, l float64) replay.Reading { return replay.Reading{Household: "a", TS: at, Litres: l} }
	src := &sliceSource{rs: []replay.Reading{
		r(h(0), 100), r(h(1), 120), // use (20 l) at 1 h
		r(h(2), 124), r(h(3), 128), r(h(4), 131), // 4+4+3 = 11 l: a use at 4 h (small rises)
		r(h(5), 131), r(h(9), 131), // gap of 4 h: the quiet from 4 h is known to 5 h, censored
		r(h(10), 150), r(h(11), 150), r(h(12), 170), // use at 10 h, then at 12 h
	}}
	var hs []householdQuiets
	if err := readSeries(src, func(s *meterSeries) error { hs = append(hs, quietsOf(s, 10)); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 || hs[0].days != 1 {
		t.Fatalf("%+v", hs)
	}
	q := hs[0].quiets
	want := []struct {
		start    float64
		hours    float64
		censored bool
	}{{1, 3, false}, {4, 1, true}, {10, 2, false}}
	if len(q) != len(want) {
		t.Fatalf("quiets %+v", q)
	}
	for i, w := range want {
		if !q[i].start.Equal(h(w.start)) || q[i].hours != w.hours || q[i].censored != w.censored {
			t.Errorf("quiet %d: %+v, want %+v", i, q[i], w)
		}
	}
	// weights: the 1 h use (first: 24 h), none for the 4 h use (small rises),
	// the 10 h use 9 h after the previous 10 l rise
	if q[1].weight != 0 || math.Abs(q[0].weight-24.0/33) > 1e-9 || math.Abs(q[2].weight-9.0/33) > 1e-9 {
		t.Errorf("weights %v %v %v", q[0].weight, q[1].weight, q[2].weight)
	}
}

// TestHindsightBound: free cells first, then the best catch per false
// alarm, the last one in part.
func TestHindsightBound(t *testing.T) {
	at := func(hour int) time.Time { return time.Date(2016, 3, 1, hour, 0, 0, 0, time.UTC) }
	hs := []householdQuiets{{id: "a", days: 10, quiets: []quiet{
		{start: at(7), hours: 1, weight: 0.3},  // hour 7: never quiet 4 h: free
		{start: at(13), hours: 6, weight: 0.2}, // hour 13: one long quiet (1 false alarm)
		{start: at(13), hours: 1, weight: 0.2},
		{start: at(20), hours: 9, weight: 0.3}, // hour 20: two long quiets (2 false alarms)
		{start: at(20), hours: 9, weight: 0},
	}}}
	// budget 0.1 × 10 days = 1 false alarm: hour 7 (0.3) + hour 13 (0.4)
	if got := hindsightBound(hs, 4*time.Hour, 0.1).ByHour; math.Abs(got-0.7) > 1e-9 {
		t.Errorf("bound %v, want 0.7", got)
	}
	// budget 2: + half of hour 20's 0.3
	if got := hindsightBound(hs, 4*time.Hour, 0.2).ByHour; math.Abs(got-0.85) > 1e-9 {
		t.Errorf("bound %v, want 0.85", got)
	}
}
