package metrics_test

import (
	"bytes"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/anxin-care/anxin/internal/metrics"
	"github.com/anxin-care/anxin/internal/metrics/metricstest"
)

func text(t *testing.T, g metrics.Gatherer) string {
	t.Helper()
	fs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := metrics.WriteText(&b, fs); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestTextExact pins the exposition byte for byte: families by name,
// series by label values, HELP and label values escaped, floats as
// Prometheus writes them, histogram buckets cumulative with +Inf.
func TestTextExact(t *testing.T) {
	reg := metrics.NewRegistry()
	c := metrics.NewCounterVec(metrics.CounterOpts{Name: "b_total", Help: "Back\\slash and\nnew line."}, []string{"z", "a"})
	c.WithLabelValues("2", `q"uo\te`).Add(1.5)
	c.WithLabelValues("1", "line\nbreak").Inc()
	c.WithLabelValues("1", "安宁村").Add(3)
	g := metrics.NewGauge(metrics.GaugeOpts{Namespace: "a", Subsystem: "sub", Name: "gauge", Help: "A gauge.",
		ConstLabels: metrics.Labels{"k": "v"}})
	g.Set(1e21)
	h := metrics.NewHistogram(metrics.HistogramOpts{Name: "c_seconds", Help: "H.", Buckets: metrics.ExponentialBuckets(0.5, 2, 3)})
	for _, v := range []float64{0.1, 0.5, 0.7, 3, 100} {
		h.Observe(v)
	}
	inf := metrics.NewGaugeFunc(metrics.GaugeOpts{Name: "d", Help: "Inf."}, func() float64 { return math.Inf(1) })
	ninf := metrics.NewGaugeFunc(metrics.GaugeOpts{Name: "e", Help: "-Inf."}, func() float64 { return math.Inf(-1) })
	nan := metrics.NewGaugeFunc(metrics.GaugeOpts{Name: "f"}, func() float64 { return math.NaN() })
	reg.MustRegister(c, g, h, inf, ninf, nan)
	want := `# HELP a_sub_gauge A gauge.
# TYPE a_sub_gauge gauge
a_sub_gauge{k="v"} 1e+21
# HELP b_total Back\\slash and\nnew line.
# TYPE b_total counter
b_total{a="line\nbreak",z="1"} 1
b_total{a="q\"uo\\te",z="2"} 1.5
b_total{a="安宁村",z="1"} 3
# HELP c_seconds H.
# TYPE c_seconds histogram
c_seconds_bucket{le="0.5"} 2
c_seconds_bucket{le="1"} 3
c_seconds_bucket{le="2"} 3
c_seconds_bucket{le="+Inf"} 5
c_seconds_sum 104.3
c_seconds_count 5
# HELP d Inf.
# TYPE d gauge
d +Inf
# HELP e -Inf.
# TYPE e gauge
e -Inf
# TYPE f gauge
f NaN
`
	got := text(t, reg)
	if got != want {
		t.Fatalf("exposition:\n%s\nwant:\n%s", got, want)
	}
	fs := metricstest.Parse(t, got)
	if fs["b_total"].GetHelp() != "Back\\slash and\nnew line." {
		t.Errorf("help as Prometheus reads it: %q", fs["b_total"].GetHelp())
	}
	vals := map[string]float64{}
	for _, m := range fs["b_total"].GetMetric() {
		vals[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
	}
	if vals[`q"uo\te`] != 1.5 || vals["line\nbreak"] != 1 || vals["安宁村"] != 3 {
		t.Errorf("label values as Prometheus reads them: %v", vals)
	}
	hs := fs["c_seconds"].GetMetric()[0].GetHistogram()
	if hs.GetSampleCount() != 5 || len(hs.GetBucket()) != 4 || !math.IsInf(hs.GetBucket()[3].GetUpperBound(), 1) {
		t.Errorf("histogram as Prometheus reads it: %v", hs)
	}
}

// TestGoAndProcessCollectors: the go_* and process_* families parse and
// carry what dashboards and e2e read.
func TestGoAndProcessCollectors(t *testing.T) {
	reg := metrics.NewRegistry()
	reg.MustRegister(metrics.NewGoCollector(), metrics.NewProcessCollector())
	fs := metricstest.Parse(t, text(t, reg))
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "go_gc_duration_seconds", "go_info",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "process_start_time_seconds", "process_open_fds"} {
		f, ok := fs[name]
		if !ok {
			t.Errorf("%s not exposed", name)
			continue
		}
		m := f.GetMetric()[0]
		if v := m.GetGauge().GetValue() + m.GetCounter().GetValue(); name != "go_gc_duration_seconds" && name != "process_cpu_seconds_total" && v <= 0 {
			t.Errorf("%s = %v", name, v)
		}
	}
	if q := fs["go_gc_duration_seconds"].GetMetric()[0].GetSummary().GetQuantile(); len(q) != 5 {
		t.Errorf("gc pause quantiles %v", q)
	}
}

func TestRegisterAlreadyRegistered(t *testing.T) {
	reg := metrics.NewRegistry()
	opts := metrics.CounterOpts{Name: "x_total", Help: "X."}
	first := metrics.NewCounterVec(opts, []string{"port"})
	if err := reg.Register(first); err != nil {
		t.Fatal(err)
	}
	err := reg.Register(metrics.NewCounterVec(opts, []string{"port"}))
	var are metrics.AlreadyRegisteredError
	if !errors.As(err, &are) || are.ExistingCollector != first {
		t.Fatalf("second registration: %v", err)
	}
	// the same name with other labels or help is a conflict, not the same collector
	for _, c := range []metrics.Collector{
		metrics.NewCounterVec(opts, []string{"other"}),
		metrics.NewCounterVec(metrics.CounterOpts{Name: "x_total", Help: "Y."}, []string{"port"}),
		metrics.NewGauge(metrics.GaugeOpts{Name: "x_total", Help: "X."}),
	} {
		err := reg.Register(c)
		if err == nil || errors.As(err, &are) {
			t.Errorf("conflicting registration: %v", err)
		}
	}
	if !reg.Unregister(first) || reg.Unregister(first) {
		t.Error("Unregister: want true once")
	}
	if err := reg.Register(metrics.NewCounterVec(metrics.CounterOpts{Name: "x_total", Help: "Other help now."}, []string{"a"})); err != nil {
		t.Errorf("after Unregister the name is free: %v", err)
	}
}

// TestWrapRegisterer: each driver instance registers into its own registry
// through a wrapper adding instance; the gateway gathers them all as one.
func TestWrapRegisterer(t *testing.T) {
	var gs metrics.Gatherers
	var first metrics.Collector
	for _, name := range []string{"water", "rf"} {
		reg := metrics.NewRegistry()
		w := metrics.WrapRegistererWith(metrics.Labels{"instance": name}, reg)
		c := metrics.NewCounterVec(metrics.CounterOpts{Name: "polls_total", Help: "P."}, []string{"port"})
		if err := w.Register(c); err != nil {
			t.Fatal(err)
		}
		again := metrics.NewCounterVec(metrics.CounterOpts{Name: "polls_total", Help: "P."}, []string{"port"})
		var are metrics.AlreadyRegisteredError
		if err := w.Register(again); !errors.As(err, &are) || are.ExistingCollector != c {
			t.Fatalf("through the wrapper, the existing collector as given: %v", err)
		}
		are.ExistingCollector.(*metrics.CounterVec).WithLabelValues("/dev/ttyS0").Inc()
		gs = append(gs, reg)
		first = c
	}
	got := text(t, gs)
	want := `# HELP polls_total P.
# TYPE polls_total counter
polls_total{instance="rf",port="/dev/ttyS0"} 1
polls_total{instance="water",port="/dev/ttyS0"} 1
`
	if got != want {
		t.Fatalf("gathered:\n%s\nwant:\n%s", got, want)
	}
	if metrics.ToFloat64(first.(*metrics.CounterVec).WithLabelValues("/dev/ttyS0")) != 1 {
		t.Error("ToFloat64 of a child")
	}
	// the same series from two registries is an error, as client_golang's Gatherers
	r1, r2 := metrics.NewRegistry(), metrics.NewRegistry()
	r1.MustRegister(metrics.NewCounter(metrics.CounterOpts{Name: "dup_total", Help: "D."}))
	r2.MustRegister(metrics.NewCounter(metrics.CounterOpts{Name: "dup_total", Help: "D."}))
	if _, err := (metrics.Gatherers{r1, r2}).Gather(); err == nil {
		t.Error("a series twice: no error")
	}
}

func TestVecDeleteAndEmptyFamilies(t *testing.T) {
	reg := metrics.NewRegistry()
	g := metrics.NewGaugeVec(metrics.GaugeOpts{Name: "running", Help: "R."}, []string{"instance", "driver"})
	reg.MustRegister(g)
	if got := text(t, reg); got != "" {
		t.Fatalf("a vector without series is not exposed, got %q", got)
	}
	g.With(metrics.Labels{"driver": "nmea", "instance": "gps"}).Set(1)
	g.WithLabelValues("rf", "rf433").Set(0)
	if !g.DeleteLabelValues("gps", "nmea") || g.DeleteLabelValues("gps", "nmea") {
		t.Error("DeleteLabelValues: want true once")
	}
	if got := text(t, reg); !strings.Contains(got, `running{driver="rf433",instance="rf"} 0`) || strings.Contains(got, "gps") {
		t.Errorf("after delete:\n%s", got)
	}
}

func TestHandler(t *testing.T) {
	reg := metrics.NewRegistry()
	reg.MustRegister(metrics.NewCounter(metrics.CounterOpts{Name: "n_total", Help: "N."}))
	srv := httptest.NewServer(metrics.HandlerFor(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != metrics.ContentType {
		t.Errorf("%d %q", resp.StatusCode, ct)
	}
	bad := metrics.GathererFunc(func() ([]metrics.Family, error) { return nil, errors.New("broken") })
	rec := httptest.NewRecorder()
	metrics.HandlerFor(bad).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("gather error: %d", rec.Code)
	}
}

// TestConcurrentUpdates runs under -race: updates from many goroutines
// while the registry is gathered, and no increment is lost.
func TestConcurrentUpdates(t *testing.T) {
	reg := metrics.NewRegistry()
	c := metrics.NewCounter(metrics.CounterOpts{Name: "c_total", Help: "C."})
	cv := metrics.NewCounterVec(metrics.CounterOpts{Name: "cv_total", Help: "C."}, []string{"k"})
	g := metrics.NewGauge(metrics.GaugeOpts{Name: "g", Help: "G."})
	h := metrics.NewHistogram(metrics.HistogramOpts{Name: "h", Help: "H.", Buckets: []float64{1, 2}})
	hv := metrics.NewHistogramVec(metrics.HistogramOpts{Name: "hv", Help: "H."}, []string{"k"})
	reg.MustRegister(c, cv, g, h, hv)
	const workers, n = 8, 1000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	gathered := make(chan struct{})
	go func() {
		defer close(gathered)
		for {
			select {
			case <-stop:
				return
			default:
				if _, err := reg.Gather(); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				c.Inc()
				c.Add(0.5)
				cv.WithLabelValues(string(rune('a' + w%3))).Inc()
				g.Add(1)
				g.Sub(1)
				h.Observe(float64(i % 3))
				hv.WithLabelValues("x").Observe(0.01)
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-gathered
	if v := metrics.ToFloat64(c); v != workers*n*1.5 {
		t.Errorf("counter %v, want %v", v, workers*n*1.5)
	}
	if v := metrics.ToFloat64(g); v != 0 {
		t.Errorf("gauge %v", v)
	}
	m := metrics.One(h)
	if m.Count != workers*n || m.Buckets[len(m.Buckets)-1].Count != m.Count {
		t.Errorf("histogram count %d, +Inf %d", m.Count, m.Buckets[len(m.Buckets)-1].Count)
	}
}

func TestExponentialBuckets(t *testing.T) {
	got := metrics.ExponentialBuckets(1, 4, 4)
	if len(got) != 4 || got[0] != 1 || got[3] != 64 {
		t.Fatalf("%v", got)
	}
}

// TestLabelValuesNotUTF8: a label value that is not UTF-8 (a device name
// read off a serial line, say) must not make the page unparsable; the
// series is kept under the value's valid UTF-8 form.
func TestLabelValuesNotUTF8(t *testing.T) {
	reg := metrics.NewRegistry()
	w := metrics.WrapRegistererWith(metrics.Labels{"instance": "rf\xff"}, reg)
	cv := metrics.NewCounterVec(metrics.CounterOpts{Name: "n_total", Help: "N.", ConstLabels: metrics.Labels{"k": "\xc3"}}, []string{"device"})
	w.MustRegister(cv)
	cv.WithLabelValues("门\xfe").Inc()
	cv.WithLabelValues("门\xff").Inc()
	want := "n_total{device=\"门\uFFFD\",instance=\"rf\uFFFD\",k=\"\uFFFD\"} 2\n"
	got := text(t, reg)
	if !strings.HasSuffix(got, want) {
		t.Errorf("exposition:\n%s\nwant its last line:\n%s", got, want)
	}
	metricstest.Parse(t, got)
	if !cv.DeleteLabelValues("门\xfd") {
		t.Error("DeleteLabelValues with the value as given")
	}
}

// TestRegisterRefusesWhatCannotBeParsed: a label name twice in a series
// (a driver's own "instance" under the gateway's wrapper, a const label
// also variable), "le" on a histogram, or a name Prometheus cannot read
// would make the whole page unparsable at every scrape; Register refuses
// them, as client_golang's did.
func TestRegisterRefusesWhatCannotBeParsed(t *testing.T) {
	wrapped := metrics.WrapRegistererWith(metrics.Labels{"instance": "rf"}, metrics.NewRegistry())
	if err := wrapped.Register(metrics.NewCounterVec(metrics.CounterOpts{Name: "x_total", Help: "X."}, []string{"instance"})); err == nil {
		t.Error("a variable label the wrapper adds too: registered")
	}
	if err := wrapped.Register(metrics.NewGauge(metrics.GaugeOpts{Name: "g", Help: "G.", ConstLabels: metrics.Labels{"instance": "x"}})); err == nil {
		t.Error("a const label the wrapper adds too: registered")
	}
	for name, c := range map[string]metrics.Collector{
		"variable twice": metrics.NewCounterVec(metrics.CounterOpts{Name: "a_total", Help: "A."}, []string{"k", "k"}),
		"const and variable": metrics.NewCounterVec(metrics.CounterOpts{Name: "b_total", Help: "B.",
			ConstLabels: metrics.Labels{"k": "1"}}, []string{"k"}),
		"le on a histogram": metrics.NewHistogramVec(metrics.HistogramOpts{Name: "h_seconds", Help: "H."}, []string{"le"}),
		"metric name":       metrics.NewGauge(metrics.GaugeOpts{Name: "queue-length", Help: "Q."}),
		"label name":        metrics.NewGaugeVec(metrics.GaugeOpts{Name: "q", Help: "Q."}, []string{"serial port"}),
		"reserved label":    metrics.NewGaugeVec(metrics.GaugeOpts{Name: "r", Help: "R."}, []string{"__name__"}),
	} {
		reg := metrics.NewRegistry()
		if err := reg.Register(c); err == nil {
			t.Errorf("%s: registered:\n%s", name, text(t, reg))
		}
	}
}

// TestScrapesWhileChildrenAppear runs under -race: writers create
// children of vectors and observe while scrapers gather through
// Gatherers and parse the page. Every scrape must parse, every
// histogram's +Inf bucket equal its count with its buckets cumulative,
// and no counter go down between two scrapes; at the end nothing is lost.
func TestScrapesWhileChildrenAppear(t *testing.T) {
	reg, other := metrics.NewRegistry(), metrics.NewRegistry()
	cv := metrics.NewCounterVec(metrics.CounterOpts{Name: "c_total", Help: "C."}, []string{"k"})
	hv := metrics.NewHistogramVec(metrics.HistogramOpts{Name: "h_seconds", Help: "H.", Buckets: []float64{-1, 0, 1, 10}}, []string{"k"})
	reg.MustRegister(cv, hv)
	ov := metrics.NewGaugeVec(metrics.GaugeOpts{Name: "g", Help: "G."}, []string{"k"})
	metrics.WrapRegistererWith(metrics.Labels{"instance": "x"}, other).MustRegister(ov)
	gs := metrics.Gatherers{reg, other}
	const writers, scrapers, n, keys = 4, 2, 2000, 37
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range scrapers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := map[string]float64{}
			for {
				select {
				case <-stop:
					return
				default:
				}
				fs, err := gs.Gather()
				if err != nil {
					t.Error(err)
					return
				}
				var b bytes.Buffer
				if err := metrics.WriteText(&b, fs); err != nil {
					t.Error(err)
					return
				}
				for _, f := range fs {
					for _, m := range f.Metrics {
						k := f.Name + m.Label("k")
						switch f.Type {
						case metrics.CounterType:
							if m.Value < last[k] {
								t.Errorf("%s went down: %v after %v", k, m.Value, last[k])
							}
							last[k] = m.Value
						case metrics.HistogramType:
							for i := 1; i < len(m.Buckets); i++ {
								if m.Buckets[i].Count < m.Buckets[i-1].Count {
									t.Errorf("%s buckets not cumulative: %v", k, m.Buckets)
								}
							}
							if inf := m.Buckets[len(m.Buckets)-1].Count; inf != m.Count {
								t.Errorf("%s +Inf %d, count %d", k, inf, m.Count)
							}
							if float64(m.Count) < last[k] {
								t.Errorf("%s count went down", k)
							}
							last[k] = float64(m.Count)
						}
					}
				}
				if t.Failed() {
					return
				}
			}
		}()
	}
	var ww sync.WaitGroup
	for w := range writers {
		ww.Add(1)
		go func() {
			defer ww.Done()
			for i := range n {
				k := strconv.Itoa((i*7 + w) % keys)
				cv.WithLabelValues(k).Inc()
				hv.WithLabelValues(k).Observe(float64(i%5) - 2)
				ov.WithLabelValues(k).Set(float64(i))
			}
		}()
	}
	ww.Wait()
	close(stop)
	wg.Wait()
	var total float64
	var count uint64
	fs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		for _, m := range f.Metrics {
			total += m.Value
			count += m.Count
		}
	}
	if total != writers*n || count != writers*n {
		t.Errorf("counters sum to %v, histograms count %d; want %d each", total, count, writers*n)
	}
	metricstest.Parse(t, text(t, gs))
}

// TestGatherersConflict: one name from two registries with another type or
// help is an error, and the handler answers 500 as client_golang's did
// (Prometheus marks the target down rather than read a page it would
// misread); the same name with the same type and help merges into one
// family with one HELP and TYPE.
func TestGatherersConflict(t *testing.T) {
	a, b := metrics.NewRegistry(), metrics.NewRegistry()
	a.MustRegister(metrics.NewCounter(metrics.CounterOpts{Name: "x_total", Help: "X.", ConstLabels: metrics.Labels{"r": "a"}}))
	b.MustRegister(metrics.NewGauge(metrics.GaugeOpts{Name: "x_total", Help: "X.", ConstLabels: metrics.Labels{"r": "b"}}))
	c := metrics.NewRegistry()
	c.MustRegister(metrics.NewCounter(metrics.CounterOpts{Name: "x_total", Help: "Other.", ConstLabels: metrics.Labels{"r": "c"}}))
	for name, gs := range map[string]metrics.Gatherers{"type": {a, b}, "help": {a, c}} {
		if _, err := gs.Gather(); err == nil {
			t.Errorf("another %s: no error", name)
		}
		rec := httptest.NewRecorder()
		metrics.HandlerFor(gs).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("another %s: %d", name, rec.Code)
		}
	}
	d := metrics.NewRegistry()
	d.MustRegister(metrics.NewCounter(metrics.CounterOpts{Name: "x_total", Help: "X.", ConstLabels: metrics.Labels{"r": "d"}}))
	got := text(t, metrics.Gatherers{a, d})
	want := "# HELP x_total X.\n# TYPE x_total counter\nx_total{r=\"a\"} 0\nx_total{r=\"d\"} 0\n"
	if got != want {
		t.Errorf("merged:\n%s\nwant:\n%s", got, want)
	}
}

// TestHistogramEmptyBuckets: Buckets: []float64{} means DefBuckets, as
// client_golang took it, not a histogram with only +Inf.
func TestHistogramEmptyBuckets(t *testing.T) {
	for _, bs := range [][]float64{nil, {}} {
		m := metrics.One(metrics.NewHistogram(metrics.HistogramOpts{Name: "h", Help: "H.", Buckets: bs}))
		if len(m.Buckets) != len(metrics.DefBuckets)+1 {
			t.Errorf("Buckets %#v: %d buckets, want DefBuckets and +Inf", bs, len(m.Buckets))
		}
	}
}

// TestHistogramScrapeConsistent: a scrape sees _sum, _count and the
// buckets of the same observations (client_golang's guarantee), not a sum
// that already holds observations the count does not, or the reverse.
func TestHistogramScrapeConsistent(t *testing.T) {
	h := metrics.NewHistogram(metrics.HistogramOpts{Name: "h", Help: "H.", Buckets: []float64{0.5, 1, 2}})
	hv := metrics.NewHistogramVec(metrics.HistogramOpts{Name: "hv", Help: "H."}, []string{"k"})
	hv.WithLabelValues("a")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					h.Observe(1)
					hv.WithLabelValues("a").Observe(1)
				}
			}
		}()
	}
	bad := 0
	for range 5000 {
		for _, m := range []metrics.Metric{metrics.One(h), metrics.One(hv)} {
			le1 := m.Buckets[slices.IndexFunc(m.Buckets, func(b metrics.Bucket) bool { return b.UpperBound == 1 })]
			if m.Sum != float64(m.Count) || le1.Count != m.Count {
				bad++
			}
		}
	}
	close(stop)
	wg.Wait()
	if bad > 0 {
		t.Errorf("%d of 10000 gathers with _sum or le=\"1\" other than _count", bad)
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	h := metrics.NewHistogram(metrics.HistogramOpts{Name: "h", Help: "H."})
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Observe(0.3)
		}
	})
}

// Two drivers sharing a registry (and the wrapping registerer gateway
// gives each instance) count into one collector; a name taken with other
// label names is still an error.
func TestRegisterOrReuse(t *testing.T) {
	reg := metrics.NewRegistry()
	w := metrics.WrapRegistererWith(metrics.Labels{"instance": "a"}, reg)
	opts := metrics.CounterOpts{Name: "x_total", Help: "x"}
	first, err := metrics.RegisterOrReuse(w, metrics.NewCounterVec(opts, []string{"driver"}))
	if err != nil {
		t.Fatal(err)
	}
	again, err := metrics.RegisterOrReuse(w, metrics.NewCounterVec(opts, []string{"driver"}))
	if err != nil || again != first {
		t.Fatalf("second registration: %v, same collector %v", err, again == first)
	}
	if _, err := metrics.RegisterOrReuse(w, metrics.NewCounterVec(opts, []string{"port"})); err == nil {
		t.Fatal("x_total with other label names registered")
	}
}
