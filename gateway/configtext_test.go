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
			"配置有误，网关未启动：mqtt.password 项：写法不对，这里应写文字",
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
		{"not yet typed", "household: hh-0001\ndrivers:\n  - driver: zigbee2mqtt\n    action_debounce: 2m\n",
			drivers.ValueBad,
			"配置有误，网关未启动：第 1 路驱动（zigbee2mqtt）：原因见下面的英文说明",
			"drivers[0].action_debounce 2m0s: 0 to 1m"}, // was drivers[0].invalid: action_debounce …
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
