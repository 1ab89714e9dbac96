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
