package dlt645

import (
	_ "embed"
	"fmt"
	"slices"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
)

//go:embed sample.yaml
var sampleConfig string

// Meter is one electricity meter on the bus.
type Meter struct {
	Address  string   `mapstructure:"address" yaml:"address"`   // 12 digits, as on the nameplate
	Device   string   `mapstructure:"device" yaml:"device"`     // device id of its readings
	Protocol string   `mapstructure:"protocol" yaml:"protocol"` // "2007" (default) or "1997"
	Fields   []string `mapstructure:"fields" yaml:"fields"`     // default: every field the protocol has
}

// Config is the dlt645 driver's section of the gatewayd config.
type Config struct {
	Port               serialport.Config    `mapstructure:"port" yaml:"port"`
	Meters             []Meter              `mapstructure:"meters" yaml:"meters"`
	PollInterval       time.Duration        `mapstructure:"poll_interval" yaml:"poll_interval"`
	Timeout            time.Duration        `mapstructure:"timeout" yaml:"timeout"`
	Gap                time.Duration        `mapstructure:"gap" yaml:"gap"`
	MissesBeforeSilent int                  `mapstructure:"misses_before_silent" yaml:"misses_before_silent"`
	Reconnect          serialport.Reconnect `mapstructure:"reconnect" yaml:"reconnect"`
}

// NewConfig returns the defaults: 2400 8E1, poll every 15 minutes.
func NewConfig() *Config {
	return &Config{
		Port:               serialport.Config{Baud: 2400, DataBits: 8, Parity: "even", StopBits: 1},
		PollInterval:       15 * time.Minute,
		Timeout:            time.Second,
		Gap:                50 * time.Millisecond,
		MissesBeforeSilent: 3,
		Reconnect:          serialport.Reconnect{Min: time.Second, Max: time.Minute},
	}
}

// request is one data identifier to read from a meter.
type request struct {
	edition int
	di      uint32
	field   string
}

var fields2007 = []request{
	{2007, DICombinedEnergy, "energy_kwh"},
	{2007, DIForwardEnergy, "forward_energy_kwh"},
	{2007, DIVoltageA, "voltage_v"},
}

var fields1997 = []request{
	{1997, uint32(DI97Forward), "forward_energy_kwh"},
	{1997, uint32(DI97VoltageA), "voltage_v"},
}

// requests lists what to read from m (validated config).
func (m Meter) requests() ([]request, error) {
	all := fields2007
	switch m.Protocol {
	case "", "2007":
	case "1997":
		all = fields1997
	default:
		return nil, drivers.NewConfigError(drivers.ValueNotChoice, "protocol", "%q must be 2007 or 1997", m.Protocol).
			WithValue(m.Protocol).WithChoices("2007", "1997")
	}
	if len(m.Fields) == 0 {
		return all, nil
	}
	var out []request
	for _, f := range m.Fields {
		i := slices.IndexFunc(all, func(r request) bool { return r.field == f })
		if i < 0 {
			var names []string
			for _, r := range all {
				names = append(names, r.field)
			}
			return nil, drivers.NewConfigError(drivers.ValueNotChoice, "fields", "%q is not one of %v for protocol %s", f, names, m.protocol()).
				WithValue(f).WithChoices(names...)
		}
		if slices.ContainsFunc(out, func(r request) bool { return r.field == f }) {
			return nil, drivers.NewConfigError(drivers.ValueDuplicate, "fields", "%q is listed twice", f).WithValue(f)
		}
		out = append(out, all[i])
	}
	return out, nil
}

func (m Meter) protocol() string {
	if m.Protocol == "" {
		return "2007"
	}
	return m.Protocol
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
			return drivers.Because(fmt.Sprintf("meters[%d].address", i), drivers.ReasonPowerAddress, "%v", err).
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
		if _, err := m.requests(); err != nil {
			return drivers.UnderKey(fmt.Sprintf("meters[%d]", i), err)
		}
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

// SerialPort tells gatewayd which port the driver uses and how: it polls
// its meters request by request, so it can share the port (and its bus)
// with other polled drivers (see serialport.CheckSharing).
func (c *Config) SerialPort() (serialport.Config, serialport.Mode) { return c.Port, serialport.Polled }
