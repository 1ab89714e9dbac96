// Package metrics is anxin's Prometheus exposition: counters, gauges and
// histograms (with label vectors), registries, and the text format 0.0.4
// that Prometheus, VictoriaMetrics and Telegraf scrape.
//
// It replaces github.com/prometheus/client_golang in the daemons. The
// client library links protobuf, its descriptors and their initialisers,
// procfs, client_model and common into every binary: measured on alarmd and
// gatewayd, megabytes of binary and of file pages mapped before main (see
// docs/alarmd.md, "Without client_golang"). What the daemons use of it is
// small, and the names here follow it so call sites read the same:
// NewCounterVec(CounterOpts{…}, labels), reg.MustRegister, Register with
// an AlreadyRegisteredError, WrapRegistererWith, Gatherers, HandlerFor.
//
// What it leaves out: summaries (other than the Go collector's GC pauses),
// exemplars, native histograms, the protobuf and OpenMetrics formats,
// content negotiation and compression of the response, and UTF-8 metric
// and label names. Register refuses what would make the page unparsable
// (a name outside Prometheus's classic set, a label name twice); a label
// value that is not UTF-8 is exposed in its valid form.
//
// Counters and gauges are lock-free (atomic); a vector takes a read lock to
// find its child, as client_golang's does.
package metrics

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// Type is a metric family's type as the # TYPE line names it.
type Type int

// The family types.
const (
	CounterType Type = iota
	GaugeType
	HistogramType
	SummaryType
	UntypedType
)

func (t Type) String() string {
	switch t {
	case CounterType:
		return "counter"
	case GaugeType:
		return "gauge"
	case HistogramType:
		return "histogram"
	case SummaryType:
		return "summary"
	}
	return "untyped"
}

// Labels are label names and values (const labels, With's argument).
type Labels map[string]string

// LabelPair is one label of a series.
type LabelPair struct {
	Name, Value string
}

// Bucket is one cumulative histogram bucket: observations ≤ UpperBound.
type Bucket struct {
	UpperBound float64
	Count      uint64
}

// Quantile is one quantile of a summary.
type Quantile struct {
	Quantile, Value float64
}

// Metric is one series as gathered: its labels sorted by name and its value
// (counter, gauge), histogram or summary.
type Metric struct {
	Labels []LabelPair
	Value  float64
	// Count and Sum of a histogram or summary.
	Count uint64
	Sum   float64
	// Buckets of a histogram, by upper bound, the last one +Inf.
	Buckets []Bucket
	// Quantiles of a summary.
	Quantiles []Quantile
}

