package zigbee2mqtt

import (
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/mqttsource"
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
	na, err := NewNetwork(auto, "hh-0001", nil, prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	nc, err := NewNetwork(conf, "hh-0001", nil, prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
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
	n, err := NewNetwork(cfg, "hh-0001", nil, prometheus.NewRegistry())
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
