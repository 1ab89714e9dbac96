package tasmota

import (
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/rf433"
)

// FuzzParseReception: no panic; a code read is 24 bits; Handle emits only
// contract messages.
func FuzzParseReception(f *testing.F) {
	for _, c := range readCaptures(f, fixture) {
		f.Add(c.Payload)
	}
	f.Add([]byte(`{"value":"12"}`))
	f.Add([]byte(`{"RfReceived":{"Data":"0x"}}`))
	cfg := NewConfig()
	cfg.Codes = fixtureCodes()
	b, err := NewBridge(cfg, "hh-0001")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, payload []byte) {
		code, _, ok, err := ParseReception(payload)
		if ok && (err != nil || code > rf433.MaxCode) {
			t.Fatalf("code %#x ok with err %v", code, err)
		}
		now = now.Add(time.Hour)
		_ = b.Handle(payload, now, func(m anxin.Message) {
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	})
}

// BenchmarkHandle decodes the recorded RESULT payloads in turn, each a new
// press (past the de-bounce window).
func BenchmarkHandle(b *testing.B) {
	caps := readCaptures(b, fixture)
	cfg := NewConfig()
	cfg.Codes = fixtureCodes()
	br, err := NewBridge(cfg, "hh-0001")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	var msgs int
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		now = now.Add(2 * time.Second)
		if err := br.Handle(caps[i%len(caps)].Payload, now, func(anxin.Message) { msgs++ }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "payloads/s")
	b.ReportMetric(float64(msgs)/float64(b.N), "msgs/payload")
}
