package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
)

// TestPutStatusChecksAndCounts: the drivers' sink completes a status (ts,
// household), refuses one that breaks the contract without stopping the
// driver, and counts the good ones; without a broker a status is only
// logged (stdout carries contract messages only).
func TestPutStatusChecksAndCounts(t *testing.T) {
	cfg, err := Parse([]byte("household: hh-0001\n"))
	if err != nil {
		t.Fatal(err)
	}
	var out, logs lockedBuffer
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	g, err := New(cfg, Options{Stdout: &out, Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ss, ok := g.sink("z", g.log).(anxin.StatusSink)
	if !ok {
		t.Fatal("the drivers' sink takes no statuses")
	}
	ctx := context.Background()
	for _, st := range []anxin.DeviceStatus{
		{Device: "gateway", State: "offline"}, // reserved
		{Device: "btn1", State: "gone"},
		{Device: "btn1", State: "offline"},
	} {
		if err := ss.PutStatus(ctx, st); err != nil {
			t.Fatalf("%+v: %v (a bad status must not stop the driver)", st, err)
		}
	}
	if got := metrics.ToFloat64(g.mRejected.WithLabelValues("z")); got != 2 {
		t.Errorf("rejected %v, want 2", got)
	}
	if got := metrics.ToFloat64(g.mMessages.WithLabelValues("z", "status")); got != 1 {
		t.Errorf("statuses counted %v, want 1", got)
	}
	if lines := out.lines(); len(lines) != 0 {
		t.Errorf("stdout: %q", lines)
	}
	if l := strings.Join(logs.lines(), "\n"); !strings.Contains(l, "hh-0001/btn1 offline") || !strings.Contains(l, "status rejected") {
		t.Errorf("logs:\n%s", l)
	}
}

// TestZigbeeStatusThroughGateway: the real chain, on two mosquittos. The
// home broker holds zigbee2mqtt's retained "offline" availability of an SOS
// button and its bridge's state; gatewayd (zigbee2mqtt driver → spool →
// uplink) publishes both as retained device statuses to the district
// broker, where a client that comes later reads them.
func TestZigbeeStatusThroughGateway(t *testing.T) {
	home := testenv.StartMosquitto(t)
	district := testenv.StartMosquitto(t)
	z2m := paho.NewClient(paho.NewClientOptions().AddBroker(home.URL).SetClientID("z2m"))
	if tok := z2m.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer z2m.Disconnect(50)
	publish := func(topic, payload string) {
		t.Helper()
		if tok := z2m.Publish(topic, 1, true, payload); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	publish("zigbee2mqtt/hall_sos/availability", `{"state":"offline"}`)
	publish("zigbee2mqtt/bridge/state", "online") // zigbee2mqtt 1.x form

	cfg, err := Parse(fmt.Appendf(nil, `
household: hh-0001
mqtt: {broker: %q, reconnect: {min: 50ms, max: 200ms}}
spool: {dir: %q}
drivers:
  - driver: zigbee2mqtt
    broker: %q
    devices: [{name: hall_sos, device: btn1, kind: call_button}]
`, district.URL, t.TempDir(), home.URL))
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitUntil(t, "both statuses acknowledged by the district broker", func() bool {
		st, ok := g.Stats()
		return ok && st.Acked >= 2 && st.Depth == 0
	})
	for topic, want := range map[string]string{
		"anxin/v1/hh-0001/btn1/status":        `"state":"offline"`,
		"anxin/v1/hh-0001/zigbee2mqtt/status": `"state":"online"`,
	} {
		if got := retainedOn(t, district.URL, topic); !strings.Contains(got, want) || !strings.Contains(got, `"ts":"`) {
			t.Errorf("%s: retained %s, want %s with ts", topic, got, want)
		}
	}
	// the button comes back
	publish("zigbee2mqtt/hall_sos/availability", `{"state":"online"}`)
	waitUntil(t, "the online status", func() bool {
		return strings.Contains(retainedOn(t, district.URL, "anxin/v1/hh-0001/btn1/status"), `"online"`)
	})
	publish("zigbee2mqtt/hall_sos/availability", "")
	publish("zigbee2mqtt/bridge/state", "")
}

// retainedOn reads the retained message of topic with a fresh client.
func retainedOn(t *testing.T, broker, topic string) string {
	t.Helper()
	got := make(chan paho.Message, 1)
	cl := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("probe-" + anxin.NewID(time.Now())))
	if tok := cl.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer cl.Disconnect(50)
	cl.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		select {
		case got <- m:
		default:
		}
	})
	select {
	case m := <-got:
		if !m.Retained() {
			t.Errorf("%s without the retain flag", topic)
		}
		return string(m.Payload())
	case <-time.After(30 * time.Second):
		t.Fatalf("no retained message on %s", topic)
		return ""
	}
}
