package gateway

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A listen address without its port is told how to write one; the example
// must not send the installer to another listener's port: watches dial
// watch3g on :8001 (jt808 trackers on :8808), and /metrics is served on
// the loopback (127.0.0.1:9108), not on every address.
func TestListenAdviceFitsTheListener(t *testing.T) {
	const hh = "household: hh-0001\n"
	for _, c := range []struct {
		name, yaml, want string
		not              []string
	}{
		{"watch3g", hh + "drivers:\n  - {driver: watch3g, listen: '8001'}\n", ":8001", []string{"8808"}},
		{"jt808", hh + "drivers:\n  - {driver: jt808, listen: '8808'}\n", ":8808", nil},
		{"metrics", hh + "metrics: {listen: '9108'}\n", "127.0.0.1:9108", []string{"8808", "0.0.0.0"}},
	} {
		_, err := Parse([]byte(c.yaml))
		if err == nil {
			t.Fatalf("%s: accepted", c.name)
		}
		zh := ConfigErrorText(err, AtCheck)
		if !strings.Contains(zh, c.want) {
			t.Errorf("%s: %q lacks %q", c.name, zh, c.want)
		}
		for _, n := range c.not {
			if strings.Contains(zh, n) {
				t.Errorf("%s: %q advises %q", c.name, zh, n)
			}
		}
	}
}

// A terminal's id written as a YAML number (unquoted, as a phone number
// looks) is refused as the wrong type; the line still must not show the
// SIM's number whole, in the Mandarin or in the English detail: it is
// masked as the id check masks it (last four digits).
func TestTerminalIDOfTheWrongTypeIsMasked(t *testing.T) {
	for _, c := range []struct{ driver, id, tail string }{
		{"jt808", "13800138000", "8000"},
		{"jt808", "[13800138000]", "000]"},
		{"watch3g", "9031853319", "3319"},
	} {
		y := "household: hh-0001\ndrivers:\n  - {driver: " + c.driver + ", terminals: [{id: " + c.id + ", device: t1}]}\n"
		_, err := Parse([]byte(y))
		if err == nil {
			t.Fatalf("%s %s: accepted", c.driver, c.id)
		}
		zh := ConfigErrorText(err, AtCheck)
		digits := strings.Trim(c.id, "[]")
		if strings.Contains(zh, digits) || strings.Contains(err.Error(), digits) {
			t.Errorf("%s: the id is shown:\n%s\n%v", c.driver, zh, err)
		}
		if !strings.Contains(zh, "terminals[0].id 项") || !strings.Contains(zh, c.tail+"”") {
			t.Errorf("%s: does not name the key and the id's last four digits:\n%s", c.driver, zh)
		}
	}
}

// What most often reaches "the wrong type" on a ladder: a meter address,
// a USB id, a meter type, a 433 code or a terminal id copied without
// quotes, which YAML reads as a number (0403 as octal 259, 0x7028D5 as
// 7350485). "这里应写文字" does not say what to change, since the value
// already is the digits on the nameplate: the line says to quote it.
func TestNumberWhereTextIsWantedSaysQuoteIt(t *testing.T) {
	const hh = "household: hh-0001\n"
	for _, y := range []string{
		hh + "drivers:\n  - {driver: cjt188, port: {path: /dev/ttyUSB0}, meters: [{address: 12345678901234, device: wm1}]}\n",
		hh + "drivers:\n  - {driver: cjt188, port: {usb: {vid: 0403, pid: '6001'}}, meters: [{address: '12345678901234', device: wm1}]}\n",
		hh + "drivers:\n  - {driver: cjt188, meter_type: 10, port: {path: /dev/ttyUSB0}, meters: [{address: '12345678901234', device: wm1}]}\n",
		hh + "drivers:\n  - {driver: rf433, port: {path: /dev/ttyUSB0}, codes: [{code: 0x7028D5, device: b1, kind: call_button, event: button_pressed}]}\n",
		hh + "drivers:\n  - {driver: jt808, terminals: [{id: 13800138000, device: t1}]}\n",
	} {
		_, err := Parse([]byte(y))
		if err == nil {
			t.Fatalf("accepted:\n%s", y)
		}
		if zh := ConfigErrorText(err, AtCheck); !strings.Contains(zh, "加上英文引号") {
			t.Errorf("%s\ndoes not say to quote it: %s", y, zh)
		}
	}
}

// gatewayd check prints one line per problem: a value holding a line break
// or another control character (a double-quoted "8808\n" in YAML, an
// escape sequence pasted from a terminal) is shown escaped, not broken
// over two lines.
func TestConfigErrorTextIsOneLine(t *testing.T) {
	for _, y := range []string{
		"household: hh-0001\ndrivers:\n  - {driver: jt808, listen: \"8808\\nX\"}\n",
		"household: hh-0001\ndrivers:\n  - {driver: tasmota, topics: [\"tele/#/\\e[2J\\rRESULT\"]}\n",
	} {
		_, err := Parse([]byte(y))
		if err == nil {
			t.Fatalf("accepted:\n%s", y)
		}
		if zh := ConfigErrorText(err, AtCheck); strings.ContainsAny(zh, "\n\r\x1b") {
			t.Errorf("not one line: %q", zh)
		}
	}
}

// A SIM's number typed with a Chinese input method comes in full-width
// digits (１３８…): the id is refused, and the line says why (半角 digits)
// and shows it as promised, its last four characters, whole: masking
// bytes cut a full-width digit in two and printed 29 stars and a broken
// character.
func TestFullWidthTerminalIDIsNamed(t *testing.T) {
	y := "household: hh-0001\ndrivers:\n  - {driver: jt808, terminals: [{id: '１３８００１３８０００', device: t1}]}\n"
	_, err := Parse([]byte(y))
	if err == nil {
		t.Fatal("accepted")
	}
	zh := ConfigErrorText(err, AtCheck)
	if !utf8.ValidString(zh) || !strings.Contains(zh, "“*******８０００”") || !strings.Contains(zh, "半角") {
		t.Errorf("%q", zh)
	}
}

// A broker URL with a scheme paho does not dial and credentials in it:
// neither line shows the user name (nor, as before, the password), as
// for a URL refused for its credentials.
func TestBrokerSchemeErrorHidesTheUserName(t *testing.T) {
	for _, y := range []string{
		"household: hh-0001\nmqtt: {broker: 'http://gw-hh0001:Pw-271828@127.0.0.1:1883'}\n",
		"household: hh-0001\ndrivers:\n  - {driver: zigbee2mqtt, broker: 'http://gw-hh0001:Pw-271828@127.0.0.1:1883'}\n",
	} {
		_, err := Parse([]byte(y))
		if err == nil {
			t.Fatalf("accepted:\n%s", y)
		}
		zh := ConfigErrorText(err, AtCheck)
		for _, s := range []string{"gw-hh0001", "Pw-271828"} {
			if strings.Contains(zh, s) || strings.Contains(err.Error(), s) {
				t.Errorf("%q is shown:\n%s\n%v", s, zh, err)
			}
		}
		if !strings.Contains(err.Error(), `scheme "http"`) || !strings.Contains(err.Error(), "127.0.0.1:1883") {
			t.Errorf("the English line lost the scheme or the host: %v", err)
		}
	}
}
