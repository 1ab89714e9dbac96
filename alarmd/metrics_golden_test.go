package alarmd

import (
	"testing"

	"github.com/anxin-care/anxin/internal/metrics/metricstest"
	"github.com/anxin-care/anxin/internal/testenv"
)

// TestMetricsFamiliesAsBefore: alarmd's /metrics, read by Prometheus's own
// parser, holds the families (names, types, help) it served with
// client_golang (testdata/metrics-families.golden, captured from a running
// alarmd before internal/metrics replaced it).
func TestMetricsFamiliesAsBefore(t *testing.T) {
	m := &Main{Config: testConfig(t)}
	startMain(t, m)
	var diff string
	defer func() {
		if t.Failed() {
			t.Logf("families against testdata/metrics-families.golden:\n%s", diff)
		}
	}()
	testenv.Eventually(t, "/metrics holds the golden families", 0, func() bool {
		code, body := get(t, "http://"+m.HTTPAddr()+"/metrics")
		if code != 200 {
			t.Fatalf("/metrics: %d %s", code, body)
		}
		diff = metricstest.Diff(t, body, "testdata/metrics-families.golden")
		return diff == ""
	})
}
