package zigbee2mqtt

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/mqttsource/sourcetest"
)

// TestStatusPayloadForms: availability and bridge state in both forms
// zigbee2mqtt has used (plain text in 1.x with legacy payloads, JSON
// {"state":…} in 2.x) become statuses on each change, stamped with the time
// received; repeats, cleared retained messages (empty payloads) and devices
// not listed make none; a bad payload is an error and no status.
func TestStatusPayloadForms(t *testing.T) {
	cfg := NewConfig()
	cfg.BridgeDevice = "z2m_hall"
	cfg.Devices = []Device{{Name: "hall_sos", Device: "btn1", Kind: anxin.KindCallButton},
		{Name: "kitchen/smoke", Device: "smoke1", Kind: anxin.KindSmokeDetector}}
	reg := metrics.NewRegistry()
	n, err := NewNetwork(cfg, "hh-0001", nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	got := collectStatuses(t, n)
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct{ topic, payload, err string }{
		{"zigbee2mqtt/hall_sos/availability", "online", ""},             // legacy plain text
		{"zigbee2mqtt/hall_sos/availability", `{"state":"online"}`, ""}, // the same state again
		{"zigbee2mqtt/hall_sos/availability", " offline\n", ""},
		{"zigbee2mqtt/kitchen/smoke/availability", `{"state":"offline"}`, ""}, // a friendly name with a /
		{"zigbee2mqtt/bridge/state", "online", ""},                            // 1.x
		{"zigbee2mqtt/bridge/state", `{"state":"offline"}`, ""},               // 2.x, the will
		{"zigbee2mqtt/bridge/state", `{"state":"offline"}`, ""},
		{"zigbee2mqtt/hall_sos/availability", "", ""},     // cleared retained
		{"zigbee2mqtt/bridge/state", "", ""},              // cleared retained
		{"zigbee2mqtt/porch/availability", "offline", ""}, // not listed
		{"zigbee2mqtt/hall_sos/availability", `{"state":"unknown"}`, "not online or offline"},
		{"zigbee2mqtt/bridge/state", `{"state":`, "bridge/state"},
		{"zigbee2mqtt/hall_sos/availability", `{"state":"online"}`, ""},
	} {
		now = now.Add(time.Minute)
		err := n.Handle(c.topic, []byte(c.payload), now, func(m anxin.Message) { t.Errorf("%s: a message %s", c.topic, m.String()) })
		if (err == nil) != (c.err == "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s %q: err %v, want %q", c.topic, c.payload, err, c.err)
		}
	}
	want := []string{"btn1:online@08:01", "btn1:offline@08:03", "smoke1:offline@08:04",
		"z2m_hall:online@08:05", "z2m_hall:offline@08:06", "btn1:online@08:13"}
	if !slices.Equal(*got, want) {
		t.Errorf("statuses\n%v\nwant\n%v", *got, want)
	}
	if v := sourcetest.Gauge(reg, "anxin_zigbee_device_online", "smoke1"); v != 0 {
		t.Errorf("smoke1 gauge %v", v)
	}
	// without OnStatus (gatewayd decode) statuses go nowhere, and nothing breaks
	n2, _ := NewNetwork(cfg, "hh-0001", nil, nil)
	if err := n2.Handle("zigbee2mqtt/bridge/state", []byte("offline"), now, func(anxin.Message) {}); err != nil {
		t.Fatal(err)
	}
}

