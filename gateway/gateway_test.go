package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	_ "github.com/anxin-care/anxin/drivers/all"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/mqtt"
)

func writeConfig(t testing.TB, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gatewayd.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := Load(filepath.Join(testenv.RepoRoot(t), "configs", "gatewayd.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Household != "hh-0001" || cfg.Spool.MaxBytes != 64<<20 || len(cfg.Drivers) == 0 {
		t.Fatalf("example config decoded wrongly: %+v", cfg)
	}
	if _, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatalf("example config's drivers do not build: %v", err)
	}
}

const baseConfig = `
household: hh-0001
mqtt: {broker: "tcp://127.0.0.1:1883"}
spool: {dir: %q}
drivers:
  - driver: testsim
    name: sim
    device: wm1
    count: 3
`

func TestConfigErrorsNameTheKey(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"unknown top key", "household: hh-1\nhousehold_id: x\n", "household_id: unknown key"},
		{"unknown nested key", "household: hh-1\nmqtt: {brokr: tcp://x:1}\n", "mqtt.brokr: unknown key"},
		{"bad duration", "household: hh-1\nmqtt: {keepalive: 30}\n", "mqtt.keepalive"},
		{"bad duration string", "household: hh-1\nmqtt: {keepalive: soon}\n", `"soon" is not a duration`},
		{"bad size", "household: hh-1\nspool: {max_bytes: lots}\n", "spool.max_bytes"},
		{"bad fsync", "household: hh-1\nspool: {fsync: sometimes}\n", `spool.fsync: "sometimes" is not always|batch`},
		{"bad household", "household: 'hh 1'\n", "household:"},
		{"bad scheme", "household: hh-1\nmqtt: {broker: 'http://x:1'}\n", `mqtt.broker: "http://x:1": scheme`},
		{"bad level", "household: hh-1\nlog: {level: loud}\n", "log.level"},
		{"unknown driver", "household: hh-1\ndrivers: [{driver: nope}]\n", `drivers[0].driver: unknown driver "nope"`},
		{"driver unknown key", "household: hh-1\ndrivers: [{driver: testsim, count: 1}, {driver: testsim, name: b, devcie: x}]\n",
			"drivers[1].devcie: unknown key"},
		{"driver bad value", "household: hh-1\ndrivers: [{driver: testsim}, {driver: testsim, name: b}, {driver: testsim, name: c, parity: evn}]\n",
			`drivers[2].port.parity: "evn" is not none|even|odd`},
		{"driver wrong type", "household: hh-1\ndrivers: [{driver: testsim, count: many}]\n", "count"},
		{"duplicate instance", "household: hh-1\ndrivers: [{driver: testsim}, {driver: testsim}]\n", "drivers[1].name"},
		{"password without user", "household: hh-1\nmqtt: {password: hunter2}\n", "mqtt.password"},
		{"both password forms", "household: hh-1\nmqtt: {username: u, password: hunter2, password_file: /x}\n", "mqtt.password_file"},
		{"yaml syntax", "household: [\n", "yaml"},
		{"fallback without broker", "household: hh-1\nmqtt: {fallback: ['tcp://b:1883']}\n", "mqtt.fallback: set without mqtt.broker"},
		{"bad fallback scheme", "household: hh-1\nspool: {dir: /tmp/x}\nmqtt: {broker: 'tcp://a:1883', fallback: ['http://b:1']}\n", `"http://b:1": scheme`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(ConfigErrorText(err, AtStart), "hunter2") {
				t.Fatalf("secret in error: %v", err)
			}
		})
	}
}

