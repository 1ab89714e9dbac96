package configtree

// A differential test against spf13/viper, which this package replaces: it
// lives only in the commit that brings the tree in, and goes with viper.

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/viper"
)

var diffDefaults = map[string]any{
	"mqtt.listen": "127.0.0.1:1883", "mqtt.tls.listen": "", "mqtt.password": "", "notify.channels.sms": []string{},
	"notify.twilio.auth_token": "", "influx.batch_size": 5000, "log.level": "info", "rules_file": "",
}

var diffKeys = []string{"mqtt.password", "notify.twilio.auth_token", "influx.batch_size", "notify.channels.sms"}

var diffBound = []string{"mqtt.fallback", "mqtt.password", "household", "spool.max_bytes"}

func FuzzViperDiff(f *testing.F) {
	for _, s := range []string{
		"mqtt: {listen: a, tls: {listen: b}}\nMQTT: {x: 1}\n", "mqtt.listen: x\nmqtt: {listen: y}\n",
		"mqtt: 5\n", "mqtt:\n", "mqtt: {listen: ~}\n", "notify: {channels: {sms: [a, b]}}\n", "1: a\n",
		"api: {tokens: [{Name: a, Token: b}, {1: x}]}\n", "mqtt: {fallback: {a: 1}}\n", "mqtt: {fallback.0: x}\n",
		"a: &a [*a, *a]\n", "Household: x\nhousehold: y\n", "mqtt: {Password: p}\n", "mqtt: {}\n", "{{{",
		"~: 1\ntrue: 2\n1.5: 3\n", "mqtt: {tls.listen: x}\n", "mqtt.tls: 5\nmqtt: {tls: {listen: x}}\n",
	} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(0xff))
		f.Add([]byte(s), uint8(0x5a))
	}
	f.Fuzz(func(t *testing.T, data []byte, mask uint8) {
		v := viper.NewWithOptions(viper.KeyDelimiter("."))
		v.SetConfigType("yaml")
		tr := New()
		for k, d := range diffDefaults {
			v.SetDefault(k, d)
			tr.SetDefault(k, d)
		}
		verr := readViper(v, data)
		terr := tr.ReadYAML(data)
		if (verr == nil) != (terr == nil) {
			t.Fatalf("viper %v, tree %v", verr, terr)
		}
		if verr != nil {
			if !strings.HasSuffix(verr.Error(), terr.Error()) && !strings.Contains(verr.Error(), "panic") {
				t.Fatalf("viper %v, tree %v", verr, terr)
			}
			return
		}
		for i, k := range diffKeys {
			if mask&(1<<i) != 0 {
				v.Set(k, "over-"+k)
				tr.Set(k, "over-"+k)
			}
		}
		v.SetEnvPrefix("ANXINDIFF")
		v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
		for i, k := range diffBound {
			name := EnvName("ANXINDIFF", k)
			val := ""
			if mask&(1<<(i+4)) != 0 {
				val = "env-" + k
			}
			t.Setenv(name, val)
			if err := v.BindEnv(k); err != nil {
				t.Fatal(err)
			}
			tr.BindEnv(k, val, val != "")
		}
		vk, tk := v.AllKeys(), tr.AllKeys()
		slices.Sort(vk)
		// a key and one below it: viper's answer depends on map order
		for _, keys := range [][]string{vk, tk} {
			for i := 1; i < len(keys); i++ {
				for _, a := range keys[:i] {
					if strings.HasPrefix(keys[i], a+".") {
						t.Skip("nested keys conflict")
					}
				}
			}
		}
		if !slices.Equal(vk, tk) {
			t.Fatalf("keys:\nviper %q\ntree  %q", vk, tk)
		}
		for _, k := range tk {
			if vg, tg := v.Get(k), tr.Get(k); !reflect.DeepEqual(vg, tg) {
				t.Fatalf("Get(%s): viper %#v, tree %#v", k, vg, tg)
			}
		}
		if vs, ts := v.AllSettings(), tr.AllSettings(); !reflect.DeepEqual(vs, ts) {
			t.Fatalf("settings:\nviper %#v\ntree  %#v", vs, ts)
		}
	})
}

func readViper(v *viper.Viper, data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{r}
		}
	}()
	return v.ReadConfig(bytes.NewReader(data))
}

type panicError struct{ r any }

func (p *panicError) Error() string { return "panic" }
