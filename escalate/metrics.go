package escalate

import "github.com/anxin-care/anxin/internal/metrics"

// metrics of the chain; the zero value (no registry) records nothing.
type escMetrics struct {
	chains *metrics.CounterVec   // outcome: accepted, unanswered, resolved
	sends  *metrics.CounterVec   // channel, result: sent, retry, maybe_sent, failed, found
	accept *metrics.HistogramVec // via
	starts metrics.Counter       // chain starts that failed (retried)
	wait   metrics.Gauge         // alarms whose chain could not start yet
	routes *metrics.CounterVec   // provider, channel, result: sent, failed
	moves  *metrics.CounterVec   // channel, from, to
}

func newMetrics(reg metrics.Registerer) (escMetrics, error) {
	if reg == nil {
		return escMetrics{}, nil
	}
	m := escMetrics{
		chains: metrics.NewCounterVec(metrics.CounterOpts{
			Name: "anxin_escalation_chains_total", Help: "Contact chains decided, by outcome.",
		}, []string{"outcome"}),
		sends: metrics.NewCounterVec(metrics.CounterOpts{
			Name: "anxin_escalation_sends_total", Help: "SMS and call requests to the provider, by channel and result.",
		}, []string{"channel", "result"}),
		accept: metrics.NewHistogramVec(metrics.HistogramOpts{
			Name: "anxin_escalation_accept_seconds", Help: "Time from the alarm's escalation to its acceptance.",
			Buckets: []float64{15, 30, 60, 120, 180, 300, 600, 1200, 1800, 3600},
		}, []string{"via"}),
		starts: metrics.NewCounter(metrics.CounterOpts{
			Name: "anxin_escalation_start_failures_total", Help: "Chain starts that failed and will be retried.",
		}),
		wait: metrics.NewGauge(metrics.GaugeOpts{
			Name: "anxin_escalation_waiting_alarms", Help: "Open family alarms whose chain could not start yet.",
		}),
		routes: metrics.NewCounterVec(metrics.CounterOpts{
			Name: "anxin_notify_sends_total", Help: "Send requests per provider (channel route) and channel, by result: sent, failed.",
		}, []string{"provider", "channel", "result"}),
		moves: metrics.NewCounterVec(metrics.CounterOpts{
			Name: "anxin_notify_failovers_total", Help: "Steps moved from one provider to the next, per channel.",
		}, []string{"channel", "from", "to"}),
	}
	for _, c := range []metrics.Collector{m.chains, m.sends, m.accept, m.starts, m.wait, m.routes, m.moves} {
		if err := reg.Register(c); err != nil {
			return escMetrics{}, err
		}
	}
	return m, nil
}

func (m escMetrics) chain(outcome string) {
	if m.chains != nil {
		m.chains.WithLabelValues(outcome).Inc()
	}
}

func (m escMetrics) send(channel, result string) {
	if m.sends != nil {
		m.sends.WithLabelValues(channel, result).Inc()
	}
}

func (m escMetrics) accepted(via string, seconds float64) {
	if m.accept != nil {
		m.accept.WithLabelValues(via).Observe(seconds)
	}
}

func (m escMetrics) startFailed(waiting int) {
	if m.starts != nil {
		m.starts.Inc()
	}
	m.waitingNow(waiting)
}

func (m escMetrics) waitingNow(n int) {
	if m.wait != nil {
		m.wait.Set(float64(n))
	}
}

func (m escMetrics) route(provider, channel string, ok bool) {
	if m.routes != nil {
		r := "failed"
		if ok {
			r = "sent"
		}
		m.routes.WithLabelValues(provider, channel, r).Inc()
	}
}

func (m escMetrics) failover(channel, from, to string) {
	if m.moves != nil {
		m.moves.WithLabelValues(channel, from, to).Inc()
	}
}
