package alarmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/configerr"
)

func noEnv(string) (string, bool) { return "", false }

func TestConfigDefaults(t *testing.T) {
	c, err := Parse(nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !c.MQTT.Broker.IsZero() || c.MQTT.Listen != "127.0.0.1:1883" || c.MQTT.ClientID != "alarmd" || c.MQTT.ReadPace != 5*time.Millisecond {
		t.Errorf("mqtt defaults: %+v", c.MQTT)
	}
	if c.Notify.AckTimeout != 3*time.Minute || c.Notify.Rounds != 2 || !c.Notify.ElderFirst || c.Notify.Provider != "log" {
		t.Errorf("notify defaults: %+v", c.Notify)
	}
	if c.Influx.BatchSize != 5000 || c.Influx.FlushInterval != time.Second || c.Influx.Queue != 100000 ||
		c.Influx.QueryURL != "" || c.Influx.QueryTimeout != 2*time.Second {
		t.Errorf("influx defaults: %+v", c.Influx)
	}
	if c.Ingest.StateFlush != 10*time.Second || c.Ingest.StuckAfter != time.Minute {
		t.Errorf("ingest defaults: state_flush %v, stuck_after %v", c.Ingest.StateFlush, c.Ingest.StuckAfter)
	}
	if c, err := Parse([]byte("ingest: {state_flush: 15m}"), noEnv); err != nil || c.Ingest.StateFlush != 15*time.Minute {
		t.Errorf("ingest.state_flush 15m: %v", err)
	}
	if c, err := Parse([]byte("mqtt: {read_pace: 0s}"), noEnv); err != nil {
		t.Errorf("read_pace 0s (not paced): %v", err)
	} else if c.MQTT.ReadPace != 0 {
		t.Errorf("read_pace 0s: %v", c.MQTT.ReadPace)
	}
	c, err = Parse([]byte("care: {surges: [{from: 2026-12-20, to: 2027-01-05, reason: festival}]}"), noEnv)
	if err != nil || len(c.Care.Surges) != 1 || c.Care.Surges[0].From != "2026-12-20" || c.Care.Surges[0].To != "2027-01-05" {
		t.Fatalf("surges: %+v %v", c, err)
	}
	if c.Care.Cadence["high"].PhoneDays != 3 || c.Care.Cadence["general"].HomeDays != 30 {
		t.Errorf("care defaults: %+v", c.Care)
	}
}

func TestConfigRejectsWithKeyName(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"mqtt: {brokr: x}", "mqtt.brokr: unknown key"},
		{"tpyo: 1", "tpyo: unknown key"},
		{"notify: {twilio: {auth_tokn: x}}", "notify.twilio.auth_tokn: unknown key"},
		{"notify: {provider: pigeon}", "notify.provider"},
		{"notify: {ack_timeout: soon}", "ack_timeout"},
		{"notify: {rounds: 0}", "notify.rounds"},
		{"notify: {locale: fr}", "notify.locale"},
		{"notify: {time_zone: Mars/Olympus}", "notify.time_zone"},
		{"influx: {url: 'ftp://x'}", "influx.url"},
		{"influx: {queue: -1}", "influx.queue"},
		{"influx: {query_url: 'ftp://x'}", "influx.query_url"},
		{"influx: {query_timeout: 0s}", "influx.query_timeout"},
		{"http: {listen: nope}", "http.listen"},
		{"log: {level: loud}", "log.level"},
		{"api: {tokens: [{name: d, tokn: x}]}", "tokn"},
		{"api: {tokens: [{name: d, token: 0123456789abcdef0, area: '/善广村'}]}", "api.tokens[0].area"},
		{"care: {surges: [{from: 2026-12-20, to: 2026-12-01, reason: x}]}", "care.surges[0]"},
		{"notify: {provider: twilio}", "notify.twilio.account_sid"},
		{"mqtt: [1, 2]", "mqtt"},
		{"mqtt: {listen: {a: b}}", "mqtt.listen"},
		{"mqtt: {read_pace: -1ms}", "mqtt.read_pace"},
		{"mqtt: {read_pace: 1s}", "mqtt.read_pace"},
		{"ingest: {state_flush: 500ms}", "ingest.state_flush"},
		{"ingest: {state_flush: 1h}", "ingest.state_flush"},
		{"ingest: {stuck_after: 5s}", "ingest.stuck_after"},
		{"ingest: {stuck_after: 2h}", "ingest.stuck_after"},
		{"notify: {installers: [{name: 周师傅, phone: '13600000009'}]}", "notify.installers[0]"},
		{"notify: {installers: [{name: 周师傅, phon: '+8613600000009'}]}", "phon"},
		{"notify: {channels: {sms: [aliyun, pigeon], voice: [log]}}", `"pigeon"`},
		{"notify: {channels: {sms: [log]}}", "notify.channels"},
		{"notify: {channels: {sms: [log, log], voice: [log]}}", "twice"},
		{"notify: {channels: {sms: [aliyun], voice: [log]}}", "notify.aliyun"},
		{"notify: {delivery_timeout: -1s}", "notify.delivery_timeout"},
		{"notify: {provider: modem}", "notify.modem.port"},
		{"notify: {aliyun: {acces_key_id: x}}", "notify.aliyun.acces_key_id: unknown key"},
	} {
		_, err := Parse([]byte(tc.yaml), noEnv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %s", tc.yaml, err, tc.want)
		}
	}
}

