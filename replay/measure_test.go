package replay

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"
)

// measureSeries: four days of hourly readings (UTC), 20 l used at every
// hour from 07:00 to 21:00, none at night; the readings of day 2 at 20:00,
// 21:00 and 22:00 are missing (a data gap across which water was used).
func measureSeries(t *testing.T) string {
	var c []float64
	v := 1000.0
	for h := 0; h < 96; h++ {
		if hd := h % 24; hd >= 7 && hd <= 21 {
			v += 20
		}
		if h >= 48+20 && h <= 48+22 {
			c = append(c, math.NaN())
			continue
		}
		c = append(c, v)
	}
	return writeCSV(t, time.Date(2016, 3, 1, 0, 0, 0, 0, time.UTC), c)
}

func measure(t *testing.T, path string, stops map[string][]time.Time) *Measurement {
	t.Helper()
	return measureRules(t, path, "  - {name: no_water_4h, kind: no_use, field: total_m3, min_delta: 0.01, for: 4h}\n"+
		"  - {name: no_water_48h, kind: no_use, field: total_m3, min_delta: 0.01, for: 48h, silent_rule: silent_48h}\n", stops)
}

// measureRules measures the DAIAD series at path with the given rules
// (YAML list items), a use being 10 l.
func measureRules(t *testing.T, path, rules string, stops map[string][]time.Time) *Measurement {
	t.Helper()
	cfg, err := Rules([]byte("timezone: UTC\nrules:\n"+rules), "UTC")
	if err != nil {
		t.Fatal(err)
	}
	src, err := Open("daiad", path, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	m, err := Measure(src, MeasureOptions{Rules: cfg, Stops: stops, UseLitres: 10})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMeasure: every emergency is measured in a fork — two that overlap
// each get their own delay, a rule that does not ring within the window
// is a miss (+Inf) — and the real replay, untouched by the forks, gives
// one false alarm per night (the first 7 h of data, three nights), the one
// after the gap counted apart.
func TestMeasure(t *testing.T) {
	path := measureSeries(t)
	day1 := time.Date(2016, 3, 2, 0, 0, 0, 0, time.UTC)
	m := measure(t, path, map[string][]time.Time{"abcdef01": {
		day1.Add(10 * time.Hour), day1.Add(12 * time.Hour), day1.Add(12*time.Hour + 30*time.Minute)}})
	if m.Unmatched != 1 || len(m.Outcomes) != 2 {
		t.Fatalf("unmatched %d, outcomes %+v", m.Unmatched, m.Outcomes)
	}
	for i, o := range m.Outcomes {
		if want := day1.Add(time.Duration(10+2*i) * time.Hour); !o.StopAt.Equal(want) || o.DelayH[0] != 4 || !math.IsInf(o.DelayH[1], 1) {
			t.Errorf("outcome %d: %+v", i, o)
		}
	}
	if len(m.Households) != 1 {
		t.Fatalf("households %+v", m.Households)
	}
	h := m.Households[0]
	if h.Days != 4 || h.False[0] != 4 || h.AfterGap[0] != 1 || h.False[1] != 0 {
		t.Errorf("household %+v", h)
	}
	if m.Readings != 93 || m.Forked == 0 {
		t.Errorf("readings %d, forked %d", m.Readings, m.Forked)
	}
	// Without emergencies the real replay is the same.
	m2 := measure(t, path, nil)
	if h2 := m2.Households[0]; h2.False[0] != h.False[0] || h2.AfterGap[0] != h.AfterGap[0] || m2.Forked != 0 {
		t.Errorf("without stops %+v", h2)
	}
}

// BenchmarkMeasure: the DAIAD slice through the golden rules with an
// emergency at every 50th reading: real household-days per second.
func BenchmarkMeasure(b *testing.B) {
	cfg, err := Rules(mustRead(b, dir+"rules.yaml"), DefaultZone("daiad"))
	if err != nil {
		b.Fatal(err)
	}
	stops := map[string][]time.Time{}
	src, err := Open("daiad", dir+"daiad_slice.zip", cfg.Location())
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; ; i++ {
		r, err := src.Next()
		if err != nil {
			break
		}
		if i%50 == 0 {
			stops[r.Household] = append(stops[r.Household], r.TS)
		}
	}
	src.Close()
	days := 0
	for b.Loop() {
		src, err := Open("daiad", dir+"daiad_slice.zip", cfg.Location())
		if err != nil {
			b.Fatal(err)
		}
		m, err := Measure(src, MeasureOptions{Rules: cfg, Stops: stops, UseLitres: 10})
		src.Close()
		if err != nil {
			b.Fatal(err)
		}
		for _, h := range m.Households {
			days += h.Days
		}
	}
	b.ReportMetric(float64(days)/b.Elapsed().Seconds(), "household-days/s")
}

// TestMeasureForkForgetsHousehold: the fork of one household's emergency
// leaves nothing behind for the next household's: here the first one's
// 48 h rule was due at its window's end, and must not ring inside the
// second household's window as if it were the second's.
func TestMeasureForkForgetsHousehold(t *testing.T) {
	var c []float64
	v := 1000.0
	for h := 0; h < 96; h++ {
		if hd := h % 24; hd >= 7 && hd <= 21 {
			v += 20
		}
		c = append(c, v)
	}
	day0 := time.Date(2016, 3, 1, 0, 0, 0, 0, time.UTC)
	path := writeCSV(t, day0, c)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 2)
	b = append(b, strings.ReplaceAll(lines[1], "ab-cd-ef-01", "ab-cd-ef-02")...)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	m := measure(t, path, map[string][]time.Time{
		"abcdef01": {day0.Add(10 * time.Hour)}, "abcdef02": {day0.Add(34 * time.Hour)}})
	if len(m.Outcomes) != 2 {
		t.Fatalf("outcomes %+v", m.Outcomes)
	}
	for _, o := range m.Outcomes {
		if o.DelayH[0] != 4 || !math.IsInf(o.DelayH[1], 1) {
			t.Errorf("outcome %+v", o)
		}
	}
}

// TestMeasureStepsIsNoUse: a kind-steps rule is measured as a no-use
// rule: its alarms are the emergencies' detections and, in the real
// replay, false alarms (its fallback rings 4 h into each night here).
func TestMeasureStepsIsNoUse(t *testing.T) {
	day1 := time.Date(2016, 3, 2, 0, 0, 0, 0, time.UTC)
	m := measureRules(t, measureSeries(t),
		"  - {name: st, kind: steps, field: total_m3, min_delta: 0.01, alarm_times: [8h, 24h], fallback: 4h}\n",
		map[string][]time.Time{"abcdef01": {day1.Add(10 * time.Hour)}})
	if len(m.Rules) != 1 || m.Rules[0] != "st" || len(m.Outcomes) != 1 || m.Outcomes[0].DelayH[0] != 4 || m.Households[0].False[0] == 0 {
		t.Errorf("rules %v, outcomes %+v, households %+v", m.Rules, m.Outcomes, m.Households)
	}
}

// TestMeasureFalseAlarmsPerRulesOwnQuiet: a rule that counts a smaller
// rise as use than the run's UseLitres rings once per its own quiet
// period, and each of those rings counts: here 5 l at 02:00 each night
// ends the 5 l rule's quiet period (it rings at 23:00 and at 04:00) but
// not the 10 l one's (23:00 only).
func TestMeasureFalseAlarmsPerRulesOwnQuiet(t *testing.T) {
	var c []float64
	v := 1000.0
	for h := 0; h < 96; h++ {
		switch hd := h % 24; {
		case hd >= 7 && hd <= 21:
			v += 20
		case hd == 2:
			v += 5
		}
		c = append(c, v)
	}
	path := writeCSV(t, time.Date(2016, 3, 1, 0, 0, 0, 0, time.UTC), c)
	m := measureRules(t, path,
		"  - {name: use5, kind: no_use, field: total_m3, min_delta: 0.005, for: 2h, silent_rule: s5}\n"+
			"  - {name: use10, kind: no_use, field: total_m3, min_delta: 0.01, for: 2h, silent_rule: s10}\n", nil)
	h := m.Households[0]
	// three whole nights from 21:00: 23:00 for both, 04:00 for use5
	// only; the last evening's 23:00 for both; the first night (from the
	// first reading at 00:00) 02:00 for use10, 04:00 for use5.
	if h.False[0] != 8 || h.False[1] != 5 {
		t.Errorf("false alarms use5 %d, use10 %d; want 8, 5", h.False[0], h.False[1])
	}
}

// TestMeasureDrip: with DripLitresPerHour the fork's counter rises that
// much an hour after the stop instead of staying frozen: a tap left
// dripping 5 l an hour makes 10 l every 2 h, which the 10 l rule takes for
// use (it rings at 4 h without the drip, never with it). A steps rule with
// life_delta counts its false alarms per quiet period of life_delta.
func TestMeasureDrip(t *testing.T) {
	path := measureSeries(t)
	day1 := time.Date(2016, 3, 2, 0, 0, 0, 0, time.UTC)
	stops := map[string][]time.Time{"abcdef01": {day1.Add(10 * time.Hour)}}
	y := "  - {name: no_water_4h, kind: no_use, field: total_m3, min_delta: 0.01, for: 4h}\n" +
		"  - {name: st, kind: steps, field: total_m3, min_delta: 0.01, life_delta: 0.002, alarm_times: [8h, 24h], fallback: 4h}\n"
	cfg, err := Rules([]byte("timezone: UTC\nrules:\n"+y), "UTC")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		drip float64
		want float64
	}{{0, 4}, {5, math.Inf(1)}} {
		src, err := Open("daiad", path, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		m, err := Measure(src, MeasureOptions{Rules: cfg, Stops: stops, UseLitres: 10, DripLitresPerHour: c.drip})
		src.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Outcomes) != 1 || m.Outcomes[0].DelayH[0] != c.want {
			t.Errorf("drip %g l/h: outcomes %+v, want a delay of %g h", c.drip, m.Outcomes, c.want)
		}
		if m.useLitres[1] != 2 {
			t.Errorf("the steps rule's quiet periods are of %g l, want its life_delta (2 l)", m.useLitres[1])
		}
	}
}
