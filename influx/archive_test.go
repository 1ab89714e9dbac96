package influx

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
)

func reading(hh, dev string, kind anxin.Kind, ts time.Time, f anxin.Fields) *anxin.Message {
	return &anxin.Message{ID: anxin.NewID(ts), TS: ts, Household: hh, Device: dev, Kind: kind, Fields: f}
}

func TestAppendLine(t *testing.T) {
	ts := time.Date(2026, 11, 23, 8, 0, 0, 123e6, time.UTC)
	m := reading("hh-0001", "wm1", anxin.KindWaterMeter, ts, anxin.Fields{
		"total_m3": anxin.Num(1000.1), "battery_low": anxin.Bool(false), "valve_open": anxin.Bool(true), "flow_lpm": anxin.Num(0)})
	got := string(AppendLine(nil, m))
	want := "water_meter,device=wm1,household=hh-0001 battery_low=f,flow_lpm=0,total_m3=1000.1,valve_open=t 1795420800123"
	if got != want {
		t.Fatalf("line\n got %s\nwant %s", got, want)
	}
	// more fields than AppendLine's array holds, still in name order
	many := anxin.Fields{}
	var names []string
	for i := range 40 {
		k := fmt.Sprintf("f%02d", (i*17)%40)
		many[k] = anxin.Num(float64(i))
		names = append(names, k)
	}
	slices.Sort(names)
	line := string(AppendLine(nil, reading("hh-1", "d", anxin.KindTracker, ts, many)))
	var order []string
	for _, kv := range strings.Split(strings.Fields(line)[1], ",") {
		order = append(order, strings.SplitN(kv, "=", 2)[0])
	}
	if !slices.Equal(order, names) {
		t.Fatalf("fields in order %v, want %v", order, names)
	}
	// a contract reading into a reused buffer: no allocation
	buf := AppendLine(nil, m)
	if n := testing.AllocsPerRun(100, func() { buf = AppendLine(buf[:0], m) }); n != 0 {
		t.Fatalf("%v allocations to encode a reading", n)
	}
}

type exported struct {
	Metric     map[string]string `json:"metric"`
	Values     []float64         `json:"values"`
	Timestamps []int64           `json:"timestamps"`
}

