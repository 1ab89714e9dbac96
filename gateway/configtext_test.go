package gateway

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anxin-care/anxin/drivers"
)

// meter is a valid cjt188 entry's tail, for the bad files below.
const meter = "    port: {path: /dev/ttyUSB0}\n    meters: [{address: \"12345678901234\", device: wm1}]\n"

// TestConfigErrorsInMandarin loads realistic bad files through the real
// loader and checks both lines an installer sees: the Mandarin explanation
// and the English detail after it.
func TestConfigErrorsInMandarin(t *testing.T) {
	hidden := map[string]string{
		"terminal id typo": "1380013800O", "terminal listed twice": "9031853319", "terminal model not under models": "13800138000",
		"password in the broker URL": "Pw-271828", "password and password_file": "Pw-271828", "password without username": "Pw-271828", "password read as an alias": "Pw-271828",
		"broker port above 65535": "Pw-271828", "driver broker port not a number": "Pw-271828",
	}
	for _, c := range []struct {
		name, yaml string
		kind       drivers.ConfigKind
		zh         string // the whole Mandarin line (AtStart)
		en         string // in the English error
	}{
		{"typo'd key", "household: hh-0001\ndrivers:\n  - driver: cjt188\n    name: water\n    baud: 2400\n" + meter,
			drivers.KeyUnknown,
			"配置有误，网关未启动：第 1 路驱动（name: water，cjt188）的 baud 项：没有这一项：它应写在 port 下面（换行后缩进），即 port.baud" +
				"（可用的项：di_order、gap、meter_type、meters、misses_before_silent、poll_interval、port、reconnect、timeout）",
			"drivers[0].baud: unknown key (known: di_order, gap, meter_type, meters, misses_before_silent, poll_interval, port, reconnect, timeout); did you mean drivers[0].port.baud?"},
		{"misspelt key", "household: hh-0001\ndrivers:\n  - driver: cjt188\n    name: water\n    pol_interval: 5m\n" + meter,
			drivers.KeyUnknown,
			"配置有误，网关未启动：第 1 路驱动（name: water，cjt188）的 pol_interval 项：没有这一项，是不是想写 poll_interval？" +
				"（可用的项：di_order、gap、meter_type、meters、misses_before_silent、poll_interval、port、reconnect、timeout）",
			"drivers[0].pol_interval: unknown key"},
		{"missing port", "household: hh-0001\ndrivers:\n  - driver: cjt188\n    name: water\n    meters: [{address: \"12345678901234\", device: wm1}]\n",
			drivers.KeyMissing,
			"配置有误，网关未启动：第 1 路驱动（name: water，cjt188）的 port.path 项：没有填写（串口，如 /dev/ttyUSB0；或不写 path，改写 usb: {vid: \"1a86\", pid: \"7523\"}）",
			"drivers[0].port.path: required, or usb.vid and usb.pid instead"},
		{"bad duration", "household: hh-0001\ndrivers:\n  - driver: cjt188\n    poll_interval: 5 minutes\n" + meter,
			drivers.ValueNotDuration,
			"配置有误，网关未启动：第 1 路驱动（cjt188）的 poll_interval 项：“5 minutes” 不是时长：要写成 30s、5m、1h30m 这样，数字后面紧跟单位 s（秒）、m（分）、h（时），中间不留空格",
			`drivers[0].poll_interval: "5 minutes" is not a duration like 30s (driver cjt188)`},
		{"unknown driver", "household: hh-0001\ndrivers:\n  - driver: cjt118\n" + meter,
			drivers.DriverUnknown,
			"配置有误，网关未启动：第 1 路驱动的 driver 项：没有叫 “cjt118” 的驱动（可用的驱动：" + strings.Join(drivers.Names(), "、") + "）",
			`drivers[0].driver: unknown driver "cjt118" (known: cjt188,`},
		{"duplicate name", "household: hh-0001\ndrivers:\n  - driver: cjt188\n" + meter +
			"  - driver: cjt188\n    port: {path: /dev/ttyUSB1}\n    meters: [{address: \"12345678901235\", device: wm2}]\n",
			drivers.ValueDuplicate,
			"配置有误，网关未启动：第 2 路驱动（cjt188）的 name 项：名字 cjt188 和前面一路驱动重复了：每一路驱动要有不同的 name（同一种驱动写两路时，至少一路要写 name）",
			`drivers[1].name: instance "cjt188" is configured twice (give each a distinct name)`},
		{"yaml tab", "household: hh-0001\ndrivers:\n  - driver: cjt188\n\tname: water\n",
			drivers.FileSyntax,
			"配置有误，网关未启动：第 4 行：行首用了 Tab 键缩进，YAML 只能用空格缩进：把这一行开头的 Tab 换成空格，与上下行对齐",
			"yaml: line 3: found a tab character that violates indentation"},
		{"yaml indent", "household: hh-0001\nmqtt:\n  broker: tcp://10.0.0.5:1883\n keepalive: 30s\n",
			drivers.FileSyntax,
			"配置有误，网关未启动：第 3 行：缩进没有对齐（这一行或下一行），同一级的项要用同样多的空格开头",
			"yaml: line 3: did not find expected key"},
		{"password read as an alias", "household: hh-0001\nmqtt:\n  username: u\n  password: *Pw-271828\n",
			drivers.FileSyntax,
			"配置有误，网关未启动：第 4 行：有一个值以 * 或 & 开头，YAML 会把它当作引用：给这个值加上引号，如 \"*123\"",
			"yaml: unknown anchor (a value starting with * or & is read as one; quote it) referenced"},
		{"two documents", "household: hh-0001\n---\ndrivers: []\n",
			drivers.FileSyntax,
			"配置有误，网关未启动：第 2 行：这里的 --- 开始了第二份配置，它不会被读取：删掉 ---，把两部分的内容合成一份",
			"a second document begins here (after ---); only the first is read"},
		{"yaml key twice", "household: hh-0001\nhousehold: hh-0002\n",
			drivers.FileSyntax,
			"配置有误，网关未启动：第 2 行：同一项写了两遍，删掉其中一个",
			`mapping key "household" already defined at line 1`},
		{"bad household", "household: 'hh 0001'\n",
			drivers.ValueNotID,
			"配置有误，网关未启动：household 项：“hh 0001” 不能用作名字或编号：只能用英文字母、数字、下划线 _ 和减号 -，不能有空格或汉字，最长 64 个字符",
			`household: "hh 0001" is not [A-Za-z0-9_-]{1,64}`},
		{"no household", "drivers: []\n",
			drivers.KeyMissing,
			"配置有误，网关未启动：household 项：没有填写（住户编号，如 hh-0001，照区里的登记表写）",
			`household: "" is not`},
		{"bad parity", "household: hh-0001\ndrivers:\n  - driver: cjt188\n    port: {path: /dev/ttyUSB0, parity: evn}\n    meters: [{address: \"12345678901234\", device: wm1}]\n",
			drivers.ValueNotChoice,
			"配置有误，网关未启动：第 1 路驱动（cjt188）的 port.parity 项：“evn” 不是可用的值（只能写：none、even、odd）",
			`drivers[0].port.parity: "evn" must be none, even or odd`},
		{"wrong type", "household: hh-0001\ndrivers:\n  - driver: cjt188\n    misses_before_silent: three\n" + meter,
			drivers.ValueWrongType,
			"配置有误，网关未启动：第 1 路驱动（cjt188）的 misses_before_silent 项：“three” 写法不对，这里应写数字，如 2400",
			"drivers[0].misses_before_silent: expected type 'int'"},
		{"device id", "household: hh-0001\ndrivers:\n  - driver: cjt188\n    port: {path: /dev/ttyUSB0}\n    meters: [{address: \"12345678901234\", device: 水表1}]\n",
			drivers.ValueNotID,
			"配置有误，网关未启动：第 1 路驱动（cjt188）的 meters[0].device 项：“水表1” 不能用作名字或编号：只能用英文字母、数字、下划线 _ 和减号 -，不能有空格或汉字，最长 64 个字符",
			`drivers[0].meters[0].device: "水表1" is not [A-Za-z0-9_-]{1,64}`},
		{"password of the wrong type", "household: hh-0001\nmqtt: {username: u, password: 271828}\n",
			drivers.ValueWrongType,
			"配置有误，网关未启动：mqtt.password 项：写法不对，这里应写文字：照原样加上英文引号，如 \"0403\"（不加引号会被当作数：开头的 0 丢掉，0 或 0x 开头的被换算，所以显示的可能和所写的不同）",
			"mqtt.password: expected type 'gateway.Secret', got unconvertible type 'int'"},
		{"env override not a bool", "household: hh-0001\n",
			drivers.ValueWrongType,
			"配置有误，网关未启动：output.stdout 项：“yes please” 写法不对，这里应写 true 或 false",
			`output.stdout: "yes please" is not true or false`},
		{"out of range", "household: hh-0001\nmqtt: {window: 0}\n",
			drivers.ValueOutOfRange,
			"配置有误，网关未启动：mqtt.window 项：“0” 超出允许的范围（允许：1..60000）",
			"mqtt.window: 0 is not within 1..60000"},
		{"port shared with a stream", "household: hh-0001\ndrivers:\n  - driver: cjt188\n" + meter +
			"  - driver: nmea\n    device: gps1\n    port: {path: /dev/ttyUSB0}\n",
			drivers.KeysConflict,
			"配置有误，网关未启动：第 2 路驱动（nmea）的 port 项：与第 1 路驱动用了同一个串口，但其中一路（北斗/GPS、433 MHz 接收器、Modbus）要单独占用串口：给它单独接一根串口线",
			"drivers[1].port: nmea (drivers[1]) reads /dev/ttyUSB0 continuously and cannot share it with cjt188 (drivers[0])"},
		{"bus settings differ", "household: hh-0001\ndrivers:\n  - driver: cjt188\n    name: water\n" + meter +
			"  - driver: dlt645\n    name: power\n    port: {path: /dev/ttyUSB0, baud: 1200}\n    meters: [{address: \"123456789012\", device: pm1}]\n",
			drivers.KeysConflict,
			"配置有误，网关未启动：第 2 路驱动（name: power，dlt645）的 port 项：与第 1 路驱动用了同一个串口，但波特率、数据位、校验、停止位不一样：同一根总线上的表要设成一样",
			"but their line settings differ (1200 8E1 vs 2400 8E1)"},
		{"terminal id typo", "household: hh-0001\ndrivers:\n  - driver: jt808\n    terminals: [{id: \"1380013800O\", device: tracker1}]\n",
			drivers.ValueBad,
			"配置有误，网关未启动：第 1 路驱动（jt808）的 terminals[0].id 项：“*******800O” 不对：不是终端手机号：只写数字（设备里设置的 SIM 卡号），最多 20 位，不能有字母、空格或减号（常把数字 0 错写成字母 O），数字要用英文输入法写的半角数字，不能是全角的 １２３；为保护隐私这里只显示后 4 位",
			"drivers[0].terminals[0].id: *******800O is not an id this protocol sends"},
		{"listen without port", "household: hh-0001\ndrivers:\n  - driver: jt808\n    listen: \"8808\"\n",
			drivers.ValueBad,
			"配置有误，网关未启动：第 1 路驱动（jt808）的 listen 项：“8808” 不对：不是监听地址：写成 \":8808\" 这样（带英文引号和冒号），冒号后的端口号要与设备里设置的服务器端口一致；冒号前可写本机地址，一般不写",
			"drivers[0].listen: \"8808\" is not host:port: address 8808: missing port in address"},
		{"terminal listed twice", "household: hh-0001\ndrivers:\n  - driver: watch3g\n    terminals: [{id: \"9031853319\", device: w1}, {id: \"9031853319\", device: w2}]\n",
			drivers.ValueDuplicate,
			"配置有误，网关未启动：第 1 路驱动（watch3g）的 terminals[1].id 项：“******3319” 写了两次，每个只能出现一次",
			"drivers[0].terminals[1].id: ******3319 is listed twice"},
		{"terminal model of watch3g", "household: hh-0001\ndrivers:\n  - driver: watch3g\n    terminals: [{id: \"9031853319\", device: w1, model: s8}]\n",
			drivers.KeyUnknown,
			"配置有误，网关未启动：第 1 路驱动（watch3g）的 terminals[0].model 项：没有这一项（可用的项：device、household、id、kind）",
			"drivers[0].terminals[0].model: watch3g has no vendor profiles"},
		{"terminal model not under models", "household: hh-0001\ndrivers:\n  - driver: jt808\n    terminals: [{id: \"13800138000\", device: t1, model: elder-watch}]\n    models: {elder-watch-4g: {battery_tlv: 0xFE}}\n",
			drivers.ValueNotChoice,
			"配置有误，网关未启动：第 1 路驱动（jt808）的 terminals[0].model 项：“elder-watch” 不是可用的值（只能写：elder-watch-4g）",
			"drivers[0].terminals[0].model: \"elder-watch\" is not under models"},
		{"idle timeout in words", "household: hh-0001\ndrivers:\n  - driver: jt808\n    idle_timeout: 5分钟\n",
			drivers.ValueNotDuration,
			"配置有误，网关未启动：第 1 路驱动（jt808）的 idle_timeout 项：“5分钟” 不是时长：要写成 30s、5m、1h30m 这样，数字后面紧跟单位 s（秒）、m（分）、h（时），中间不留空格",
			"drivers[0].idle_timeout: \"5分钟\" is not a duration like 30s (driver jt808)"},
		{"zigbee2mqtt without broker", "household: hh-0001\ndrivers:\n  - driver: zigbee2mqtt\n    broker: \"\"\n",
			drivers.KeyMissing,
			"配置有误，网关未启动：第 1 路驱动（zigbee2mqtt）的 broker 项：没有填写（MQTT 服务器地址，写成 tcp://127.0.0.1:1883 这样；用户名和密码写在 username、password 两项，不写进地址）",
			"drivers[0].broker: empty; a URL such as tcp://127.0.0.1:1883"},
		{"zigbee2mqtt without base topic", "household: hh-0001\ndrivers:\n  - driver: zigbee2mqtt\n    base_topic: \"\"\n",
			drivers.KeyMissing,
			"配置有误，网关未启动：第 1 路驱动（zigbee2mqtt）的 base_topic 项：没有填写（zigbee2mqtt 的主题前缀，与 zigbee2mqtt 配置里的 mqtt.base_topic 一致，一般就是 zigbee2mqtt）",
			"drivers[0].base_topic: empty; zigbee2mqtt's mqtt.base_topic, usually zigbee2mqtt"},
		{"zigbee2mqtt device twice", "household: hh-0001\ndrivers:\n  - driver: zigbee2mqtt\n    devices:\n" +
			"      - {name: bedside_button, device: btn1, kind: call_button}\n      - {name: hall_button, device: btn1, kind: call_button}\n",
			drivers.ValueDuplicate,
			"配置有误，网关未启动：第 1 路驱动（zigbee2mqtt）的 devices[1].device 项：“btn1” 写了两次，每个只能出现一次",
			"drivers[0].devices[1].device: \"btn1\" is listed twice"},
		{"debounce too long", "household: hh-0001\ndrivers:\n  - driver: zigbee2mqtt\n    action_debounce: 2m\n",
			drivers.ValueOutOfRange,
			"配置有误，网关未启动：第 1 路驱动（zigbee2mqtt）的 action_debounce 项：“2m” 超出允许的范围（允许：0..1m）",
			"drivers[0].action_debounce: 2m is out of range (allowed: 0..1m)"},
		{"password in the broker URL", "household: hh-0001\ndrivers:\n  - driver: zigbee2mqtt\n    broker: tcp://admin:Pw-271828@127.0.0.1:1883\n",
			drivers.ValueBad,
			"配置有误，网关未启动：第 1 路驱动（zigbee2mqtt）的 broker 项：地址里不能写用户名和密码：地址只写成 tcp://127.0.0.1:1883 这样，用户名写在 username 项，密码写在 password 或 password_file 项",
			"drivers[0].broker: put credentials in username and password, not in the URL"},
		{"broker port above 65535", "household: hh-0001\nmqtt: {broker: 'tcp://gw:Pw-271828@127.0.0.1:188300'}\n",
			drivers.ValueOutOfRange,
			"配置有误，网关未启动：mqtt.broker 项：地址里的端口 “188300” 不对：端口是 1 到 65535 之间的数字，写在主机名后面的冒号之后，要与那台服务器实际监听的端口一致",
			"mqtt.broker: port 188300 is not 1..65535"},
		{"fallback port zero", "household: hh-0001\nmqtt: {broker: 'tcp://127.0.0.1:1883', fallback: ['tcp://127.0.0.2:0']}\n",
			drivers.ValueOutOfRange,
			"配置有误，网关未启动：mqtt.fallback[0] 项：地址里的端口 “0” 不对：端口是 1 到 65535 之间的数字，写在主机名后面的冒号之后，要与那台服务器实际监听的端口一致",
			"mqtt.fallback[0]: port 0 is not 1..65535"},
		{"driver broker port not a number", "household: hh-0001\ndrivers:\n  - driver: zigbee2mqtt\n    broker: tcp://127.0.0.1:Pw-271828\n",
			drivers.ValueOutOfRange,
			"配置有误，网关未启动：第 1 路驱动（zigbee2mqtt）的 broker 项：地址里的端口不是数字：端口是 1 到 65535 之间的数字，写在主机名后面的冒号之后，要与那台服务器实际监听的端口一致",
			"drivers[0].broker: the port is not a number 1..65535"},
		{"password and password_file", "household: hh-0001\ndrivers:\n  - driver: tasmota\n    username: gw\n    password: Pw-271828\n    password_file: /etc/anxin/mqtt.pw\n",
			drivers.KeysConflict,
			"配置有误，网关未启动：第 1 路驱动（tasmota）的 password_file 项：与 password 不能这样同时写",
			"drivers[0].password_file: set only one of password and password_file"},
		{"password without username", "household: hh-0001\ndrivers:\n  - driver: jsonmap\n    password: Pw-271828\n    mappings: [{topic: \"v/{device}/up\", kind: tracker, fields: {lat: $.lat}}]\n",
			drivers.KeyNeedsOther,
			"配置有误，网关未启动：第 1 路驱动（jsonmap）的 password 项：写了这一项，还必须写 username",
			"drivers[0].password: set without username"},
		{"tasmota without topics", "household: hh-0001\ndrivers:\n  - driver: tasmota\n    topics: []\n",
			drivers.KeyMissing,
			"配置有误，网关未启动：第 1 路驱动（tasmota）的 topics 项：没有填写（要订阅的 MQTT 主题，至少写一个，如 tele/+/RESULT）",
			"drivers[0].topics: at least one topic filter, e.g. tele/+/RESULT"},
		{"jsonmap without topic", "household: hh-0001\ndrivers:\n  - driver: jsonmap\n    mappings: [{device: t1, kind: tracker, fields: {lat: $.lat}}]\n",
			drivers.KeyMissing,
			"配置有误，网关未启动：第 1 路驱动（jsonmap）的 mappings[0].topic 项：没有填写（MQTT 主题，如 vendor/{device}/up：+ 和 # 只能单独占一级，# 只能在最后）",
			"drivers[0].mappings[0].topic: an MQTT topic filter such as vendor/{device}/up"},
		{"jsonmap without mappings", "household: hh-0001\ndrivers:\n  - driver: jsonmap\n    broker: tcp://127.0.0.1:1883\n",
			drivers.KeyMissing,
			"配置有误，网关未启动：第 1 路驱动（jsonmap）的 mappings 项：没有填写（至少写一条：topic 写主题，fields 写要读的数据）",
			"drivers[0].mappings: at least one mapping"},
		{"jsonmap kind", "household: hh-0001\ndrivers:\n  - driver: jsonmap\n    mappings: [{topic: \"v/{device}/up\", kind: watch, fields: {lat: $.lat}}]\n",
			drivers.ValueNotChoice,
			"配置有误，网关未启动：第 1 路驱动（jsonmap）的 mappings[0].kind 项：“watch” 不是可用的值（只能写：call_button、water_meter、power_meter、gas_detector、smoke_detector、water_leak_detector、tracker）",
			"drivers[0].mappings[0].kind: \"watch\" is not call_button|water_meter|"},
		{"modbus register format", "household: hh-0001\ndrivers:\n  - driver: modbus\n    port: {path: /dev/ttyUSB1}\n" +
			"    units: [{unit: 1, device: pm1, kind: power_meter, registers: [{name: energy_kwh, register: 0x0100, format: float}]}]\n",
			drivers.ValueNotChoice,
			"配置有误，网关未启动：第 1 路驱动（modbus）的 units[0].registers[0].format 项：“float” 不是可用的值（只能写：uint16、int16、uint32、int32、float32）",
			"drivers[0].units[0].registers[0].format: \"float\" is not uint16|int16|uint32|int32|float32"},
		{"modbus register past the end", "household: hh-0001\ndrivers:\n  - driver: modbus\n    port: {path: /dev/ttyUSB1}\n" +
			"    units: [{unit: 1, device: pm1, kind: power_meter, registers: [{name: energy_kwh, register: 0xFFFF, format: uint32}]}]\n",
			drivers.ValueOutOfRange,
			"配置有误，网关未启动：第 1 路驱动（modbus）的 units[0].registers[0].register 项：“65535” 超出允许的范围（允许：0..65534）（寄存器地址，从 0 开始编号：说明书写的是 40001、30001 这样的编号时，填它减去 40001 或 30001 后的数）",
			"drivers[0].units[0].registers[0].register: 0xFFFF + 2 registers passes 0xFFFF"},
		{"modbus unit without registers", "household: hh-0001\ndrivers:\n  - driver: modbus\n    port: {path: /dev/ttyUSB1}\n" +
			"    units: [{unit: 1, device: pm1, kind: power_meter}]\n",
			drivers.KeyMissing,
			"配置有误，网关未启动：第 1 路驱动（modbus）的 units[0].registers 项：没有填写（要读的寄存器，照设备说明书的寄存器表写；接的是探测器时改写 discrete_inputs）",
			"drivers[0].units[0].registers: required, or discrete_inputs instead"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if strings.HasPrefix(c.name, "env") {
				t.Setenv("ANXIN_OUTPUT_STDOUT", "yes please")
			}
			_, err := Load(writeConfig(t, c.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			var ce *drivers.ConfigError
			if !errors.As(err, &ce) || ce.Kind != c.kind {
				t.Errorf("kind: got %#v, want %s", ce, c.kind)
			}
			if got := ConfigErrorText(err, AtStart); got != c.zh {
				t.Errorf("Mandarin:\n got %s\nwant %s", got, c.zh)
			}
			if !strings.Contains(err.Error(), c.en) || !strings.HasPrefix(err.Error(), "config ") {
				t.Errorf("English: got %q, want it to contain %q", err, c.en)
			}
			// a password, a terminal's phone number: in neither line
			if s := hidden[c.name]; s != "" && (strings.Contains(ConfigErrorText(err, AtStart), s) || strings.Contains(err.Error(), s)) {
				t.Errorf("%q is shown: %s / %v", s, ConfigErrorText(err, AtStart), err)
			}
		})
	}
}

func TestConfigErrorUnreadableFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "gatewayd.yaml"))
	zh := ConfigErrorText(err, AtCheck)
	if !strings.HasPrefix(zh, "配置有误，没有进行检查：读不到配置文件 ") || !strings.HasSuffix(zh, "（文件不存在，请核对路径）") ||
		!errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "no such file or directory") {
		t.Fatalf("zh %q, en %v", zh, err)
	}
	_, err = Load(t.TempDir())
	if zh := ConfigErrorText(err, AtStart); !strings.HasSuffix(zh, "（这是一个目录，不是文件）") {
		t.Fatalf("a directory: zh %q, en %v", zh, err)
	}
	// the password file is named as a key; its content never appears
	dir := t.TempDir()
	_, err = Load(writeConfig(t, "household: hh-0001\nmqtt: {username: u, password_file: "+dir+"/nope}\n"))
	if zh := ConfigErrorText(err, AtReload); zh != "配置有误，没有重新加载，网关继续按原来的配置运行：mqtt.password_file 项：读不到文件 "+
		dir+"/nope（文件不存在，请核对路径）" {
		t.Fatalf("password_file: zh %q, en %v", zh, err)
	}
}

