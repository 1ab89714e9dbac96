package alarmd

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
)

// TestIntegrationDeviceOfflineStatusMosquitto: alarmd on an injected clock
// and a real mosquitto. A gateway left a retained "offline" status of an SOS
// button (anxin/v1/hh-0001/btn1/status) before alarmd started, and the
// gateway of hh-0002 its will; alarmd gets both as retained messages when it
// subscribes. After 30 min of the clock the installers' device_offline
// alarm is open (not handed to the family's chain), as is gateway_offline;
// the button's online status resolves it.
func TestIntegrationDeviceOfflineStatusMosquitto(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	t0 := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	gw := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL).SetClientID("gw-hh-0001"))
	if tok := gw.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer gw.Disconnect(50)
	retain := func(topic string, st anxin.Status) {
		t.Helper()
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		if tok := gw.Publish(topic, 1, true, b); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	retain(anxin.DeviceStatusTopic("hh-0001", "btn1"), anxin.Status{State: "offline", TS: t0})
	if tok := gw.Publish(anxin.StatusTopic("hh-0002"), 1, true, []byte(`{"state":"offline"}`)); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	cfg := testConfig(t)
	cfg.MQTT.Broker = anxin.MustBrokerURL(mq.URL)
	clock := &fakeClock{}
	clock.Set(t0)
	esc := &recordingEscalator{}
	reg := metrics.NewRegistry()
	m := &Main{Config: cfg, Escalator: esc, Now: clock.Now, Metrics: reg}
	startMain(t, m)
	// both retained statuses taken in: the engine's timer is set for t0+30m
	waitFor(t, "the timer of both retained statuses", 10*time.Second, func() bool {
		return counter(t, reg, "anxin_ingest_received_total", "") >= 2 &&
			m.engine.NextDeadline().Equal(t0.Add(30*time.Minute))
	})
	find := func(hh, rule string) (anxin.Alarm, bool) {
		for _, a := range alarms(t, m, sqlite.AlarmFilter{Household: hh}) {
			if a.Rule == rule {
				return a, true
			}
		}
		return anxin.Alarm{}, false
	}
	if a, ok := find("hh-0001", "device_offline"); ok {
		t.Fatalf("alarm before 30 min: %+v", a)
	}

	clock.Set(t0.Add(30*time.Minute + time.Second))
	waitFor(t, "the device_offline alarm", 10*time.Second, func() bool { _, ok := find("hh-0001", "device_offline"); return ok })
	a, _ := find("hh-0001", "device_offline")
	if a.Route != anxin.RouteInstaller || a.Device != "btn1" || a.State != anxin.AlarmOpen ||
		a.OpenedAt.Before(t0.Add(30*time.Minute)) || a.OpenedAt.After(t0.Add(31*time.Minute)) {
		t.Fatalf("alarm %+v", a)
	}
	if a.Reason != "The device (btn1) has been offline since 16:00 (30 min)" {
		t.Errorf("reason %q", a.Reason)
	}
	waitFor(t, "gateway_offline of hh-0002", 10*time.Second, func() bool { _, ok := find("hh-0002", "gateway_offline"); return ok })
	if r := counter(t, reg, "anxin_ingest_rejected_total", ""); r != 0 {
		t.Fatalf("%v statuses rejected", r)
	}
	if n := len(esc.Escalated()); n != 0 {
		t.Fatalf("%d installer alarms handed to the family chain", n)
	}

	clock.Set(t0.Add(40 * time.Minute))
	retain(anxin.DeviceStatusTopic("hh-0001", "btn1"), anxin.Status{State: "online", TS: t0.Add(40 * time.Minute)})
	waitFor(t, "the online status to resolve it", 10*time.Second, func() bool {
		a, _ := find("hh-0001", "device_offline")
		return a.State == anxin.AlarmResolved
	})
	// leave the broker as found
	for _, topic := range []string{anxin.DeviceStatusTopic("hh-0001", "btn1"), anxin.StatusTopic("hh-0002")} {
		if tok := gw.Publish(topic, 1, true, []byte{}); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
}
