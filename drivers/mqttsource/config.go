// Package mqttsource is the home-broker subscription shared by the MQTT device
// drivers (zigbee2mqtt, tasmota, jsonmap): a paho client that connects to the
// local broker, subscribes to the driver's topic filters again after every
// (re)connect, and hands each received message off the paho callback through a
// bounded queue, so that a slow sink never blocks paho's network loop. QoS 1
// messages are acknowledged to the broker only once the driver has handled
// them (spooled), so the broker redelivers anything a crash interrupted. It
// also reads the capture files `gatewayd decode` feeds to these drivers.
package mqttsource

import (
	"net/url"
	"strings"

	"github.com/anxin-care/anxin"
)

// DefaultBroker is the broker zigbee2mqtt and Tasmota publish to on a gateway.
const DefaultBroker = "tcp://127.0.0.1:1883"

// Config is the `broker:` part of an MQTT driver's config; drivers embed it
// with `mapstructure:",squash" yaml:",inline"`.
type Config struct {
	Broker       string `mapstructure:"broker" yaml:"broker"`               // tcp://, ssl://, ws:// or wss://
	Username     string `mapstructure:"username" yaml:"username"`           // optional
	Password     string `mapstructure:"password" yaml:"password"`           // optional; never logged
	PasswordFile string `mapstructure:"password_file" yaml:"password_file"` // optional, instead of password
	ClientID     string `mapstructure:"client_id" yaml:"client_id"`         // empty: anxin-<driver>-<household>
}

// DefaultConfig is the local broker without credentials.
func DefaultConfig() Config { return Config{Broker: DefaultBroker} }

// Validate checks the broker settings without connecting or reading files.
func (c *Config) Validate() error {
	u, err := url.Parse(c.Broker)
	if c.Broker == "" || err != nil {
		return anxin.Errorf(anxin.EINVALID, "broker %q is not a URL such as %s", clip(c.Broker), DefaultBroker)
	}
	switch u.Scheme {
	case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
	default:
		return anxin.Errorf(anxin.EINVALID, "broker %q: scheme must be tcp, ssl, mqtts, ws or wss", clip(c.Broker))
	}
	if u.Host == "" {
		return anxin.Errorf(anxin.EINVALID, "broker %q has no host", clip(c.Broker))
	}
	if u.User != nil {
		return anxin.Errorf(anxin.EINVALID, "broker: put credentials in username and password, not in the URL")
	}
	if c.Password != "" && c.PasswordFile != "" {
		return anxin.Errorf(anxin.EINVALID, "password and password_file: set only one")
	}
	if (c.Password != "" || c.PasswordFile != "") && c.Username == "" {
		return anxin.Errorf(anxin.EINVALID, "password without username")
	}
	if len(c.ClientID) > 128 || strings.ContainsAny(c.ClientID, "/+#") {
		return anxin.Errorf(anxin.EINVALID, "client_id %q: at most 128 characters, no / + #", clip(c.ClientID))
	}
	return nil
}

// String describes the config for logs: the password never appears.
func (c Config) String() string {
	s := c.Broker
	if c.Username != "" {
		s += " as " + c.Username
	}
	return s
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
