package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// BatchSize is the messages of one benchmarked ingest batch.
const BatchSize = 100

// BenchmarkIngest measures ingest commits: each op is one batch of
// BatchSize messages (their ids remembered), a fifth of them moving a
// household's rule state, and one alarm opened and repeated, as ApplyIngest
// commits it. It reports commits/s and msgs/s. apply is the store's
// ingest path as alarmd uses it (SQLite's dedicated writer, say).
func BenchmarkIngest(b *testing.B, apply func(context.Context, *anxin.IngestBatch) (anxin.IngestResult, error)) {
	ctx := context.Background()
	t0 := time.Now()
	ids := make([]string, BatchSize)
	states := make([]anxin.RuleState, BatchSize/5)
	for i := range states {
		states[i] = anxin.RuleState{Household: fmt.Sprintf("hh-%04d", i), State: make([]byte, 64)}
	}
	b.ReportAllocs()
	n := 0
	start := time.Now()
	for b.Loop() {
		for i := range ids {
			ids[i] = "hh-0001/" + anxin.NewID(t0)
		}
		hh := fmt.Sprintf("hh-%04d", n%1000)
		n++
		if _, err := apply(ctx, &anxin.IngestBatch{At: t0, SeenIDs: ids, States: states, Changes: []anxin.AlarmChange{
			change(anxin.AlarmOpOpen, hh, "button", t0), change(anxin.AlarmOpRepeat, hh, "button", t0)}}); err != nil {
			b.Fatal(err)
		}
	}
	s := time.Since(start).Seconds()
	b.ReportMetric(float64(n)/s, "commits/s")
	b.ReportMetric(float64(n*BatchSize)/s, "msgs/s")
}
