package tasmota

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/mqttsource"
	"github.com/anxin-care/anxin/drivers/mqttsource/sourcetest"
	"github.com/anxin-care/anxin/drivers/rf433"
	"github.com/anxin-care/anxin/internal/testenv"
)

const fixture = "../../testdata/fixtures/rf433/tasmota-rfbridge-RESULT-examples.txt"

func TestSampleConfig(t *testing.T) {
	sourcetest.CheckSample(t, Name, "README.md")
}

func TestConfigRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		mod  func(*Config)
		want string
	}{
		"bad code": {func(c *Config) {
			c.Codes = []rf433.Code{{Code: "xyz", Device: "a", Kind: "call_button", Event: "button_pressed"}}
		}, "codes[0].code"},
		"duplicate code": {func(c *Config) {
			c.Codes = []rf433.Code{{Code: "0a", Device: "a", Kind: "call_button", Event: "button_pressed"}, {Code: "0x0A", Device: "b", Kind: "call_button", Event: "button_pressed"}}
		}, "codes[1].code"},
		"bad event":  {func(c *Config) { c.Codes = []rf433.Code{{Code: "0a", Device: "a", Kind: "call_button", Event: "ring"}} }, "codes[0].event"},
		"bad filter": {func(c *Config) { c.Topics = []string{"tele/#/RESULT"} }, "topics[0]"},
		"no topics":  {func(c *Config) { c.Topics = nil }, "topics"},
		"debounce":   {func(c *Config) { c.Debounce = -time.Second }, "debounce"},
	} {
		t.Run(name, func(t *testing.T) {
			c := NewConfig()
			tc.mod(c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// fixtureCodes learns every code of the fixture file.
func fixtureCodes() []rf433.Code {
	return []rf433.Code{
		{Code: "4AF10A", Device: "btn1", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed},
		{Code: "4af10e", Device: "btn1b", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed},
		{Code: "ABCDEF", Device: "smoke1", Kind: anxin.KindSmokeDetector, Event: anxin.EventSmoke},
		{Code: "0x7028D5", Device: "leak1", Kind: anxin.KindWaterLeakDetector, Event: anxin.EventWaterLeak},
		{Code: "022c81", Device: "gas1", Kind: anxin.KindGasDetector, Event: anxin.EventGas}, // OpenMQTTGateway value 142465
	}
}

func decodeFile(t *testing.T, cfg *Config, input []byte) (msgs []anxin.Message, fails []drivers.DecodeError) {
	t.Helper()
	p, _ := drivers.Lookup(Name)
	dec, err := p.NewDecoder(cfg, drivers.Env{Household: "hh-0001", Now: time.Now, Metrics: metrics.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	err = dec.Decode(bytes.NewReader(input), func(m anxin.Message) {
		if err := m.Validate(); err != nil {
			t.Errorf("message breaks the contract: %v", err)
		}
		msgs = append(msgs, m)
	}, func(e drivers.DecodeError) { fails = append(fails, e) })
	if err != nil {
		t.Fatal(err)
	}
	return msgs, fails
}

func TestFixture(t *testing.T) {
	b, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	cfg := NewConfig()
	cfg.Codes = fixtureCodes()
	msgs, fails := decodeFile(t, cfg, b)
	var got []string
	for _, m := range msgs {
		got = append(got, m.Device+":"+string(m.Event)+":"+string(m.Kind))
	}
	want := []string{"btn1:button_pressed:call_button", "btn1b:button_pressed:call_button",
		"smoke1:smoke:smoke_detector", "leak1:water_leak:water_leak_detector", "gas1:gas:gas_detector"}
	if !slices.Equal(got, want) || len(fails) != 0 {
		t.Errorf("events %v fails %v\nwant %v", got, fails, want)
	}

	// with no code table each code is an error line at its offset
	msgs, fails = decodeFile(t, NewConfig(), b)
	if len(msgs) != 0 || len(fails) != 5 {
		t.Fatalf("no table: %d messages, %d fails", len(msgs), len(fails))
	}
	for i, code := range []string{"4af10a", "4af10e", "abcdef", "7028d5", "022c81"} {
		f := fails[i]
		if !strings.Contains(f.Err.Error(), "unknown code "+code) {
			t.Errorf("fail %d: %v, want unknown code %s", i, f.Err, code)
		}
		line := b[f.Offset:]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i]
		}
		c, _, ok, err := ParseReception(bytes.TrimSpace(line[bytes.IndexByte(line, '{'):]))
		if err != nil || !ok || rf433.FormatCode(c) != code {
			t.Errorf("offset %d does not start the line of code %s: %q", f.Offset, code, line)
		}
	}
}

func TestDebounce(t *testing.T) {
	cfg := NewConfig()
	cfg.Codes = fixtureCodes()
	b, err := NewBridge(cfg, "hh-0001")
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	var n int
	emit := func(anxin.Message) { n++ }
	press := []byte(`{"Time":"2023-02-27T15:12:45","RfReceived":{"Sync":10250,"Low":340,"High":1010,"Data":"4AF10A","RfKey":"None"}}`)
	// one press: 8 repeats 100 ms apart
	for i := range 8 {
		if err := b.Handle(press, t0.Add(time.Duration(i)*100*time.Millisecond), emit); err != nil {
			t.Fatal(err)
		}
	}
	if n != 1 {
		t.Fatalf("one press of 8 repeats gave %d events", n)
	}
	// a second press after a pause longer than the window
	if err := b.Handle(press, t0.Add(5*time.Second), emit); err != nil {
		t.Fatal(err)
	}
	// another code in the middle is its own event
	if err := b.Handle([]byte(`{"value":142465,"protocol":17,"length":24,"delay":737}`), t0.Add(5*time.Second), emit); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("%d events, want 3", n)
	}
}

func TestPayloads(t *testing.T) {
	b, err := NewBridge(NewConfig(), "hh-0001")
	if err != nil {
		t.Fatal(err)
	}
	none := func(m anxin.Message) { t.Errorf("unexpected %v", m.String()) }
	for p, want := range map[string]string{
		`{"POWER":"ON"}`:                        "",
		`{"Time":"x","RfRaw":{"Data":"AA B1"}}`: "",
		`not json`:                              "not a JSON object",
		`{"RfReceived":{"Data":42}}`:            "not a string",
		`{"RfReceived":{"Data":"1234567"}}`:     "RfReceived.Data",
		`{"value":16777216}`:                    "24-bit",
		`{"value":-1}`:                          "24-bit",
		`{"value":1.5}`:                         "not an integer",
		`{"value":1}`:                           "unknown code 000001",
	} {
		err := b.Handle([]byte(p), time.Now(), none)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", p, err, want)
		}
	}
	var uc *UnknownCodeError
	if err := b.Handle([]byte(`{"RfReceived":{"Data":"0x7028D5"}}`), time.Now(), none); !errors.As(err, &uc) || uc.Code != 0x7028d5 {
		t.Errorf("unknown code error %v", err)
	}
}

func TestIntegration(t *testing.T) {
	caps := readCaptures(t, fixture)
	sourcetest.Brokers(t, func(t *testing.T, b sourcetest.Broker) {
		env, reg := sourcetest.Env(t)
		cfg := NewConfig()
		cfg.Broker = anxin.MustBrokerURL(b.URL())
		cfg.Topics = []string{DefaultTopic, "home/OpenMQTTGateway/433toMQTT"}
		cfg.Codes = fixtureCodes()
		for i := range probeCodes { // a fresh code per probe: each reception restarts the de-bounce window
			cfg.Codes = append(cfg.Codes, rf433.Code{Code: rf433.FormatCode(0xfffe00 + uint32(i)), Device: "probe", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed})
		}
		cfg.Codes = append(cfg.Codes, rf433.Code{Code: "0000a1", Device: "btn9", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed})
		d, err := New(cfg, env)
		if err != nil {
			t.Fatal(err)
		}
		sink := sourcetest.NewSink(1024)
		stop := sourcetest.Run(t, d, sink)
		pub := sourcetest.Publisher(t, b.URL())
		var seq int
		probe(t, pub, sink, &seq)

		for _, c := range caps {
			topic := c.Topic
			if topic == "" {
				topic = "home/OpenMQTTGateway/433toMQTT"
			}
			for range 4 { // a press arrives as several identical receptions
				pub(topic, c.Payload)
			}
		}
		pub("tele/tasmota_x/RESULT", []byte(`{"RfReceived":{"Data":"123456"}}`)) // not learned
		want := []string{"btn1", "btn1b", "smoke1", "leak1", "gas1"}
		for _, w := range want {
			m, ok := sink.Next(t, 60*time.Second, func(m anxin.Message) bool { return m.Device != "probe" })
			if !ok || m.Device != w {
				t.Fatalf("got %v (%v), want an event of %s", m.String(), ok, w)
			}
		}
		if m, ok := sink.Next(t, 300*time.Millisecond, func(m anxin.Message) bool { return m.Device != "probe" }); ok {
			t.Fatalf("repeats gave a second event: %v", m.String())
		}
		testenv.Eventually(t, "the unknown codes counter at 1", 30*time.Second, func() bool {
			return sourcetest.Gauge(reg, "anxin_rf_bridge_unknown_codes_total") == 1 // a metric fed by the real broker
		})
		if v := sourcetest.Gauge(reg, "anxin_rf_bridge_unknown_codes_total"); v != 1 {
			t.Errorf("unknown codes counter %v, want 1", v)
		}

		b.Restart(t)
		pub2 := sourcetest.Publisher(t, b.URL())
		probe(t, pub2, sink, &seq)
		pub2("tele/tasmota_4339CA/RESULT", []byte(`{"RfReceived":{"Data":"0000A1"}}`))
		if m, ok := sink.Next(t, 60*time.Second, func(m anxin.Message) bool { return m.Device != "probe" }); !ok || m.Device != "btn9" {
			t.Fatalf("after restart: %v %v", m.String(), ok)
		}
		if err := stop(); err != nil {
			t.Fatalf("Run returned %v", err)
		}
	})
}

const probeCodes = 200

// probe presses a learned probe code until the driver delivers it: the
// driver is then subscribed.
func probe(t *testing.T, pub func(string, []byte), sink *sourcetest.Sink, probeSeq *int) {
	t.Helper()
	for range probeCodes / 2 {
		*probeSeq++
		pub("tele/probe/RESULT", []byte(`{"RfReceived":{"Data":"`+rf433.FormatCode(0xfffe00+uint32(*probeSeq%probeCodes))+`"}}`))
		if _, ok := sink.Next(t, 200*time.Millisecond, func(m anxin.Message) bool { return m.Device == "probe" }); ok {
			if m, ok := sink.Next(t, 300*time.Millisecond, func(m anxin.Message) bool { return m.Device != "probe" }); ok {
				t.Fatalf("unexpected %v while probing", m.String())
			}
			return
		}
	}
	t.Fatal("driver never received a probe: not subscribed")
}

func readCaptures(t testing.TB, path string) []mqttsource.Capture {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var caps []mqttsource.Capture
	if err := mqttsource.ReadCaptures(f, func(c mqttsource.Capture) { caps = append(caps, c) },
		func(e drivers.DecodeError) { t.Fatalf("%v", e.Err) }); err != nil {
		t.Fatal(err)
	}
	return caps
}

func TestLWTFilters(t *testing.T) {
	got := lwtFilters([]string{"tele/+/RESULT", "home/OpenMQTTGateway/433toMQTT", "rf/#", "tele/+/LWT", "x"})
	if want := []string{"tele/+/LWT", "home/OpenMQTTGateway/LWT"}; !slices.Equal(got, want) && !slices.Equal(got, want[1:]) {
		t.Fatalf("lwtFilters = %v", got)
	}
	if got := lwtFilters([]string{"tele/+/RESULT"}); !slices.Equal(got, []string{"tele/+/LWT"}) {
		t.Fatalf("lwtFilters(tele/+/RESULT) = %v", got)
	}
}

// TestDeadBridgeIsReported: a Sonoff RF bridge that died (its LWT goes
// Offline) or a home broker that cannot be read left the home's 433 MHz
// buttons and detectors unheard, and nobody was told: they send nothing
// until pressed. The driver now tells gatewayd (drivers.Env.PortState),
// which reports the devices offline after a minute.
func TestDeadBridgeIsReported(t *testing.T) {
	sourcetest.Brokers(t, func(t *testing.T, b sourcetest.Broker) {
		env, _ := sourcetest.Env(t)
		states := make(chan bool, 16)
		env.PortState = func(up bool) { states <- up }
		want := func(up bool, what string) {
			t.Helper()
			select {
			case got := <-states:
				if got != up {
					t.Fatalf("%s: told %v, want %v", what, got, up)
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("%s: nothing told", what)
			}
		}
		cfg := NewConfig()
		cfg.Broker = anxin.MustBrokerURL(b.URL())
		cfg.Codes = fixtureCodes()
		d, err := New(cfg, env)
		if err != nil {
			t.Fatal(err)
		}
		stop := sourcetest.Run(t, d, sourcetest.NewSink(16))
		want(false, "before the first subscription")
		want(true, "subscribed")
		pub := sourcetest.Publisher(t, b.URL())
		pub("tele/tasmota_4339CA/LWT", []byte("Offline")) // the bridge's will
		want(false, "the bridge's LWT Offline")
		pub("tele/tasmota_4339CA/LWT", []byte("Online"))
		want(true, "the bridge back")
		b.Restart(t)
		want(false, "the home broker lost")
		want(true, "the home broker back")
		if err := stop(); err != nil {
			t.Fatalf("Run returned %v", err)
		}
	})
}

// pauseOn blocks the goroutine that logs msg until release is closed,
// telling entered when it does.
type pauseOn struct {
	msg     string
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (p *pauseOn) Enabled(context.Context, slog.Level) bool { return true }
func (p *pauseOn) Handle(_ context.Context, r slog.Record) error {
	if r.Message == p.msg {
		p.once.Do(func() { close(p.entered); <-p.release })
	}
	return nil
}
func (p *pauseOn) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *pauseOn) WithGroup(string) slog.Handler      { return p }

// TestBridgeOnlineRacingABrokerLossEndsDown: a bridge's LWT Online read
// just as the home broker connection is lost (the message handler and
// paho's connection-lost handler run on different goroutines). The state
// was decided under the driver's lock but told after it was let go, so
// the Online's "up" could be told after the loss's "down": gatewayd then
// held the devices online for as long as the home broker stayed
// unreadable (the source tells "down" once per change, and tells nothing
// more until it is read again).
func TestBridgeOnlineRacingABrokerLossEndsDown(t *testing.T) {
	env, _ := sourcetest.Env(t)
	p := &pauseOn{msg: "RF bridge online", entered: make(chan struct{}), release: make(chan struct{})}
	env.Logger = slog.New(p)
	var mu sync.Mutex
	var told []bool
	env.PortState = func(up bool) { mu.Lock(); told = append(told, up); mu.Unlock() }
	d, err := New(NewConfig(), env)
	if err != nil {
		t.Fatal(err)
	}
	d.brokerState(true)
	d.bridgeState("tele/tasmota_4339CA/LWT", []byte("Offline"))
	done := make(chan struct{})
	go func() { defer close(done); d.bridgeState("tele/tasmota_4339CA/LWT", []byte("Online")) }()
	<-p.entered
	d.brokerState(false) // the home broker connection lost
	close(p.release)
	<-done
	mu.Lock()
	defer mu.Unlock()
	if last := told[len(told)-1]; last {
		t.Fatalf("the home broker is lost but gatewayd was last told the port is up (told %v)", told)
	}
}

// TestClearedLWTForgetsTheBridge: a bridge taken out of the home leaves
// its retained LWT Offline on the home broker, and the installer clears it
// the MQTT way (an empty retained message: mosquitto_pub -r -n). The
// driver took the empty payload for one it did not understand and kept
// the bridge offline, with every device of the home, until gatewayd was
// restarted.
func TestClearedLWTForgetsTheBridge(t *testing.T) {
	env, _ := sourcetest.Env(t)
	var told []bool
	env.PortState = func(up bool) { told = append(told, up) }
	d, err := New(NewConfig(), env)
	if err != nil {
		t.Fatal(err)
	}
	d.brokerState(true)
	d.bridgeState("tele/tasmota_old/LWT", []byte("Offline"))
	d.bridgeState("tele/tasmota_old/LWT", nil) // the retained will cleared
	if last := told[len(told)-1]; !last {
		t.Fatalf("the bridge's retained LWT was cleared but its devices stay unheard (told %v)", told)
	}
}

// logged records log lines (message and attributes) for a test to read.
type logged struct {
	mu    sync.Mutex
	lines []string
}

func (l *logged) Enabled(context.Context, slog.Level) bool { return true }
func (l *logged) Handle(_ context.Context, r slog.Record) error {
	s := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool { s += " " + a.String(); return true })
	l.mu.Lock()
	l.lines = append(l.lines, s)
	l.mu.Unlock()
	return nil
}
func (l *logged) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logged) WithGroup(string) slog.Handler      { return l }

func (l *logged) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.lines, func(s string) bool { return strings.Contains(s, sub) })
}

