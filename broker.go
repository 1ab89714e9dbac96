package anxin

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
)

// BrokerURL is an MQTT broker address: tcp://, mqtt://, ssl://, tls://,
// mqtts://, ws:// or wss://, with a host. A password in it
// (tcp://user:pass@host) is kept for the client (Dial) and never printed:
// String, LogValue, GoString, MarshalText and the parse errors redact it.
// The zero value is "no broker".
type BrokerURL struct {
	u   *url.URL
	raw string // as configured: what the client dials
}

// brokerSchemes are the schemes paho dials.
var brokerSchemes = []string{"tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"}

// ParseBrokerURL parses and validates s. An empty s is the zero BrokerURL;
// a port outside 1..65535 is a *PortError.
func ParseBrokerURL(s string) (BrokerURL, error) {
	if s == "" {
		return BrokerURL{}, nil
	}
	if err := CheckURLPorts(s); err != nil {
		return BrokerURL{}, err
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Hostname() == "" {
		return BrokerURL{}, fmt.Errorf("%q is not a URL like tcp://host:1883", redactRaw(s))
	}
	ok := false
	for _, sc := range brokerSchemes {
		ok = ok || u.Scheme == sc
	}
	if !ok {
		return BrokerURL{}, fmt.Errorf("%q: scheme %q is not %s", u.Redacted(), u.Scheme, strings.Join(brokerSchemes, "|"))
	}
	return BrokerURL{u: u, raw: s}, nil
}

// MustBrokerURL is ParseBrokerURL for constants and tests: it panics on a
// bad URL.
func MustBrokerURL(s string) BrokerURL {
	b, err := ParseBrokerURL(s)
	if err != nil {
		panic(err)
	}
	return b
}

// IsZero reports whether no broker is set.
func (b BrokerURL) IsZero() bool { return b.u == nil }

// String is the URL with its password replaced by xxxxx.
func (b BrokerURL) String() string {
	if b.u == nil {
		return ""
	}
	return b.u.Redacted()
}

// LogValue keeps the password out of slog.
func (b BrokerURL) LogValue() slog.Value { return slog.StringValue(b.String()) }

// GoString keeps the password out of %#v.
func (b BrokerURL) GoString() string { return fmt.Sprintf("%q", b.String()) }

// MarshalText writes the redacted URL (JSON, YAML dumps of a config).
func (b BrokerURL) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText parses a URL (config decoding).
func (b *BrokerURL) UnmarshalText(text []byte) error {
	v, err := ParseBrokerURL(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Dial is the full URL, password included, for the MQTT client only.
func (b BrokerURL) Dial() string { return b.raw }

// Scheme is the URL's scheme.
func (b BrokerURL) Scheme() string {
	if b.u == nil {
		return ""
	}
	return b.u.Scheme
}

// Host is host:port.
func (b BrokerURL) Host() string {
	if b.u == nil {
		return ""
	}
	return b.u.Host
}

// HasUserinfo reports whether the URL carries a user name or password.
func (b BrokerURL) HasUserinfo() bool { return b.u != nil && b.u.User != nil }

// TLS reports whether the scheme dials TLS.
func (b BrokerURL) TLS() bool {
	switch b.Scheme() {
	case "ssl", "tls", "mqtts", "wss":
		return true
	}
	return false
}

// ErrNoBroker is the use of a zero BrokerURL where one is required.
var ErrNoBroker = errors.New("no broker URL")

// RedactURL is s, a URL a person wrote, with what may be the password of
// its user info replaced by xxxxx, for a message that quotes it
// (http://vm:pw@vm → http://vm:xxxxx@vm). A text url.Parse does not read
// as user info (a password holding '/', '?' or '#') is read as redactRaw
// does.
func RedactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		if _, ok := u.User.Password(); ok {
			return u.Redacted()
		}
		if u.User != nil || !strings.Contains(s, "@") {
			return s
		}
	}
	return redactRaw(s)
}

// redactRaw hides what may be a password in a string that did not parse as
// a URL: everything between "scheme://user:" and the last "@".
func redactRaw(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		if at := strings.LastIndex(s, "@"); at >= 0 {
			return "xxxxx" + s[at:]
		}
		return s
	}
	rest := s[i+3:]
	// the last '@' anywhere: a password may hold '/', '?' or '#', where
	// url.Parse ends the authority (hiding a path or query too is harmless)
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return s
	}
	user := rest[:at]
	if c := strings.IndexByte(user, ':'); c >= 0 {
		user = user[:c] + ":xxxxx"
	}
	return s[:i+3] + user + rest[at:]
}
