package gateway

import (
	"strings"
	"testing"
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