func TestEnvOverridesAndSecrets(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ANXIN_MQTT_USERNAME", "gw1")
	t.Setenv("ANXIN_MQTT_PASSWORD_FILE", pw)
	t.Setenv("ANXIN_SPOOL_MAX_BYTES", "2MiB")
	t.Setenv("ANXIN_OUTPUT_STDOUT", "true")
	t.Setenv("ANXIN_MQTT_WINDOW", "64")
	cfg, err := Load(writeConfig(t, fmt.Sprintf(baseConfig, dir)))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.Username != "gw1" || cfg.MQTT.Password != "s3cret-from-file" || cfg.Spool.MaxBytes != 2<<20 ||
		!cfg.Output.Stdout || cfg.MQTT.Window != 64 {
		t.Fatalf("env overrides not applied: %+v", cfg.MQTT)
	}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("start", "config", cfg)
	out := logged.String() + fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg.MQTT.Password)
	if strings.Contains(out, "s3cret") || !strings.Contains(logged.String(), "<secret>") {
		t.Fatalf("secret printed: %s", out)
	}

	t.Setenv("ANXIN_OUTPUT_STDOUT", "yes please")
	if _, err := Load(writeConfig(t, fmt.Sprintf(baseConfig, dir))); err == nil || !strings.Contains(err.Error(), "output.stdout") {
		t.Fatalf("bad env value: %v", err)
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"64MiB": 64 << 20, "512KiB": 512 << 10, "1GB": 1 << 30, "1000": 1000, "1.5M": 3 << 19} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "12 parsecs", "1e300"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) accepted", in)
		}
	}
}

// lockedBuffer is a log or output sink read as lines.
type lockedBuffer struct{ testenv.SyncBuffer }

func (l *lockedBuffer) lines() []string {
	s := strings.TrimSpace(l.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, 15*time.Second, cond)
}

func TestStdoutOnlyWithoutBroker(t *testing.T) {
	cfg, err := Parse([]byte("household: hh-0001\ndrivers: [{driver: testsim, device: wm7, count: 5, event_every: 2}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	g, err := New(cfg, Options{Stdout: &out, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	waitUntil(t, "5 lines on stdout", func() bool { return len(out.lines()) == 5 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, l := range out.lines() {
		m, err := anxin.ParseMessage("", []byte(l))
		if err != nil || m.Device != "wm7" || m.IsEvent() != (i%2 == 0) {
			t.Fatalf("line %d %q: %v", i, l, err)
		}
	}
}

// TestGatewayToBrokerWithReload runs drivers → spool → uplink → embedded
// broker, reloads with a changed and an added driver, then shuts down.
func TestGatewayToBrokerWithReload(t *testing.T) {
	b, err := mqtt.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var mu sync.Mutex
	got := map[string]int{} // device -> messages
	var statuses []string
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("sub").
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			mu.Lock()
			defer mu.Unlock()
			if strings.HasSuffix(m.Topic(), "/status") {
				statuses = append(statuses, string(m.Payload()))
				return
			}
			msg, err := anxin.ParseMessage(m.Topic(), m.Payload())
			if err != nil {
				t.Errorf("bad message: %v", err)
				return
			}
			got[msg.Device]++
		}))
	if tok := sub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(50)
	if tok := sub.Subscribe("anxin/v1/#", 1, nil); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	count := func(dev string) int { mu.Lock(); defer mu.Unlock(); return got[dev] }

	dir := t.TempDir()
	conf := `
household: hh-0001
mqtt: {broker: %q, reconnect: {min: 50ms, max: 200ms}}
spool: {dir: %q, fsync: always}
drivers:
  - {driver: testsim, name: a, device: wm1, count: %d, event_every: 10}
`
	cfg, err := Parse(fmt.Appendf(nil, conf, b.URL(), dir, 50))
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	g, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	waitUntil(t, "50 messages from wm1", func() bool { return count("wm1") == 50 })

	// reload: instance a changes (restarted: emits its stream again), b is new
	next, err := Parse(fmt.Appendf(nil, conf+"  - {driver: testsim, name: b, device: wm2, count: 20}\n",
		b.URL(), dir, 60))
	if err != nil {
		t.Fatal(err)
	}
	g.Reload(next)
	waitUntil(t, "restarted and added drivers", func() bool { return count("wm1") >= 110 && count("wm2") == 20 })
	waitUntil(t, "spool drained", func() bool { st, _ := g.Stats(); return st.Depth == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "offline status", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(statuses) > 0 && strings.Contains(statuses[len(statuses)-1], `"offline"`)
	})
	var body struct{ State string }
	mu.Lock()
	if err := json.Unmarshal([]byte(statuses[0]), &body); err != nil || body.State != "online" {
		t.Errorf("first status %q", statuses[0])
	}
	mu.Unlock()
	if strings.Contains(strings.Join(logs.lines(), "\n"), "level=ERROR") {
		t.Fatalf("errors logged:\n%s", strings.Join(logs.lines(), "\n"))
	}
	mfs, err := g.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"anxin_spool_depth_messages": false, "anxin_spool_bytes": false,
		"anxin_spool_dropped_readings_total": false, "anxin_uplink_published_total": false, "anxin_uplink_connected": false}
	for _, mf := range mfs {
		if _, ok := want[mf.Name]; ok {
			want[mf.Name] = true
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("metric %s not exported", name)
		}
	}
}

