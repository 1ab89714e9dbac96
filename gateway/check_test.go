package gateway

import (
	"strings"
	"testing"
	"time"
)

// An installer reads gatewayd check's result column: the usual reasons a
// driver heard nothing are said in Mandarin, with what to do, before the
// English detail.
func TestCheckProblemsInMandarin(t *testing.T) {
	for _, tc := range []struct{ problem, want string }{
		{"serial port unavailable; retrying with backoff: serial port /dev/ttyUSB1: /dev/ttyUSB1: serial port not found (unplugged?) (will be retried)", "找不到串口"},
		{"open /dev/ttyUSB0: permission denied", "dialout"},
		{"/dev/null: not a serial port", "不是串口"},
		{"dial tcp 127.0.0.1:1884: connect: connection refused", "mosquitto"},
		{"", ""},
		{"something else", ""},
	} {
		got := portProblemZh(tc.problem)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%q: %q, want it to say %q", tc.problem, got, tc.want)
		}
	}
	if d := zhDuration(10 * time.Second); d != "10 秒" {
		t.Errorf("10s reads %q", d)
	}
	if d := zhDuration(2 * time.Minute); d != "2 分钟" {
		t.Errorf("2m reads %q", d)
	}
}

// The reasons are told by what the text is about, not by a word in it: a
// broker that refuses the password is not "mosquitto is not running" (the
// log line says "connect failed"), a TCP listener is not a serial port,
// and two matching USB adapters are not a missing one.
func TestCheckProblemsNotMisread(t *testing.T) {
	for _, tc := range []struct{ problem, want, not string }{
		// mqttsource's line and paho's CONNACK errors
		{"home broker connect failed: not Authorized", "拒绝登录", "没有运行"},
		{"home broker connect failed: bad user name or password", "拒绝登录", "没有运行"},
		{"home broker connect failed: network Error : dial tcp 127.0.0.1:1883: connect: connection refused", "mosquitto", ""},
		// tcpserver (jt808, watch3g)
		{"listen failed, retrying: listen tcp :80: bind: permission denied", "端口", "dialout"},
		{"connections refused: too many devices connected", "", "MQTT"},
		// serialport, usb: {vid, pid} matching two adapters
		{"serial port unavailable; retrying with backoff: 2 USB adapters match 1a86:7523 (/dev/ttyUSB0, /dev/ttyUSB1); set usb.serial to choose one: serial port not found (unplugged?)",
			"usb.serial", "找不到串口"},
	} {
		got := portProblemZh(tc.problem)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) || tc.not != "" && strings.Contains(got, tc.not) {
			t.Errorf("%q: %q, want it to say %q and not %q", tc.problem, got, tc.want, tc.not)
		}
	}
}
