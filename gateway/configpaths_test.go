package gateway

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/internal/testenv"
)

// TestEveryConfigErrorInMandarin walks every error gatewayd's own keys
// and each driver's Validate can give (each check of each driver, the
// shared serial port, listener and broker sections, the decoder): the
// Mandarin line names the key and says what is wrong; none falls back to
// "值不对…原因见下面的英文说明", which an installer cannot act on, and none
// repeats a password or a terminal's number.
func TestEveryConfigErrorInMandarin(t *testing.T) {
	const hh = "household: hh-0001\n"
	entry := func(body string) string { return hh + "drivers:\n  - {" + body + "}\n" }
	entries := func(bodies ...string) string {
		s := hh + "drivers:\n"
		for _, b := range bodies {
			s += "  - {" + b + "}\n"
		}
		return s
	}
	const (
		meters  = "meters: [{address: '12345678901234', device: wm1}]"
		pmeters = "meters: [{address: '123456789012', device: pm1}]"
		ttyS    = "port: {path: /dev/ttyUSB0}"
		code    = "{code: 8d3cf6, device: btn1, kind: call_button, event: button_pressed}"
		unit    = "unit: 1, device: pm1, kind: power_meter"
		reg     = "{name: energy_kwh, register: 0}"
		input   = "{input: 0, device: smoke1, kind: smoke_detector, event: smoke}"
		mapping = "topic: 'v/{device}/up', kind: tracker, fields: {lat: $.lat}"
	)
	cjt := func(rest string) string { return entry("driver: cjt188, " + ttyS + ", " + meters + ", " + rest) }
	dlt := func(rest string) string { return entry("driver: dlt645, " + ttyS + ", " + rest) }
	port := func(p string) string { return entry("driver: cjt188, port: " + p + ", " + meters) }
	mb := func(rest string) string { return entry("driver: modbus, " + ttyS + ", " + rest) }
	mbUnit := func(u string) string { return mb("units: [{" + u + "}]") }
	rf := func(rest string) string { return entry("driver: rf433, " + ttyS + ", " + rest) }
	jt := func(rest string) string { return entry("driver: jt808, " + rest) }
	z2m := func(rest string) string { return entry("driver: zigbee2mqtt, " + rest) }
	zdev := func(d string) string { return z2m("devices: [" + d + "]") }
	jm := func(m string) string { return entry("driver: jsonmap, mappings: [{" + m + "}]") }
	many := func(n int, f func(i int) string) string {
		s := make([]string, n)
		for i := range s {
			s[i] = f(i)
		}
		return strings.Join(s, ", ")
	}
	hidden := map[string]string{
		"jt808 terminal id":         "1380013800O",
		"jt808 terminal twice":      "9031853319",
		"jt808 terminal twice zero": "9031853319",
		"watch3g terminal id":       "903185331!",
		"broker credentials":        "Pw-271828",
		"broker not a url":          "Pw-271828",
		"mqtt broker scheme":        "Pw-271828",
		"driver password both":      "Pw-271828",
		"driver password alone":     "Pw-271828",
		"password without username": "Pw-271828",
	}
	for _, c := range []struct {
		name, yaml, key, zh string // key: as the Mandarin line names it (within the entry)
	}{
		// gatewayd's own keys
		{"household missing", "drivers: []\n", "household", "没有填写"},
		{"household not an id", "household: 'hh 1'\n", "household", "不能用作名字或编号"},
		{"unknown key", hh + "spool: {dirr: /tmp}\n", "spool.dirr", "没有这一项"},
		{"fallback without broker", hh + "mqtt: {fallback: ['tcp://127.0.0.1:1883']}\n", "mqtt.fallback", "还必须写 mqtt.broker"},
		{"fallback empty", hh + "mqtt: {broker: 'tcp://127.0.0.1:1883', fallback: ['']}\n", "mqtt.fallback[0]", "没有填写"},
		{"spool dir", hh + "mqtt: {broker: 'tcp://127.0.0.1:1883'}\nspool: {dir: ''}\n", "spool.dir", "没有填写"},
		{"client id long", hh + "mqtt: {client_id: " + strings.Repeat("c", 129) + "}\n", "mqtt.client_id", "超出允许的范围"},
		{"keepalive", hh + "mqtt: {keepalive: 500ms}\n", "mqtt.keepalive", "“500ms” 超出允许的范围"},
		{"window", hh + "mqtt: {window: 70000}\n", "mqtt.window", "超出允许的范围（允许：1..60000）"},
		{"reconnect min", hh + "mqtt: {reconnect: {min: 0s}}\n", "mqtt.reconnect.min", "超出允许的范围"},
		{"reconnect max", hh + "mqtt: {reconnect: {min: 5s, max: 1s}}\n", "mqtt.reconnect.max", "超出允许的范围"},
		{"ack timeout", hh + "mqtt: {ack_timeout: 0s}\n", "mqtt.ack_timeout", "超出允许的范围"},
		{"password without username", hh + "mqtt: {password: Pw-271828}\n", "mqtt.password", "还必须写 mqtt.username"},
		{"tls cert without key", hh + "mqtt: {tls: {cert_file: /etc/anxin/gw.crt}}\n", "mqtt.tls", "不能这样同时写"},
		{"offline after", hh + "offline_after: 0s\n", "offline_after", "超出允许的范围"},
		{"spool max bytes", hh + "spool: {max_bytes: 1KiB}\n", "spool.max_bytes", "超出允许的范围"},
		{"spool size", hh + "spool: {max_bytes: lots}\n", "spool.max_bytes", "不是大小"},
		{"spool fsync", hh + "spool: {fsync: never}\n", "spool.fsync", "只能写：always、batch"},
		{"spool sync interval", hh + "spool: {sync_interval: 2m}\n", "spool.sync_interval", "超出允许的范围"},
		{"log level", hh + "log: {level: trace}\n", "log.level", "只能写：debug、info、warn、error"},
		{"log format", hh + "log: {format: xml}\n", "log.format", "只能写：text、json"},
		{"metrics listen", hh + "metrics: {listen: '9100'}\n", "metrics.listen", "不是监听地址"},
		{"keepalive not a duration", hh + "mqtt: {keepalive: 30}\n", "mqtt.keepalive", "不是时长"},
		{"window not a number", hh + "mqtt: {window: many}\n", "mqtt.window", "这里应写数字"},
		{"password file and password", hh + "mqtt: {username: u, password: x, password_file: /nope}\n", "mqtt.password_file", "不能这样同时写"},
		{"password file unreadable", hh + "mqtt: {username: u, password_file: '{dir}/nope'}\n", "mqtt.password_file", "读不到文件"},
		{"tls ca unreadable", hh + "mqtt: {broker: 'ssl://127.0.0.1:8883', tls: {ca_file: '{dir}/nope'}}\n", "mqtt.tls.ca_file", "读不到文件"},
		{"tls ca not pem", hh + "mqtt: {broker: 'ssl://127.0.0.1:8883', tls: {ca_file: '{dir}/notpem'}}\n", "mqtt.tls.ca_file", "没有 PEM 格式的证书"},
		{"tls key pair", hh + "mqtt: {broker: 'ssl://127.0.0.1:8883', tls: {cert_file: '{dir}/notpem', key_file: '{dir}/notpem'}}\n",
			"mqtt.tls.cert_file", "证书和私钥读不出来或不配对"},
		{"broker not a url", hh + "mqtt: {broker: 'gw:Pw-271828@127.0.0.1:1883'}\n", "mqtt.broker", "不是 MQTT 服务器地址"},
		{"broker a number", hh + "mqtt: {broker: 1883}\n", "mqtt.broker", "不是 MQTT 服务器地址"},
		{"mqtt broker scheme", hh + "mqtt: {broker: 'http://gw:Pw-271828@127.0.0.1:1883'}\n", "mqtt.broker", "“http” 不对：地址开头的协议不对"},
		{"fallback not a url", hh + "mqtt: {broker: 'tcp://127.0.0.1:1883', fallback: ['tcp://']}\n", "mqtt.fallback[0]", "不是 MQTT 服务器地址"},

		// every driver entry
		{"entry empty", hh + "drivers:\n  -\n", "", "这一路是空的"},
		{"entry without driver", entry("name: x"), "driver", "没有填写"},
		{"unknown driver", entry("driver: cjt118"), "driver", "没有叫 “cjt118” 的驱动"},
		{"entry name", entry("driver: cjt188, name: 'a b'"), "name", "不能用作名字或编号"},
		{"entry name twice", entries("driver: cjt188, "+ttyS+", "+meters, "driver: cjt188, port: {path: /dev/ttyUSB1}, "+meters),
			"name", "和前面一路驱动重复了"},
		{"entry unknown key", cjt("baud: 2400"), "baud", "没有这一项"},
		{"entry wrong type", cjt("misses_before_silent: [1]"), "misses_before_silent", "这里应写数字"},
		{"port shared by a stream", entries("driver: cjt188, "+ttyS+", "+meters, "driver: nmea, device: gps1, "+ttyS), "port", "要单独占用串口"},
		{"port settings differ", entries("driver: cjt188, "+ttyS+", "+meters, "driver: dlt645, port: {path: /dev/ttyUSB0, baud: 1200}, "+pmeters),
			"port", "波特率、数据位、校验、停止位不一样"},
		{"usb ambiguous", entries("driver: cjt188, port: {usb: {vid: '1a86', pid: '7523'}}, "+meters,
			"driver: dlt645, port: {usb: {vid: '1a86', pid: '7523', serial: A1}}, "+pmeters), "port.usb", "分不清是哪一根"},

		// the serial port section
		{"port path", port("{baud: 2400}"), "port.path", "没有填写"},
		{"port path and usb", port("{path: /dev/ttyUSB0, usb: {vid: '1a86', pid: '7523'}}"), "port.path", "与 usb 不能这样同时写"},
		{"port usb vid", port("{usb: {vid: 1a8, pid: '7523'}}"), "port.usb.vid", "“1a8” 不对：要写 4 位十六进制数"},
		{"port usb pid", port("{usb: {vid: '1a86', pid: ch340}}"), "port.usb.pid", "“ch340” 不对：要写 4 位十六进制数"},
		{"port baud", port("{path: /dev/ttyUSB0, baud: -2400}"), "port.baud", "超出允许的范围"},
		{"port data bits", port("{path: /dev/ttyUSB0, data_bits: 9}"), "port.data_bits", "只能写：5、6、7、8"},
		{"port parity", port("{path: /dev/ttyUSB0, parity: evn}"), "port.parity", "只能写：none、even、odd"},
		{"port stop bits", port("{path: /dev/ttyUSB0, stop_bits: 3}"), "port.stop_bits", "只能写：1、1.5、2"},

		// cjt188
		{"cjt188 no meters", entry("driver: cjt188, " + ttyS), "meters", "没有填写"},
		{"cjt188 address short", entry("driver: cjt188, " + ttyS + ", meters: [{address: '1234567890123', device: wm1}]"),
			"meters[0].address", "“1234567890123” 不对：水表地址要写 14 位"},
		{"cjt188 address letters", entry("driver: cjt188, " + ttyS + ", meters: [{address: '1234567890123X', device: wm1}]"),
			"meters[0].address", "水表地址要写 14 位"},
		{"cjt188 device", entry("driver: cjt188, " + ttyS + ", meters: [{address: '12345678901234', device: 水表}]"),
			"meters[0].device", "不能用作名字或编号"},
		{"cjt188 address twice", entry("driver: cjt188, " + ttyS + ", meters: [{address: '12345678901234', device: wm1}, {address: '12345678901234', device: wm2}]"),
			"meters[1].address", "写了两次"},
		{"cjt188 device twice", entry("driver: cjt188, " + ttyS + ", meters: [{address: '12345678901234', device: wm1}, {address: '12345678901235', device: wm1}]"),
			"meters[1].device", "写了两次"},
		{"cjt188 meter type length", cjt("meter_type: '1'"), "meter_type", "“1” 不对：表类型要写两位十六进制数"},
		{"cjt188 meter type hex", cjt("meter_type: 'G0'"), "meter_type", "“G0” 不对：表类型要写两位十六进制数"},
		{"cjt188 di order", cjt("di_order: '9010'"), "di_order", "只能写：901F、1F90"},
		{"cjt188 poll interval", cjt("poll_interval: 0s"), "poll_interval", "超出允许的范围"},
		{"cjt188 timeout", cjt("timeout: 0s"), "timeout", "超出允许的范围"},
		{"cjt188 gap", cjt("gap: -1ms"), "gap", "超出允许的范围"},
		{"cjt188 misses", cjt("misses_before_silent: 0"), "misses_before_silent", "超出允许的范围"},
		{"cjt188 reconnect negative", cjt("reconnect: {healthy: -1s}"), "reconnect.healthy", "“-1s” 超出允许的范围（允许：>= 0）"},
		{"cjt188 reconnect max", cjt("reconnect: {min: 10s, max: 5s}"), "reconnect.max", "“5s” 超出允许的范围"},

		// dlt645
		{"dlt645 no meters", dlt("poll_interval: 1m"), "meters", "没有填写"},
		{"dlt645 address", dlt("meters: [{address: '12345678901', device: pm1}]"), "meters[0].address", "电表地址要写 12 位"},
		{"dlt645 device", dlt("meters: [{address: '123456789012', device: 'p m'}]"), "meters[0].device", "不能用作名字或编号"},
		{"dlt645 address twice", dlt("meters: [{address: '123456789012', device: pm1}, {address: '123456789012', device: pm2}]"), "meters[1].address", "写了两次"},
		{"dlt645 device twice", dlt("meters: [{address: '123456789012', device: pm1}, {address: '123456789013', device: pm1}]"), "meters[1].device", "写了两次"},
		{"dlt645 protocol", dlt("meters: [{address: '123456789012', device: pm1, protocol: '2009'}]"), "meters[0].protocol", "只能写：2007、1997"},
		{"dlt645 field", dlt("meters: [{address: '123456789012', device: pm1, protocol: '1997', fields: [energy_kwh]}]"),
			"meters[0].fields", "“energy_kwh” 不是可用的值（只能写：forward_energy_kwh、voltage_v）"},
		{"dlt645 field twice", dlt("meters: [{address: '123456789012', device: pm1, fields: [voltage_v, voltage_v]}]"), "meters[0].fields", "写了两次"},
		{"dlt645 poll interval", dlt(pmeters + ", poll_interval: 0s"), "poll_interval", "超出允许的范围"},
		{"dlt645 timeout", dlt(pmeters + ", timeout: 0s"), "timeout", "超出允许的范围"},
		{"dlt645 gap", dlt(pmeters + ", gap: -1s"), "gap", "超出允许的范围"},
		{"dlt645 misses", dlt(pmeters + ", misses_before_silent: 0"), "misses_before_silent", "超出允许的范围"},
		{"dlt645 reconnect negative", dlt(pmeters + ", reconnect: {min: -1s}"), "reconnect.min", "超出允许的范围"},
		{"dlt645 reconnect max", dlt(pmeters + ", reconnect: {min: 10s, max: 5s}"), "reconnect.max", "超出允许的范围"},

		// modbus
		{"modbus stop bits", entry("driver: modbus, port: {path: /dev/ttyUSB0, stop_bits: 1.5}, units: [{" + unit + ", registers: [" + reg + "]}]"),
			"port.stop_bits", "只能写：1、2"},
		{"modbus data bits", entry("driver: modbus, port: {path: /dev/ttyUSB0, data_bits: 7}, units: [{" + unit + ", registers: [" + reg + "]}]"),
			"port.data_bits", "只能写：8"},
		{"modbus poll interval", mb("poll_interval: 1ms, units: [{" + unit + ", registers: [" + reg + "]}]"), "poll_interval", "超出允许的范围"},
		{"modbus timeout", mb("timeout: 11s, units: [{" + unit + ", registers: [" + reg + "]}]"), "timeout", "超出允许的范围"},
		{"modbus no units", mb("timeout: 1s"), "units", "没有填写"},
		{"modbus unit number", mbUnit("unit: 248, device: pm1, kind: power_meter, registers: [" + reg + "]"), "units[0].unit", "超出允许的范围（允许：1..247）"},
		{"modbus unit twice", mb("units: [{" + unit + ", registers: [" + reg + "]}, {unit: 1, device: pm2, kind: power_meter, registers: [" + reg + "]}]"),
			"units[1].unit", "写了两次"},
		{"modbus no registers", mbUnit(unit), "units[0].registers", "没有填写"},
		{"modbus unit device", mbUnit("unit: 1, device: 'p m', kind: power_meter, registers: [" + reg + "]"), "units[0].device", "不能用作名字或编号"},
		{"modbus unit kind", mbUnit("unit: 1, device: pm1, kind: meter, registers: [" + reg + "]"), "units[0].kind", "不是可用的值"},
		{"modbus device with inputs", mbUnit("unit: 1, device: pm1, discrete_inputs: [" + input + "]"), "units[0].device", "不能这样同时写"},
		{"modbus register name", mbUnit(unit + ", registers: [{name: 'e kwh', register: 0}]"), "units[0].registers[0].name", "不能用作名字或编号"},
		{"modbus register type", mbUnit(unit + ", registers: [{name: e, register: 0, type: coil}]"), "units[0].registers[0].type", "只能写：holding、input"},
		{"modbus byte order", mbUnit(unit + ", registers: [{name: e, register: 0, byte_order: middle}]"), "units[0].registers[0].byte_order", "不是可用的值"},
		{"modbus word order", mbUnit(unit + ", registers: [{name: e, register: 0, word_order: middle}]"), "units[0].registers[0].word_order", "不是可用的值"},
		{"modbus register scale", mbUnit(unit + ", registers: [{name: e, register: 0, scale: .inf}]"), "units[0].registers[0].scale", "“+Inf” 不对：倍数要写不为 0 的数"},
		{"modbus register end", mbUnit(unit + ", registers: [{name: e, register: 0xFFFF, format: uint32}]"), "units[0].registers[0].register", "超出允许的范围"},
		{"modbus register format", mbUnit(unit + ", registers: [{name: e, register: 0, format: float}]"), "units[0].registers[0].format", "不是可用的值"},
		{"modbus register twice", mbUnit(unit + ", registers: [{name: e, register: 0}, {name: e, register: 1}]"), "units[0].registers[1].name", "写了两次"},
		{"modbus input twice", mbUnit("unit: 1, discrete_inputs: [" + input + ", {input: 0, device: smoke2, kind: smoke_detector, event: smoke}]"),
			"units[0].discrete_inputs[1].input", "写了两次"},
		{"modbus input device", mbUnit("unit: 1, discrete_inputs: [{input: 0, device: 'a b', kind: smoke_detector, event: smoke}]"),
			"units[0].discrete_inputs[0].device", "不能用作名字或编号"},
		{"modbus input device twice", mbUnit("unit: 1, discrete_inputs: [" + input + ", {input: 1, device: smoke1, kind: smoke_detector, event: smoke}]"),
			"units[0].discrete_inputs[1].device", "写了两次"},
		{"modbus input kind", mbUnit("unit: 1, discrete_inputs: [{input: 0, device: s1, kind: smoke, event: smoke}]"),
			"units[0].discrete_inputs[0].kind", "不是可用的值"},
		{"modbus input event", mbUnit("unit: 1, discrete_inputs: [{input: 0, device: s1, kind: smoke_detector, event: fire}]"),
			"units[0].discrete_inputs[0].event", "只能写：smoke、gas、water_leak"},

		// rf433, and the code table tasmota shares
		{"rf433 format", rf("format: bin, codes: [" + code + "]"), "format", "只能写：hex、rtl433_json"},
		{"rf433 debounce", rf("debounce: 0s, codes: [" + code + "]"), "debounce", "超出允许的范围"},
		{"rf433 no codes", rf("format: hex"), "codes", "没有填写"},
		{"rf433 code", rf("codes: [{code: 8d3cfz, device: btn1, kind: call_button, event: button_pressed}]"), "codes[0].code", "“8d3cfz” 不对：不是遥控码"},
		{"rf433 code long", rf("codes: [{code: 8d3cf6a, device: btn1, kind: call_button, event: button_pressed}]"), "codes[0].code", "不是遥控码"},
		{"rf433 device", rf("codes: [{code: '1', device: 'b 1', kind: call_button, event: button_pressed}]"), "codes[0].device", "不能用作名字或编号"},
		{"rf433 kind", rf("codes: [{code: '1', device: b1, kind: doorbell, event: button_pressed}]"), "codes[0].kind", "不是可用的值"},
		{"rf433 event", rf("codes: [{code: '1', device: b1, kind: call_button, event: ring}]"), "codes[0].event", "不是可用的值"},
		{"rf433 code twice", rf("codes: [" + code + ", {code: '0x8D3CF6', device: btn2, kind: call_button, event: button_pressed}]"),
			"codes[1].code", "“8d3cf6” 写了两次"},
		{"tasmota code", entry("driver: tasmota, codes: [{code: zz, device: b1, kind: call_button, event: button_pressed}]"), "codes[0].code", "不是遥控码"},
		{"tasmota code twice", entry("driver: tasmota, codes: [" + code + ", " + code + "]"), "codes[1].code", "写了两次"},
		{"tasmota topics", entry("driver: tasmota, topics: []"), "topics", "没有填写"},
		{"tasmota topic filter", entry("driver: tasmota, topics: ['tele/+/RESULT', 'tele/#/RESULT']"), "topics[1]", "“tele/#/RESULT” 不对：不是有效的 MQTT 主题"},
		{"tasmota debounce", entry("driver: tasmota, debounce: 2m"), "debounce", "超出允许的范围"},

		// nmea
		{"nmea device", entry("driver: nmea, " + ttyS), "device", "不能用作名字或编号"},
		{"nmea min interval", entry("driver: nmea, device: gps1, " + ttyS + ", min_interval: -1s"), "min_interval", "超出允许的范围"},

		// the dial-in listener: jt808, watch3g
		{"jt808 listen", jt("listen: '8808'"), "listen", "“8808” 不对：不是监听地址"},
		{"jt808 idle timeout", jt("idle_timeout: 0s"), "idle_timeout", "超出允许的范围"},
		{"jt808 first frame", jt("first_frame_timeout: 0s"), "first_frame_timeout", "超出允许的范围"},
		{"jt808 max connections", jt("max_connections: 0"), "max_connections", "超出允许的范围"},
		{"jt808 max frame rate", jt("max_frame_rate: -1"), "max_frame_rate", "超出允许的范围"},
		{"jt808 terminal id", jt("terminals: [{id: '1380013800O', device: t1}]"), "terminals[0].id", "“*******800O” 不对：不是终端手机号"},
		{"jt808 terminal twice", jt("terminals: [{id: '9031853319', device: t1}, {id: '9031853319', device: t2}]"), "terminals[1].id", "写了两次"},
		// the terminal sends its number zero-padded: 09031853319 is 9031853319
		// again, which "写了两次" alone does not tell the installer
		{"jt808 terminal twice zero", jt("terminals: [{id: '9031853319', device: t1}, {id: '09031853319', device: t2}]"), "terminals[1].id", "前面的 0 不算"},
		{"jt808 terminal household", jt("terminals: [{id: '13800138000', device: t1, household: 'h 1'}]"), "terminals[0].household", "不能用作名字或编号"},
		{"jt808 terminal device", jt("terminals: [{id: '13800138000', device: ''}]"), "terminals[0].device", "不能用作名字或编号"},
		{"jt808 terminal kind", jt("terminals: [{id: '13800138000', device: t1, kind: watch}]"), "terminals[0].kind", "不是可用的值"},
		{"jt808 terminal device twice", jt("terminals: [{id: '13800138000', device: t1}, {id: '13800138001', device: t1}]"), "terminals[1].device", "写了两次"},
		{"jt808 vendor tlv", jt("vendor: {battery_tlv: 300}"), "vendor.battery_tlv", "超出允许的范围"},
		{"jt808 vendor heart rate", jt("vendor: {heart_rate_tlv: -1}"), "vendor.heart_rate_tlv", "超出允许的范围"},
		{"jt808 vendor fall bit", jt("vendor: {fall_alarm_bit: 7}"), "vendor.fall_alarm_bit", "超出允许的范围"},
		{"jt808 model fall bit", jt("models: {w4g: {fall_alarm_bit: 40}}"), "models.w4g.fall_alarm_bit", "超出允许的范围"},
		{"jt808 terminal model", jt("terminals: [{id: '13800138000', device: t1, model: w4g}]"), "terminals[0].model", "不是可用的值"},
		{"watch3g terminal id", entry("driver: watch3g, terminals: [{id: '903185331!', device: w1}]"), "terminals[0].id", "不对：不是手表编号"},
		{"watch3g listen", entry("driver: watch3g, listen: 'localhost'"), "listen", "不是监听地址"},
		{"watch3g model", entry("driver: watch3g, terminals: [{id: '9031853319', device: w1, model: s8}]"), "terminals[0].model", "没有这一项"},

		// the home broker section (zigbee2mqtt, tasmota, jsonmap)
		{"broker missing", z2m("broker: ''"), "broker", "没有填写"},
		{"broker credentials", z2m("broker: 'tcp://admin:Pw-271828@127.0.0.1:1883'"), "broker", "地址里不能写用户名和密码"},
		{"driver broker scheme", z2m("broker: 'http://127.0.0.1:1883'"), "broker", "地址开头的协议不对"},
		{"driver broker not a url", z2m("broker: '127.0.0.1'"), "broker", "不是 MQTT 服务器地址"},
		{"driver broker port", z2m("broker: 'tcp://127.0.0.1:0'"), "broker", "地址里的端口 “0” 不对"},
		{"driver password both", z2m("username: gw, password: Pw-271828, password_file: /etc/anxin/pw"), "password_file", "与 password 不能这样同时写"},
		{"driver password alone", z2m("password: Pw-271828"), "password", "还必须写 username"},
		{"driver password file alone", z2m("password_file: /etc/anxin/pw"), "password_file", "还必须写 username"},
		{"driver client id", z2m("client_id: 'gw/1'"), "client_id", "“gw/1” 不对：客户端编号最多 128 个字节（一个汉字算 3 个）"},
		// 50 Chinese characters are 150 bytes: "128 个字符" sent the installer counting characters
		{"driver client id chinese", z2m("client_id: '" + strings.Repeat("网", 50) + "'"), "client_id", "最多 128 个字节（一个汉字算 3 个）"},

		// zigbee2mqtt
		{"z2m base topic", z2m("base_topic: ''"), "base_topic", "没有填写"},
		{"z2m base topic wildcard", z2m("base_topic: 'z2m/#'"), "base_topic", "“z2m/#” 不对：主题前缀不能含 + 或 #"},
		{"z2m base topic slash", z2m("base_topic: '/zigbee2mqtt'"), "base_topic", "主题前缀不能含 + 或 #"},
		{"z2m debounce", z2m("action_debounce: -1s"), "action_debounce", "超出允许的范围"},
		{"z2m bridge device", z2m("bridge_device: 'z b'"), "bridge_device", "不能用作名字或编号"},
		{"z2m bridge reserved", z2m("bridge_device: gateway"), "bridge_device", "“gateway” 不对：gateway 是网关自己的状态用的编号"},
		{"z2m too many devices", z2m("devices: [" + many(1025, func(i int) string { return fmt.Sprintf("{name: n%d, device: d%d, kind: call_button}", i, i) }) + "]"),
			"devices", "超出允许的范围（允许：<= 1024 devices）"},
		{"z2m device name", zdev("{device: b1, kind: call_button}"), "devices[0].name", "没有填写"},
		{"z2m device name wildcard", zdev("{name: 'btn+', device: b1, kind: call_button}"), "devices[0].name", "“btn+” 不对：要写 zigbee2mqtt 里的设备名"},
		{"z2m device name twice", zdev("{name: b, device: b1, kind: call_button}, {name: b, device: b2, kind: call_button}"), "devices[1].name", "写了两次"},
		{"z2m device id", zdev("{name: b, device: 'b 1', kind: call_button}"), "devices[0].device", "不能用作名字或编号"},
		{"z2m device id twice", zdev("{name: a, device: b1, kind: call_button}, {name: b, device: b1, kind: call_button}"), "devices[1].device", "写了两次"},
		{"z2m device reserved", zdev("{name: a, device: gateway, kind: call_button}"), "devices[0].device", "gateway 是网关自己的状态用的编号"},
		{"z2m device is the bridge", zdev("{name: a, device: zigbee2mqtt, kind: call_button}"), "devices[0].device", "与 bridge_device 不能这样同时写"},
		{"z2m device kind", zdev("{name: a, device: b1, kind: button}"), "devices[0].kind", "不是可用的值"},
		{"z2m device sub-topic", zdev("{name: hall/action, device: b1, kind: call_button}"), "devices[0].name", "“hall/action” 不对：设备名不能以 /availability"},
		{"z2m empty action", zdev("{name: a, device: b1, kind: call_button, actions: {'': fall}}"), "devices[0].actions", "空的 action 是按键复位"},
		{"z2m action event", zdev("{name: a, device: b1, kind: call_button, actions: {double: ring}}"), "devices[0].actions.double", "不是可用的值"},

		// jsonmap
		{"jsonmap no mappings", entry("driver: jsonmap"), "mappings", "没有填写"},
		{"jsonmap too many", entry("driver: jsonmap, mappings: [" + many(257, func(i int) string {
			return fmt.Sprintf("{topic: 'v/%d/{device}', kind: tracker, fields: {lat: $.lat}}", i)
		}) + "]"),
			"mappings", "超出允许的范围（允许：<= 256 mappings）"},
		{"jsonmap capture name", jm("topic: 'v/{dev-id}/up', device: t1, kind: tracker, fields: {lat: $.lat}"), "mappings[0].topic", "主题里的 {名字} 写法不对"},
		{"jsonmap capture twice", jm("topic: 'v/{device}/{device}', kind: tracker, fields: {lat: $.lat}"), "mappings[0].topic", "写了两次"},
		{"jsonmap capture part", jm("topic: 'v/dev{id}/up', device: t1, kind: tracker, fields: {lat: $.lat}"), "mappings[0].topic", "主题里的 {名字} 写法不对"},
		{"jsonmap topic", jm("device: t1, kind: tracker, fields: {lat: $.lat}"), "mappings[0].topic", "没有填写"},
		{"jsonmap topic filter", jm("topic: 'v/#/up', device: t1, kind: tracker, fields: {lat: $.lat}"), "mappings[0].topic", "不是有效的 MQTT 主题"},
		{"jsonmap device", jm("topic: 'v/+/up', kind: tracker, fields: {lat: $.lat}"), "mappings[0].device", "没有填写"},
		{"jsonmap device literal", jm("topic: 'v/{imei}/up', device: 'tracker {imei}', kind: tracker, fields: {lat: $.lat}"), "mappings[0].device", "设备编号的写法不对"},
		{"jsonmap device brace", jm("topic: 'v/{imei}/up', device: 'tracker-{imei', kind: tracker, fields: {lat: $.lat}"), "mappings[0].device", "设备编号的写法不对"},
		{"jsonmap device capture", jm("topic: 'v/{imei}/up', device: 'tracker-{id}', kind: tracker, fields: {lat: $.lat}"), "mappings[0].device", "设备编号的写法不对"},
		{"jsonmap kind", jm("topic: 'v/{device}/up', kind: watch, fields: {lat: $.lat}"), "mappings[0].kind", "不是可用的值"},
		{"jsonmap nothing read", jm("topic: 'v/{device}/up', kind: tracker"), "mappings[0].fields", "没有填写"},
		{"jsonmap too many fields", jm("topic: 'v/{device}/up', kind: tracker, fields: {" + many(65, func(i int) string { return fmt.Sprintf("f%d: $.f%d", i, i) }) + "}"),
			"mappings[0].fields", "超出允许的范围（允许：<= 64 fields）"},
		{"jsonmap field name", jm("topic: 'v/{device}/up', kind: tracker, fields: {'纬度': $.lat}"), "mappings[0].fields", "“纬度” 不能用作名字或编号"},
		{"jsonmap field path", jm("topic: 'v/{device}/up', kind: tracker, fields: {lat: gps.lat}"), "mappings[0].fields.lat", "“gps.lat” 不对：不是数据路径"},
		{"jsonmap field index", jm("topic: 'v/{device}/up', kind: tracker, fields: {lat: '$.a[x]'}"), "mappings[0].fields.lat", "不是数据路径"},
		{"jsonmap scale boolean", jm("topic: 'v/{device}/up', kind: tracker, fields: {battery_low: $.b}, scale: {battery_low: 2}"), "mappings[0].scale.battery_low", "这是开关量"},
		{"jsonmap scale zero", jm(mapping + ", scale: {lat: 0}"), "mappings[0].scale.lat", "“0” 不对：倍数要写不为 0 的数"},
		{"jsonmap scale unknown", jm(mapping + ", scale: {lon: 2}"), "mappings[0].scale.lon", "没有这一项"},
		{"jsonmap event path", jm(mapping + ", events: [{path: alarm, event: fall}]"), "mappings[0].events[0].path", "不是数据路径"},
		{"jsonmap event", jm(mapping + ", events: [{path: $.alarm, event: sos}]"), "mappings[0].events[0].event", "不是可用的值"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "notpem"), []byte("not a certificate\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			yaml := strings.ReplaceAll(c.yaml, "{dir}", dir)
			_, err := Parse([]byte(yaml))
			if err == nil {
				t.Fatalf("accepted:\n%s", yaml)
			}
			zh := ConfigErrorText(err, AtCheck)
			if strings.Contains(zh, "原因见下面的英文说明") {
				t.Errorf("falls back to the English line:\n%s\n%s", zh, err)
			}
			if c.key != "" && !strings.Contains(zh, " "+c.key+" 项：") && !strings.Contains(zh, "："+c.key+" 项：") {
				t.Errorf("does not name %s:\n%s\n%s", c.key, zh, err)
			}
			if !strings.Contains(zh, c.zh) {
				t.Errorf("lacks %q:\n%s\n%s", c.zh, zh, err)
			}
			if s := hidden[c.name]; s != "" && (strings.Contains(zh, s) || strings.Contains(err.Error(), s)) {
				t.Errorf("%q is shown:\n%s\n%v", s, zh, err)
			}
		})
	}
}