func TestContractViolationsAreRejectedNotFatal(t *testing.T) {
	cfg, err := Parse([]byte("household: hh-0001\n"))
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	var logs lockedBuffer
	g, err := New(cfg, Options{Stdout: &out, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	sink := g.sink("x", g.log)
	bad := anxin.Message{Device: "wm 1", Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(1)}}
	if err := sink.Put(context.Background(), bad); err != nil {
		t.Fatalf("a bad message must not stop the driver: %v", err)
	}
	good := anxin.Message{Device: "wm1", Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(1)}}
	if err := sink.Put(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	lines := out.lines()
	if len(lines) != 1 {
		t.Fatalf("stdout: %q", lines)
	}
	m, err := anxin.ParseMessage("", []byte(lines[0]))
	if err != nil || m.ID == "" || m.Household != "hh-0001" || m.TS.IsZero() {
		t.Fatalf("completed message %q: %v", lines[0], err)
	}
	if !strings.Contains(strings.Join(logs.lines(), " "), "rejected") {
		t.Fatal("rejection not logged")
	}
}

func TestDecodeInProcess(t *testing.T) {
	var out, errOut bytes.Buffer
	err := Decode(DecodeOptions{Driver: "testsim", Stdin: strings.NewReader("wm1 1\ngarbage\nwm2 2\n"),
		Stdout: &out, Stderr: &errOut})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("stdout %q", out.String())
	}
	for i, l := range lines {
		m, err := anxin.ParseMessage("", []byte(l))
		if err != nil || m.Household != DecodeHousehold || m.Device != []string{"wm1", "wm2"}[i] {
			t.Fatalf("line %q: %v", l, err)
		}
	}
	var e struct {
		Error  string `json:"error"`
		Offset int64  `json:"offset"`
	}
	if err := json.Unmarshal(errOut.Bytes(), &e); err != nil || e.Offset != 6 || e.Error == "" {
		t.Fatalf("stderr %q: %v", errOut.String(), err)
	}
	if err := Decode(DecodeOptions{Driver: "nope", Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut}); err == nil ||
		!strings.Contains(err.Error(), "unknown driver") {
		t.Fatalf("unknown driver: %v", err)
	}
	if err := Decode(DecodeOptions{Driver: "testsim", In: "/nonexistent", Stdout: &out, Stderr: &errOut}); err == nil {
		t.Fatal("unreadable file accepted")
	}
	cfgPath := writeConfig(t, "household: hh-0042\ndrivers: [{driver: testsim, device: x}]\n")
	out.Reset()
	if err := Decode(DecodeOptions{Driver: "testsim", ConfigPath: cfgPath, Stdin: strings.NewReader("wm1 1\n"),
		Stdout: &out, Stderr: &errOut}); err != nil || !strings.Contains(out.String(), `"household":"hh-0042"`) {
		t.Fatalf("with --config: %v %q", err, out.String())
	}
}

