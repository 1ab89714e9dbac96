package configtree

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"gopkg.in/yaml.v3"
)

func TestLayers(t *testing.T) {
	tr := New()
	tr.SetDefault("mqtt.listen", "127.0.0.1:1883")
	tr.SetDefault("mqtt.client_id", "alarmd")
	tr.SetDefault("mqtt.tls.listen", "")
	tr.SetDefault("log.level", "info")
	tr.SetDefault("influx.batch_size", 5000)
	if err := tr.ReadYAML([]byte("MQTT: {Listen: ':1883', client_id: ~}\nlog.level: debug\ninflux: {batch_size: 10}\n")); err != nil {
		t.Fatal(err)
	}
	tr.BindEnv("influx.batch_size", "20", true)
	tr.BindEnv("influx.url", "", false)
	for k, want := range map[string]any{
		"mqtt.listen":       ":1883",          // the file, whatever its keys' case
		"mqtt.client_id":    "alarmd",         // null in the file: the default
		"log.level":         "debug",          // a dotted key in the file
		"influx.batch_size": "20",             // the environment over the file
		"influx.url":        nil,              // bound, not set: nothing
		"mqtt.tls.listen":   "",               // the default
		"MQTT.Listen":       ":1883",          // Get ignores case
		"mqtt":              map[string]any{}, // placeholder, checked below
	} {
		if k == "mqtt" {
			continue
		}
		if got := tr.Get(k); !reflect.DeepEqual(got, want) {
			t.Errorf("Get(%s) = %#v, want %#v", k, got, want)
		}
	}
	// a null under a dotted key leaves the nested one
	n := New()
	if err := n.ReadYAML([]byte("mqtt.n: \nmqtt: {n: 0}\n")); err != nil || n.Get("mqtt.n") != 0 {
		t.Errorf("mqtt.n: ~ beside mqtt: {n: 0}: %v %#v", err, n.Get("mqtt.n"))
	}
	tr.Set("influx.batch_size", "30")
	if got := tr.Get("influx.batch_size"); got != "30" {
		t.Errorf("Set does not win over the environment: %#v", got)
	}
	want := []string{"influx.batch_size", "influx.url", "log.level", "mqtt.client_id", "mqtt.listen", "mqtt.tls.listen"}
	if got := tr.AllKeys(); !slices.Equal(got, want) {
		t.Errorf("AllKeys = %q, want %q", got, want)
	}
	wantSettings := map[string]any{
		"influx": map[string]any{"batch_size": "30"},
		"log":    map[string]any{"level": "debug"},
		"mqtt":   map[string]any{"client_id": "alarmd", "listen": ":1883", "tls": map[string]any{"listen": ""}},
	}
	if got := tr.AllSettings(); !reflect.DeepEqual(got, wantSettings) {
		t.Errorf("AllSettings = %#v", got)
	}
}

func TestSingleValueHidesKeysBelow(t *testing.T) {
	tr := New()
	tr.SetDefault("mqtt.listen", "x")
	if err := tr.ReadYAML([]byte("mqtt: 5\n")); err != nil {
		t.Fatal(err)
	}
	if got := tr.AllKeys(); !slices.Equal(got, []string{"mqtt"}) {
		t.Errorf("AllKeys = %q", got)
	}
	if got := tr.Get("mqtt.listen"); got != nil {
		t.Errorf("Get(mqtt.listen) = %#v under mqtt: 5", got)
	}
	// an override below it: the file's single value stays for the decoder
	tr.BindEnv("mqtt.password", "pw", true)
	if got := tr.AllSettings(); !reflect.DeepEqual(got, map[string]any{"mqtt": 5}) {
		t.Errorf("AllSettings = %#v", got)
	}
}

