package jsonmap

import (
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// FuzzParsePath: no panic, and a path that parses prints as written with at
// most maxPathSegments steps.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"$", "$.gps.lat", "$.a[0].b", "$[3]", "$.a[", "$..", "x", "$.a[99999999999]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			return
		}
		if p.String() != s || len(p.segs) > maxPathSegments {
			t.Fatalf("%q parsed as %q with %d steps", s, p.String(), len(p.segs))
		}
		var doc any = map[string]any{"a": []any{1.0}}
		p.Lookup(doc)
	})
}

// FuzzHandle maps any topic and payload through the sample config: no
// panic, only contract messages, bounded edge state.
func FuzzHandle(f *testing.F) {
	f.Add("tracker/bd01/up", []byte(`{"gps":{"lat":31.2,"lon":121.4},"bat":"87","alarm":"sos","fall":true}`))
	f.Add("meters/s/1/data", []byte(`{"readings":[{"litres":1e308}],"low_batt":1}`))
	f.Add("tracker/x/up", []byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`))
	cfg := NewConfig()
	if err := loadSampleInto(cfg); err != nil {
		f.Fatal(err)
	}
	m, err := NewMapper(cfg, "hh-0001")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		_ = m.Handle(topic, payload, now, func(msg anxin.Message) {
			if err := msg.Validate(); err != nil {
				t.Fatalf("%s %q: %v", topic, payload, err)
			}
		})
		if len(m.edges) > maxEdges {
			t.Fatalf("%d edge states", len(m.edges))
		}
	})
}

func BenchmarkHandle(b *testing.B) {
	cfg := NewConfig()
	if err := loadSampleInto(cfg); err != nil {
		b.Fatal(err)
	}
	m, err := NewMapper(cfg, "hh-0001")
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"imei":"860000000000001","gps":{"lat":31.2304,"lon":121.4737,"sats":9,"hdop":0.9},"bat":"87","alarm":"none","fall":false,"ts":1700000000}`)
	now := time.Unix(1_700_000_000, 0)
	var msgs int
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Handle("tracker/bd01/up", payload, now, func(anxin.Message) { msgs++ }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payloads/s")
	b.ReportMetric(float64(msgs)/float64(b.N), "msgs/payload")
}
