package alarmd

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"

	"github.com/anxin-care/anxin/internal/configerr"
)

// ConfigStage is what a bad configuration stopped: it starts the Mandarin
// line.
type ConfigStage = configerr.Stage

// Where a configuration error was met.
const (
	AtStart  = configerr.AtStart  // alarmd did not start
	AtCheck  = configerr.AtCheck  // alarmd check found it
	AtReload = configerr.AtReload // SIGHUP: the running config is kept
)

var stageLead = configerr.Leads{
	AtStart:  "配置有误，alarmd 未启动：",
	AtCheck:  "配置有误：",
	AtReload: "配置有误，没有重新加载，alarmd 继续按原来的配置运行：",
}

// ConfigErrorText explains an error in alarmd.yaml, the households file or
// the rules file to a district operator in Mandarin, in one line: which
// file and key, what is wrong, what may be written. It goes before the
// English error, which stays the detail developers read.
func ConfigErrorText(err error, stage ConfigStage) string {
	lead := stageLead.For(stage)
	var ce *configerr.ConfigError
	if errors.As(err, &ce) {
		switch {
		case ce.Kind == configerr.FileUnreadable && ce.Key == "":
			// the text names the file
		case ce.Kind == configerr.FileSyntax && ce.File != "" && ce.Line > 0:
			lead += filepath.Base(ce.File) + " " // 第 3 行：
		case ce.File != "" && ce.Line > 0 && ce.Key != "":
			lead += fmt.Sprintf("%s 第 %d 行，", filepath.Base(ce.File), ce.Line)
		case ce.File != "":
			lead += filepath.Base(ce.File) + " 中"
			if ce.Key == "" {
				lead += "："
			} else {
				lead += "的 "
			}
		}
	}
	s := configerr.Text(err, lead, configerr.Hints{Key: hints, Reason: reasonWords})
	if n := countTyped(err); n > 1 {
		s += fmt.Sprintf("（另外还有 %d 处错误，见下面的英文说明）", n-1)
	}
	return s
}

// countTyped counts the problems in err (validation joins them).
func countTyped(err error) int {
	switch e := err.(type) {
	case *configerr.ConfigError:
		return 1
	case interface{ Unwrap() []error }:
		n := 0
		for _, p := range e.Unwrap() {
			n += countTyped(p)
		}
		return n
	case interface{ Unwrap() error }:
		return countTyped(e.Unwrap())
	}
	return 0
}

// hints explain the keys an operator edits most, by the key's last part.
var hints = map[string]string{
	"listen":                "（监听地址：写成 127.0.0.1:8080 这样，冒号后面是端口号）",
	"broker":                "（MQTT 服务器地址，写成 tcp://127.0.0.1:1883 这样；不写则用 alarmd 自带的服务器）",
	"public_url":            "（短信里确认链接的网址开头，如 https://alarm.example.org）",
	"url":                   "（PostgreSQL 的地址，以 postgres:// 开头；只用一台 alarmd 时不写 url，写 path）",
	"path":                  "（数据库文件，如 /var/lib/anxin/alarmd.db）",
	"ack_secret":            "（确认链接的密钥：至少 16 个字符的随机文字，可改写 ack_secret_file 指向存放它的文件）",
	"auth_token":            "（Twilio 控制台里的 Auth Token，也可改写 auth_token_file）",
	"account_sid":           "（Twilio 控制台里的 Account SID：AC 后面接 32 位十六进制数字）",
	"from":                  "（发短信、打电话用的号码，以 + 开头）",
	"rounds":                "（整条联系人链最多走几遍）",
	"ack_timeout":           "（每位联系人等待确认多久，再找下一位）",
	"households_file":       "（住户登记表的路径，如 /etc/anxin/households.yaml）",
	"rules_file":            "（告警规则文件的路径；不写则用内置规则）",
	"gateway_password_file": "（网关登录密码文件：每行写“住户编号:密码哈希”，哈希用 mosquitto_passwd 生成，不能写明文密码）",
	"token":                 "（至少 16 个字符的随机文字）",
	"tier":                  "（关爱等级：irregular 不定期、general 一般、key 重点、high 特别关注）",
	"id":                    "（住户编号或设备编号，如 hh-0001、btn1）",
	"kind":                  "（规则或设备的种类，照 docs/rules.md 或设备清单写）",
	"timezone":              "（中国大陆写 Asia/Shanghai）",
}