// Label returns the value of the named label ("" when absent).
func (m Metric) Label(name string) string {
	for _, l := range m.Labels {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// Family is a metric family as gathered: its series sorted by labels.
type Family struct {
	Name, Help string
	Type       Type
	Metrics    []Metric
}

// Desc describes one family a collector exposes: what registration checks
// (one help and one set of label names per name; one collector per name
// and const label values).
type Desc struct {
	Name, Help  string
	Type        Type
	ConstLabels []LabelPair // sorted by name
	LabelNames  []string    // variable labels, in the caller's order
	err         error       // what check found: Register returns it
}

// check finds what would make the exposition unparsable: a metric or
// label name Prometheus cannot read, a label name twice (const, variable,
// added by a wrapper), a histogram's "le", a summary's "quantile".
func (d *Desc) check() error {
	if !validName(d.Name, true) {
		return fmt.Errorf("metrics: %q is not a valid metric name", d.Name)
	}
	seen := map[string]bool{}
	names := slices.Clone(d.LabelNames)
	for _, l := range d.ConstLabels {
		names = append(names, l.Name)
	}
	for _, n := range names {
		switch {
		case !validName(n, false) || strings.HasPrefix(n, "__"):
			return fmt.Errorf("metrics: %s: %q is not a valid label name", d.Name, n)
		case seen[n]:
			return fmt.Errorf("metrics: %s: label %q twice", d.Name, n)
		case d.Type == HistogramType && n == "le", d.Type == SummaryType && n == "quantile":
			return fmt.Errorf("metrics: %s: label %q is reserved for its %s", d.Name, n, d.Type)
		}
		seen[n] = true
	}
	return nil
}

// validName reports whether s is a metric name (colons allowed) or label
// name in Prometheus's classic character set, the one its text parser
// reads unquoted.
func validName(s string, metric bool) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || metric && c == ':' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (d *Desc) id() string {
	var b strings.Builder
	b.WriteString(d.Name)
	for _, l := range d.ConstLabels {
		b.WriteString("\xff" + l.Name + "\xfe" + l.Value)
	}
	return b.String()
}

// dims is the sorted set of all label names, const and variable.
func (d *Desc) dims() string {
	names := slices.Clone(d.LabelNames)
	for _, l := range d.ConstLabels {
		names = append(names, l.Name)
	}
	sort.Strings(names)
	return strings.Join(names, "\xff")
}

func newDesc(name, help string, t Type, constLabels Labels, labelNames []string) *Desc {
	if name == "" {
		panic("metrics: a metric needs a name")
	}
	d := &Desc{Name: name, Help: help, Type: t, LabelNames: slices.Clone(labelNames)}
	for n, v := range constLabels {
		d.ConstLabels = append(d.ConstLabels, LabelPair{n, validUTF8(v)})
	}
	sortLabels(d.ConstLabels)
	d.err = d.check()
	return d
}

// validUTF8 returns s with each run of bytes that are not UTF-8 replaced by
// U+FFFD. Prometheus's parser refuses a label value that is not UTF-8, and
// one such series would make the whole page unreadable: client_golang
// panicked on it (WithLabelValues) or failed the scrape (const labels);
// here the series is kept under the valid form of its value, so values
// that differ only in such bytes share one series.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, string(utf8.RuneError))
}

func sortLabels(ls []LabelPair) {
	slices.SortFunc(ls, func(a, b LabelPair) int { return strings.Compare(a.Name, b.Name) })
}

func fqName(namespace, subsystem, name string) string {
	return strings.Join(slices.DeleteFunc([]string{namespace, subsystem, name}, func(s string) bool { return s == "" }), "_")
}

// Collector is something a registry gathers: every metric, vector and
// collector of this package.
type Collector interface {
	// describe lists the families the collector exposes.
	describe() []*Desc
	// collect appends the collector's families as they are now.
	collect(dst []Family) []Family
}

// Registerer is what code that only registers is given (drivers.Env).
type Registerer interface {
	Register(Collector) error
	MustRegister(...Collector)
	Unregister(Collector) bool
}

// Gatherer is what an exposition reads.
type Gatherer interface {
	Gather() ([]Family, error)
}

// AlreadyRegisteredError is Register's error when a collector describing
// the same families was registered before: ExistingCollector is that one,
// for the caller to use instead.
type AlreadyRegisteredError struct {
	ExistingCollector, NewCollector Collector
}

func (e AlreadyRegisteredError) Error() string {
	return "duplicate metrics collector registration attempted"
}

// RegisterOrReuse registers c, or returns the collector of the same
// description registered before (by another driver, instance or port
// sharing the registry), so they share their metrics.
func RegisterOrReuse[C Collector](r Registerer, c C) (C, error) {
	err := r.Register(c)
	if err == nil {
		return c, nil
	}
	var are AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	var zero C
	return zero, err
}

// Registry holds collectors and gathers them.
type Registry struct {
	mu         sync.RWMutex
	collectors map[string]Collector // by collector id
	descs      map[string]bool      // desc ids of all registered collectors
	names      map[string]nameUse   // per family name: help and label names
}

type nameUse struct {
	help, dims string
	t          Type
	n          int // descs registered under this name
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{collectors: map[string]Collector{}, descs: map[string]bool{}, names: map[string]nameUse{}}
}

func collectorID(ds []*Desc) string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.id()
	}
	sort.Strings(ids)
	return strings.Join(ids, "\x00")
}

// Register adds c. It fails, as client_golang's does, when a name comes
// again with another help, type or label names; then with an
// AlreadyRegisteredError when a collector of the same names and const
// labels is registered; and when the same name and const labels come from
// another collector.
func (r *Registry) Register(c Collector) error {
	ds := c.describe()
	if len(ds) == 0 {
		return errors.New("metrics: collector describes no metric")
	}
	for _, d := range ds {
		if d.err != nil {
			return d.err
		}
	}
	id := collectorID(ds)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range ds {
		if u, ok := r.names[d.Name]; ok && (u.help != d.Help || u.dims != d.dims() || u.t != d.Type) {
			return fmt.Errorf("metrics: %s is registered with another help, type or label names", d.Name)
		}
	}
	if existing, ok := r.collectors[id]; ok {
		return AlreadyRegisteredError{ExistingCollector: existing, NewCollector: c}
	}
	seen := map[string]bool{}
	for _, d := range ds {
		did := d.id()
		if r.descs[did] || seen[did] {
			return fmt.Errorf("metrics: %s with the same const labels is registered by another collector", d.Name)
		}
		seen[did] = true
	}
	for _, d := range ds {
		r.descs[d.id()] = true
		u := r.names[d.Name]
		u.help, u.dims, u.t = d.Help, d.dims(), d.Type
		u.n++
		r.names[d.Name] = u
	}
	r.collectors[id] = c
	return nil
}

