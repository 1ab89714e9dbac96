package jsonmap

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	"gopkg.in/yaml.v3"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/mqttsource/sourcetest"
)

func TestSampleConfig(t *testing.T) {
	sourcetest.CheckSample(t, Name, "README.md")
}

func loadSample(t *testing.T) *Config {
	t.Helper()
	p, _ := drivers.Lookup(Name)
	cfg := NewConfig()
	if err := yaml.Unmarshal([]byte(p.SampleConfig), cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestConfigRejects(t *testing.T) {
	good := func() Mapping {
		return Mapping{Topic: "v/{device}/up", Kind: anxin.KindTracker, Fields: map[string]string{"lat": "$.gps.lat"}}
	}
	sos := "sos"
	for name, tc := range map[string]struct {
		mod  func(*Mapping)
		want string
	}{
		"path without $":        {func(m *Mapping) { m.Fields["lat"] = "gps.lat" }, "mappings[0].fields.lat"},
		"path empty key":        {func(m *Mapping) { m.Fields["lat"] = "$.gps..lat" }, "mappings[0].fields.lat"},
		"path bad index":        {func(m *Mapping) { m.Fields["lat"] = "$.a[x]" }, "mappings[0].fields.lat"},
		"path unclosed":         {func(m *Mapping) { m.Fields["lat"] = "$.a[1" }, "mappings[0].fields.lat"},
		"path too deep":         {func(m *Mapping) { m.Fields["lat"] = "$" + strings.Repeat(".a", 17) }, "more than 16"},
		"bad field name":        {func(m *Mapping) { m.Fields["la t"] = "$.x" }, "mappings[0].fields"},
		"scale without field":   {func(m *Mapping) { m.Scale = map[string]float64{"lon": 2} }, "mappings[0].scale.lon"},
		"zero scale":            {func(m *Mapping) { m.Scale = map[string]float64{"lat": 0} }, "mappings[0].scale.lat"},
		"bad kind":              {func(m *Mapping) { m.Kind = "lamp" }, "mappings[0].kind"},
		"no device":             {func(m *Mapping) { m.Topic = "v/{id}/up" }, "mappings[0].device"},
		"uncaptured device":     {func(m *Mapping) { m.Device = "x-{imei}" }, "mappings[0].device"},
		"bad literal device":    {func(m *Mapping) { m.Device = "a b" }, "mappings[0].device"},
		"partial capture level": {func(m *Mapping) { m.Topic = "v/x{device}/up" }, "mappings[0].topic"},
		"bad wildcard":          {func(m *Mapping) { m.Topic = "v/#/{device}" }, "mappings[0].topic"},
		"twice captured":        {func(m *Mapping) { m.Topic = "{device}/{device}" }, "mappings[0].topic"},
		"bad event":             {func(m *Mapping) { m.Events = []EventRule{{Path: "$.a", Equals: &sos, Event: "sos"}} }, "mappings[0].events[0].event"},
		"bad event path":        {func(m *Mapping) { m.Events = []EventRule{{Path: "$.", Event: anxin.EventButtonPressed}} }, "mappings[0].events[0].path"},
		"nothing mapped":        {func(m *Mapping) { m.Fields = nil }, "at least one"},
	} {
		t.Run(name, func(t *testing.T) {
			m := good()
			tc.mod(&m)
			c := NewConfig()
			c.Mappings = []Mapping{m}
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
	c := NewConfig()
	c.Mappings = []Mapping{good()}
	if err := c.Validate(); err != nil {
		t.Fatalf("good mapping: %v", err)
	}
	if _, err := New(NewConfig(), drivers.Env{Logger: nil, Metrics: metrics.NewRegistry()}); err == nil {
		t.Error("a driver without mappings was built")
	}
}

type result struct {
	events []string
	fields anxin.Fields
	err    error
}

func handle(t *testing.T, m *Mapper, topic, payload string) result {
	t.Helper()
	var r result
	r.err = m.Handle(topic, []byte(payload), time.Unix(1_700_000_000, 0), func(msg anxin.Message) {
		if err := msg.Validate(); err != nil {
			t.Fatalf("message breaks the contract: %v", err)
		}
		if msg.IsEvent() {
			r.events = append(r.events, msg.Device+":"+string(msg.Event))
		} else {
			if r.fields != nil {
				t.Fatal("two readings")
			}
			r.fields = msg.Fields
			r.events = append(r.events, msg.Device+":reading")
		}
	})
	return r
}

func TestMapping(t *testing.T) {
	m, err := NewMapper(loadSample(t), "hh-0001")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.Filters(), " "); got != "tracker/+/up meters/+/+/data" {
		t.Errorf("filters %q", got)
	}
	r := handle(t, m, "tracker/bd01/up", `{"gps":{"lat":31.2304,"lon":121.4737,"sats":9},"bat":"87","alarm":"sos","fall":false}`)
	if r.err != nil || strings.Join(r.events, ",") != "bd01:button_pressed,bd01:reading" {
		t.Fatalf("tracker: %+v", r)
	}
	if r.fields["lat"] != anxin.Num(31.2304) || r.fields["lon"] != anxin.Num(121.4737) || r.fields["sats"] != anxin.Num(9) || r.fields["battery_pct"] != anxin.Num(87) {
		t.Errorf("tracker fields %v", r.fields)
	}
	// edge: the fall fires once while it stays true, again after it cleared
	var falls int
	for _, p := range []string{`{"fall":true}`, `{"fall":true}`, `{"fall":false}`, `{"fall":true}`} {
		r := handle(t, m, "tracker/bd01/up", p)
		for _, e := range r.events {
			if e == "bd01:fall" {
				falls++
			}
		}
	}
	if falls != 2 {
		t.Errorf("edge rule fired %d times, want 2", falls)
	}
	// device template, index path, scale, boolean field
	r = handle(t, m, "meters/site1/00042/data", `{"readings":[{"litres":123456},{"litres":1}],"low_batt":true}`)
	if r.err != nil || r.fields["total_m3"] != anxin.Num(123.456) || r.fields["battery_low"] != anxin.Bool(true) ||
		strings.Join(r.events, ",") != "wm-00042:reading" {
		t.Errorf("meter: %+v", r)
	}
	// null and missing paths are skipped; nothing found is ErrNoData
	if r := handle(t, m, "tracker/bd01/up", `{"gps":null,"status":"ok"}`); r.err != ErrNoData || len(r.events) != 0 {
		t.Errorf("nothing mapped: %+v", r)
	}
	// a wrong-typed value is an error, the rest still goes out
	r = handle(t, m, "tracker/bd01/up", `{"gps":{"lat":[1],"lon":121.5},"bat":"full"}`)
	if r.err == nil || !strings.Contains(r.err.Error(), "lat") || !strings.Contains(r.err.Error(), "battery_pct") || r.fields["lon"] != anxin.Num(121.5) {
		t.Errorf("bad types: %+v", r)
	}
	for topic, payload := range map[string]string{
		"other/x":               `{}`,
		"tracker/bad id/up":     `{"bat":1}`,
		"tracker/bd01/up":       `{"bat":1`,
		"tracker/bd01/up ":      `{}`,
		"meters/a/b/data/extra": `{}`,
		"tracker/" + strings.Repeat("x", 70) + "/up": `{"bat":1}`,
	} {
		if r := handle(t, m, topic, payload); r.err == nil || len(r.events) != 0 {
			t.Errorf("%s %s: %+v, want an error and nothing", topic, payload, r)
		}
	}
	deep := strings.Repeat("[", 40) + strings.Repeat("]", 40)
	if r := handle(t, m, "tracker/bd01/up", deep); r.err == nil || !strings.Contains(r.err.Error(), "deeper") {
		t.Errorf("deep payload: %+v", r)
	}
	big := `{"bat":1,"pad":"` + strings.Repeat("x", anxin.MaxPayload) + `"}`
	if r := handle(t, m, "tracker/bd01/up", big); r.err == nil {
		t.Error("oversized payload accepted")
	}
}

func TestEquals(t *testing.T) {
	s := func(s string) *string { return &s }
	for _, c := range []struct {
		payload string
		equals  *string
		want    bool
	}{
		{`{"a":"sos"}`, s("sos"), true},
		{`{"a":"SOS"}`, s("sos"), false},
		{`{"a":1}`, s("1"), true},
		{`{"a":1.0}`, s("1"), true},
		{`{"a":2}`, s("1"), false},
		{`{"a":true}`, s("true"), true},
		{`{"a":true}`, s("1"), true}, // what a weakly typed loader makes of equals: true
		{`{"a":false}`, s("true"), false},
		{`{"a":null}`, s("null"), true},
		{`{"a":true}`, nil, true},
		{`{"a":0}`, nil, false},
		{`{"a":""}`, nil, false},
		{`{"a":"x"}`, nil, true},
		{`{"a":{}}`, nil, false},
	} {
		cfg := NewConfig()
		cfg.Mappings = []Mapping{{Topic: "t", Device: "d", Kind: anxin.KindCallButton,
			Events: []EventRule{{Path: "$.a", Equals: c.equals, Event: anxin.EventButtonPressed}}}}
		m, err := NewMapper(cfg, "hh-0001")
		if err != nil {
			t.Fatal(err)
		}
		r := handle(t, m, "t", c.payload)
		if got := len(r.events) == 1; got != c.want {
			t.Errorf("%s equals %v: fired %v, want %v", c.payload, c.equals, got, c.want)
		}
	}
}

func TestDecoder(t *testing.T) {
	p, _ := drivers.Lookup(Name)
	dec, err := p.NewDecoder(loadSample(t), drivers.Env{Household: "hh-0001", Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	in := "tracker/bd01/up {\"alarm\":\"sos\"}\n" +
		"unmapped/topic {\"a\":1}\n" +
		`{"topic":"meters/s/7/data","payload":{"readings":[{"litres":1000}]}}` + "\n"
	var got []string
	var offs []int64
	if err := dec.Decode(strings.NewReader(in), func(m anxin.Message) {
		got = append(got, m.Device+":"+m.Class())
	}, func(e drivers.DecodeError) { offs = append(offs, e.Offset) }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "bd01:event,wm-7:reading" {
		t.Errorf("decoded %v", got)
	}
	if len(offs) != 1 || offs[0] != int64(strings.Index(in, "unmapped")) {
		t.Errorf("fail offsets %v", offs)
	}
	// the default config maps nothing: every line is an error
	dec, err = p.NewDecoder(p.NewConfig(), drivers.Env{Household: "hh-0001"})
	if err != nil {
		t.Fatal(err)
	}
	offs = nil
	if err := dec.Decode(strings.NewReader(in), func(anxin.Message) { t.Error("message from no mapping") },
		func(e drivers.DecodeError) { offs = append(offs, e.Offset) }); err != nil || len(offs) != 3 {
		t.Errorf("default config: %v, %d fails", err, len(offs))
	}
}

func TestIntegration(t *testing.T) {
	sourcetest.Brokers(t, func(t *testing.T, b sourcetest.Broker) {
		env, _ := sourcetest.Env(t)
		cfg := loadSample(t)
		cfg.Broker = anxin.MustBrokerURL(b.URL())
		d, err := New(cfg, env)
		if err != nil {
			t.Fatal(err)
		}
		sink := sourcetest.NewSink(1024)
		stop := sourcetest.Run(t, d, sink)
		pub := sourcetest.Publisher(t, b.URL())
		probe := func(pub func(string, []byte)) {
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				pub("tracker/probe/up", []byte(`{"bat":50}`))
				if _, ok := sink.Next(t, 200*time.Millisecond, func(m anxin.Message) bool { return m.Device == "probe" }); ok {
					for {
						if _, ok := sink.Next(t, 300*time.Millisecond, func(m anxin.Message) bool { return m.Device != "probe" }); !ok {
							return
						}
						t.Fatal("unexpected message while probing")
					}
				}
			}
			t.Fatal("driver never received a probe: not subscribed")
		}
		probe(pub)
		pub("tracker/bd01/up", []byte(`{"gps":{"lat":31.2304,"lon":121.4737},"alarm":"sos"}`))
		pub("meters/site1/00042/data", []byte(`{"readings":[{"litres":123456}]}`))
		pub("unmapped/x", []byte(`{"alarm":"sos"}`))
		for _, w := range []string{"bd01:event", "bd01:reading", "wm-00042:reading"} {
			m, ok := sink.Next(t, 60*time.Second, func(m anxin.Message) bool { return m.Device != "probe" })
			if !ok || m.Device+":"+m.Class() != w {
				t.Fatalf("got %v (%v), want %s", m.String(), ok, w)
			}
		}
		b.Restart(t)
		pub2 := sourcetest.Publisher(t, b.URL())
		probe(pub2)
		pub2("tracker/bd02/up", []byte(`{"alarm":"sos"}`))
		if m, ok := sink.Next(t, 60*time.Second, func(m anxin.Message) bool { return m.Device != "probe" }); !ok || m.Device != "bd02" || m.Event != anxin.EventButtonPressed {
			t.Fatalf("after restart: %v %v", m.String(), ok)
		}
		if err := stop(); err != nil {
			t.Fatalf("Run returned %v", err)
		}
	})
}

func loadSampleInto(cfg *Config) error {
	p, _ := drivers.Lookup(Name)
	return yaml.Unmarshal([]byte(p.SampleConfig), cfg)
}

// TestBooleanFields: the contract's boolean fields (battery_low,
// valve_open) go out as true/false whatever the vendor sends for them (0/1,
// "true"/"false"); other values are an error naming the field, and the
// other fields still go out.
func TestBooleanFields(t *testing.T) {
	cfg := NewConfig()
	cfg.Mappings = []Mapping{{Topic: "m/{device}", Kind: anxin.KindWaterMeter,
		Fields: map[string]string{"battery_low": "$.bl", "valve_open": "$.vo", "total_m3": "$.t"}}}
	m, err := NewMapper(cfg, "hh-0001")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in   string
		want bool
	}{
		{`0`, false}, {`1`, true}, {`0.0`, false}, {`1.0`, true}, {`false`, false}, {`true`, true},
		{`"false"`, false}, {`"true"`, true}, {`"0"`, false}, {`"1"`, true}, {`" TRUE "`, true}, {`"False"`, false},
	} {
		r := handle(t, m, "m/wm1", `{"bl":`+c.in+`,"vo":`+c.in+`,"t":5}`)
		if r.err != nil {
			t.Errorf("%s: %v", c.in, r.err)
			continue
		}
		for _, f := range []string{"battery_low", "valve_open"} {
			if v := r.fields[f]; v != anxin.Bool(c.want) || !v.IsBool() {
				t.Errorf("%s = %s: got %v, want %v", f, c.in, v, c.want)
			}
		}
		// the wire form is what the contract says
		msg := anxin.Message{ID: "x", TS: time.Unix(1, 0), Household: "hh-0001", Device: "wm1",
			Kind: anxin.KindWaterMeter, Fields: r.fields}
		b, err := json.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`"battery_low":%v`, c.want); !strings.Contains(string(b), want) {
			t.Errorf("%s: payload %s, want %s", c.in, b, want)
		}
		if r.fields["total_m3"] != anxin.Num(5) {
			t.Errorf("%s: total_m3 %v", c.in, r.fields["total_m3"])
		}
	}
	for _, in := range []string{`2`, `-1`, `0.5`, `"yes"`, `"low"`, `""`, `[0]`, `{"v":1}`} {
		r := handle(t, m, "m/wm1", `{"bl":`+in+`,"t":5}`)
		if r.err == nil || !strings.Contains(r.err.Error(), "battery_low ($.bl)") || !strings.Contains(r.err.Error(), "not a boolean") {
			t.Errorf("battery_low = %s: error %v, want one naming battery_low and saying it is not a boolean", in, r.err)
		}
		if _, ok := r.fields["battery_low"]; ok || r.fields["total_m3"] != anxin.Num(5) {
			t.Errorf("battery_low = %s: fields %v, want total_m3 alone", in, r.fields)
		}
	}
	// a scale on a boolean field is a config error
	cfg.Mappings[0].Scale = map[string]float64{"battery_low": 2}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "mappings[0].scale.battery_low") {
		t.Errorf("scale on a boolean field: %v", err)
	}
}
