package cjt188

import (
	_ "embed"
	"fmt"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
)

//go:embed sample.yaml
var sampleConfig string

// Meter is one water meter on the bus.
type Meter struct {
	Address string `mapstructure:"address" yaml:"address"` // 14 digits, as on the label
	Device  string `mapstructure:"device" yaml:"device"`   // device id of its readings
}

// Config is the cjt188 driver's section of the gatewayd config.
type Config struct {
	Port               serialport.Config    `mapstructure:"port" yaml:"port"`
	Meters             []Meter              `mapstructure:"meters" yaml:"meters"`
	MeterType          string               `mapstructure:"meter_type" yaml:"meter_type"`
	DIOrder            string               `mapstructure:"di_order" yaml:"di_order"`
	PollInterval       time.Duration        `mapstructure:"poll_interval" yaml:"poll_interval"`
	Timeout            time.Duration        `mapstructure:"timeout" yaml:"timeout"`
	Gap                time.Duration        `mapstructure:"gap" yaml:"gap"`
	MissesBeforeSilent int                  `mapstructure:"misses_before_silent" yaml:"misses_before_silent"`
	Reconnect          serialport.Reconnect `mapstructure:"reconnect" yaml:"reconnect"`
}

// NewConfig returns the defaults: 2400 8E1, poll every 15 minutes.
func NewConfig() *Config {
	c := &Config{
		Port:               serialport.Config{Baud: 2400, DataBits: 8, Parity: "even", StopBits: 1},
		MeterType:          "10",
		DIOrder:            "901F",
		PollInterval:       15 * time.Minute,
		Timeout:            time.Second,
		Gap:                50 * time.Millisecond,
		MissesBeforeSilent: 3,
		Reconnect:          serialport.Reconnect{Min: time.Second, Max: time.Minute},
	}
	return c
}

// Validate checks the config without touching the port.
func (c *Config) Validate() error {
	if err := c.Port.Validate(); err != nil {
		return drivers.UnderKey("port", err)
	}
	if len(c.Meters) == 0 {
		return drivers.Missing("meters", "at least one meter is required")
	}
	addrs := map[string]bool{}
	devs := map[string]bool{}
	for i, m := range c.Meters {
		if _, err := ParseAddress(m.Address); err != nil {
			return drivers.Because(fmt.Sprintf("meters[%d].address", i), drivers.ReasonWaterAddress, "%v", err).
				WithValue(m.Address)
		}
		if !anxin.ValidID(m.Device) {
			return drivers.NotID(fmt.Sprintf("meters[%d].device", i), m.Device)
		}
		if addrs[m.Address] {
			return drivers.Duplicate(fmt.Sprintf("meters[%d].address", i), m.Address)
		}
		if devs[m.Device] {
			return drivers.Duplicate(fmt.Sprintf("meters[%d].device", i), m.Device)
		}
		addrs[m.Address], devs[m.Device] = true, true
	}
	if _, err := c.meterType(); err != nil {
		return err
	}
	if _, err := c.di(); err != nil {
		return err
	}
	switch {
	case c.PollInterval <= 0:
		return drivers.NewConfigError(drivers.ValueOutOfRange, "poll_interval", "%s must be positive", c.PollInterval).
			WithValue(c.PollInterval).WithRange("> 0")
	case c.Timeout <= 0:
		return drivers.NewConfigError(drivers.ValueOutOfRange, "timeout", "%s must be positive", c.Timeout).
			WithValue(c.Timeout).WithRange("> 0")
	case c.Gap < 0:
		return drivers.NewConfigError(drivers.ValueOutOfRange, "gap", "%s must not be negative", c.Gap).
			WithValue(c.Gap).WithRange(">= 0")
	case c.MissesBeforeSilent < 1:
		return drivers.NewConfigError(drivers.ValueOutOfRange, "misses_before_silent", "%d must be at least 1", c.MissesBeforeSilent).
			WithValue(c.MissesBeforeSilent).WithRange(">= 1")
	}
	return drivers.UnderKey("reconnect", c.Reconnect.Validate())
}

func (c *Config) meterType() (byte, error) {
	if len(c.MeterType) != 2 {
		return 0, drivers.Because("meter_type", drivers.ReasonMeterType, "%q must be two hex digits, e.g. 10", c.MeterType).
			WithValue(c.MeterType)
	}
	hi, ok1 := hexVal(c.MeterType[0])
	lo, ok2 := hexVal(c.MeterType[1])
	if !ok1 || !ok2 {
		return 0, drivers.Because("meter_type", drivers.ReasonMeterType, "%q must be two hex digits, e.g. 10", c.MeterType).
			WithValue(c.MeterType)
	}
	return hi<<4 | lo, nil
}

func (c *Config) di() ([2]byte, error) {
	switch c.DIOrder {
	case "901F":
		return di2004, nil
	case "1F90":
		return di2018, nil
	}
	return [2]byte{}, drivers.NewConfigError(drivers.ValueNotChoice, "di_order", "%q must be 901F or 1F90", c.DIOrder).
		WithValue(c.DIOrder).WithChoices("901F", "1F90")
}

// SerialPort tells gatewayd which port the driver uses and how: it polls
// its meters request by request, so it can share the port (and its bus)
// with other polled drivers (see serialport.CheckSharing).
func (c *Config) SerialPort() (serialport.Config, serialport.Mode) { return c.Port, serialport.Polled }