// MustRegister registers each collector and panics on an error.
func (r *Registry) MustRegister(cs ...Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister removes the collector registered with c's description and
// reports whether there was one.
func (r *Registry) Unregister(c Collector) bool {
	ds := c.describe()
	id := collectorID(ds)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.collectors[id]; !ok {
		return false
	}
	delete(r.collectors, id)
	for _, d := range ds {
		delete(r.descs, d.id())
		u := r.names[d.Name]
		if u.n--; u.n <= 0 {
			delete(r.names, d.Name)
		} else {
			r.names[d.Name] = u
		}
	}
	return true
}

// Gather collects every registered collector: families sorted by name,
// series by label values.
func (r *Registry) Gather() ([]Family, error) {
	r.mu.RLock()
	cs := make([]Collector, 0, len(r.collectors))
	for _, c := range r.collectors {
		cs = append(cs, c)
	}
	r.mu.RUnlock()
	var fs []Family
	for _, c := range cs {
		fs = c.collect(fs)
	}
	return merge(fs)
}

// merge joins families of one name (from several collectors or
// registries), drops empty ones and sorts. A name with two types or helps,
// or a series that comes twice, is an error; the families are still
// returned, the first help and type winning.
func merge(fs []Family) ([]Family, error) {
	byName := map[string]int{}
	var out []Family
	var errs []error
	for _, f := range fs {
		i, ok := byName[f.Name]
		if !ok {
			byName[f.Name] = len(out)
			out = append(out, Family{Name: f.Name, Help: f.Help, Type: f.Type, Metrics: slices.Clone(f.Metrics)})
			continue
		}
		if out[i].Type != f.Type || out[i].Help != f.Help {
			errs = append(errs, fmt.Errorf("metrics: %s gathered with different help or type", f.Name))
			continue
		}
		out[i].Metrics = append(out[i].Metrics, f.Metrics...)
	}
	out = slices.DeleteFunc(out, func(f Family) bool { return len(f.Metrics) == 0 })
	for i := range out {
		ms := out[i].Metrics
		for j := range ms {
			sortLabels(ms[j].Labels)
		}
		slices.SortStableFunc(ms, func(a, b Metric) int { return compareLabels(a.Labels, b.Labels) })
		for j := 1; j < len(ms); j++ {
			if compareLabels(ms[j-1].Labels, ms[j].Labels) == 0 {
				errs = append(errs, fmt.Errorf("metrics: %s has a series twice", out[i].Name))
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b Family) int { return strings.Compare(a.Name, b.Name) })
	return out, errors.Join(errs...)
}

// compareLabels orders series as client_golang does: by the sorted
// labels' values, then by their count.
func compareLabels(a, b []LabelPair) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := strings.Compare(a[i].Name, b[i].Name); c != 0 {
			return c
		}
		if c := strings.Compare(a[i].Value, b[i].Value); c != 0 {
			return c
		}
	}
	return len(a) - len(b)
}

// Gatherers gathers several gatherers into one exposition: families of the
// same name are merged.
type Gatherers []Gatherer

// Gather gathers each and merges.
func (gs Gatherers) Gather() ([]Family, error) {
	var all []Family
	var errs []error
	for _, g := range gs {
		fs, err := g.Gather()
		if err != nil {
			errs = append(errs, err)
		}
		all = append(all, fs...)
	}
	out, err := merge(all)
	return out, errors.Join(append(errs, err)...)
}

// GathererFunc is a function as a Gatherer.
type GathererFunc func() ([]Family, error)

// Gather calls f.
func (f GathererFunc) Gather() ([]Family, error) { return f() }

// WrapRegistererWith returns a Registerer that registers collectors into
// r with the labels added to every series they expose. An
// AlreadyRegisteredError through it names the collector as it was given.
func WrapRegistererWith(labels Labels, r Registerer) Registerer {
	var ls []LabelPair
	for n, v := range labels {
		ls = append(ls, LabelPair{n, validUTF8(v)})
	}
	sortLabels(ls)
	return &wrappingRegisterer{r: r, labels: ls}
}

type wrappingRegisterer struct {
	r      Registerer
	labels []LabelPair
}

func (w *wrappingRegisterer) wrap(c Collector) *wrapped {
	return &wrapped{c: c, labels: w.labels}
}

func (w *wrappingRegisterer) Register(c Collector) error {
	err := w.r.Register(w.wrap(c))
	var are AlreadyRegisteredError
	if errors.As(err, &are) {
		if x, ok := are.ExistingCollector.(*wrapped); ok {
			are.ExistingCollector = x.c
		}
		are.NewCollector = c
		return are
	}
	return err
}

func (w *wrappingRegisterer) MustRegister(cs ...Collector) {
	for _, c := range cs {
		if err := w.Register(c); err != nil {
			panic(err)
		}
	}
}

func (w *wrappingRegisterer) Unregister(c Collector) bool { return w.r.Unregister(w.wrap(c)) }

type wrapped struct {
	c      Collector
	labels []LabelPair
}

func (w *wrapped) describe() []*Desc {
	ds := w.c.describe()
	out := make([]*Desc, len(ds))
	for i, d := range ds {
		x := *d
		x.ConstLabels = append(slices.Clone(d.ConstLabels), w.labels...)
		sortLabels(x.ConstLabels)
		if x.err == nil {
			x.err = x.check()
		}
		out[i] = &x
	}
	return out
}

func (w *wrapped) collect(dst []Family) []Family {
	n := len(dst)
	dst = w.c.collect(dst)
	for i := n; i < len(dst); i++ {
		ms := slices.Clone(dst[i].Metrics)
		for j := range ms {
			ms[j].Labels = append(slices.Clone(ms[j].Labels), w.labels...)
			sortLabels(ms[j].Labels)
		}
		dst[i].Metrics = ms
	}
	return dst
}
