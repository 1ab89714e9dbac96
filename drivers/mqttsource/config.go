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
	"strings"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

// DefaultBroker is the broker zigbee2mqtt and Tasmota publish to on a gateway.
const DefaultBroker = "tcp://127.0.0.1:1883"

// Config is the `broker:` part of an MQTT driver's config; drivers embed it
// with `mapstructure:",squash" yaml:",inline"`.
type Config struct {
	Broker       anxin.BrokerURL `mapstructure:"broker" yaml:"broker"`               // tcp://, ssl://, ws:// or wss://
	Username     string          `mapstructure:"username" yaml:"username"`           // optional
	Password     string          `mapstructure:"password" yaml:"password"`           // optional; never logged
	PasswordFile string          `mapstructure:"password_file" yaml:"password_file"` // optional, instead of password
	ClientID     string          `mapstructure:"client_id" yaml:"client_id"`         // empty: anxin-<driver>-<household>
}

// DefaultConfig is the local broker without credentials.
func DefaultConfig() Config { return Config{Broker: anxin.MustBrokerURL(DefaultBroker)} }

// Validate checks the broker settings without connecting or reading files.
// No error repeats the password.
func (c *Config) Validate() error {
	if c.Broker.IsZero() {
		return drivers.Missing("broker", "empty; a URL such as %s", DefaultBroker)
	}
	if c.Broker.HasUserinfo() {
		// not even redacted: the Mandarin text would show the user name
		return drivers.Because("broker", drivers.ReasonBrokerUserinfo, "put credentials in username and password, not in the URL")
	}
	if c.Password != "" && c.PasswordFile != "" {
		return drivers.NewConfigError(drivers.KeysConflict, "password_file", "set only one of password and password_file").
			WithChoices("password")
	}
	if (c.Password != "" || c.PasswordFile != "") && c.Username == "" {
		key := "password"
		if c.Password == "" {
			key = "password_file"
		}
		return drivers.NewConfigError(drivers.KeyNeedsOther, key, "set without username").WithChoices("username")
	}
	if len(c.ClientID) > 128 || strings.ContainsAny(c.ClientID, "/+#") {
		return drivers.Because("client_id", drivers.ReasonClientID, "%q: at most 128 bytes, no / + #", clip(c.ClientID)).
			WithValue(c.ClientID)
	}
	return nil
}

// String describes the config for logs: the password never appears.
func (c Config) String() string {
	s := c.Broker.String()
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
