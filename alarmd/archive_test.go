package alarmd

import (
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
)

// TestIntegrationArchiveDownAlarmsGoOn: with VictoriaMetrics killed, ingest
// keeps raising alarms and the readings it could not archive are counted.
func TestIntegrationArchiveDownAlarmsGoOn(t *testing.T) {
	vm := testenv.StartVictoriaMetrics(t)
	cfg := testConfig(t)
	cfg.Influx.URL = vm.URL
	cfg.Influx.Queue = 50
	cfg.Influx.BatchSize = 10
	cfg.Influx.FlushInterval = 20 * time.Millisecond
	esc := &recordingEscalator{}
	reg := metrics.NewRegistry()
	m := &Main{Config: cfg, Escalator: esc, Metrics: reg}
	startMain(t, m)
	pub := publisher(t, m.BrokerURL().Dial())
	now := time.Now()
	publishMsg(t, pub, anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-0002", Device: "wm1",
		Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(12.5)}})
	waitFor(t, "a reading archived", 10*time.Second, func() bool {
		return counter(t, reg, "anxin_archive_written_total", "") == 1
	})

	vm.Kill()
	for i := range 200 {
		at := now.Add(time.Duration(i+1) * time.Second)
		publishMsg(t, pub, anxin.Message{ID: anxin.NewID(at), TS: at, Household: "hh-0002", Device: "wm1",
			Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(12.5 + float64(i)/100)}})
	}
	publishMsg(t, pub, button("hh-0001", time.Now()))
	waitFor(t, "the alarm with the archive down", 10*time.Second, func() bool { return len(esc.Escalated()) == 1 })
	waitFor(t, "dropped readings counted", 10*time.Second, func() bool {
		return counter(t, reg, "anxin_archive_dropped_total", "") >= 200-50-10
	})
	if code, body := get(t, "http://"+m.HTTPAddr()+"/healthz"); code != 200 {
		t.Fatalf("a dead archive must not make alarmd unhealthy: %d %s", code, body)
	}
}
