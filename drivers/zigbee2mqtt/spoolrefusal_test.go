package zigbee2mqtt

import (
	"context"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/drivertest"
	"github.com/anxin-care/anxin/drivers/mqttsource/sourcetest"
	"github.com/anxin-care/anxin/internal/testenv"
)

// TestPressNotLostWhenTheSpoolRefusesItOnce: the spool refuses one press
// (disk full for a moment, an I/O error on the SD card). The driver must
// not die with it: the home broker's message is not acknowledged, so it
// must be taken again and the press raised once the spool takes it. Run
// used to return the sink's error: gatewayd marked the instance failed and
// nothing (smoke, gas, leak, buttons) was read until someone sent SIGHUP.
func TestPressNotLostWhenTheSpoolRefusesItOnce(t *testing.T) {
	m := testenv.StartMosquitto(t)
	env, _ := sourcetest.Env(t)
	cfg := NewConfig()
	cfg.Broker = anxin.MustBrokerURL(m.URL)
	cfg.ActionDebounce = 0
	cfg.Devices = append(fixtureDevices(),
		Device{Name: "probe", Device: "probe", Kind: anxin.KindCallButton},
		Device{Name: "sos9", Device: "sos9", Kind: anxin.KindCallButton})
	d, err := New(cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	sink := sourcetest.NewSink(1024)
	of := func(dev string) func(anxin.Message) bool {
		return func(m anxin.Message) bool { return m.Device == dev }
	}
	refusing := drivertest.RefuseOnce(drivertest.RefuseOnce(sink, of("sos9")), of("leak1"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ended := make(chan struct{})
	go func() { done <- d.Run(ctx, refusing); close(ended) }()
	t.Cleanup(func() { cancel(); <-ended })
	pub := sourcetest.Publisher(t, m.URL)
	waitSubscribed(t, pub, sink)

	// a press (stateless) and a leak (an edge: the network's state says
	// "leaking" once it has seen the payload)
	pub("zigbee2mqtt/sos9", []byte(`{"action":"emergency"}`))
	pub("zigbee2mqtt/0x005043c95f277c80", []byte(`{"water_leak":true,"linkquality":90}`))
	got := make(chan anxin.Message, 2)
	go func() {
		for _, dev := range []string{"sos9", "leak1"} {
			if msg, ok := sink.Next(t, 60*time.Second, func(m anxin.Message) bool { return m.Device == dev && m.IsEvent() }); ok {
				got <- msg
			}
		}
		close(got)
	}()
	var events []string
	for {
		select {
		case err := <-done:
			t.Fatalf("driver stopped after one refused Put (gatewayd: instance failed until SIGHUP): %v", err)
		case msg, ok := <-got:
			if !ok {
				if len(events) != 2 || events[0] != "sos9:button_pressed" || events[1] != "leak1:water_leak" {
					t.Fatalf("events refused once and then raised: %v, want the press and the leak", events)
				}
				return
			}
			events = append(events, msg.Device+":"+string(msg.Event))
		}
	}
}