// FuzzParseConfig: hostile config bytes never panic, and an accepted config
// is valid.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(fmt.Sprintf(baseConfig, "/tmp/x")))
	f.Add([]byte("household: hh-1\nspool: {max_bytes: 1MiB}\n"))
	f.Add([]byte("drivers: [{driver: testsim, count: 1}]\nhousehold: x\n"))
	f.Add([]byte("household: hh-1\ndrivers:\n  - driver: cjt188\n\tname: x\n"))
	f.Add([]byte("household: hh-1\ndrivers: [{driver: cjt188, baud: 1, poll_interval: 5 minutes}, {driver: cjt188}]\n"))
	f.Add([]byte("household: hh-1\nmqtt: {keepalive: 30, window: x, reconnect: [1]}\nspool: {max_bytes: lots}\n"))
	f.Add([]byte("household: hh-1\ndrivers:\n  - {driver: jt808, listen: '8808', terminals: [{id: '1380013800O', device: t1, model: x}]}\n" +
		"  - {driver: watch3g, idle_timeout: 0s, terminals: [{id: '9031853319', device: w1}, {id: '9031853319', device: w2}]}\n"))
	f.Add([]byte("household: hh-1\ndrivers:\n  - {driver: zigbee2mqtt, broker: 'tcp://u:p@h:1883', base_topic: '', devices: [{name: a, device: b, kind: call_button, actions: {single: ring}}]}\n" +
		"  - {driver: tasmota, topics: ['tele/#/x'], password: p, password_file: /f}\n"))
	f.Add([]byte("household: hh-1\ndrivers:\n  - {driver: jsonmap, mappings: [{topic: 'v/{device}/up', kind: tracker, fields: {lat: $.lat}, scale: {lon: 0}}]}\n" +
		"  - {driver: modbus, port: {path: /dev/ttyUSB1}, units: [{unit: 1, device: pm1, kind: power_meter, registers: [{name: e, register: 0xFFFF, format: float32}]}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			// every refusal is typed and explained in Mandarin, the English kept
			var ce *drivers.ConfigError
			if !errors.As(err, &ce) || err.Error() == "" {
				t.Fatalf("untyped or empty error %T %q", err, err)
			}
			// a driver's refusal names the key below its entry, so the Mandarin can say where
			if ce.Entry > 0 && ce.Kind == drivers.ValueBad && !strings.HasPrefix(ce.Key, fmt.Sprintf("drivers[%d].", ce.Entry-1)) {
				t.Fatalf("driver error without its key: %#v", ce)
			}
			for _, st := range []ConfigStage{AtStart, AtCheck, AtReload} {
				zh := ConfigErrorText(err, st)
				if !strings.HasPrefix(zh, "配置有误") || strings.Contains(zh, "%!") && !bytes.Contains(data, []byte("%!")) ||
					!utf8.ValidString(zh) && utf8.ValidString(err.Error()) {
					t.Fatalf("Mandarin text %q for %q", zh, err)
				}
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted config fails Validate: %v", err)
		}
	})
}

// TestEverySampleConfigLoads puts each registered driver's SampleConfig (the
// text its README shows) into a gatewayd config and loads it through the real
// strict loader, so no sample can drift from what the driver accepts.
func TestEverySampleConfigLoads(t *testing.T) {
	for _, name := range drivers.Names() {
		t.Run(name, func(t *testing.T) {
			p, _ := drivers.Lookup(name)
			var b strings.Builder
			b.WriteString("household: hh-0001\ndrivers:\n  - driver: " + name + "\n")
			for _, l := range strings.Split(p.SampleConfig, "\n") {
				b.WriteString("    " + l + "\n")
			}
			cfg, err := Parse([]byte(b.String()))
			if err != nil {
				t.Fatalf("sample config of %s does not load: %v\n%s", name, err, b.String())
			}
			if len(cfg.Drivers) != 1 || cfg.Drivers[0].Driver != name {
				t.Fatalf("decoded %+v", cfg.Drivers)
			}
		})
	}
}

