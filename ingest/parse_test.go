package ingest

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

var parseSeeds = []string{
	`{"id":"01JDX3","ts":"2026-11-23T08:00:00.123Z","household":"hh-0001","device":"wm1","kind":"water_meter","fields":{"total_m3":1000.1,"battery_low":false}}`,
	`{"id":"01JDX4","ts":"2026-11-23T08:00:05+08:00","household":"hh-0001","device":"btn1","kind":"call_button","event":"button_pressed"}`,
	` { "id" : "1" , "ts" : "2026-11-23T08:00:05Z" , "household" : "h" , "device" : "d" , "kind" : "tracker" , "fields" : { "lat" : -31.25e+1 , "lon" : 0 , "x": 1E-3, "y": true } } `,
	`{"id":"1","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"water_meter","fields":{}}`,
	`{"id":"1","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"water_meter","fields":{"a":1,"a":2}}`,
	`{"id":"1","ts":"2026-11-23T08:00:05Z","id":"2","household":"h","device":"d","kind":"call_button","event":"fall"}`,
	`{"id":"\u0031","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"call_button","event":"fall"}`,
	`{"id":"1","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"water_meter","fields":{"a":01}}`,
	`{"id":"1","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"water_meter","fields":{"a":1.}}`,
	`{"id":"1","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"water_meter","fields":{"a":1e999}}`,
	`{"id":"1","ts":"2026-11-23T24:00:05Z","household":"h","device":"d","kind":"call_button","event":"fall"}`,
	`{"id":"1","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"call_button","event":"fall"}x`,
	`{"id":"1","ts":null,"household":"h","device":"d","kind":"call_button","event":"fall"}`,
	`{}`,
	`[]`,
}

func TestParseMessageSameAsContract(t *testing.T) {
	fast := 0
	for _, s := range parseSeeds {
		for _, topic := range []string{"", "anxin/v1/hh-0001/wm1/reading", "anxin/v1/h/d/event"} {
			checkSame(t, topic, []byte(s))
		}
		if _, ok := fastDecode([]byte(s)); ok {
			fast++
		}
	}
	if fast < 4 {
		t.Fatalf("the fast path took only %d of the plain payloads", fast)
	}
	checkSame(t, "", []byte(strings.Repeat(" ", anxin.MaxPayload+1)))
}

func checkSame(t *testing.T, topic string, payload []byte) {
	t.Helper()
	got, err1 := parseMessage(topic, payload)
	want, err2 := anxin.ParseMessage(topic, payload)
	// (messages may name different bad fields: Validate walks a map)
	if (err1 == nil) != (err2 == nil) || anxin.ErrorCode(err1) != anxin.ErrorCode(err2) {
		t.Fatalf("%q on %q: fast path error %v, contract error %v", payload, topic, err1, err2)
	}
	if !got.TS.Equal(want.TS) || got.TS.Location().String() != want.TS.Location().String() {
		t.Fatalf("%q: ts %v, want %v", payload, got.TS, want.TS)
	}
	got.TS, want.TS = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: fast path %+v, contract %+v", payload, got, want)
	}
}

// FuzzFastParse: the fast path and anxin.ParseMessage agree on every input.
func FuzzFastParse(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add("", []byte(s))
	}
	f.Add("anxin/v1/hh-0001/wm1/reading", []byte(parseSeeds[0]))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		checkSame(t, topic, payload)
	})
}

func BenchmarkParse(b *testing.B) {
	p := []byte(parseSeeds[0])
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseMessage("anxin/v1/hh-0001/wm1/reading", p); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("contract", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := anxin.ParseMessage("anxin/v1/hh-0001/wm1/reading", p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
