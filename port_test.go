package anxin

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckURLPorts(t *testing.T) {
	for _, c := range []struct {
		url   string
		bad   string // the port refused; "" none
		shown string
	}{
		{"postgres://u:p@db:5432/x", "", ""},
		{"postgres://u:p@db/x", "", ""},
		{"postgres:///x?host=/run/postgresql", "", ""},
		{"postgres://u:p@db1:5432,db2:5433/x", "", ""},
		{"tcp://[::1]:1883", "", ""},
		{"tcp://[::1]", "", ""},
		{"https://alarm.example.org:65535", "", ""},
		{"postgres://u:p@db:99999/x", "99999", "99999"},
		{"postgres://u:p@db:0/x", "0", "0"},
		{"postgres://u:p@db1:5432,db2:65536/x", "65536", "65536"},
		{"tcp://[::1]:70000", "70000", "70000"},
		{"tcp://127.0.0.1:mqtt", "mqtt", ""},
		{"postgres://u:s3cret/x", "s3cret", ""}, // no @: the password reads as the port, and is not shown
		{"tcp://h:-1", "-1", ""},
		{"tcp://h:+80", "+80", ""},
	} {
		err := CheckURLPorts(c.url)
		var pe *PortError
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%s: %v", c.url, err)
		case c.bad != "" && (!errors.As(err, &pe) || pe.Port != c.bad || pe.Shown() != c.shown):
			t.Errorf("%s: got %#v, want port %q shown %q", c.url, err, c.bad, c.shown)
		}
	}
	if err := CheckHostPort("dysmsapi.aliyuncs.com:0"); err == nil {
		t.Error("host:0 accepted")
	}
	if err := CheckHostPort("dysmsapi.aliyuncs.com"); err != nil {
		t.Error(err)
	}
}

// TestCheckURLPortsPasswordWithReservedCharacters: a password may hold '?'
// or '#' (libpq, hence pgx, ends the search for the '@' at a '/' only), and
// digits of a password written unescaped before a '/' must not be quoted as
// a port.
func TestCheckURLPortsPasswordWithReservedCharacters(t *testing.T) {
	for _, u := range []string{
		"postgres://u:pa?ss@db:5432/x",
		"postgres://u:pa#ss@db:5432/x",
		"postgres://u:99999?ss@db/x",
		"tcp://u:pa#ss@[::1]:1883",
	} {
		if err := CheckURLPorts(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	var pe *PortError
	if err := CheckURLPorts("postgres://u:99999/s3cret@db/x"); !errors.As(err, &pe) || pe.Shown() != "" {
		t.Errorf("password digits before a '/': %v", err)
	}
}

// TestBrokerURLPasswordWithReservedCharactersNotShown: a broker URL whose
// password holds '#' or '?' does not parse (url.Parse ends the authority
// there); the error quoting it must still hide the password.
func TestBrokerURLPasswordWithReservedCharactersNotShown(t *testing.T) {
	for _, s := range []string{"tcp://gw:Pw#271828@127.0.0.1:1883", "tcp://gw:Pw?271828@127.0.0.1:1883", "tcp://gw:Pw/271828@127.0.0.1:1883"} {
		_, err := ParseBrokerURL(s)
		if err == nil {
			t.Errorf("%s accepted", s)
		} else if strings.Contains(err.Error(), "271828") {
			t.Errorf("the password is shown: %v", err)
		}
	}
}

// FuzzCheckURLPorts: any URL an operator writes is answered without a
// panic, a refused port is one of the URL's own bytes and is shown only as
// digits; and a port shown never comes from the password (written after
// user: and before the '@'; any bytes but '@' and '/', which a URL must
// percent-encode: '?', '#' and ':' included).
func FuzzCheckURLPorts(f *testing.F) {
	for _, c := range [][2]string{{"p", "db:5432/x"}, {"99999?ss", "db/x"}, {"pa#ss", "[::1]:70000"},
		{"s3cret/x", "db:0"}, {"12345", "db:12345/x"}, {"a:b", "c@d:0/@"}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, pass, rest string) {
		for _, u := range []string{pass, "postgres://anxin:" + pass + "@" + rest} {
			err := CheckURLPorts(u)
			if err == nil {
				continue
			}
			var pe *PortError
			if !errors.As(err, &pe) {
				t.Fatalf("%q: %T %v, want a *PortError", u, err, err)
			}
			if !strings.Contains(u, pe.Port) {
				t.Fatalf("%q: port %q is not in the URL", u, pe.Port)
			}
			if sh := pe.Shown(); sh != "" && !digits(sh) {
				t.Fatalf("%q: shown %q", u, sh)
			}
			if sh := pe.Shown(); u != pass && sh != "" && !strings.ContainsAny(pass, "@/") && !strings.Contains(rest, sh) {
				t.Fatalf("%q: the error %q shows a port taken from the password %q", u, err, pass)
			}
		}
	})
}
