package ingest

import "github.com/anxin-care/anxin/internal/metrics"

type pipelineMetrics struct {
	received   metrics.Counter
	rejected   *metrics.CounterVec
	duplicates metrics.Counter
	decisions  *metrics.CounterVec
	batches    metrics.Histogram
	commit     metrics.Histogram
	latency    metrics.Histogram
	storeErrs  metrics.Counter
	clockUnset metrics.Counter
	handedBack metrics.Counter
	leaseLost  metrics.Counter
	states     metrics.Counter
}

func newMetrics(reg metrics.Registerer) (*pipelineMetrics, error) {
	m := &pipelineMetrics{
		received: metrics.NewCounter(metrics.CounterOpts{Name: "anxin_ingest_received_total",
			Help: "Messages received from the broker."}),
		rejected: metrics.NewCounterVec(metrics.CounterOpts{Name: "anxin_ingest_rejected_total",
			Help: "Messages that broke the contract, by reason."}, []string{"reason"}),
		duplicates: metrics.NewCounter(metrics.CounterOpts{Name: "anxin_ingest_duplicates_total",
			Help: "Messages whose id was already seen (no second effect)."}),
		decisions: metrics.NewCounterVec(metrics.CounterOpts{Name: "anxin_rules_decisions_total",
			Help: "Decisions of the rules engine, by op."}, []string{"op"}),
		batches: metrics.NewHistogram(metrics.HistogramOpts{Name: "anxin_ingest_batch_size",
			Help: "Messages per committed batch.", Buckets: metrics.ExponentialBuckets(1, 4, 8)}),
		commit: metrics.NewHistogram(metrics.HistogramOpts{Name: "anxin_ingest_commit_seconds",
			Help: "Time to commit one batch to the store.", Buckets: metrics.ExponentialBuckets(0.0005, 2, 14)}),
		latency: metrics.NewHistogram(metrics.HistogramOpts{Name: "anxin_alarm_open_latency_seconds",
			Help: "From a message's arrival to its alarm being committed.", Buckets: metrics.ExponentialBuckets(0.0005, 2, 14)}),
		storeErrs: metrics.NewCounter(metrics.CounterOpts{Name: "anxin_ingest_store_errors_total",
			Help: "Failed commits of a batch (retried until the store takes it)."}),
		clockUnset: metrics.NewCounter(metrics.CounterOpts{Name: "anxin_ingest_clock_unset_total",
			Help: "Messages dated before 2025 (a gateway clock never set), dated on receipt instead."}),
		handedBack: metrics.NewCounter(metrics.CounterOpts{Name: "anxin_ingest_handed_back_total",
			Help: "Messages handed back unprocessed: their household's partition is another alarmd's (NATS)."}),
		leaseLost: metrics.NewCounter(metrics.CounterOpts{Name: "anxin_ingest_lease_lost_commits_total",
			Help: "Writes that found a partition lease lost before their commit: that partition's share was rolled back and handed back (NATS)."}),
		states: metrics.NewCounter(metrics.CounterOpts{Name: "anxin_ingest_rule_states_written_total",
			Help: "Households' rule states written to the store (one row each)."}),
	}
	for _, r := range []string{"too_large", "topic", "contract", "status", "unknown_household", "unknown_device"} {
		m.rejected.WithLabelValues(r)
	}
	if reg != nil {
		for _, c := range []metrics.Collector{m.received, m.rejected, m.duplicates, m.decisions, m.batches, m.commit, m.latency, m.storeErrs, m.clockUnset, m.handedBack, m.leaseLost, m.states} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