func TestConfigEnvOverridesAndSecretFiles(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "influx-token")
	if err := os.WriteFile(tokenFile, []byte("influx-s3cr3t-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"ANXIN_NOTIFY_TWILIO_AUTH_TOKEN": "twilio-s3cr3t-value",
		"ANXIN_NOTIFY_PROVIDER":          "twilio",
		"ANXIN_NOTIFY_ACK_TIMEOUT":       "90s",
		"ANXIN_INFLUX_BATCH_SIZE":        "250",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	yaml := fmt.Sprintf(`
influx: {url: "http://127.0.0.1:8428", token_file: %q}
notify: {twilio: {account_sid: AC0123456789abcdef0123456789abcdef, from: "+15005550006"}}
`, tokenFile)
	c, err := Parse([]byte(yaml), lookup)
	if err != nil {
		t.Fatal(err)
	}
	if c.Notify.Twilio.AuthToken.Reveal() != "twilio-s3cr3t-value" || c.Notify.Provider != "twilio" ||
		c.Notify.AckTimeout != 90*time.Second || c.Influx.BatchSize != 250 {
		t.Errorf("env not applied: %+v", c.Notify)
	}
	if c.Influx.Token.Reveal() != "influx-s3cr3t-value" {
		t.Errorf("token_file not read: %q", c.Influx.Token.Reveal())
	}
	// both forms set is an error naming the key
	env["ANXIN_INFLUX_TOKEN"] = "other"
	if _, err := Parse([]byte(yaml), lookup); err == nil || !strings.Contains(err.Error(), "influx.token") {
		t.Errorf("token and token_file both set: %v", err)
	}
}

// TestSecretsNeverPrinted checks that no secret reaches fmt, JSON, slog or an error.
func TestSecretsNeverPrinted(t *testing.T) {
	secrets := []string{"mqttpw-AAAA", "influxtok-BBBB", "acksecret-CCCC-0123456789", "authtok-DDDD", "apitoken-EEEE-0123456789"}
	yaml := fmt.Sprintf(`
mqtt: {password: %s}
influx: {url: "http://127.0.0.1:1", token: %s}
notify: {ack_secret: %s, provider: twilio, twilio: {auth_token: %s, account_sid: AC0123456789abcdef0123456789abcdef, from: "+15005550006"}}
api: {tokens: [{name: district, token: %s}]}
`, secrets[0], secrets[1], secrets[2], secrets[3], secrets[4])
	c, err := Parse([]byte(yaml), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v %+v %#v\n", c, c, c)
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	buf.Write(j)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("config", "cfg", c, "notify", c.Notify, "token", c.Influx.Token)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("config", "cfg", c)
	// errors for bad values must not echo the secret either
	for _, bad := range []string{
		fmt.Sprintf("mqtt: {password: [%s]}", secrets[0]),
		fmt.Sprintf("notify: {twilio: {auth_token: {x: %s}}}", secrets[3]),
		fmt.Sprintf("api: {tokens: [{name: d, token: [%s]}]}", secrets[4]),
		fmt.Sprintf("notify: {ack_secret: %s, ack_secret_file: /nonexistent}", secrets[2]),
	} {
		_, err := Parse([]byte(bad), noEnv)
		if err == nil {
			t.Errorf("%s: accepted", bad)
			continue
		}
		buf.WriteString(err.Error())
	}
	out := buf.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("secret %s leaked:\n%s", s, out)
		}
	}
	if !strings.Contains(out, "<secret>") {
		t.Errorf("secrets should print as <secret>:\n%s", out)
	}
}

