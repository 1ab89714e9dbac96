package metrics

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Opts name and describe a counter or gauge. The family's name is
// Namespace_Subsystem_Name (empty parts left out).
type Opts struct {
	Namespace, Subsystem, Name, Help string
	ConstLabels                      Labels
}

// CounterOpts are a counter's options.
type CounterOpts Opts

// GaugeOpts are a gauge's options.
type GaugeOpts Opts

// HistogramOpts are a histogram's options; Buckets are the upper bounds,
// increasing (+Inf is added; none: DefBuckets).
type HistogramOpts struct {
	Namespace, Subsystem, Name, Help string
	ConstLabels                      Labels
	Buckets                          []float64
}

// DefBuckets are client_golang's default buckets (seconds of a request).
var DefBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// ExponentialBuckets returns count buckets from start, each factor times
// the one before.
func ExponentialBuckets(start, factor float64, count int) []float64 {
	if count < 1 || start <= 0 || factor <= 1 {
		panic("metrics: ExponentialBuckets needs count ≥ 1, start > 0, factor > 1")
	}
	bs := make([]float64, count)
	for i := range bs {
		bs[i] = start
		start *= factor
	}
	return bs
}

// LinearBuckets returns count buckets from start, width apart.
func LinearBuckets(start, width float64, count int) []float64 {
	if count < 1 {
		panic("metrics: LinearBuckets needs count ≥ 1")
	}
	bs := make([]float64, count)
	for i := range bs {
		bs[i] = start + float64(i)*width
	}
	return bs
}

// Counter only goes up.
type Counter interface {
	Collector
	Inc()
	Add(float64)
}

// Gauge goes up and down.
type Gauge interface {
	Collector
	Set(float64)
	Inc()
	Dec()
	Add(float64)
	Sub(float64)
}

// Histogram counts observations into buckets.
type Histogram interface {
	Collector
	Observe(float64)
}

// GaugeFunc is a gauge whose value a function gives at each gather.
type GaugeFunc interface {
	Collector
}

// floatBits is a float64 updated atomically.
type floatBits struct{ bits atomic.Uint64 }