// The nodes of a clustered broker tier are listed under mqtt.fallback.
func TestConfigFallbackBrokers(t *testing.T) {
	cfg, err := Parse([]byte("household: hh-1\nspool: {dir: /tmp/x}\nmqtt: {broker: 'tcp://a:1883', fallback: ['tcp://b:1883', 'tcp://c:1883']}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.MQTT.Fallback) != 2 || cfg.MQTT.Fallback[1].String() != "tcp://c:1883" {
		t.Fatalf("fallback %v", cfg.MQTT.Fallback)
	}
}

// TestConfigReadingRules pins how the file and the environment combine,
// beyond the keys themselves: key case (the gateway's own keys; driver keys
// keep theirs), YAML's dotted and null forms, an override beside the file's
// keys of the same section, a list from the environment, and an empty
// variable.
func TestConfigReadingRules(t *testing.T) {
	cfg, err := Parse([]byte("Household: HH-1\nMQTT: {Window: 10, Reconnect: {MAX: 5m}}\nmqtt.client_id: Gw-A\nspool: {fsync: ~}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Household != "HH-1" || cfg.MQTT.Window != 10 || cfg.MQTT.Reconnect.Max != 5*time.Minute ||
		cfg.MQTT.ClientID != "Gw-A" || cfg.Spool.Fsync != "batch" {
		t.Errorf("key case, dotted key or null value: %+v %+v", cfg, cfg.MQTT)
	}

	t.Setenv("ANXIN_MQTT_RECONNECT_MAX", "7m")
	t.Setenv("ANXIN_MQTT_USERNAME", "") // empty: not set (viper's rule, kept)
	t.Setenv("ANXIN_SPOOL_FSYNC", "always")
	cfg, err = Parse([]byte("household: hh-1\nmqtt: {username: gw1, reconnect: {min: 2s}}\nspool: {fsync: batch}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m := cfg.MQTT; m.Username != "gw1" || m.Reconnect.Min != 2*time.Second || m.Reconnect.Max != 7*time.Minute ||
		cfg.Spool.Fsync != "always" {
		t.Errorf("nested override: %+v %+v", m, cfg.Spool)
	}

	// a list is not read from one variable: the error names the key
	t.Setenv("ANXIN_MQTT_FALLBACK", "tcp://a:1883,tcp://b:1883")
	_, err = Parse([]byte("household: hh-1\nmqtt: {broker: tcp://c:1883}\n"))
	if ce := drivers.AsConfigError(err); err == nil || ce.Key != "mqtt.fallback" {
		t.Errorf("list from the environment: %v", err)
	}
}

// TestDriversKeyAnyCase: every key is read whatever its case (Household:,
// MQTT: above), but drivers were read apart under "drivers" exactly, and
// the lowercased copy dropped from the key check: "Drivers:" gave a
// gateway with no driver at all, no error, and a check that passed with an
// empty table — a home watched by nothing. Drivers: is read as drivers:,
// with the spelling the other keys follow when several are written.
func TestDriversKeyAnyCase(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want []string // instance names
	}{
		{"household: hh-1\nDrivers: [{driver: testsim, name: a, count: 1}]\n", []string{"a"}},
		{"household: hh-1\nDRIVERS: [{driver: testsim, name: a, count: 1}]\n", []string{"a"}},
		// Drivers: over drivers: as Mqtt: over mqtt: (configtree)
		{"household: hh-1\ndrivers: [{driver: testsim, name: low, count: 1}]\nDrivers: [{driver: testsim, name: up, count: 1}]\n", []string{"up"}},
		{"household: hh-1\ndrivers: [{driver: testsim, name: a, count: 1}]\n", []string{"a"}},
		{"household: hh-1\nbase: &b [{driver: testsim, name: x, count: 1}]\n<<: {drivers: *b}\n", nil}, // base: unknown key
	} {
		cfg, err := Parse([]byte(tc.yaml))
		if tc.want == nil {
			if err == nil {
				t.Errorf("%q: accepted", tc.yaml)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.yaml, err)
			continue
		}
		var got []string
		for _, d := range cfg.Drivers {
			got = append(got, d.Name)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: drivers %q, want %q", tc.yaml, got, tc.want)
		}
	}
}