func FuzzConfig(f *testing.F) {
	f.Add([]byte("mqtt: {broker: tcp://127.0.0.1:1883}\nnotify: {provider: log}"))
	f.Add([]byte("api: {tokens: [{name: d, token: abcdefghijklmnopq}]}"))
	f.Add([]byte("care: {surges: [{from: 2026-12-20, to: 2027-01-05, reason: festival}]}"))
	f.Add([]byte("a: &a [*a, *a]"))
	f.Add([]byte("mqtt: {listen: \"0.0.0.0:1883\", gateway_password_file: /etc/anxin/gw.passwd, tls: {listen: \":8883\", cert_file: c, key_file: k, client_ca_file: ca}}"))
	f.Add([]byte("{{{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, noEnv)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			// Parse turns a decoder panic into an error so a bad reload cannot
			// kill the daemon; the fuzzer still wants to hear about it
			if strings.HasPrefix(err.Error(), "config: cannot be read:") {
				t.Fatalf("decoder panicked: %v", err)
			}
			// every error is typed: the operator's Mandarin line names what
			var ce *configerr.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("untyped error: %v", err)
			}
			if zh := ConfigErrorText(err, AtStart); !strings.HasPrefix(zh, "配置有误，alarmd 未启动：") {
				t.Fatalf("Mandarin line %q", zh)
			}
			return
		}
		// deterministic: the same bytes give the same config
		c2, err := Parse(data, noEnv)
		if err != nil || fmt.Sprint(c2) != fmt.Sprint(c) {
			t.Fatalf("second parse differs: %v", err)
		}
	})
}

