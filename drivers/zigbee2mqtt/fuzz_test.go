package zigbee2mqtt

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/mqttsource"
	"github.com/anxin-care/anxin/internal/testenv"
)

// FuzzHandle feeds any topic and payload to an auto-mode and a configured
// network: no panic, every emitted message meets the contract, state stays
// bounded.
func FuzzHandle(f *testing.F) {
	for _, c := range readCaptures(f, z2mFixture) {
		f.Add(c.Topic, c.Payload)
	}
	f.Add("zigbee2mqtt/x", []byte(`{"battery":"1e400","linkquality":-1,"zonestatus":99999}`))
	auto := NewConfig()
	conf := NewConfig()
	conf.Devices = fixtureDevices()
	na, err := NewNetwork(auto, "hh-0001", nil, metrics.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	nc, err := NewNetwork(conf, "hh-0001", nil, metrics.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	f.Add("zigbee2mqtt/bridge/state", []byte("online"))
	f.Add("zigbee2mqtt/x/availability", []byte(" offline "))
	f.Add("zigbee2mqtt/gateway/availability", []byte(`{"state":"offline"}`))
	now := time.Unix(1_700_000_000, 0)
	var statusErr error
	checkStatus := func(st anxin.DeviceStatus) {
		if err := st.Validate(); err != nil && st.Device != anxin.GatewayDevice {
			// auto mode may name a device "gateway": the sink refuses that one
			statusErr = err
		}
	}
	na.OnStatus(checkStatus)
	nc.OnStatus(checkStatus)
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		statusErr = nil
		defer func() {
			if statusErr != nil {
				t.Fatalf("%s %q: status %v", topic, payload, statusErr)
			}
		}()
		check := func(m anxin.Message) {
			if err := m.Validate(); err != nil {
				t.Fatalf("%s %q: %v", topic, payload, err)
			}
		}
		_ = na.Handle(topic, payload, now, check) // errors are fine, panics and bad messages are not
		_ = nc.Handle(topic, payload, now, check)
		if len(na.byName) > maxDevices {
			t.Fatalf("auto mode tracks %d devices", len(na.byName))
		}
	})
}

// BenchmarkHandle decodes every recorded fixture payload in turn.
func BenchmarkHandle(b *testing.B) {
	if _, err := os.Stat(z2mFixture); err != nil {
		b.Skip(err)
	}
	caps := readCaptures(b, z2mFixture)
	cfg := NewConfig()
	cfg.Devices = fixtureDevices()
	cfg.BaseTopic = "zigbee2mqtt"
	n, err := NewNetwork(cfg, "hh-0001", nil, metrics.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	var kept []mqttsource.Capture
	for _, c := range caps {
		if n.Handle(c.Topic, c.Payload, time.Now(), func(anxin.Message) {}) == nil {
			kept = append(kept, c)
		}
	}
	now := time.Unix(1_700_000_000, 0)
	var msgs int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c := kept[i%len(kept)]
		now = now.Add(time.Second)
		if err := n.Handle(c.Topic, c.Payload, now, func(anxin.Message) { msgs++ }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payloads/s")
	b.ReportMetric(float64(msgs)/float64(b.N), "msgs/payload")
}

// BenchmarkIntegrationMosquitto measures payloads/s from a publisher through
// a real mosquitto and the driver's subscription to the sink.
func BenchmarkIntegrationMosquitto(b *testing.B) {
	m := testenv.StartMosquitto(b)
	reg := metrics.NewRegistry()
	env := drivers.Env{Household: "hh-0001", Logger: slog.New(slog.DiscardHandler), Now: time.Now, Metrics: reg}
	cfg := NewConfig()
	cfg.Broker = anxin.MustBrokerURL(m.URL)
	cfg.Devices = []Device{{Name: "leak", Device: "leak1", Kind: anxin.KindWaterLeakDetector}}
	d, err := New(cfg, env)
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan struct{}, 1<<16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- d.Run(ctx, drivers.SinkFunc(func(context.Context, anxin.Message) error { got <- struct{}{}; return nil }))
	}()
	defer func() { cancel(); <-done }()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(m.URL).SetClientID("bench-pub"))
	if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		b.Fatal(tok.Error())
	}
	defer c.Disconnect(100)
	payload := []byte(`{"battery":97,"battery_low":false,"linkquality":120,"water_leak":false}`)
	// wait until subscribed: a reading comes back
	for deadline := time.Now().Add(10 * time.Second); ; {
		c.Publish("zigbee2mqtt/leak", 1, false, payload).Wait()
		select {
		case <-got:
		case <-time.After(100 * time.Millisecond):
			if time.Now().After(deadline) {
				b.Fatal("not subscribed")
			}
			continue
		}
		break
	}
	for len(got) > 0 {
		<-got
	}
	b.ResetTimer()
	var toks []paho.Token
	for range b.N {
		toks = append(toks, c.Publish("zigbee2mqtt/leak", 1, false, payload))
		if len(toks) == 1000 {
			for _, t := range toks {
				t.Wait()
			}
			toks = toks[:0]
		}
	}
	for range b.N {
		select {
		case <-got:
		case <-time.After(30 * time.Second):
			b.Fatal("messages lost")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payloads/s")
}
