package words_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/rules"
	"github.com/anxin-care/anxin/words"
)

var update = flag.Bool("update", false, "rewrite testdata/golden")

var shanghai = func() *time.Location {
	l, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return l
}()

// day0 is Monday 7 December 2026, 00:00 in Shanghai.
var day0 = time.Date(2026, 12, 7, 0, 0, 0, 0, shanghai)

func at(day int, clock string) time.Time {
	c, err := time.Parse("15:04", clock)
	if err != nil {
		panic(err)
	}
	return day0.AddDate(0, 0, day).Add(time.Duration(c.Hour())*time.Hour + time.Duration(c.Minute())*time.Minute)
}

// Household is the fixture every golden case uses: a real-length name and
// address, a room for each device.
var household = anxin.Household{
	ID:    "hh-0001",
	Elder: anxin.Elder{Name: "张桂兰", Phone: "+8613800000000", Address: "善广乡东村三组12号", Tier: anxin.TierGeneral},
	Contacts: []anxin.Contact{
		{Name: "李明", Relation: "child", Phone: "+8613900000001"},
	},
	Community: []anxin.Contact{{Name: "王芳", Role: "grid_worker", Phone: "+8613700000002"}},
	Devices: []anxin.Device{
		{ID: "btn1", Kind: anxin.KindCallButton, Place: "卧室"},
		{ID: "sd1", Kind: anxin.KindSmokeDetector, Place: "厨房"},
		{ID: "gd1", Kind: anxin.KindGasDetector, Place: "厨房"},
		{ID: "wl1", Kind: anxin.KindWaterLeakDetector, Place: "卫生间"},
		{ID: "wm1", Kind: anxin.KindWaterMeter},
		{ID: "tr1", Kind: anxin.KindTracker},
	},
}

// link is an SMS ack link of the real shape: public URL, /ack/, 10 characters.
const link = "https://alarm.example.org/ack/Hk3mPq8xZa"

// feed drives one engine the way alarmd does.
type feed struct {
	t   *testing.T
	e   *rules.Engine
	now time.Time
	n   int
	ds  []rules.Decision
}

func newFeed(t *testing.T, yaml string) *feed {
	cfg := rules.Default()
	if yaml != "" {
		var err error
		if cfg, err = rules.Parse([]byte(yaml)); err != nil {
			t.Fatal(err)
		}
	}
	e := rules.New(cfg)
	e.SetHousehold(household.ID, household.Elder.Tier)
	return &feed{t: t, e: e, now: day0}
}

func (f *feed) advance(to time.Time) {
	for {
		d := f.e.NextDeadline()
		if d.IsZero() || d.After(to) {
			break
		}
		if d.Before(f.now) {
			d = f.now
		}
		f.now = d
		f.ds = append(f.ds, f.e.Tick(d)...)
	}
	f.now = to
}

func (f *feed) msg(t time.Time, m anxin.Message) {
	f.t.Helper()
	f.advance(t)
	f.n++
	m.ID, m.TS, m.Household = fmt.Sprintf("m%d", f.n), t, household.ID
	if err := m.Validate(); err != nil {
		f.t.Fatal(err)
	}
	f.ds = append(f.ds, f.e.Observe(t, &m)...)
}

func (f *feed) event(t time.Time, dev string, k anxin.Kind, ev anxin.EventType) {
	f.msg(t, anxin.Message{Device: dev, Kind: k, Event: ev})
}

func (f *feed) reading(t time.Time, dev string, k anxin.Kind, kv ...any) {
	fs := anxin.Fields{}
	for i := 0; i+1 < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case float64:
			fs[kv[i].(string)] = anxin.Num(v)
		case bool:
			fs[kv[i].(string)] = anxin.Bool(v)
		}
	}
	f.msg(t, anxin.Message{Device: dev, Kind: k, Fields: fs})
}

