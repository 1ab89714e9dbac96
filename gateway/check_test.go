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
