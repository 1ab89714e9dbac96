package tasmota

import (
	"fmt"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/mqttsource"
	"github.com/anxin-care/anxin/drivers/rf433"
)

// DefaultTopic is where a Tasmota RF bridge publishes what it receives.
const DefaultTopic = "tele/+/RESULT"

// Config is the tasmota driver's section of the gatewayd config.
type Config struct {
	mqttsource.Config `mapstructure:",squash" yaml:",inline"`
	// Topics are the MQTT filters to read: Tasmota's tele/<topic>/RESULT, or
	// OpenMQTTGateway's <base>/433toMQTT.
	Topics []string `mapstructure:"topics" yaml:"topics"`
	// Debounce collapses the repeats of one press (a remote sends its code
	// 4–13 times) into one event.
	Debounce time.Duration `mapstructure:"debounce" yaml:"debounce"`
	// Codes is the learned code table, the same entries the rf433 driver takes.
	Codes []rf433.Code `mapstructure:"codes" yaml:"codes"`
}

// NewConfig returns the defaults: local broker, tele/+/RESULT, no codes.
func NewConfig() *Config {
	return &Config{Config: mqttsource.DefaultConfig(), Topics: []string{DefaultTopic}, Debounce: rf433.DefaultDebounce}
}

// Validate checks the config without touching the network.
func (c *Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return err
	}
	if len(c.Topics) == 0 {
		return drivers.Missing("topics", "at least one topic filter, e.g. %s", DefaultTopic)
	}
	for i, f := range c.Topics {
		if err := mqttsource.ValidFilter(f); err != nil {
			return drivers.Because(fmt.Sprintf("topics[%d]", i), drivers.ReasonTopicFilter, "%s", anxin.ErrorMessage(err)).WithValue(f)
		}
	}
	if c.Debounce < 0 || c.Debounce > time.Minute {
		return drivers.OutOfRange("debounce", c.Debounce, "0..1m")
	}
	if _, err := rf433.NewCodeMap(c.Codes); err != nil {
		return err // typed, keyed codes[i].<key>
	}
	return nil
}