// TestAutoModeStatusOnceKindKnown: in auto mode the retained availability
// comes at start, before anything says what the device is; it becomes the
// device's status as soon as a state does (and not at all for a device
// that never says), so an SOS button offline at start is not missed.
func TestAutoModeStatusOnceKindKnown(t *testing.T) {
	n, err := NewNetwork(NewConfig(), "hh-0001", nil, metrics.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	got := collectStatuses(t, n)
	now := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	for _, c := range []struct{ topic, payload string }{
		{"zigbee2mqtt/hall_sos/availability", "offline"}, // retained, at start: kind unknown
		{"zigbee2mqtt/lamp/availability", "online"},      // a device that never says what it is
		{"zigbee2mqtt/lamp", `{"state":"ON"}`},
		{"zigbee2mqtt/hall_sos", `{"action":"emergency"}`}, // now a call button: its status
		{"zigbee2mqtt/hall_sos", `{"battery":90}`},         // nothing new
		{"zigbee2mqtt/hall_sos/availability", "online"},
	} {
		now = now.Add(time.Minute)
		if err := n.Handle(c.topic, []byte(c.payload), now, func(anxin.Message) {}); err != nil {
			t.Errorf("%s %s: %v", c.topic, c.payload, err)
		}
	}
	if want := []string{"hall_sos:offline@08:04", "hall_sos:online@08:06"}; !slices.Equal(*got, want) {
		t.Errorf("statuses %v, want %v", *got, want)
	}
}

// statusSink is a test sink that also takes statuses, as gatewayd's does.
type statusSink struct {
	*sourcetest.Sink
	st chan anxin.DeviceStatus
}

func (s *statusSink) PutStatus(ctx context.Context, st anxin.DeviceStatus) error {
	if err := st.Validate(); err != nil {
		panic("driver emitted a status that breaks the contract: " + err.Error())
	}
	select {
	case s.st <- st:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *statusSink) next(t *testing.T) string {
	t.Helper()
	select {
	case st := <-s.st:
		return st.Device + ":" + st.State
	case <-time.After(30 * time.Second):
		t.Fatal("no status from the broker")
		return ""
	}
}

// TestIntegrationStatuses: against mosquitto and the embedded broker, the
// retained availability and bridge state found at subscribe time (as
// zigbee2mqtt leaves them) and later changes reach the sink as statuses.
func TestIntegrationStatuses(t *testing.T) {
	sourcetest.Brokers(t, func(t *testing.T, b sourcetest.Broker) {
		retain := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("z2m-" + anxin.NewID(time.Now())))
		if tok := retain.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("connect: %v", tok.Error())
		}
		defer retain.Disconnect(50)
		publish := func(topic, payload string) {
			t.Helper()
			if tok := retain.Publish(topic, 1, true, payload); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
		}
		publish("zigbee2mqtt/0x847127fffe0542eb/availability", "offline") // the SOS button went offline before gatewayd started
		publish("zigbee2mqtt/bridge/state", `{"state":"online"}`)

		env, _ := sourcetest.Env(t)
		cfg := NewConfig()
		cfg.Broker = anxin.MustBrokerURL(b.URL())
		cfg.Devices = fixtureDevices()
		d, err := New(cfg, env)
		if err != nil {
			t.Fatal(err)
		}
		sink := &statusSink{Sink: sourcetest.NewSink(64), st: make(chan anxin.DeviceStatus, 64)}
		stop := sourcetest.Run(t, d, sink)
		first := []string{sink.next(t), sink.next(t)}
		slices.Sort(first) // retained messages of two topics: in any order
		if want := []string{"sos1:offline", "zigbee2mqtt:online"}; !slices.Equal(first, want) {
			t.Fatalf("retained statuses %v, want %v", first, want)
		}
		publish("zigbee2mqtt/0x847127fffe0542eb/availability", `{"state":"online"}`)
		if got := sink.next(t); got != "sos1:online" {
			t.Fatalf("status %s, want sos1:online", got)
		}
		publish("zigbee2mqtt/bridge/state", "offline")
		if got := sink.next(t); got != "zigbee2mqtt:offline" {
			t.Fatalf("status %s, want zigbee2mqtt:offline", got)
		}
		// clean up the retained messages this test left
		publish("zigbee2mqtt/0x847127fffe0542eb/availability", "")
		publish("zigbee2mqtt/bridge/state", "")
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// collectStatuses records n's statuses as device:state@hh:mm, checking each
// against the contract.
func collectStatuses(t *testing.T, n *Network) *[]string {
	var got []string
	n.OnStatus(func(st anxin.DeviceStatus) {
		if err := st.Validate(); err != nil {
			t.Errorf("status breaks the contract: %v", err)
		}
		got = append(got, st.Device+":"+st.State+"@"+st.TS.Format("15:04"))
	})
	return &got
}