// alarm is the alarm alarmd would open for the first decision opening rule.
func (f *feed) alarm(rule string) anxin.Alarm {
	f.t.Helper()
	for _, d := range f.ds {
		if d.Op == rules.OpOpen && d.Rule == rule {
			return anxin.Alarm{ID: "01JDX3ABCDEF", Household: d.Household, Rule: d.Rule, RuleKind: d.RuleKind, Device: d.Device,
				Severity: d.Severity, Route: d.Route, State: anxin.AlarmOpen, Reason: d.Reason, Cause: d.Cause,
				MessageID: d.MessageID, OpenedAt: d.At, UpdatedAt: d.At}
		}
	}
	f.t.Fatalf("no alarm %s opened: %v", rule, f.ds)
	return anxin.Alarm{}
}

// quietMorning is 20 days of a home's routine (readings every 30 min,
// water used at 07:00, 07:30, 12:00, 18:00, 19:00 and 21:00) and a 21st
// day on which no water is used after 07:30: what the learning rules
// (learned, hazard) ring for.
func (f *feed) quietMorning() {
	v := 100.0
	uses := map[string]bool{"07:00": true, "07:30": true, "12:00": true, "18:00": true, "19:00": true, "21:00": true}
	for d := 0; d <= 20; d++ {
		for m := 0; m < 24*60; m += 30 {
			clock := fmt.Sprintf("%02d:%02d", m/60, m%60)
			if uses[clock] && (d < 20 || clock < "08:00") {
				v += 0.02
			}
			f.reading(at(d, clock), "wm1", anxin.KindWaterMeter, "total_m3", v)
		}
	}
}

// routine is days of quietMorning's routine and a day on which no water is
// used after 07:30, the counter rising drip m³ every 30 minutes from then
// on (a tap dripping, 0.0005: 1 l an hour): what the default no_water
// (kind steps) rings for once it has learned the home.
func routine(days int, drip float64) func(f *feed) {
	return func(f *feed) {
		v := 100.0
		uses := map[string]bool{"07:00": true, "07:30": true, "12:00": true, "18:00": true, "19:00": true, "21:00": true}
		for d := 0; d <= days+1; d++ {
			for m := 0; m < 24*60; m += 30 {
				clock := fmt.Sprintf("%02d:%02d", m/60, m%60)
				switch {
				case d < days || (d == days && clock < "08:00"):
					if uses[clock] {
						v += 0.02
					}
				default:
					v += drip
				}
				f.reading(at(d, clock), "wm1", anxin.KindWaterMeter, "total_m3", v)
			}
		}
	}
}

// meter sends a water reading every 30 minutes from..to, rising by step.
func (f *feed) meter(from, to time.Time, v, step float64) float64 {
	for t := from; t.Before(to); t = t.Add(30 * time.Minute) {
		f.reading(t, "wm1", anxin.KindWaterMeter, "total_m3", v)
		v += step
	}
	return v
}

