package anxin

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// PortError is an address whose port no server listens on: 0, above
// 65535, or not a number. url.Parse accepts any run of digits (99999, 0),
// so a URL that parses may still name no port at all.
type PortError struct {
	Port string // as written; a port that is not digits may be a password typed where the host goes
	// Hidden: what was read as the port may be part of a password (an
	// '@' follows it past a '/'), so no message quotes it even as digits.
	Hidden bool
}

func (e *PortError) Error() string {
	if p := e.Shown(); p != "" {
		return fmt.Sprintf("port %s is not 1..65535", p)
	}
	return "the port is not a number 1..65535"
}

// Shown is the port when a message may quote it (digits only), else "".
func (e *PortError) Shown() string {
	if !e.Hidden && digits(e.Port) && len(e.Port) <= 12 {
		return e.Port
	}
	return ""
}

// CheckURLPorts reports the first bad port among the hosts of the URL s
// (scheme://user:pass@host:port/…, and host1:port1,host2:port2 as
// PostgreSQL URLs allow), or nil: a host without a port is left to the
// scheme's default. It reads only the authority, so it also runs on a URL
// url.Parse refuses for its port.
func CheckURLPorts(s string) error {
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	}
	// The user info ends at the last '@' before the first '/': libpq, and
	// so pgx, reads a '?' or '#' before it as part of the password
	// (postgres://anxin:pa?ss@db/anxin connects). A URL that url.Parse
	// reads differently is refused by url.Parse after this check.
	head, _, _ := strings.Cut(s, "/")
	hidden := false
	if i := strings.LastIndex(head, "@"); i >= 0 {
		s = s[i+1:]
	} else {
		// an '@' past the '/' may close a password holding a '/': what
		// stands after its ':' is no port to quote
		hidden = strings.Contains(s, "@")
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	for _, h := range strings.Split(s, ",") {
		if err := CheckHostPort(h); err != nil {
			var pe *PortError
			if errors.As(err, &pe) {
				pe.Hidden = hidden
			}
			return err
		}
	}
	return nil
}

// CheckHostPort is CheckURLPorts for host[:port] or [v6]:port.
func CheckHostPort(h string) error {
	port := ""
	if strings.HasPrefix(h, "[") {
		if i := strings.Index(h, "]"); i >= 0 {
			port, _ = strings.CutPrefix(h[i+1:], ":")
		}
	} else if strings.Count(h, ":") == 1 { // more is an IPv6 address without brackets
		_, port, _ = strings.Cut(h, ":")
	}
	if port == "" {
		return nil
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || !digits(port) {
		return &PortError{Port: port}
	}
	return nil
}

// digits reports whether s is a non-empty run of ASCII digits.
func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
