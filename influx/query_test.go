package influx

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
)

var cst = time.FixedZone("CST", 8*3600)

// TestIntegrationSeriesReadsVictoriaMetrics writes readings through the
// archive (the v2 write API) into a real VictoriaMetrics and reads them
// back through the reader: daily water use per local day, summed over a
// household's meters, other households left out, a day without readings
// unknown; each device's last reading and battery.
func TestIntegrationSeriesReadsVictoriaMetrics(t *testing.T) {
	vm := testenv.StartVictoriaMetrics(t)
	a, _ := startArchive(t, Config{URL: vm.URL, Org: "anxin", Bucket: "readings"}, nil)
	now := time.Now().In(cst)
	// "today" two days back, so that every day asked about is over
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, cst).AddDate(0, 0, -2)
	const days = 10
	want := make([]float64, days) // m³ of hh-0001 per day, -1 = no reading
	totals := map[string]float64{"wm1": 1000, "wm2": 50, "other": 7}
	// from two days before the range (a baseline) to the day after today (left out)
	for d := -2; d <= days; d++ {
		day := today.AddDate(0, 0, d-days+1)
		for h := 1; h < 24; h += 6 {
			ts := day.Add(time.Duration(h) * time.Hour)
			if d == 4 {
				continue // a day without readings
			}
			for dev, step := range map[string]float64{"wm1": 0.01 * float64(d+3), "wm2": 0.05, "other": 9} {
				totals[dev] += step
				hh := "hh-0001"
				if dev == "other" {
					hh = "hh-0002"
				}
				a.Write(reading(hh, dev, anxin.KindWaterMeter, ts, anxin.Fields{"total_m3": anxin.Num(totals[dev])}))
			}
		}
		if d >= 0 && d < days {
			want[d] = 4 * (0.01*float64(d+3) + 0.05)
			if d == 4 {
				want[d] = -1
			}
		}
	}
	// devices: a watch with a battery percentage, a meter whose last flag is low
	seen := now.Add(-30 * time.Minute).Truncate(time.Second)
	a.Write(reading("hh-0003", "watch1", anxin.KindTracker, seen.Add(-time.Hour), anxin.Fields{"battery_pct": anxin.Num(80)}))
	a.Write(reading("hh-0003", "watch1", anxin.KindTracker, seen, anxin.Fields{"battery_pct": anxin.Num(55), "rssi": anxin.Num(20)}))
	a.Write(reading("hh-0003", "wm9", anxin.KindWaterMeter, seen.Add(-2*time.Hour), anxin.Fields{"total_m3": anxin.Num(3), "battery_low": anxin.Bool(false)}))
	a.Write(reading("hh-0003", "wm9", anxin.KindWaterMeter, seen.Add(-time.Hour), anxin.Fields{"total_m3": anxin.Num(3), "battery_low": anxin.Bool(true)}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := NewVictoriaMetrics(QueryConfig{URL: vm.URL})
	if err != nil {
		t.Fatal(err)
	}
	var got []DayUse
	testenv.Eventually(t, "the points are queryable", 10*time.Second, func() bool {
		if err := vm.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got, err = r.DailyWater(ctx, "hh-0001", today, days)
		return err == nil && got[days-1].Known
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range got {
		if !g.Day.Equal(today.AddDate(0, 0, i-days+1)) {
			t.Errorf("day %d is %v", i, g.Day)
		}
		if want[i] < 0 {
			if g.Known {
				t.Errorf("day %d (no readings): %v m³, want unknown", i, g.M3)
			}
			continue
		}
		if !g.Known || math.Abs(g.M3-want[i]) > 1e-9 {
			t.Errorf("day %d %s: %v m³ (known %v), want %v", i, g.Day.Format("01-02"), g.M3, g.Known, want[i])
		}
	}
	devs, err := r.Devices(ctx, "hh-0003", now)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 2 {
		t.Fatalf("devices %+v, want watch1 and wm9", devs)
	}
	w, m := devs[0], devs[1]
	if w.Device != "watch1" || !w.LastSeen.Equal(seen) || w.BatteryPct != 55 || w.BatteryLow {
		t.Errorf("watch %+v, want last seen %v, 55%%", w, seen)
	}
	if m.Device != "wm9" || !m.LastSeen.Equal(seen.Add(-time.Hour)) || m.BatteryPct != -1 || !m.BatteryLow {
		t.Errorf("meter %+v, want last seen %v, battery low", m, seen.Add(-time.Hour))
	}
	if devs, err := r.Devices(ctx, "hh-none", now); err != nil || len(devs) != 0 {
		t.Errorf("unknown household: %v %v", devs, err)
	}
	if _, err := r.DailyWater(ctx, `x"}) or vector(1`, today, days); err == nil {
		t.Error("a household id outside the id alphabet was put into a query")
	}
}

// TestSeriesBoundsAnswers: an answer over the size limit, an error answer
// and a store that is down are errors, never partial data.
func TestSeriesBoundsAnswers(t *testing.T) {
	big := `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[` +
		strings.Repeat(`[1,"1"],`, 10_000) + `[2,"1"]]}]}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/query_range":
			fmt.Fprint(w, big)
		default:
			w.WriteHeader(422)
			fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"cannot parse \u0007query"}`)
		}
	}))
	defer srv.Close()
	r, err := NewVictoriaMetrics(QueryConfig{URL: srv.URL, MaxBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := r.DailyWater(ctx, "hh-1", time.Now(), 30); err == nil || !strings.Contains(err.Error(), "larger than 4096") {
		t.Errorf("big answer: %v", err)
	}
	if _, err := r.Devices(ctx, "hh-1", time.Now()); err == nil || !strings.Contains(err.Error(), "422: cannot parse  query") {
		t.Errorf("error answer: %v", err)
	}
	srv.Close()
	if _, err := r.Devices(ctx, "hh-1", time.Now()); err == nil {
		t.Error("a store that is down answered")
	}
	if _, err := NewVictoriaMetrics(QueryConfig{URL: "file:///etc"}); err == nil {
		t.Error("a file: url was taken")
	}
}

func TestParsePromResponse(t *testing.T) {
	for _, c := range []struct{ in, err string }{
		{`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"device":"a"},"value":[1700000000.5,"2.5"]}]}}`, ""},
		{`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"NaN"],[2,"+Inf"]]}]}}`, ""},
		{`not json`, "not JSON"},
		{`{"status":"weird"}`, "status"},
		{`{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}`, "without a value"},
		{`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1]]}]}}`, "not [time"},
		{`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[-5,"1"]]}]}}`, "unix seconds"},
		{`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}`, "not a number"},
		{`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,2]]}]}}`, "not a string"},
		{`{"status":"success","data":{"resultType":"table"}}`, "type"},
	} {
		res, err := ParsePromResponse([]byte(c.in))
		if c.err == "" {
			if err != nil || len(res.Series) != 1 {
				t.Errorf("%s: %+v %v", c.in, res, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: error %v, want %q", c.in, err, c.err)
		}
	}
	res, _ := ParsePromResponse([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"device":"a"},"value":[1700000000.5,"2.5"]}]}}`))
	if p := res.Series[0].Points[0]; p.V != 2.5 || p.T.UnixMilli() != 1700000000500 || res.Series[0].Labels["device"] != "a" {
		t.Errorf("point %+v", p)
	}
}

func FuzzParsePromResponse(f *testing.F) {
	f.Add([]byte(`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"device":"a","q":"seen"},"value":[1700000000.5,"2.5"]}]}}`))
	f.Add([]byte(`{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"NaN"],[2,"1e308"]]}]}}`))
	f.Add([]byte(`{"status":"error","error":"bad"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := ParsePromResponse(b)
		if err != nil {
			return
		}
		n := 0
		for _, s := range res.Series {
			n += len(s.Points)
		}
		if len(res.Series) > maxSeries || n > maxPoints {
			t.Fatalf("%d series, %d points past the limits", len(res.Series), n)
		}
	})
}
