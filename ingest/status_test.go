package ingest

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/rules"
	"github.com/anxin-care/anxin/sqlite"
)

// TestDeviceStatusTimelineAcrossRestart runs the pipeline's real batch
// loop and SQLite under testing/synctest with the built-in rules: a call
// button's retained offline status at t=0 opens the installers'
// device_offline alarm at t+30m, although alarmd restarts at t+20m and the
// status is not sent again (its rule state was committed with the status's
// batch); the online status at t+40m resolves it. The gateway's status on the
// same filter works as before (gateway_offline at t+30m), and a cleared
// retained status (empty payload) is ignored, not rejected.
func TestDeviceStatusTimelineAcrossRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		start := func() (*Pipeline, *pipelineMetrics, func()) {
			p, err := New(Config{TickEvery: time.Minute}, Deps{Engine: rules.New(rules.Default()), Store: db})
			if err != nil {
				t.Fatal(err)
			}
			return p, p.m, runPipeline(t, p)
		}
		ctx := context.Background()
		p, m, stop := start()
		deliver := func(topic string, payload []byte) {
			t.Helper()
			if err := p.Deliver(ctx, Delivery{Topic: topic, Payload: payload}); err != nil {
				t.Fatal(err)
			}
		}
		status := func(hh, dev, state string) {
			t.Helper()
			b, _ := json.Marshal(anxin.Status{State: state, TS: time.Now()})
			deliver(anxin.DeviceStatusTopic(hh, dev), b)
		}
		alarm := func(key string) (anxin.Alarm, bool) {
			t.Helper()
			as, err := db.Alarms(ctx, sqlite.AlarmFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range as {
				if a.Household+"/"+a.Rule == key {
					return a, true
				}
			}
			return anxin.Alarm{}, false
		}
		now := time.Now()
		report := anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-1", Device: "btn1", Kind: anxin.KindCallButton,
			Fields: anxin.Fields{"battery_pct": anxin.Num(90)}}
		b, _ := json.Marshal(&report)
		deliver(report.Topic(), b) // the button is known as a call button
		// in the same second as the offline status: a reading alarmd takes
		// after the status (statuses skip the readings' queue) does not end it
		t0 := time.Now()
		status("hh-1", "btn1", "offline")
		status("hh-gw", "gateway", "offline")
		deliver(anxin.DeviceStatusTopic("hh-1", "btn2"), nil)              // a cleared retained status
		deliver("anxin/v1/hh-1/btn1/status", []byte(`{"state":"asleep"}`)) // not a status
		synctest.Wait()
		states := map[string]bool{}
		if err := db.RuleStates(ctx, func(hh string, _ []byte) error { states[hh] = true; return nil }); err != nil {
			t.Fatal(err)
		}
		if !states["hh-1"] || !states["hh-gw"] {
			t.Errorf("rule state not committed with the statuses' batch: %v", states)
		}
		if got := metrics.ToFloat64(m.rejected.WithLabelValues("status")); got != 1 {
			t.Errorf("rejected{status} = %v, want 1", got)
		}

		time.Sleep(20 * time.Minute)
		stop() // alarmd restarts; nobody sends the status again
		p, _, stop = start()
		time.Sleep(9 * time.Minute)
		synctest.Wait()
		if a, ok := alarm("hh-1/device_offline"); ok {
			t.Fatalf("device_offline before 30 min: %+v", a)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		a, ok := alarm("hh-1/device_offline")
		if !ok || a.Route != anxin.RouteInstaller || a.Device != "btn1" || a.State != anxin.AlarmOpen {
			t.Fatalf("device_offline after 31 min: %+v %v", a, ok)
		}
		if d := a.OpenedAt.Sub(t0); d < 30*time.Minute || d > 31*time.Minute {
			t.Errorf("device_offline opened at t+%s, want t+30m", d)
		}
		if g, ok := alarm("hh-gw/gateway_offline"); !ok || g.OpenedAt.Sub(t0) < 30*time.Minute || g.OpenedAt.Sub(t0) > 31*time.Minute {
			t.Errorf("gateway_offline: %+v %v", g, ok)
		}
		time.Sleep(9 * time.Minute)
		status("hh-1", "btn1", "online")
		synctest.Wait()
		a, _ = alarm("hh-1/device_offline")
		if a.State != anxin.AlarmResolved || a.ClosedAt.Sub(t0) != 40*time.Minute {
			t.Errorf("after online at t+40m: %s closed at t+%s", a.State, a.ClosedAt.Sub(t0))
		}
		if _, ok := alarm("hh-1/button"); ok {
			t.Error("a status raised a family alarm")
		}
		stop()
	})
}