func TestKeysLowercased(t *testing.T) {
	tr := New()
	err := tr.ReadYAML([]byte("Api: {Tokens: [{Name: Dash}]}\nmqtt: {x: 1}\nMqtt: {y: 2}\n1: a\ntrue: b\n~: c\nn: {2.5: d}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"api":  map[string]any{"tokens": []any{map[string]any{"name": "Dash"}}},
		"mqtt": map[string]any{"y": 2}, // Mqtt: over mqtt:, as viper
		"1":    "a", "true": "b",       // ~: c, a null key, is dropped by yaml.v3
		"n": map[string]any{"2": map[string]any{"5": "d"}}, // 2.5: is a dotted key, as in viper
	}
	if got := tr.AllSettings(); !reflect.DeepEqual(got, want) {
		t.Errorf("AllSettings = %#v", got)
	}
}

func TestUnmarshalExact(t *testing.T) {
	var out struct {
		N    int           `mapstructure:"n"`
		B    bool          `mapstructure:"b"`
		D    time.Duration `mapstructure:"d"`
		List []string      `mapstructure:"list"`
	}
	tr := New()
	tr.SetDefault("d", "5s")
	tr.SetDefault("list", []string{})
	tr.Set("n", "12") // weakly typed: text from the environment is a number
	tr.Set("b", "1")
	tr.Set("list", "a,b")
	hook := mapstructure.ComposeDecodeHookFunc(mapstructure.StringToTimeDurationHookFunc(), mapstructure.StringToSliceHookFunc(","))
	if err := tr.UnmarshalExact(&out, hook); err != nil {
		t.Fatal(err)
	}
	if out.N != 12 || !out.B || out.D != 5*time.Second || !slices.Equal(out.List, []string{"a", "b"}) {
		t.Errorf("decoded %+v", out)
	}
	if err := tr.ReadYAML([]byte("nn: 1\n")); err != nil {
		t.Fatal(err)
	}
	if err := tr.UnmarshalExact(&out, hook); err == nil || !strings.Contains(err.Error(), "nn") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("ANXIN", "notify.twilio.auth_token"); got != "ANXIN_NOTIFY_TWILIO_AUTH_TOKEN" {
		t.Errorf("EnvName = %s", got)
	}
}

// FuzzReadYAML: any bytes are read or refused without a panic, and the
// settings are the same every time and agree with Get key by key.
func FuzzReadYAML(f *testing.F) {
	for _, s := range []string{"mqtt: {listen: a, tls: {listen: b}}\nMQTT: {x: 1}\n", "mqtt.listen: x\nmqtt: {listen: y}\n",
		"mqtt: 5\n", "mqtt:\n", "a: &a [*a, *a]\n", "~: 1\ntrue: 2\n1.5: 3\n", "{{{", "mqtt.n: \nmqtt: {n: 0}",
		"mqtt.tls: 5\nmqtt: {tls: {listen: x}}\n", "api: {tokens: [{Name: a}, {1: x}]}\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		build := func() *Tree {
			tr := New()
			tr.SetDefault("mqtt.listen", "x")
			tr.SetDefault("mqtt.tls.listen", "")
			if tr.ReadYAML(data) != nil {
				return nil
			}
			tr.BindEnv("mqtt.password", "pw", true)
			tr.Set("log.level", "debug")
			return tr
		}
		// the line scan agrees with the parser: a file read whole holds no
		// second document the parser would find
		d := yaml.NewDecoder(bytes.NewReader(data))
		var first, second yaml.Node
		if d.Decode(&first) == nil {
			err := d.Decode(&second)
			more := err == nil && len(second.Content) > 0 && (second.Content[0].Kind != yaml.ScalarNode || second.Content[0].Tag != "!!null")
			switch line := SecondDocument(data); {
			case line == 0 && more:
				t.Fatalf("a second document at line %d the scan did not see", second.Line)
			case line > 0 && errors.Is(err, io.EOF):
				t.Fatalf("the scan saw a second document at line %d in a file of one", line)
			}
		}
		tr := build()
		if tr == nil {
			return
		}
		s := tr.AllSettings()
		if s2 := build().AllSettings(); fmt.Sprint(s) != fmt.Sprint(s2) {
			t.Fatalf("settings differ between reads:\n%v\n%v", s, s2)
		}
		for _, k := range tr.AllKeys() {
			v := tr.Get(k)
			if _, ok := v.(map[string]any); v == nil || ok { // a mapping (mqtt: ~ is the defaults') gets more keys
				continue
			}
			got := any(s)
			for _, p := range strings.Split(k, ".") {
				m, ok := got.(map[string]any)
				if !ok {
					got = nil // a single value above it was kept
					break
				}
				got = m[p]
			}
			if got != nil && fmt.Sprint(got) != fmt.Sprint(v) {
				t.Fatalf("AllSettings[%s] = %v, Get = %v", k, got, v)
			}
		}
	})
}

