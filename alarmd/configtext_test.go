package alarmd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What no Mandarin or English line may show: secrets, phone numbers,
// names and ID numbers written in the files below.
var neverShown = []string{
	"hunter2-s3cret", "tw-auth-0123456789abcdef", "ack-0123456789abcdef-s3cret", "pg-pass-s3cret",
	"+8613800000000", "13800000000", "13600000009", "+8613900000001", "张桂兰", "李建国", "110101194001011234", "LiJianguo",
}

// elder is a household entry with personal data in it; tests append the
// mistake.
const elder = `households:
  - id: hh-0001
    elder: {name: 张桂兰, phone: "+8613800000000", address: 善广乡 110101194001011234 号, tier: high}
    contacts:
      - {name: 李建国, relation: child, phone: "+8613900000001"}
    devices:
      - {id: btn1, kind: call_button}
`

// TestConfigErrorsInMandarin: a district operator reads the first line.
// Each bad file gives a Mandarin line naming the key, then the English one;
// neither shows a secret or a phone number.
func TestConfigErrorsInMandarin(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope", "gone.yaml")
	for _, c := range []struct {
		name, file, body string
		key              string // the Mandarin line names it: "<key> 项："; "" for the whole file
		zh, en           string // the Mandarin and the English lines contain these
	}{
		// alarmd.yaml
		{"typo", "config", "mqtt: {borker: tcp://127.0.0.1:1883}", "mqtt.borker", "没有这一项，是不是想写 broker？", "mqtt.borker"},
		{"rules inline", "config", "rules:\n  - name: button\n", "rules", "是不是想写 rules_file？", `rules`},
		{"households inline", "config", elder, "households", "是不是想写 households_file？", "households"},
		{"unknown section", "config", "mqtt:\n  broker: tcp://127.0.0.1:1883\nsms: {provider: twilio}\n", "sms", "没有这一项", "sms"},
		{"misplaced key", "config", "notify: {auth_token: tw-auth-0123456789abcdef}", "notify.auth_token", "它应写在 notify.twilio 下面", "notify.auth_token"},
		{"secret key typo", "config", "notify: {twilio: {auth_tokn: tw-auth-0123456789abcdef}}", "notify.twilio.auth_tokn", "是不是想写 auth_token？", "auth_tokn"},
		{"provider", "config", "notify: {provider: pigeon}", "notify.provider", "“pigeon” 不是可用的值（只能写：log、twilio、aliyun、modem）", "pigeon"},
		{"ack timeout", "config", "notify: {ack_timeout: soon}", "notify.ack_timeout", "“soon” 不是时长", "ack_timeout"},
		{"rounds", "config", "notify: {rounds: 0}", "notify.rounds", "“0” 超出允许的范围（允许：1..10）", "notify.rounds"},
		{"listen", "config", "http: {listen: nope}", "http.listen", "“nope” 写法不对，这里应写监听地址", "http.listen"},
		{"public url with a password", "config", "http: {public_url: 'ftp://admin:hunter2-s3cret@alarm.example.org'}", "http.public_url", "“ftp://admin:xxxxx@alarm.example.org” 写法不对，这里应写网址", "http.public_url"},
		{"query url with a password", "config", "influx: {url: 'http://127.0.0.1:8428', query_url: 'http://vm:pg-pass-s3cret@vm:8428x'}", "influx.query_url", "地址里的端口不是数字", "influx.query_url"},
		{"query url with a password and no port", "config", "influx: {url: 'http://127.0.0.1:8428', query_url: 'http://vm:pg-pass-s3cret@'}", "influx.query_url", "写法不对，这里应写网址", "influx.query_url"},
		{"log level", "config", "log: {level: loud}", "log.level", "“loud” 不是可用的值（只能写：debug、info、warn、error）", "log.level"},
		{"influx url", "config", "influx: {url: 'ftp://x'}", "influx.url", "“ftp://x” 写法不对，这里应写网址", "influx.url"},
		{"client id", "config", "mqtt: {client_id: 'alarm d'}", "mqtt.client_id", "不能用作名字或编号", "mqtt.client_id"},
		{"tab", "config", "mqtt:\n\tbroker: tcp://127.0.0.1:1883\n", "", "Tab 键", "YAML"},
		{"indent", "config", "mqtt:\n  broker: tcp://127.0.0.1:1883\n listen: 127.0.0.1:1883\n", "", "第 ", "YAML"},
		{"password twice", "config", "mqtt: {broker: 'tcp://127.0.0.1:1883', password: hunter2-s3cret, password_file: /etc/anxin/mqtt.pw}", "mqtt.password_file", "不能这样同时写", "password_file"},
		{"password file", "config", "mqtt: {broker: 'tcp://127.0.0.1:1883', password_file: " + missing + "}", "mqtt.password_file", "文件不存在", "password_file"},
		{"store url", "config", "store: {url: 'mysql://root:pg-pass-s3cret@db/anxin'}", "store.url", "这里应写 PostgreSQL 的地址，写成 postgres://", "store.url"},
		{"store url sslmode", "config", "store: {url: 'postgres://root:pg-pass-s3cret@db/anxin?sslmode=sometimes'}", "store.url", "这里应写 PostgreSQL 的地址", "sslmode"},
		{"ack secret", "config", "notify: {ack_secret: short}", "notify.ack_secret", "至少要 16 个字符", "notify.ack_secret"},
		{"ack secret file empty", "config", "notify: {ack_secret_file: EMPTY}", "notify.ack_secret_file", "是空的", "is empty"},
		{"cluster instance", "config", "cluster: {instance: 'alarmd a'}", "cluster.instance", "不能有空格", "cluster.instance"},
		{"api token short", "config", "api: {tokens: [{name: district, token: short}]}", "api.tokens[0].token", "至少要 16 个字符", "api.tokens[0].token"},
		{"api token twice", "config", "api: {tokens: [{name: a, token: ack-0123456789abcdef-s3cret}, {name: b, token: ack-0123456789abcdef-s3cret}]}", "api.tokens[1].token", "与另一个令牌相同", "api.tokens[1].token"},
		{"api token area", "config", "api: {tokens: [{name: a, token: ack-0123456789abcdef-s3cret, area: '/*'}]}", "api.tokens[0].area", "辖区要写成", "api.tokens[0].area"},
		{"api token area too long", "config", "api: {tokens: [{name: a, token: ack-0123456789abcdef-s3cret, area: '" + strings.Repeat("村", 70) + "'}]}", "api.tokens[0].area", "最多 200 个字节", "api.tokens[0].area"},
		{"surge dates", "config", "care: {surges: [{reason: 春节, from: 2027-02-10, to: 2027-02-01}]}", "care.surges[0]", "from 和 to 要写成", "care.surges[0]"},
		{"surge key", "config", "care: {surges: [{name: 春节, from: 2027-02-01, to: 2027-02-10}]}", "care.surges[0].name", "没有这一项", "care.surges[0]"},
		{"locale", "config", "notify: {locale: tlh}", "notify.locale", "", "notify.locale"},
		{"twilio sid form", "config", "notify: {provider: twilio, twilio: {account_sid: AC12, auth_token: tw-auth-0123456789abcdef, from: '+15005550006'}}", "notify.twilio.account_sid", "AC 后面接 32 位", "account_sid"},
		{"nats scheme", "config", "nats: {urls: ['http://127.0.0.1:4222']}", "nats.urls", "nats://", "nats.urls"},
		{"nats credentials", "config", "nats: {urls: ['nats://u:hunter2-s3cret@127.0.0.1:4222']}", "nats.urls", "nats.password", "nats.urls"},
		{"secret type", "config", "notify: {ack_secret: [ack-0123456789abcdef-s3cret]}", "notify.ack_secret", "写法不对", "notify.ack_secret"},
		{"secret read as an alias", "config", "notify:\n  provider: twilio\n  twilio: {auth_token: *tw-auth-0123456789abcdef}\n", "", "第 3 行：有一个值以 * 或 & 开头", "YAML"},
		{"section", "config", "mqtt: [1, 2]", "mqtt", "下一级的若干项", "mqtt"},
		{"state flush", "config", "ingest: {state_flush: 500ms}", "ingest.state_flush", "“500ms” 超出允许的范围（允许：1s..30m）", "ingest.state_flush"},
		{"installer phone", "config", "notify: {installers: [{name: 周师傅, phone: '13600000009'}]}", "notify.installers[0].phone", "+86", "notify.installers[0]"},
		{"installer phone list", "config", "notify: {installers: [{name: 李建国, phone: ['13600000009']}]}", "notify.installers[0].phone", "写法不对", "notify.installers[0].phone"},
		{"installer name list", "config", "notify: {installers: [{name: [李建国], phone: '+8613600000009'}]}", "notify.installers[0].name", "写法不对", "notify.installers[0].name"},
		{"channel twice", "config", "notify: {channels: {sms: [log, log], voice: [log]}}", "notify.channels.sms", "写了两次", "twice"},
		{"poll lease", "config", "cluster: {poll: 20s, lease: 15s}", "cluster.poll", "cluster.lease", "cluster.poll"},
		{"debug listen", "config", "http: {debug_listen: '0.0.0.0:6060'}", "http.debug_listen", "127.0.0.1", "http.debug_listen"},
		{"open broker", "config", "mqtt: {listen: '0.0.0.0:1883'}", "mqtt.listen", "还必须写 mqtt.gateway_password_file", "mqtt.listen"},
		{"care zone", "config", "care: {timezone: Mars/Olympus}", "care.timezone", "“Mars/Olympus” 写法不对，这里应写时区", "care.timezone"},
		{"twilio sid", "config", "notify: {provider: twilio, twilio: {auth_token: tw-auth-0123456789abcdef, from: '+15005550006'}}", "notify.twilio.account_sid", "没有填写", "account_sid"},
		{"dispatch after", "config", "web: {dispatch_after: 10s}", "web.dispatch_after", "超出允许的范围", "web.dispatch_after"},
		{"batch size", "config", "influx: {batch_size: lots}", "influx.batch_size", "这里应写数字", "influx.batch_size"},
		{"nats partitions", "config", "nats: {urls: ['nats://127.0.0.1:4222'], partitions: 0}", "nats.partitions", "超出允许的范围", "nats.partitions"},
		{"two mistakes", "config", "notify: {rounds: 0}\nlog: {level: loud}\n", "log.level", "（另外还有 1 处错误，见下面的英文说明）", "notify.rounds"},
		// households.yaml
		{"households key", "households", elder + "    pets: 2\n", "households[0].pets", "没有这一项", "pets"},
		{"elder key", "households", strings.Replace(elder, "tier: high}", "tier: high, adress: x}", 1), "households[0].elder.adress", "是不是想写 address？", "adress"},
		{"contact phone", "households", strings.Replace(elder, `phone: "+8613900000001"`, `phone: "13800000000"`, 1), "households[0].contacts[0].phone", "+86", "households[0]"},
		{"tier", "households", strings.Replace(elder, "tier: high", "tier: urgent", 1), "households[0].elder.tier", "只能写：irregular、general、key、high", "tier"},
		{"household id", "households", strings.Replace(elder, "id: hh-0001", "id: 一号", 1), "households[0].id", "不能用作名字或编号", "households[0]"},
		{"twice", "households", elder + strings.TrimPrefix(elder, "households:\n"), "households[1].id", "“hh-0001” 写了两次", "listed twice"},
		{"device kind", "households", strings.Replace(elder, "kind: call_button", "kind: lamp", 1), "households[0].devices[0].kind", "“lamp” 不是可用的值", "households[0]"},
		{"households yaml", "households", strings.Replace(elder, "    contacts:", "   contacts:", 1), "", "第 ", "households"},
		{"households name in a list", "households", strings.Replace(elder, "    devices:\n      - {id: btn1, kind: call_button}\n", "    devices: 张桂兰\n", 1), "households[0].devices", "这里应写列表", "households"},
		{"households type", "households", strings.Replace(elder, "tier: high}", "tier: [high]}", 1), "households[0].elder.tier", "写法不对", "households"},
		{"name read as an alias", "households", strings.Replace(elder, "      - {name: 李建国, relation: child, phone: \"+8613900000001\"}\n",
			"      - name: *LiJianguo\n        relation: child\n        phone: \"+8613900000001\"\n", 1), "", "第 5 行：有一个值以 * 或 & 开头", "households"},
		{"name read as an alias in braces", "households", strings.Replace(elder, "name: 李建国", "name: *李建国", 1), "", "第 5 行：有一个值以 * 或 & 开头", "households"},
		// rules.yaml
		{"rules key", "rules", "timezone: Asia/Shanghai\nrule:\n  - name: button\n", "rule", "是不是想写 rules？", "rule"},
		{"rule kind", "rules", "rules:\n  - name: button\n    kind: evnt\n", "rules[0].kind", "“evnt” 不是可用的值", "rules[0]"},
		{"rule duration", "rules", "rules:\n  - name: quiet\n    kind: no_use\n    device_kinds: [water_meter]\n    field: total_m3\n    for: soon\n", "rules[0].for", "“soon” 不是时长", "rules[0]"},
		{"rule param", "rules", "rules:\n  - name: button\n    kind: event\n    event: [button_pressed]\n", "rules[0].event", "是不是想写 events？", "rules[0]"},
		{"rules zone", "rules", "timezone: Asia/Beijing\nrules: []\n", "timezone", "“Asia/Beijing” 写法不对，这里应写时区", "timezone"},
		{"rules alias", "rules", "rules:\n  - name: *hunter2-s3cret\n", "", "第 2 行：有一个值以 * 或 & 开头", "rules"},
		// files alarmd.yaml names, and itself
		{"config missing", "missing config", "", "", "读不到配置文件 " + missing + "（文件不存在，请核对路径）", "no such file"},
		{"config is a dir", "dir config", "", "", "这是一个目录", "directory"},
		{"api token file missing", "config", "api: {tokens: [{name: district, token_file: " + missing + "}]}", "api.tokens[0].token_file", "读不到文件 " + missing + "（文件不存在", "no such file"},
		{"households missing", "missing households", "", "households_file", "读不到文件 " + missing + "（文件不存在", "no such file"},
		{"rules missing", "missing rules", "", "rules_file", "读不到文件 " + missing + "（文件不存在", "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := badFile(t, c.file, c.body, missing)
			if err == nil {
				t.Fatal("no error")
			}
			zh, en := ConfigErrorText(err, AtStart), err.Error()
			t.Logf("\n%s\n%s", zh, en)
			if !strings.HasPrefix(zh, "配置有误，alarmd 未启动：") {
				t.Errorf("Mandarin line does not start with the lead: %s", zh)
			}
			if c.key != "" && !strings.Contains(zh, c.key+" 项：") {
				t.Errorf("Mandarin line does not name %s:\n%s\n%s", c.key, zh, en)
			}
			if !strings.Contains(zh, c.zh) {
				t.Errorf("Mandarin line lacks %q:\n%s\n%s", c.zh, zh, en)
			}
			if !strings.Contains(en, c.en) {
				t.Errorf("English line lacks %q: %s", c.en, en)
			}
			if strings.Contains(zh, "原因见下面的英文说明") {
				t.Errorf("Mandarin line falls back to the English one:\n%s\n%s", zh, en)
			}
			for _, s := range neverShown {
				if strings.Contains(zh, s) || strings.Contains(en, s) {
					t.Errorf("%q is shown:\n%s\n%s", s, zh, en)
				}
			}
		})
	}
}

