// Package metricstest checks an exposition with Prometheus's own text
// parser (github.com/prometheus/common/expfmt). It is for tests only: the
// daemons must not link it (the parser brings protobuf back).
package metricstest

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Parse parses text as Prometheus does, failing the test on an error.
func Parse(t testing.TB, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus's parser refused the exposition: %v\n%s", err, text)
	}
	return fs
}

// Families returns one line per family, sorted: "name type help".
func Families(t testing.TB, text string) []string {
	t.Helper()
	var lines []string
	for name, f := range Parse(t, text) {
		lines = append(lines, fmt.Sprintf("%s %s %s", name, strings.ToLower(f.GetType().String()), f.GetHelp()))
	}
	sort.Strings(lines)
	return lines
}

// Diff compares the families of text with the golden file (lines as
// Families gives them; lines starting with # are comments). It returns ""
// when they match, otherwise what is missing and what is new.
func Diff(t testing.TB, text, golden string) string {
	t.Helper()
	b, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			want = append(want, l)
		}
	}
	got := Families(t, text)
	var d strings.Builder
	for _, l := range want {
		if !slices.Contains(got, l) {
			d.WriteString("missing: " + l + "\n")
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			d.WriteString("new:     " + l + "\n")
		}
	}
	return d.String()
}