// TestConfigReasonsHaveWords: every reason a gatewayd config error may
// carry has its Mandarin, and nothing else is worded.
func TestConfigReasonsHaveWords(t *testing.T) {
	for _, r := range drivers.ErrorReasons {
		if reasons[r] == "" {
			t.Errorf("reason %q has no Mandarin in reasons", r)
		}
		e := &drivers.ConfigError{Kind: drivers.ValueBad, Key: "drivers[0].x", Reason: r}
		if zh := ConfigErrorText(e, AtCheck); strings.Contains(zh, "英文说明") {
			t.Errorf("%s: %s", r, zh)
		}
	}
	for r := range reasons {
		if !slices.Contains(drivers.ErrorReasons, r) {
			t.Errorf("reasons has %q, which no config error carries", r)
		}
	}
}

// TestNoBadValueWithoutReason guards what the walk above cannot see
// coming: a new check in gatewayd or a driver that returns a bad value
// with no reason (drivers.Because gives one) would read "原因见下面的英文说明".
func TestNoBadValueWithoutReason(t *testing.T) {
	root := testenv.RepoRoot(t)
	for _, dir := range []string{"gateway", "drivers"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for i, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, "NewConfigError(drivers.ValueBad") || strings.Contains(l, "Kind: drivers.ValueBad") {
					t.Errorf("%s:%d: a bad value without a reason; use drivers.Because", p, i+1)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