// Cases: one per rule kind and event of configs/rules.yaml, and the kinds
// only configured elsewhere (geofence, learned, thresholds of health).
var cases = []struct {
	name, rules, rule string
	run               func(f *feed)
}{
	{"button", "", "button", func(f *feed) { f.event(at(0, "00:57"), "btn1", anxin.KindCallButton, anxin.EventButtonPressed) }},
	{"smoke", "", "smoke", func(f *feed) { f.event(at(0, "03:12"), "sd1", anxin.KindSmokeDetector, anxin.EventSmoke) }},
	{"gas", "", "gas", func(f *feed) { f.event(at(0, "18:40"), "gd1", anxin.KindGasDetector, anxin.EventGas) }},
	{"water_leak", "", "water_leak", func(f *feed) { f.event(at(0, "09:05"), "wl1", anxin.KindWaterLeakDetector, anxin.EventWaterLeak) }},
	{"fall", "", "fall", func(f *feed) { f.event(at(0, "06:20"), "tr1", anxin.KindTracker, anxin.EventFall) }},
	{"tamper", "", "device_trouble", func(f *feed) { f.event(at(0, "14:00"), "sd1", anxin.KindSmokeDetector, anxin.EventTamper) }},
	{"low_battery_event", "", "device_trouble", func(f *feed) {
		f.event(at(0, "14:00"), "gd1", anxin.KindGasDetector, anxin.EventLowBattery)
	}},
	{"no_use", `
rules:
  - {name: no_water_24h, kind: no_use, device_kinds: [water_meter], field: total_m3, min_delta: 0.01, for: 24h,
     fresh_within: 2x, silent_after: 25h, overrides: {tier: {high: {for: 12h}}}}
`, "no_water_24h", func(f *feed) {
		v := f.meter(at(0, "05:00"), at(0, "07:00"), 100, 0.02)
		f.meter(at(0, "07:00"), at(1, "08:00"), v, 0)
	}},
	// The default water rule (steps) while it learns a new home: the
	// fixed rule's words, no water for 24 h.
	{"no_water_new_home", "", "no_water", func(f *feed) {
		v := f.meter(at(0, "05:00"), at(0, "07:00"), 100, 0.02)
		f.meter(at(0, "07:00"), at(1, "08:00"), v, 0)
	}},
	// The default water rule once it has learned the home (120 days): 8 h
	// after the morning's last use, a quiet that long being rare at this
	// hour; under a drip of 1 l an hour, which restarts the 8 h step's
	// clock, 24 h after the last use, in the fixed rule's words.
	{"no_water_learned", "", "no_water", routine(120, 0)},
	{"no_water_drip", "", "no_water", routine(120, 0.0005)},
	{"device_silent", "", "device_silent", func(f *feed) {
		f.meter(at(0, "05:00"), at(0, "14:00"), 100, 0.02)
		f.advance(at(1, "16:00"))
	}},
	{"water_running", "", "water_running_2h", func(f *feed) {
		for t := at(0, "10:00"); !t.After(at(0, "12:30")); t = t.Add(15 * time.Minute) {
			f.reading(t, "wm1", anxin.KindWaterMeter, "flow_lpm", 4.5)
		}
	}},
	{"battery_low", "", "battery_low", func(f *feed) { f.reading(at(0, "11:00"), "sd1", anxin.KindSmokeDetector, "battery_pct", 9.0) }},
	{"battery_low_flag", "", "battery_low_flag", func(f *feed) {
		f.reading(at(0, "11:00"), "wm1", anxin.KindWaterMeter, "battery_low", true)
	}},
	{"gateway_offline", "", "gateway_offline", func(f *feed) {
		f.reading(at(0, "20:00"), "wm1", anxin.KindWaterMeter, "total_m3", 100.0)
		f.ds = append(f.ds, f.e.ObserveStatus(at(0, "21:10"), household.ID, "gateway", anxin.Status{State: anxin.StateOffline, TS: at(0, "21:10")})...)
		f.advance(at(0, "22:00"))
	}},
	{"home_silent", "", "gateway_offline", func(f *feed) {
		f.reading(at(0, "20:00"), "wm1", anxin.KindWaterMeter, "total_m3", 100.0)
		f.advance(at(1, "22:00"))
	}},
	{"device_offline", "", "device_offline", func(f *feed) {
		f.event(at(0, "08:00"), "btn1", anxin.KindCallButton, anxin.EventButtonPressed)
		f.ds = append(f.ds, f.e.ObserveStatus(at(0, "08:10"), household.ID, "btn1", anxin.Status{State: anxin.StateOffline, TS: at(0, "08:10")})...)
		f.advance(at(0, "09:00"))
	}},
	{"geofence", `
rules:
  - {name: wander, kind: geofence, center: {lat: 39.911954, lon: 116.377817}, radius_m: 300, for: 15m}
`, "wander", func(f *feed) {
		f.reading(at(0, "10:00"), "tr1", anxin.KindTracker, "lat", 39.911954, "lon", 116.377817)
		f.reading(at(0, "10:01"), "tr1", anxin.KindTracker, "lat", 39.921954, "lon", 116.377817)
		f.advance(at(0, "11:00"))
	}},
	{"fever", `
rules:
  - {name: fever, kind: threshold, field: body_temp_c, above: 38.5, clear_below: 37.8, for: 30m, what: body temperature, unit: "°C"}
`, "fever", func(f *feed) {
		for t := at(0, "13:00"); !t.After(at(0, "13:40")); t = t.Add(10 * time.Minute) {
			f.reading(t, "tr1", anxin.KindTracker, "body_temp_c", 38.9)
		}
	}},
	{"learned", `
rules:
  - {name: learned, kind: learned, device_kinds: [water_meter], sensitivity: 0.99}
`, "learned", (*feed).quietMorning},
	{"hazard", `
rules:
  - {name: water_hazard, kind: hazard, device_kinds: [water_meter], field: total_m3, min_delta: 0.01, cost: 6144h}
`, "water_hazard", (*feed).quietMorning},
	{"steps", `
rules:
  - {name: water_steps, kind: steps, device_kinds: [water_meter], field: total_m3, min_delta: 0.01, cost: 48h, alarm_times: [8h, 24h]}
`, "water_steps", (*feed).quietMorning},
}