// badFile loads body as the kind of file named, the way alarmd's start
// does, and returns its error.
func badFile(t *testing.T, kind, body, missing string) error {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "file.yaml")
	if strings.Contains(body, "EMPTY") { // a file named in the config, empty
		empty := filepath.Join(dir, "empty")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		body = strings.ReplaceAll(body, "EMPTY", empty)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	switch kind {
	case "config":
		_, err := Load(path)
		return err
	case "missing config":
		_, err := Load(missing)
		return err
	case "dir config":
		_, err := Load(dir)
		return err
	case "households":
		_, _, err := ReadHouseholdsFile(path)
		return err
	case "missing households":
		_, _, err := ReadHouseholdsFile(missing)
		return err
	case "rules":
		_, err := loadRules(&Config{RulesFile: path})
		return err
	case "missing rules":
		_, err := loadRules(&Config{RulesFile: missing})
		return err
	}
	t.Fatalf("no kind %s", kind)
	return errors.New("unreachable")
}

// TestURLPortsInMandarin: a URL whose port no server can listen on (0,
// above 65535, not a number) passed alarmd check, and alarmd then failed at
// start ("连不上数据库…确认 PostgreSQL 在运行"). check refuses it for every
// key that holds a URL or an address with a port, naming the key and the
// port, never the password, and never with the "see the English" fallback.
func TestURLPortsInMandarin(t *testing.T) {
	twilio := "notify: {provider: twilio, ack_secret: ack-0123456789abcdef-s3cret, twilio: {account_sid: AC0123456789abcdef0123456789abcdef, " +
		"auth_token: tw-auth-0123456789abcdef, from: '+15005550006', api_base_url: '%s'}}"
	aliyun := "notify: {provider: aliyun, ack_secret: ack-0123456789abcdef-s3cret, aliyun: {access_key_id: LTAI, access_key_secret: hunter2-s3cret, " +
		"sign_name: 安信, sms_template: SMS_1, report_secret: ack-0123456789abcdef-s3cret, sms_endpoint: '%s'}}"
	for _, c := range []struct {
		name, body, key, port string
	}{
		{"store above 65535", "store: {url: 'postgres://anxin:pg-pass-s3cret@db.example.org:99999/anxin'}", "store.url", "99999"},
		{"store zero", "store: {url: 'postgres://anxin:pg-pass-s3cret@db.example.org:0/anxin'}", "store.url", "0"},
		{"store not a number", "store: {url: 'postgres://anxin:pg-pass-s3cret@db.example.org:pg/anxin'}", "store.url", ""},
		{"store password as the port", "store: {url: 'postgres://anxin:pg-pass-s3cret/anxin'}", "store.url", ""},
		{"store second host", "store: {url: 'postgres://anxin:pg-pass-s3cret@db1:5432,db2:65536/anxin'}", "store.url", "65536"},
		{"broker", "mqtt: {broker: 'tcp://anxin:hunter2-s3cret@127.0.0.1:188300'}", "mqtt.broker", "188300"},
		{"broker zero", "mqtt: {broker: 'tcp://127.0.0.1:0'}", "mqtt.broker", "0"},
		{"broker not a number", "mqtt: {broker: 'tcp://127.0.0.1:mqtt'}", "mqtt.broker", ""},
		{"public url", "http: {public_url: 'https://alarm.example.org:0'}", "http.public_url", "0"},
		{"public url not a number", "http: {public_url: 'https://alarm.example.org:https'}", "http.public_url", ""},
		{"influx url", "influx: {url: 'http://127.0.0.1:84280', org: o, bucket: b}", "influx.url", "84280"},
		{"influx query url", "influx: {query_url: 'http://vm:pg-pass-s3cret@vm:70000'}", "influx.query_url", "70000"},
		{"nats url", "nats: {urls: ['nats://127.0.0.1:422200']}", "nats.urls", "422200"},
		{"twilio api base", fmt.Sprintf(twilio, "http://127.0.0.1:99999"), "notify.twilio.api_base_url", "99999"},
		{"aliyun endpoint", fmt.Sprintf(aliyun, "dysmsapi.aliyuncs.com:0"), "notify.aliyun.sms_endpoint", "0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.body), nil)
			if err == nil {
				t.Fatal("accepted")
			}
			zh, en := ConfigErrorText(err, AtCheck), err.Error()
			t.Logf("\n%s\n%s", zh, en)
			want := c.key + " 项：地址里的端口不是数字" // what follows the colon may be a password typed where the host goes
			if c.port != "" {
				want = c.key + " 项：地址里的端口 “" + c.port + "” 不对"
			}
			if !strings.Contains(zh, want) {
				t.Errorf("Mandarin line lacks %q:\n%s\n%s", want, zh, en)
			}
			if strings.Contains(zh, "原因见下面的英文说明") {
				t.Errorf("Mandarin line falls back to the English one:\n%s", zh)
			}
			if !strings.Contains(en, c.key+": ") {
				t.Errorf("English line does not name %s: %s", c.key, en)
			}
			for _, s := range neverShown {
				if strings.Contains(zh, s) || strings.Contains(en, s) {
					t.Errorf("%q is shown:\n%s\n%s", s, zh, en)
				}
			}
		})
	}
}
