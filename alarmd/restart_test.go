package alarmd

import (
	"fmt"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/sqlite"
)

// TestIntegrationRestartKeepsNoWaterTimer: alarmd stopped at hour 20 of a
// period without water use and started again raises the alarm at hour 24,
// not 44 — the rule state is in the store.
func TestIntegrationRestartKeepsNoWaterTimer(t *testing.T) {
	cfg := testConfig(t)
	clock := &fakeClock{}
	t0 := time.Date(2026, 11, 23, 6, 40, 0, 0, time.UTC)
	esc := &recordingEscalator{}

	// hh-0002 is tier general: no water for 24 h (high risk would be 12 h)
	run := func(from, to int) (*Main, func()) {
		reg := metrics.NewRegistry()
		m := &Main{Config: cfg, Escalator: esc, Now: clock.Now, Metrics: reg}
		clock.Set(t0.Add(time.Duration(from) * time.Hour))
		stop := startMain(t, m)
		pub := publisher(t, m.BrokerURL().Dial())
		for h := from; h <= to; h++ {
			at := t0.Add(time.Duration(h) * time.Hour)
			clock.Set(at)
			publishMsg(t, pub, anxin.Message{ID: anxin.NewID(at), TS: at, Household: "hh-0002", Device: "wm1",
				Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(1000.25)}})
			want := float64(h - from + 1)
			waitFor(t, fmt.Sprintf("reading of hour %d", h), 10*time.Second, func() bool {
				return counter(t, reg, "anxin_ingest_received_total", "") == want
			})
		}
		return m, stop
	}
	m, stop := run(0, 20)
	if as := alarms(t, m, sqlite.AlarmFilter{}); len(as) != 0 {
		t.Fatalf("alarm before hour 24: %+v", as)
	}
	stop()

	m, _ = run(21, 23)
	if as := alarms(t, m, sqlite.AlarmFilter{}); len(as) != 0 {
		t.Fatalf("alarm before hour 24 after the restart: %+v", as)
	}
	clock.Set(t0.Add(24*time.Hour + time.Minute))
	waitFor(t, "the no-water alarm at hour 24", 10*time.Second, func() bool {
		return len(alarms(t, m, sqlite.AlarmFilter{})) == 1
	})
	a := alarms(t, m, sqlite.AlarmFilter{})[0]
	if a.Rule != "no_water" || a.Household != "hh-0002" || a.Severity != anxin.SeverityWarning {
		t.Fatalf("alarm: %+v", a)
	}
	if d := a.OpenedAt.Sub(t0); d < 24*time.Hour || d > 24*time.Hour+time.Minute {
		t.Fatalf("alarm opened %s after the last use, want 24 h", d)
	}
	waitFor(t, "the escalation", 5*time.Second, func() bool { return len(esc.Escalated()) == 1 })
}
