package metrics_test

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/anxin-care/anxin/internal/metrics"
	"github.com/anxin-care/anxin/internal/metrics/metricstest"
)

// FuzzExposition: whatever label values, const label values, instance
// names, help and values the program hands over, the page parses with
// Prometheus's own parser and reads back what was given (label values
// that are not UTF-8 as their valid UTF-8 form).
func FuzzExposition(f *testing.F) {
	f.Add("a", "b", "inst", "help", 1.0, 0.5)
	f.Add(`q"uo\te`, "line\nbreak", `\`, "Back\\slash and\nnew line.", math.Inf(1), -3.0)
	f.Add("\xff\xfe", "安宁村", "\x00", "\\n", math.NaN(), 1e21)
	f.Add("\r\t", "", "a\xc3", "\xff", math.Copysign(0, -1), 1e-300)
	f.Fuzz(func(t *testing.T, v1, v2, inst, help string, gv, obs float64) {
		reg := metrics.NewRegistry()
		w := metrics.WrapRegistererWith(metrics.Labels{"instance": inst}, reg)
		cv := metrics.NewCounterVec(metrics.CounterOpts{Name: "c_total", Help: help, ConstLabels: metrics.Labels{"k": v2}}, []string{"a", "b"})
		gv1 := metrics.NewGaugeVec(metrics.GaugeOpts{Name: "g", Help: help}, []string{"a"})
		h := metrics.NewHistogramVec(metrics.HistogramOpts{Name: "h_seconds", Help: help, Buckets: []float64{-1, 0, 1}}, []string{"a"})
		w.MustRegister(cv, gv1, h)
		cv.WithLabelValues(v1, v2).Inc()
		cv.WithLabelValues(v2, v1).Inc()
		gv1.WithLabelValues(v1).Set(gv)
		gv1.WithLabelValues(v2).Set(gv)
		h.WithLabelValues(v1).Observe(obs)
		fs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := metrics.WriteText(&b, fs); err != nil {
			t.Fatal(err)
		}
		got := metricstest.Parse(t, b.String())
		valid := func(s string) string { return strings.ToValidUTF8(s, string(utf8.RuneError)) }
		// the parser skips the blanks before the help (as it did client_golang's)
		if h, want := got["c_total"].GetHelp(), strings.TrimLeft(help, " \t"); want != "" && utf8.ValidString(help) && h != want {
			t.Errorf("help %q read back as %q", help, h)
		}
		for _, m := range got["c_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "instance" && l.GetValue() != valid(inst) {
					t.Errorf("instance %q read back as %q", inst, l.GetValue())
				}
				if l.GetName() == "k" && l.GetValue() != valid(v2) {
					t.Errorf("const label %q read back as %q", v2, l.GetValue())
				}
			}
		}
		for _, m := range got["g"].GetMetric() {
			if v := m.GetGauge().GetValue(); v != gv && !(math.IsNaN(v) && math.IsNaN(gv)) {
				t.Errorf("gauge %v read back as %v", gv, v)
			}
		}
		hm := got["h_seconds"].GetMetric()[0].GetHistogram()
		bs := hm.GetBucket()
		if hm.GetSampleCount() != 1 || bs[len(bs)-1].GetCumulativeCount() != 1 {
			t.Errorf("histogram: %v", hm)
		}
	})
}