// export reads every series matching re back from VictoriaMetrics.
func export(t *testing.T, vm *testenv.VictoriaMetrics, re string) map[string]exported {
	t.Helper()
	if err := vm.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(vm.URL + "/api/v1/export?match[]=" + url.QueryEscape(`{__name__=~"`+re+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]exported{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var e exported
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		out[e.Metric["__name__"]+"/"+e.Metric["household"]+"/"+e.Metric["device"]] = e
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func startArchive(t *testing.T, cfg Config, reg metrics.Registerer) (*Archive, context.CancelFunc) {
	t.Helper()
	a, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; a.Close() })
	return a, cancel
}

func TestIntegrationArchiveReadsBackWhatWasWritten(t *testing.T) {
	vm := testenv.StartVictoriaMetrics(t)
	a, _ := startArchive(t, Config{URL: vm.URL, Org: "anxin", Bucket: "readings", BatchSize: 7}, nil)
	// recent timestamps: far older points fall outside a store's retention
	t0 := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	type point struct {
		hh, dev string
		ts      time.Time
		total   float64
		low     bool
	}
	var want []point
	for i := range 20 {
		p := point{hh: fmt.Sprintf("hh-%04d", i%3), dev: "wm1", ts: t0.Add(time.Duration(i) * time.Minute),
			total: 1000 + float64(i)/8, low: i%4 == 0}
		want = append(want, p)
		a.Write(reading(p.hh, p.dev, anxin.KindWaterMeter, p.ts, anxin.Fields{"total_m3": anxin.Num(p.total), "battery_low": anxin.Bool(p.low)}))
	}
	a.Write(&anxin.Message{ID: "e1", TS: t0, Household: "hh-0000", Device: "btn1", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var got map[string]exported
	testenv.Eventually(t, "every point readable", 60*time.Second, func() bool {
		got = export(t, vm, "water_meter_.*|call_button_.*")
		n := 0
		for _, e := range got {
			n += len(e.Values)
		}
		return n >= 2*len(want)
	})
	if len(got) != 6 {
		t.Fatalf("series %d, want 6 (3 households × total_m3, battery_low); events are not archived: %v", len(got), got)
	}
	for hh := range 3 {
		name := fmt.Sprintf("hh-%04d", hh)
		tot, low := got["water_meter_total_m3/"+name+"/wm1"], got["water_meter_battery_low/"+name+"/wm1"]
		var exp []point
		for _, p := range want {
			if p.hh == name {
				exp = append(exp, p)
			}
		}
		sort.Slice(exp, func(i, j int) bool { return exp[i].ts.Before(exp[j].ts) })
		if len(tot.Values) != len(exp) || len(low.Values) != len(exp) {
			t.Fatalf("%s: %d and %d points, want %d", name, len(tot.Values), len(low.Values), len(exp))
		}
		for i, p := range exp {
			b := 0.0
			if p.low {
				b = 1
			}
			if tot.Values[i] != p.total || tot.Timestamps[i] != p.ts.UnixMilli() || low.Values[i] != b || low.Timestamps[i] != p.ts.UnixMilli() {
				t.Errorf("%s point %d: total %v@%d low %v, want %v@%d %v", name, i, tot.Values[i], tot.Timestamps[i], low.Values[i], p.total, p.ts.UnixMilli(), b)
			}
		}
	}
}

func TestIntegrationArchiveStoreDownDropsOldestAndNeverBlocks(t *testing.T) {
	vm := testenv.StartVictoriaMetrics(t)
	reg := metrics.NewRegistry()
	a, _ := startArchive(t, Config{URL: vm.URL, Org: "anxin", Bucket: "readings", BatchSize: 10, Queue: 100,
		FlushInterval: 10 * time.Millisecond, Timeout: time.Second, MaxBackoff: 50 * time.Millisecond}, reg)
	vm.Kill()
	t0 := time.Now().Add(-time.Minute)
	const n = 5000
	for i := range n {
		a.Write(reading("hh-1", "pm1", anxin.KindPowerMeter, t0.Add(time.Duration(i)*time.Millisecond), anxin.Fields{"energy_kwh": anxin.Num(float64(i))}))
	}
	if l := a.Len(); l > 100 {
		t.Fatalf("queue holds %d points, bound is 100", l)
	}
	dropped := metrics.ToFloat64(a.dropped)
	if dropped < n-100-10 { // at most a queue and one batch in flight are kept
		t.Fatalf("dropped %v of %d with the store down and a queue of 100", dropped, n)
	}
	// the store comes back: what is queued now is written
	testenv.Eventually(t, "a failed write counted while the store was down", 20*time.Second, func() bool {
		return metrics.ToFloat64(a.failed) > 0
	})
	vm.Restart()
	a.Write(reading("hh-1", "pm1", anxin.KindPowerMeter, time.Now(), anxin.Fields{"energy_kwh": anxin.Num(-1)}))
	testenv.Eventually(t, "a point written after the store came back", 20*time.Second, func() bool {
		return metrics.ToFloat64(a.written) > 0
	})
	mf, err := reg.Gather()
	if err != nil || len(mf) != 4 {
		t.Fatalf("metrics: %d families %v", len(mf), err)
	}
}

func BenchmarkAppendLine(b *testing.B) {
	m := reading("hh-0001", "wm1", anxin.KindWaterMeter, time.Now(), anxin.Fields{
		"total_m3": anxin.Num(1000.1), "battery_low": anxin.Bool(false), "flow_lpm": anxin.Num(2.5)})
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendLine(buf[:0], m)
	}
}

// TestRetryAndRejectClassification: 503 and 429 are retried until the store
// takes the batch; a 400 drops it (counted) and the archive goes on.
func TestRetryAndRejectClassification(t *testing.T) {
	var mu sync.Mutex
	statuses := []int{503, 429, 204, 400, 204}
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		code := 204
		if len(statuses) > 0 {
			code, statuses = statuses[0], statuses[1:]
		}
		if code == 204 {
			zr, err := gzip.NewReader(r.Body)
			if err == nil {
				b, _ := io.ReadAll(zr)
				bodies = append(bodies, string(b))
			}
		}
		if code != 204 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			fmt.Fprintf(w, `{"code":"x","message":"status %d"}`, code)
			return
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()
	a, _ := startArchive(t, Config{URL: srv.URL, Org: "o", Bucket: "b", BatchSize: 1, FlushInterval: 5 * time.Millisecond,
		MaxBackoff: 10 * time.Millisecond}, nil)
	ts := time.Now()
	for i := range 3 {
		a.Write(reading("hh-1", "wm1", anxin.KindWaterMeter, ts.Add(time.Duration(i)*time.Second), anxin.Fields{"total_m3": anxin.Num(float64(i))}))
		testenv.Eventually(t, fmt.Sprintf("point %d written or dropped", i+1), 10*time.Second, func() bool {
			return metrics.ToFloat64(a.written)+metrics.ToFloat64(a.dropped) >= float64(i+1)
		})
	}
	if w, d, f := metrics.ToFloat64(a.written), metrics.ToFloat64(a.dropped), metrics.ToFloat64(a.failed); w != 2 || d != 1 || f != 3 {
		t.Fatalf("written %v dropped %v failed %v, want 2, 1 (the 400), 3", w, d, f)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 || !strings.Contains(bodies[0], "total_m3=0 ") || !strings.Contains(bodies[1], "total_m3=2 ") {
		t.Fatalf("bodies %q: the retried first point and the third should arrive, the rejected second not", bodies)
	}
}

// WriteThen calls done once its reading is in the store — not before, and
// never for a reading the archive dropped (the caller then leaves its
// source unacknowledged, to come again); an event needs no archive and is
// done at once.
func TestIntegrationWriteThenCallsDoneOnceStored(t *testing.T) {
	vm := testenv.StartVictoriaMetrics(t)
	a, _ := startArchive(t, Config{URL: vm.URL, Org: "anxin", Bucket: "readings", BatchSize: 5, Queue: 10,
		FlushInterval: 20 * time.Millisecond, Timeout: time.Second, MaxBackoff: 50 * time.Millisecond}, nil)
	var done atomic.Int64
	event := &anxin.Message{ID: "e1", TS: time.Now(), Household: "hh-1", Device: "btn1", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed}
	a.WriteThen(event, func() { done.Add(1) })
	if done.Load() != 1 {
		t.Fatal("an event (not archived) is not done at once")
	}
	// the store down: 50 readings through a queue of 10 — those dropped are never done
	vm.Kill()
	t0 := time.Now().Add(-time.Minute)
	for i := range 50 {
		a.WriteThen(reading("hh-1", "wm1", anxin.KindWaterMeter, t0.Add(time.Duration(i)*time.Millisecond),
			anxin.Fields{"total_m3": anxin.Num(float64(i))}), func() { done.Add(1) })
	}
	if got := done.Load(); got != 1 {
		t.Fatalf("%d readings done while the store is down", got-1)
	}
	vm.Restart()
	testenv.Eventually(t, "the kept readings written and done", time.Minute, func() bool {
		return metrics.ToFloat64(a.written) > 0 && done.Load() == 1+int64(metrics.ToFloat64(a.written))
	})
	if w := int64(metrics.ToFloat64(a.written)); w > 15 || done.Load()-1 != w {
		t.Fatalf("written %d (a queue of 10 and a batch in flight at most), done %d", w, done.Load()-1)
	}
}
