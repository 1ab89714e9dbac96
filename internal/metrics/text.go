package metrics

import (
	"bufio"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// ContentType is the text format's media type.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WriteText writes families in the Prometheus text format 0.0.4.
func WriteText(w io.Writer, fs []Family) error {
	b := bufio.NewWriter(w)
	for _, f := range fs {
		if f.Help != "" {
			b.WriteString("# HELP " + f.Name + " ")
			b.WriteString(helpEscaper.Replace(f.Help))
			b.WriteByte('\n')
		}
		b.WriteString("# TYPE " + f.Name + " " + f.Type.String() + "\n")
		for _, m := range f.Metrics {
			switch f.Type {
			case HistogramType:
				for _, bk := range m.Buckets {
					sample(b, f.Name+"_bucket", m.Labels, "le", formatFloat(bk.UpperBound), float64(bk.Count))
				}
				sample(b, f.Name+"_sum", m.Labels, "", "", m.Sum)
				sample(b, f.Name+"_count", m.Labels, "", "", float64(m.Count))
			case SummaryType:
				for _, q := range m.Quantiles {
					sample(b, f.Name, m.Labels, "quantile", formatFloat(q.Quantile), q.Value)
				}
				sample(b, f.Name+"_sum", m.Labels, "", "", m.Sum)
				sample(b, f.Name+"_count", m.Labels, "", "", float64(m.Count))
			default:
				sample(b, f.Name, m.Labels, "", "", m.Value)
			}
		}
	}
	return b.Flush()
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func sample(b *bufio.Writer, name string, ls []LabelPair, extra, extraValue string, v float64) {
	b.WriteString(name)
	if len(ls) > 0 || extra != "" {
		b.WriteByte('{')
		sep := ""
		for _, l := range ls {
			b.WriteString(sep + l.Name + `="`)
			b.WriteString(labelEscaper.Replace(l.Value))
			b.WriteByte('"')
			sep = ","
		}
		if extra != "" {
			b.WriteString(sep + extra + `="` + extraValue + `"`)
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(formatFloat(v))
	b.WriteByte('\n')
}

// formatFloat writes v as Prometheus does: shortest form, +Inf, -Inf, NaN.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// HandlerFor serves g's families as text. A gather error is a 500 with the
// error, as client_golang's default (HTTPErrorOnError) does.
func HandlerFor(g Gatherer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fs, err := g.Gather()
		if err != nil {
			http.Error(w, "An error has occurred while gathering metrics:\n\n"+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		_ = WriteText(w, fs)
	})
}

// One returns the single series c exposes; it panics when c exposes
// another number of series (for tests: a counter, a gauge, a histogram,
// one child of a vector).
func One(c Collector) Metric {
	fs := c.collect(nil)
	var ms []Metric
	for _, f := range fs {
		ms = append(ms, f.Metrics...)
	}
	if len(ms) != 1 {
		panic("metrics: One: collector has " + strconv.Itoa(len(ms)) + " series")
	}
	return ms[0]
}

// ToFloat64 returns the value of the counter or gauge c (client_golang's
// testutil.ToFloat64).
func ToFloat64(c Collector) float64 { return One(c).Value }