// A file nested deep (a mapping in a mapping, 300 levels) is read in time
// linear in its depth for each key: Get tried every dotted prefix of the
// key at every level (a key of n parts cost n³ steps; 2,000 levels of
// {a: took 13 s, 10,000 — yaml.v3's limit, 50 KB — half an hour, and
// gatewayd reads every key). Counted in allocations, not seconds.
func TestDeepNestingIsNotCubic(t *testing.T) {
	const depth = 300
	tr := New()
	if err := tr.ReadYAML([]byte(strings.Repeat("{a: ", depth) + "1" + strings.Repeat("}", depth))); err != nil {
		t.Fatal(err)
	}
	keys := tr.AllKeys()
	if len(keys) != 1 || strings.Count(keys[0], ".") != depth-1 {
		t.Fatalf("keys %q", keys)
	}
	var v any
	allocs := testing.AllocsPerRun(3, func() { v = tr.Get(keys[0]) })
	if v != 1 {
		t.Fatalf("Get = %#v", v)
	}
	if allocs > 4*depth {
		t.Errorf("Get of a key %d levels deep: %.0f allocations, want at most %d", depth, allocs, 4*depth)
	}
	// a dotted key still found beside nested ones
	d := New()
	if err := d.ReadYAML([]byte("x: {a.b.c: 1, a: {b: {d: 2}}}\n")); err != nil {
		t.Fatal(err)
	}
	if d.Get("x.a.b.c") != 1 || d.Get("x.a.b.d") != 2 {
		t.Errorf("dotted keys: %#v %#v", d.Get("x.a.b.c"), d.Get("x.a.b.d"))
	}
}

// A file of two YAML documents (a second config pasted after ---) was read
// up to the ---, the rest ignored without a word: the operator's changes
// below it did nothing. It is refused, naming the line; a leading --- and
// a trailing empty document are one document.
func TestSecondDocumentRefused(t *testing.T) {
	tr := New()
	err := tr.ReadYAML([]byte("mqtt:\n  broker: tcp://a:1883\n---\nmqtt:\n  broker: tcp://b:1883\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("two documents: %v", err)
	}
	for _, one := range []string{"---\nmqtt:\n  broker: tcp://a:1883\n", "mqtt:\n  broker: tcp://a:1883\n---\n", "", "# only a comment\n",
		"%YAML 1.1\n---\nmqtt: {}\n", "a: 1\n...\n", "a: 1\n--- # end\n# nothing\n", "a: |\n  ---\n  text\n", "a: \"--- x\"\n"} {
		if err := New().ReadYAML([]byte(one)); err != nil {
			t.Errorf("%q: %v", one, err)
		}
	}
	for in, line := range map[string]int{"a: 1\n--- \nb: 2\n": 2, "a: 1\n...\n---\nb: 2\n": 3, "---\r---\r0": 2, "a: 1\n...\nb: 2\n": 3, "a: 1\r\n---\r\nb: 2\r\n": 2, "a: 1\n--- b: 2\n": 2} {
		if got := SecondDocument([]byte(in)); got != line {
			t.Errorf("%q: second document at line %d, want %d", in, got, line)
		}
	}
}
