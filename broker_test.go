package anxin

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
)

func TestBrokerURL(t *testing.T) {
	for _, c := range []struct{ in, str, err string }{
		{"tcp://127.0.0.1:1883", "tcp://127.0.0.1:1883", ""},
		{"ssl://gw1:pw@broker:8883", "ssl://gw1:xxxxx@broker:8883", ""},
		{"", "", ""},
		{"http://gw1:pw@broker:1", "", `"http://gw1:xxxxx@broker:1": scheme "http"`},
		{"tcp://gw1:pw@broker:1/%zz", "", `"tcp://gw1:xxxxx@broker:1/%zz" is not a URL`},
		{"tcp://gw1:pw@", "", `"tcp://gw1:xxxxx@" is not a URL`},
		{"gw1:pw@broker", "", `"xxxxx@broker" is not a URL`},
		{"tcp://a:b:c@d@host:1", "tcp://a:xxxxx@host:1", ""},
	} {
		b, err := ParseBrokerURL(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: error %v, want %q", c.in, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("%q: %v", c.in, err)
		case c.err == "" && b.String() != c.str:
			t.Errorf("%q: String %q, want %q", c.in, b.String(), c.str)
		case c.err == "" && b.Dial() != c.in:
			t.Errorf("%q: Dial %q", c.in, b.Dial())
		}
	}
}

// FuzzBrokerURL: a password never prints, whatever surrounds it.
func FuzzBrokerURL(f *testing.F) {
	f.Add("tcp", "gw1", "s3cret-pw", "127.0.0.1:1883")
	f.Add("ws", "u", "s3cret-pw", "h/%zz")
	f.Add("http", "", "s3cret-pw", "")
	f.Add("", "u", "s3cret-pw", "x")
	f.Fuzz(func(t *testing.T, scheme, user, pass, rest string) {
		if len(pass) < 6 || strings.ContainsAny(pass, "@/?#") || strings.ContainsAny(user, "@:/?#") ||
			strings.Contains(strconv.Quote(scheme+"://"+user+":xxxxx@"+rest), pass) {
			return // not a password in the authority, or one that also appears elsewhere
		}
		in := scheme + "://" + user + ":" + pass + "@" + rest
		b, err := ParseBrokerURL(in)
		var out strings.Builder
		if err != nil {
			out.WriteString(err.Error())
		}
		j, _ := json.Marshal(struct{ B BrokerURL }{b})
		fmt.Fprintf(&out, "%v %+v %#v %s %s", b, b, b, b, j)
		slog.New(slog.NewTextHandler(&out, nil)).Info("x", "b", b)
		if strings.Contains(out.String(), pass) {
			t.Fatalf("password %q printed for %q: %s", pass, in, out.String())
		}
	})
}

// TestRedactURL: a password never survives, however the URL is written.
func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"http://vm:hunter2@vm:8428", "http://vm:xxxxx@vm:8428"},
		{"http://vm@vm:8428", "http://vm@vm:8428"},
		{"http://vm:8428/q?a=b", "http://vm:8428/q?a=b"},
		{"http://vm:pa/ss@vm", "http://vm:xxxxx@vm"},
		{"http://vm:pa?ss@vm", "http://vm:xxxxx@vm"},
		{"vm:hunter2@vm", "xxxxx@vm"},
	} {
		if got := RedactURL(c.in); got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