// TestOfflineNonBridgeIsNamed: with tele/+/RESULT every Tasmota device's
// LWT counts (a bridge dead at start must be reported before it has sent
// anything, and a second bridge may be the dead one), so a smart plug
// going offline reports the RF devices unheard. That is kept, as the safe
// side; but the installer reading the log is told which device it was and
// what to do: a device the driver never heard an RF reception from, while
// it heard one from another, is named with the bridge to write in topics.
func TestOfflineNonBridgeIsNamed(t *testing.T) {
	env, _ := sourcetest.Env(t)
	var told []bool
	env.PortState = func(up bool) { told = append(told, up) }
	l := &logged{}
	env.Logger = slog.New(l)
	d, err := New(NewConfig(), env)
	if err != nil {
		t.Fatal(err)
	}
	d.brokerState(true)
	d.bridgeState("tele/tasmota_plug/LWT", []byte("Offline")) // nothing heard yet: no advice
	if l.has("not heard as an RF bridge") {
		t.Fatalf("advice before any bridge was heard: %q", l.lines)
	}
	d.bridgeState("tele/tasmota_plug/LWT", []byte("Online"))
	d.heardRF("tele/tasmota_4339CA/RESULT")
	d.bridgeState("tele/tasmota_plug/LWT", []byte("Offline"))
	if last := told[len(told)-1]; last {
		t.Fatalf("an offline device on the topics no longer counts (told %v)", told)
	}
	if !l.has("not heard as an RF bridge") || !l.has("tele/tasmota_plug/LWT") || !l.has("tele/tasmota_4339CA/RESULT") {
		t.Fatalf("the installer is not told which device went offline and which bridge to name: %q", l.lines)
	}
	l.lines = nil
	d.bridgeState("tele/tasmota_4339CA/LWT", []byte("Offline"))
	if l.has("not heard as an RF bridge") {
		t.Fatalf("the bridge itself is said not to be one: %q", l.lines)
	}
}

// An RF reception (Run's goroutine) and a bridge's LWT (paho's) come
// concurrently: the bridges heard are read under the lock they are written
// under (go test -race tells).
func TestHeardRFWhileABridgeGoesOffline(t *testing.T) {
	env, _ := sourcetest.Env(t)
	env.PortState = func(bool) {}
	d, err := New(NewConfig(), env)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 8 {
			d.heardRF("tele/tasmota_" + strconv.Itoa(i) + "/RESULT")
		}
	}()
	for range 8 {
		d.bridgeState("tele/tasmota_plug/LWT", []byte("Offline"))
	}
	<-done
}