// asciiWord is an English word: none may appear in a Mandarin text outside
// its link.
var asciiWord = regexp.MustCompile(`[A-Za-z]{3,}`)

func checkText(t *testing.T, what, s string, sms bool) {
	t.Helper()
	bare := strings.ReplaceAll(s, link, "")
	if w := asciiWord.FindString(bare); w != "" {
		t.Errorf("%s has the ASCII word %q: %s", what, w, s)
	}
	for _, d := range household.Devices {
		if strings.Contains(bare, d.ID) {
			t.Errorf("%s names device %s: %s", what, d.ID, s)
		}
	}
	if strings.Contains(bare, "UTC") || strings.Contains(bare, "+08") {
		t.Errorf("%s shows a zone: %s", what, s)
	}
	if sms {
		if n, _ := words.SMSLength(s); n > words.MaxSMSChars || words.SMSSegments(s) > 2 {
			t.Errorf("%s is %d characters, %d segments (at most %d, 2): %s", what, n, words.SMSSegments(s), words.MaxSMSChars, s)
		}
	}
}

// TestGoldenTexts renders every text of every rule kind's alarm, opened by
// the real rules engine, and compares them with testdata/golden/<case>.txt
// (go test ./words -update rewrites them).
func TestGoldenTexts(t *testing.T) {
	b := words.Default()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFeed(t, c.rules)
			c.run(f)
			a := f.alarm(c.rule)
			if a.Cause.IsZero() {
				t.Fatalf("no cause: %+v", a)
			}
			h := household
			var out strings.Builder
			section := func(name, s string, sms bool) {
				checkText(t, name, s, sms)
				if sms {
					n, _ := words.SMSLength(s)
					fmt.Fprintf(&out, "== %s (%d characters, %d segments)\n%s\n", name, n, words.SMSSegments(s), s)
					return
				}
				fmt.Fprintf(&out, "== %s\n%s\n", name, s)
			}
			section("sms", b.SMS(&a, &h, link), true)
			section("voice", b.Voice(&a, &h, false), false)
			section("voice to the elder", b.Voice(&a, &h, true), false)
			section("taken", b.Taken(&a, &h, "李明"), true)
			section("duty", b.Duty(&a, &h, 6, link), true)
			section("ack page", strings.Join(b.Ack(words.AckOpen, &a, &h, "").Lines(), "\n"), false)
			section("ack page, accepted", strings.Join(b.Ack(words.AckMine, &a, &h, "").Lines(), "\n"), false)
			health, needs := b.Visit(&a, &h, words.Outcome{Accepted: true, By: "李明", Relation: "child", Via: "ack_link", After: 150 * time.Second})
			section("visit record, accepted", health+"\n"+needs, false)
			_, needs = b.Visit(&a, &h, words.Outcome{Accepted: true, By: "张桂兰", Relation: "elder", Via: "key_press", After: 40 * time.Second, NoContactRung: true})
			section("visit record, elder safe", needs, false)
			_, needs = b.Visit(&a, &h, words.Outcome{Steps: 6, Rounds: 2, Calls: 6, Duty: 1})
			section("visit record, unanswered", needs, false)
			golden(t, filepath.Join("testdata", "golden", c.name+".txt"), out.String())
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./words -update writes it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test ./words -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// Every rule kind has a golden case, so a new kind cannot ship without words.
func TestEveryRuleKindHasGoldenCase(t *testing.T) {
	kinds := map[string]bool{}
	for _, c := range cases {
		f := newFeed(t, c.rules)
		c.run(f)
		kinds[f.alarm(c.rule).RuleKind] = true
	}
	for _, k := range rules.KindNames() {
		if !kinds[k] {
			t.Errorf("rule kind %s has no golden case", k)
		}
	}
}