// TestConfigReadingRules pins how the file and the environment combine,
// beyond the keys themselves: key case, YAML's dotted and null forms, an
// environment override beside the file's keys of the same section, a list
// from the environment, and an empty variable.
func TestConfigReadingRules(t *testing.T) {
	envOf := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	// keys are matched whatever their case; values keep theirs, in lists too
	c, err := Parse([]byte("MQTT: {Client_ID: Alarmd-B}\nAPI: {Tokens: [{Name: Dash, TOKEN: abcdefghijklmnopq}]}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.ClientID != "Alarmd-B" || len(c.API.Tokens) != 1 || c.API.Tokens[0].Name != "Dash" {
		t.Errorf("upper-case keys: %+v %+v", c.MQTT, c.API.Tokens)
	}
	// a dotted key is the nested one; a null value is the default
	c, err = Parse([]byte("mqtt.client_id: dotted\nhttp: {listen: ~}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.ClientID != "dotted" || c.HTTP.Listen != "127.0.0.1:8080" {
		t.Errorf("dotted key or null value: %+v %+v", c.MQTT, c.HTTP)
	}
	// an override of one key leaves the file's other keys of its section
	c, err = Parse([]byte("notify: {aliyun: {sign_name: 安心, sms_template: SMS_1}}\n"),
		envOf("ANXIN_NOTIFY_ALIYUN_SMS_TEMPLATE", "SMS_2", "ANXIN_NOTIFY_MODEM_BAUD", "9600"))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.Notify.Aliyun; a.SignName != "安心" || a.SMSTemplate != "SMS_2" || c.Notify.Modem.Baud != 9600 {
		t.Errorf("nested override: %+v %+v", a, c.Notify.Modem)
	}
	// a list from the environment is split at commas
	c, err = Parse(nil, envOf("ANXIN_NOTIFY_CHANNELS_SMS", "log", "ANXIN_NOTIFY_CHANNELS_VOICE", "log"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Notify.Channels.SMS, []string{"log"}) || !slices.Equal(c.Notify.Channels.Voice, []string{"log"}) {
		t.Errorf("list override: %+v", c.Notify.Channels)
	}
	_, err = Parse(nil, envOf("ANXIN_NOTIFY_CHANNELS_SMS", "log,log", "ANXIN_NOTIFY_CHANNELS_VOICE", "log"))
	if ce := (*configerr.ConfigError)(nil); !errors.As(err, &ce) || ce.Key != "notify.channels.sms" || ce.Kind != configerr.ValueDuplicate {
		t.Errorf("log,log: %v", err)
	}
	// an empty variable is a value (alarmd's rule; gatewayd ignores it)
	_, err = Parse(nil, envOf("ANXIN_MQTT_CLIENT_ID", ""))
	if ce := (*configerr.ConfigError)(nil); !errors.As(err, &ce) || ce.Key != "mqtt.client_id" {
		t.Errorf("empty ANXIN_MQTT_CLIENT_ID: %v", err)
	}
	// an override of a key the file sets wins over the file
	c, err = Parse([]byte("influx: {batch_size: 10}\n"), envOf("ANXIN_INFLUX_BATCH_SIZE", "20"))
	if err != nil || c.Influx.BatchSize != 20 {
		t.Errorf("override of a file key: %v %+v", err, c)
	}
	// a section whose keys are all commented out (or written notify: ~)
	// is the defaults', as if it were not there: refused until 2026-12-08
	// ("notify: must be a mapping of keys", viper's rule), though an
	// operator who comments a section out means exactly that
	for _, y := range []string{"notify:\n  # provider: twilio\n", "notify: ~\n", "mqtt:\nnotify:\n"} {
		c, err := Parse([]byte(y), noEnv)
		if err != nil || c.Notify.Provider != "log" || c.MQTT.Listen == "" {
			t.Errorf("%q: %v %+v", y, err, c)
		}
	}
	// a section given a single value is refused, naming it
	_, err = Parse([]byte("notify: 5\n"), noEnv)
	if ce := (*configerr.ConfigError)(nil); !errors.As(err, &ce) || ce.Key != "notify" || !strings.Contains(ce.Detail, "mapping") {
		t.Errorf("notify: 5: %v", err)
	}
}

// TestListKeyWrittenAsMappingIsNamed: api.tokens (care.surges,
// notify.installers) written as one mapping instead of a list of them was
// "api: unknown key; did you mean api?" — the section the operator did
// write, suggested as itself. It names the list key and says a list goes
// there.
func TestListKeyWrittenAsMappingIsNamed(t *testing.T) {
	for _, tc := range []struct{ yaml, key string }{
		{"api: {tokens: {name: d, token: abcdefghijklmnopq}}\n", "api.tokens"},
		{"care: {surges: {from: 2026-12-20, to: 2027-01-05, reason: festival}}\n", "care.surges"},
		{"notify: {installers: {name: 张三, phone: '+8613800000000'}}\n", "notify.installers"},
	} {
		_, err := Parse([]byte(tc.yaml), noEnv)
		var ce *configerr.ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key || ce.Want != "list" {
			t.Errorf("%s: %v (%#v), want %s named as a list", strings.TrimSpace(tc.yaml), err, ce, tc.key)
			continue
		}
		if zh := ConfigErrorText(err, AtStart); !strings.Contains(zh, "列表") || strings.Contains(zh, "张三") || strings.Contains(err.Error(), "abcdefghijklmnopq") {
			t.Errorf("%s: %q", tc.key, zh)
		}
	}
}