// Every kind has its own words: none falls back to "see the English".
func TestEveryConfigKindHasWords(t *testing.T) {
	for _, k := range drivers.ConfigKinds {
		if k == drivers.ValueBad {
			continue
		}
		e := &drivers.ConfigError{Kind: k, Key: "port.baud", Detail: "x", Value: "v"}
		if zh := ConfigErrorText(e, AtStart); strings.Contains(zh, "英文说明") && k != drivers.FileUnreadable {
			t.Errorf("%s: %s", k, zh)
		}
	}
	for _, err := range []error{errors.New("something else"), &drivers.ConfigError{}, nil} {
		if zh := ConfigErrorText(err, AtStart); !strings.HasPrefix(zh, "配置有误，网关未启动") {
			t.Errorf("%v: %q", err, zh)
		}
	}
}

// A key that YAML reads as a number or as nothing (`{1: x}`, `{&a, b}`) is
// refused with its place, never a panic of the decoder.
func TestConfigKeyNotText(t *testing.T) {
	for _, c := range []struct{ yaml, key string }{
		{"household: hh-0001\ndrivers:\n  - {driver: jsonmap, mappings: [{topic: x, 1: x}]}\n", "drivers[0].mappings[0]"},
		{"household: hh-0001\ndrivers:\n  - {driver: zigbee2mqtt, devices: [{name: a, actions: {1: fall}}]}\n", "drivers[0].devices[0].actions"},
		{"household: hh-0001\ndrivers:\n  - {driver: jsonmap, mappings: [{&a , topic: x}]}\n", "drivers[0].mappings[0]"},
	} {
		_, err := Parse([]byte(c.yaml))
		var ce *drivers.ConfigError
		if !errors.As(err, &ce) || ce.Kind != drivers.FileSyntax || ce.Key != c.key {
			t.Errorf("%q: %#v", c.yaml, err)
		}
		if zh := ConfigErrorText(err, AtStart); !strings.Contains(zh, "的 "+strings.TrimPrefix(c.key, "drivers[0].")+" 项：下面有一项的名称是数字或是空的") {
			t.Errorf("%q: %s", c.yaml, zh)
		}
	}
}
