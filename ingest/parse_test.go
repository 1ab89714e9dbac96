package ingest

import (
	"fmt"
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
	`{"id":"1","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"water_meter","fields":{"flow_lpm":-1,"total_m3":-0.5}}`,
	`{"id":"1","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"water_meter","fields":{"a.b":1}}`,
	`{"id":"1","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"toaster","fields":{"a.b":1}}`,
	`{"id":"1","ts":"2026-11-23T08:00:05Z","household":"h","device":"d","kind":"","fields":{"a":1}}`,
	`{}`,
	`[]`,
}

func TestParseMessageSameAsContract(t *testing.T) {
	fast := 0
	for _, s := range parseSeeds {
		for _, topic := range []string{"", "anxin/v1/hh-0001/wm1/reading", "anxin/v1/h/d/event"} {
			checkSame(t, topic, []byte(s))
		}
		if _, ok := fastDecode([]byte(s), nil); ok {
			fast++
		}
	}
	if fast < 4 {
		t.Fatalf("the fast path took only %d of the plain payloads", fast)
	}
	checkSame(t, "", []byte(strings.Repeat(" ", anxin.MaxPayload+1)))
}

// shared is one parser for every checkSame: what it reuses from one
// message (its Fields map, interned strings) must never show in the next.
var shared = newParser()

func checkSame(t *testing.T, topic string, payload []byte) {
	t.Helper()
	checkSameAs(t, topic, payload, nil)
	checkSameAs(t, topic, payload, shared)
}

func checkSameAs(t *testing.T, topic string, payload []byte, ps *parser) {
	t.Helper()
	got, err1 := ps.parse(topic, payload)
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

// TestParseAllocs: a contract reading costs the batch loop's parser one
// allocation, its id (the Fields map is reused, names are interned).
func TestParseAllocs(t *testing.T) {
	ps := newParser()
	p := []byte(parseSeeds[0])
	if _, err := ps.parse("anxin/v1/hh-0001/wm1/reading", p); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := ps.parse("anxin/v1/hh-0001/wm1/reading", p); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Fatalf("%v allocations to parse a reading, want at most 1 (its id)", n)
	}
}

func BenchmarkParse(b *testing.B) {
	p := []byte(parseSeeds[0])
	b.Run("reused", func(b *testing.B) {
		ps := newParser()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := ps.parse("anxin/v1/hh-0001/wm1/reading", p); err != nil {
				b.Fatal(err)
			}
		}
	})
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

// TestParserFieldsStaySmall: a payload with far more fields than the
// contract allows is refused, and leaves the parser's reused Fields map no
// larger than the contract's bound: a map once grown stays grown, and
// clearing it for every later message costs in proportion (one such
// message, ~1,600 fields, made every later parse ~60 % slower).
func TestParserFieldsStaySmall(t *testing.T) {
	ps := newParser()
	var b strings.Builder
	b.WriteString(`{"id":"1","ts":"2026-11-23T08:00:05Z","household":"hh-0001","device":"wm1","kind":"water_meter","fields":{`)
	for i := range 1600 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"f%d":1`, i)
	}
	b.WriteString(`}}`)
	checkSame(t, "", []byte(b.String()))
	if _, err := ps.parse("", []byte(b.String())); err == nil {
		t.Fatal("1,600 fields accepted")
	}
	if n := len(ps.fields); n > anxin.MaxFields+1 {
		t.Fatalf("the parser's Fields map holds %d entries after a refused payload, want at most %d", n, anxin.MaxFields+1)
	}
}
