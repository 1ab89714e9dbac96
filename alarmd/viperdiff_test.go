package alarmd

// A differential test against the viper-based Parse this package had: it
// lives only in the commit that brings internal/configtree in, and goes with
// viper.

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/anxin-care/anxin/internal/configerr"
)

func FuzzViperDiff(f *testing.F) {
	for _, p := range []string{"../configs/alarmd.example.yaml", "../e2e/testdata/alarmd.yaml"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, uint8(0))
		}
	}
	for _, s := range []string{
		"mqtt: {broker: tcp://127.0.0.1:1883}\nnotify: {provider: log}",
		"api: {tokens: [{name: d, token: abcdefghijklmnopq}]}",
		"care: {surges: [{from: 2026-12-20, to: 2027-01-05, reason: festival}]}",
		"a: &a [*a, *a]", "{{{", "notify:\n", "notify: 5\n", "mqtt: {Password: 12345}\n",
		"MQTT: {Client_ID: Alarmd-B}\nAPI: {Tokens: [{Name: Dash, TOKEN: abcdefghijklmnopq}]}\n",
		"mqtt.client_id: dotted\nhttp: {listen: ~}\n", "influx: {batch_size: x, queue: 1.5}\n",
		"notify: {channels: {sms: log, voice: [log, twilio]}}\n", "http: {listen: {a: b}}\n", "1: 2\n",
		"notify: {installers: [{name: a, phone: '+8613800138000', x: 1}]}\n", "care: {cadence: {key: {phone_days: '5'}}}\n",
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(0xff))
		f.Add([]byte(s), uint8(0x35))
	}
	envKeys := []string{"ANXIN_NOTIFY_TWILIO_AUTH_TOKEN", "ANXIN_INFLUX_BATCH_SIZE", "ANXIN_NOTIFY_CHANNELS_SMS",
		"ANXIN_MQTT_CLIENT_ID", "ANXIN_NOTIFY_CHANNELS_VOICE", "ANXIN_MQTT_PASSWORD", "ANXIN_CARE_CADENCE_KEY_PHONE_DAYS"}
	envVals := []string{"tok-123456789012345", "12", "log", "", "log,log", "pw-1", "x"}
	f.Fuzz(func(t *testing.T, data []byte, mask uint8) {
		env := func(k string) (string, bool) {
			for i, e := range envKeys {
				if e == k && mask&(1<<i) != 0 {
					return envVals[i], true
				}
			}
			return "", false
		}
		c1, err1 := parseViper(data, env)
		c2, err2 := Parse(data, env)
		if fmt.Sprint(err1) != fmt.Sprint(err2) {
			if err1 != nil && strings.HasPrefix(err1.Error(), "config: cannot be read:") {
				t.Skip("viper panicked")
			}
			t.Fatalf("errors differ:\nviper %v\ntree  %v", err1, err2)
		}
		var ce1, ce2 *configerr.ConfigError
		if errors.As(err1, &ce1) != errors.As(err2, &ce2) || ce1 != nil && !reflect.DeepEqual(*ce1, *ce2) {
			if ce1 != nil && ce2 != nil {
				ce1.Err, ce2.Err = nil, nil
				if reflect.DeepEqual(*ce1, *ce2) {
					return
				}
			}
			t.Fatalf("typed errors differ:\nviper %#v\ntree  %#v", ce1, ce2)
		}
		if !reflect.DeepEqual(c1, c2) {
			t.Fatalf("configs differ:\nviper %+v\ntree  %+v", c1, c2)
		}
	})
}

// parseViper is Parse as it was with viper.
func parseViper(data []byte, env func(string) (string, bool)) (cfg *Config, err error) {
	defer func() {
		if r := recover(); r != nil {
			cfg, err = nil, fmt.Errorf("config: cannot be read: %v", r)
		}
	}()
	v := viper.NewWithOptions(viper.KeyDelimiter("."))
	v.SetConfigType("yaml")
	def := defaults()
	for k, val := range def {
		v.SetDefault(k, val)
	}
	if len(data) > 0 {
		if err := v.ReadConfig(strings.NewReader(string(data))); err != nil {
			msg := strings.TrimPrefix(strings.TrimPrefix(firstLine(err.Error()), "While parsing config: "), "yaml: ")
			var ce *configerr.ConfigError
			errors.As(configerr.YAMLSyntax(data, errors.New(msg)), &ce)
			ce.Detail = "not valid YAML: " + msg
			return nil, typed(ce)
		}
	}
	for k := range def {
		if val, ok := env("ANXIN_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(k))); ok {
			v.Set(k, val)
		}
	}
	secrets := collectSecretsOf(v)
	var unknown []string
	for _, k := range v.AllKeys() {
		if _, ok := def[k]; ok || knownList(k) {
			continue
		}
		unknown = append(unknown, k)
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return nil, unknownKey(unknown, def)
	}
	c := new(Config)
	err = v.UnmarshalExact(c, func(dc *mapstructure.DecoderConfig) {
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			durationHook, mapstructure.StringToSliceHookFunc(","), dateToString, brokerURL)
		dc.ErrorUnused = true
	})
	if err != nil {
		ce := configerr.FromDecode(err, "")
		if secretKey(ce.Key) || personalKey(ce.Key) {
			ce.Value = ""
		}
		return nil, redact(typed(ce), secrets)
	}
	if err := c.validate(); err != nil {
		return nil, redact(err, secrets)
	}
	return c, nil
}

func collectSecretsOf(v *viper.Viper) []string {
	var out []string
	var walk func(x any)
	walk = func(x any) {
		switch t := x.(type) {
		case string:
			if t != "" {
				out = append(out, t)
			}
		case []any:
			for _, e := range t {
				walk(e)
			}
		case map[string]any:
			for k, e := range t {
				if strings.Contains(k, "token") || strings.Contains(k, "secret") || strings.Contains(k, "password") {
					walk(e)
				}
			}
		default:
			if x != nil {
				out = append(out, fmt.Sprint(x))
			}
		}
	}
	for _, k := range secretKeys() {
		x := v.Get(k)
		if m, ok := x.([]any); ok {
			for _, e := range m {
				if mm, ok := e.(map[string]any); ok {
					walk(mm)
				}
			}
			continue
		}
		walk(x)
	}
	return out
}