func (f *floatBits) load() float64   { return math.Float64frombits(f.bits.Load()) }
func (f *floatBits) store(v float64) { f.bits.Store(math.Float64bits(v)) }
func (f *floatBits) add(v float64) {
	for {
		old := f.bits.Load()
		if f.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// counter keeps whole increments apart (one atomic add) from fractional
// ones (a compare-and-swap loop), as client_golang's does.
type counter struct {
	whole atomic.Uint64
	frac  floatBits
}

func (c *counter) Inc() { c.whole.Add(1) }

func (c *counter) Add(v float64) {
	if v < 0 {
		panic("metrics: a counter cannot decrease")
	}
	if u := uint64(v); float64(u) == v {
		c.whole.Add(u)
		return
	}
	c.frac.add(v)
}

func (c *counter) value() float64 { return float64(c.whole.Load()) + c.frac.load() }

type gauge struct{ v floatBits }

func (g *gauge) Set(v float64) { g.v.store(v) }
func (g *gauge) Inc()          { g.v.add(1) }
func (g *gauge) Dec()          { g.v.add(-1) }
func (g *gauge) Add(v float64) { g.v.add(v) }
func (g *gauge) Sub(v float64) { g.v.add(-v) }

// histogram counts each observation once in its own bucket (the last one
// for above every bound); the cumulative counts and the total are summed
// at gather, so +Inf always equals _count. Observations take the read side
// of mu (they still update atomically among themselves); a gather takes
// the write side, so _sum, _count and the buckets it reads hold the same
// observations, as client_golang's do.
type histogram struct {
	mu     sync.RWMutex
	upper  []float64
	counts []atomic.Uint64 // len(upper)+1
	sum    floatBits
}

func newHistogramData(buckets []float64) *histogram {
	return &histogram{upper: buckets, counts: make([]atomic.Uint64, len(buckets)+1)}
}

func (h *histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.upper, v) // first bound ≥ v
	h.mu.RLock()
	h.counts[i].Add(1)
	h.sum.add(v)
	h.mu.RUnlock()
}

func (h *histogram) fill(m *Metric) {
	m.Buckets = make([]Bucket, len(h.upper)+1)
	var n uint64
	h.mu.Lock()
	for i := range h.counts {
		n += h.counts[i].Load()
		m.Buckets[i].Count = n
	}
	m.Count, m.Sum = n, h.sum.load()
	h.mu.Unlock()
	for i := range m.Buckets {
		m.Buckets[i].UpperBound = math.Inf(1)
		if i < len(h.upper) {
			m.Buckets[i].UpperBound = h.upper[i]
		}
	}
}

func checkBuckets(bs []float64) []float64 {
	if len(bs) == 0 {
		bs = DefBuckets
	}
	bs = slices.Clone(bs)
	if n := len(bs); n > 0 && math.IsInf(bs[n-1], 1) {
		bs = bs[:n-1]
	}
	for i := 1; i < len(bs); i++ {
		if bs[i] <= bs[i-1] {
			panic("metrics: histogram buckets must increase")
		}
	}
	return bs
}

// single is a metric without variable labels.
type single struct {
	desc *Desc
	fill func(*Metric)
}

func (s *single) describe() []*Desc { return []*Desc{s.desc} }

func (s *single) collect(dst []Family) []Family {
	m := Metric{Labels: slices.Clone(s.desc.ConstLabels)}
	s.fill(&m)
	return append(dst, Family{Name: s.desc.Name, Help: s.desc.Help, Type: s.desc.Type, Metrics: []Metric{m}})
}

type counterMetric struct {
	single
	counter
}

type gaugeMetric struct {
	single
	gauge
}

type histogramMetric struct {
	single
	*histogram
}

// NewCounter returns an unregistered counter.
func NewCounter(o CounterOpts) Counter {
	c := &counterMetric{}
	c.single = single{newDesc(fqName(o.Namespace, o.Subsystem, o.Name), o.Help, CounterType, o.ConstLabels, nil),
		func(m *Metric) { m.Value = c.value() }}
	return c
}

// NewGauge returns an unregistered gauge.
func NewGauge(o GaugeOpts) Gauge {
	g := &gaugeMetric{}
	g.single = single{newDesc(fqName(o.Namespace, o.Subsystem, o.Name), o.Help, GaugeType, o.ConstLabels, nil),
		func(m *Metric) { m.Value = g.v.load() }}
	return g
}

// NewGaugeFunc returns an unregistered gauge that calls f at each gather.
func NewGaugeFunc(o GaugeOpts, f func() float64) GaugeFunc {
	return &single{newDesc(fqName(o.Namespace, o.Subsystem, o.Name), o.Help, GaugeType, o.ConstLabels, nil),
		func(m *Metric) { m.Value = f() }}
}

// NewCounterFunc returns an unregistered counter that calls f at each
// gather (f must not go down).
func NewCounterFunc(o CounterOpts, f func() float64) Collector {
	return &single{newDesc(fqName(o.Namespace, o.Subsystem, o.Name), o.Help, CounterType, o.ConstLabels, nil),
		func(m *Metric) { m.Value = f() }}
}

// NewHistogram returns an unregistered histogram.
func NewHistogram(o HistogramOpts) Histogram {
	h := &histogramMetric{histogram: newHistogramData(checkBuckets(o.Buckets))}
	h.single = single{newDesc(fqName(o.Namespace, o.Subsystem, o.Name), o.Help, HistogramType, o.ConstLabels, nil),
		h.histogram.fill}
	return h
}

// vec is a family of children, one per label values.
type vec[T any] struct {
	desc     *Desc
	newChild func() T
	value    func(T, *Metric)
	mu       sync.RWMutex
	children map[string]*child[T]
}

type child[T any] struct {
	values []string
	m      T
}

func key(values []string) string { return strings.Join(values, "\xff") }

// validValues returns values with each label value made valid UTF-8 (see
// validUTF8), copying only when one is not.
func validValues(values []string) []string {
	for i, s := range values {
		if !utf8.ValidString(s) {
			out := slices.Clone(values)
			for j := i; j < len(out); j++ {
				out[j] = validUTF8(out[j])
			}
			return out
		}
	}
	return values
}

func (v *vec[T]) describe() []*Desc { return []*Desc{v.desc} }

func (v *vec[T]) get(values []string) T {
	if len(values) != len(v.desc.LabelNames) {
		panic(fmt.Sprintf("metrics: %s has %d labels, got %d values", v.desc.Name, len(v.desc.LabelNames), len(values)))
	}
	values = validValues(values)
	k := key(values)
	v.mu.RLock()
	c, ok := v.children[k]
	v.mu.RUnlock()
	if ok {
		return c.m
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if c, ok := v.children[k]; ok {
		return c.m
	}
	c = &child[T]{values: slices.Clone(values), m: v.newChild()}
	v.children[k] = c
	return c.m
}

func (v *vec[T]) values(ls Labels) []string {
	if len(ls) != len(v.desc.LabelNames) {
		panic(fmt.Sprintf("metrics: %s has %d labels, got %d", v.desc.Name, len(v.desc.LabelNames), len(ls)))
	}
	vals := make([]string, len(v.desc.LabelNames))
	for i, n := range v.desc.LabelNames {
		val, ok := ls[n]
		if !ok {
			panic(fmt.Sprintf("metrics: %s has no label %q", v.desc.Name, n))
		}
		vals[i] = val
	}
	return vals
}

func (v *vec[T]) collect(dst []Family) []Family {
	v.mu.RLock()
	ms := make([]Metric, 0, len(v.children))
	for _, c := range v.children {
		m := Metric{Labels: slices.Clone(v.desc.ConstLabels)}
		for i, n := range v.desc.LabelNames {
			m.Labels = append(m.Labels, LabelPair{n, c.values[i]})
		}
		v.value(c.m, &m)
		ms = append(ms, m)
	}
	v.mu.RUnlock()
	return append(dst, Family{Name: v.desc.Name, Help: v.desc.Help, Type: v.desc.Type, Metrics: ms})
}

// DeleteLabelValues removes the series with these label values and
// reports whether it was there.
func (v *vec[T]) DeleteLabelValues(values ...string) bool {
	k := key(validValues(values))
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.children[k]
	delete(v.children, k)
	return ok
}

// Delete removes the series with these labels.
func (v *vec[T]) Delete(ls Labels) bool {
	if len(ls) != len(v.desc.LabelNames) {
		return false
	}
	for _, n := range v.desc.LabelNames {
		if _, ok := ls[n]; !ok {
			return false
		}
	}
	return v.DeleteLabelValues(v.values(ls)...)
}

// Reset removes every series.
func (v *vec[T]) Reset() {
	v.mu.Lock()
	clear(v.children)
	v.mu.Unlock()
}

func newVec[T any](name, help string, t Type, constLabels Labels, labelNames []string, newChild func() T,
	value func(T, *Metric)) *vec[T] {
	return &vec[T]{desc: newDesc(name, help, t, constLabels, labelNames), newChild: newChild, value: value,
		children: map[string]*child[T]{}}
}

// CounterVec is counters by label values.
type CounterVec struct{ *vec[*counter] }

// NewCounterVec returns an unregistered counter vector.
func NewCounterVec(o CounterOpts, labelNames []string) *CounterVec {
	return &CounterVec{newVec(fqName(o.Namespace, o.Subsystem, o.Name), o.Help, CounterType, o.ConstLabels, labelNames,
		func() *counter { return &counter{} }, func(c *counter, m *Metric) { m.Value = c.value() })}
}

// WithLabelValues returns the counter for these label values (in the
// order of the label names), creating it at 0.
func (v *CounterVec) WithLabelValues(values ...string) Counter {
	return childCounter{v.get(values)}
}

// With is WithLabelValues by name.
func (v *CounterVec) With(ls Labels) Counter { return v.WithLabelValues(v.values(ls)...) }

// GaugeVec is gauges by label values.
type GaugeVec struct{ *vec[*gauge] }

// NewGaugeVec returns an unregistered gauge vector.
func NewGaugeVec(o GaugeOpts, labelNames []string) *GaugeVec {
	return &GaugeVec{newVec(fqName(o.Namespace, o.Subsystem, o.Name), o.Help, GaugeType, o.ConstLabels, labelNames,
		func() *gauge { return &gauge{} }, func(g *gauge, m *Metric) { m.Value = g.v.load() })}
}

// WithLabelValues returns the gauge for these label values, creating it
// at 0.
func (v *GaugeVec) WithLabelValues(values ...string) Gauge { return childGauge{v.get(values)} }

// With is WithLabelValues by name.
func (v *GaugeVec) With(ls Labels) Gauge { return v.WithLabelValues(v.values(ls)...) }

// HistogramVec is histograms by label values.
type HistogramVec struct{ *vec[*histogram] }

// NewHistogramVec returns an unregistered histogram vector.
func NewHistogramVec(o HistogramOpts, labelNames []string) *HistogramVec {
	bs := checkBuckets(o.Buckets)
	return &HistogramVec{newVec(fqName(o.Namespace, o.Subsystem, o.Name), o.Help, HistogramType, o.ConstLabels, labelNames,
		func() *histogram { return newHistogramData(bs) }, (*histogram).fill)}
}

// WithLabelValues returns the histogram for these label values.
func (v *HistogramVec) WithLabelValues(values ...string) Observer { return v.get(values) }

// With is WithLabelValues by name.
func (v *HistogramVec) With(ls Labels) Observer { return v.WithLabelValues(v.values(ls)...) }

// Observer is a vector's histogram.
type Observer interface{ Observe(float64) }

// childCounter and childGauge are a vector's children as Counter and
// Gauge: collecting one alone (ToFloat64) gives its value.
type childCounter struct{ *counter }

func (c childCounter) describe() []*Desc { return []*Desc{{Name: "child", Type: CounterType}} }
func (c childCounter) collect(dst []Family) []Family {
	return append(dst, Family{Name: "child", Type: CounterType, Metrics: []Metric{{Value: c.value()}}})
}

type childGauge struct{ *gauge }

func (g childGauge) describe() []*Desc { return []*Desc{{Name: "child", Type: GaugeType}} }
func (g childGauge) collect(dst []Family) []Family {
	return append(dst, Family{Name: "child", Type: GaugeType, Metrics: []Metric{{Value: g.v.load()}}})
}