// configReasons word alarmd.yaml's problems no configerr kind says, by the
// reason badValue gives them.
var configReasons = map[string]string{
	"secret-file-empty":    "这个文件是空的：把密钥（或密码、令牌）写进去，写在第一行",
	"cluster-instance":     "最多 128 个字节（一个汉字算 3 个），不能有空格；不写则用主机名加进程号",
	"token-short":          "至少要 16 个字符的随机文字，可用 openssl rand -hex 32 生成",
	"token-twice":          "与另一个令牌相同：每个令牌要各不相同",
	"area-long":            "太长了，最多 200 个字节",
	"area":                 "辖区要写成 善广村（一个村或社区）、屏山街道/善广村（某乡镇的一个村）或 屏山街道/*（整个乡镇），不写则是全区",
	"surge-dates":          "from 和 to 要写成 2027-01-28 这样的日期，且 from 不能晚于 to",
	"ack-secret-short":     "确认链接的密钥至少要 16 个字符的随机文字：用 openssl rand -hex 32 生成，写进文件后用 notify.ack_secret_file 指向它",
	"locale":               "notify.locale 只能写 zh-CN 或 en；notify.time_zone 写时区名称，如 Asia/Shanghai",
	"twilio-sid":           "要照抄 Twilio 控制台里的 Account SID：AC 后面接 32 位十六进制数字（0-9、a-f）",
	"nats-url":             "每个地址要写成 nats://主机:4222 或 tls://主机:4222",
	"nats-url-credentials": "地址里不能带用户名和密码：写在 nats.user 和 nats.password（或 nats.password_file、nats.creds_file）里",
}

// reasonWords are both tables, as configerr.Text reads them.
var reasonWords = func() map[string]string {
	m := maps.Clone(configReasons)
	maps.Copy(m, ruleReasons)
	return m
}()

// ruleReasons word the rules file's problems no configerr kind says, by
// their Reason (rules.ErrorReasons): what is wrong and what to write.
var ruleReasons = map[string]string{
	"rule-clears-alarm":    "这是解除告警的事件，不能用来发起告警：从 events 里删掉它",
	"rule-latlon":          "不是经纬度：写成 {lat: 39.9042, lon: 116.4074} 这样，纬度在 -90 到 90 之间，经度在 -180 到 180 之间",
	"rule-polygon-points":  "多边形至少要写 3 个点（每个点写成 {lat: …, lon: …}）",
	"rule-times-count":     "告警时刻要写 1 到 {range} 个，如 [8h, 24h]",
	"rule-times-order":     "告警时刻要写整分钟的时长，从短到长排列，每个在 30m 到 36h 之间，如 [8h, 24h]",
	"rule-late-share":      "要写 0 到 1 之间的小数（不含 1）；不是 0 时 alarm_times 至少要写两个",
	"rule-life-delta":      "要大于 0，且小于 min_delta（现在是 {range}）",
	"rule-clear-above":     "要不小于 below 的值",
	"rule-clear-below":     "要不大于 above 的值",
	"rule-same-name":       "不能与这条规则自己的 name 相同：另起一个名字，如 device_silent",
	"rule-trigger-gateway": "只用于 target: device；网关是否在线看它自己的遗嘱消息，target: gateway 时删掉 trigger",
	"rule-silent-after":    "只用于 target: gateway，且要写大于 0 的时长，如 30m",
	"rule-window":          "时段要写成 22:00-06:00 这样（开始-结束，24 小时制，两端不能相同）",
	"rule-silence":         "要写成 25h 这样的时长，或 2x 这样的倍数（上两次读数间隔的几倍，1x 到 1000x）",
	"rule-plain-keys":      "下面的项名要写成普通文字，如 for: 30m",
	"rule-no-override":     "name、kind、overrides 不能在 overrides 里改：要改就另写一条规则",
	"rule-list-long":       "列表太长，最多写 {range} 项",
	"rule-unsupported":     "这一项不能写在规则文件里，删掉它",
}

// CheckFiles reads and validates the households file and the rules file
// cfg names, as a start would, without opening anything (alarmd check).
func CheckFiles(cfg *Config) error {
	if cfg.HouseholdsFile != "" {
		if _, _, err := ReadHouseholdsFile(cfg.HouseholdsFile); err != nil {
			return err
		}
	}
	_, err := loadRules(cfg)
	return err
}

// CheckedText is alarmd check's line for files found valid.
func CheckedText(path string, cfg *Config) string {
	if path == "" {
		path = "（默认配置）"
	}
	s := "配置无误：" + path
	if cfg.HouseholdsFile != "" {
		s += "，住户登记表 " + cfg.HouseholdsFile
	}
	if cfg.RulesFile != "" {
		s += "，告警规则 " + cfg.RulesFile
	} else {
		s += "，告警规则用内置的"
	}
	return s
}
