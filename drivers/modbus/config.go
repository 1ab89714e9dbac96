package modbus

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

// Config is the modbus driver's section of the gatewayd config: one bus.
type Config struct {
	Port         serialport.Config `mapstructure:"port" yaml:"port"`
	PollInterval time.Duration     `mapstructure:"poll_interval" yaml:"poll_interval"`
	Timeout      time.Duration     `mapstructure:"timeout" yaml:"timeout"`
	Units        []Unit            `mapstructure:"units" yaml:"units"`
}

// Unit is one slave on the bus.
type Unit struct {
	Unit      byte         `mapstructure:"unit" yaml:"unit"`
	Device    string       `mapstructure:"device" yaml:"device"` // of the register readings
	Kind      anxin.Kind   `mapstructure:"kind" yaml:"kind"`
	Registers []Register   `mapstructure:"registers" yaml:"registers"`
	Inputs    []InputEvent `mapstructure:"discrete_inputs" yaml:"discrete_inputs"`
}

// InputEvent maps a discrete input to a detector's alarm event.
type InputEvent struct {
	Input  uint16          `mapstructure:"input" yaml:"input"`
	Device string          `mapstructure:"device" yaml:"device"`
	Kind   anxin.Kind      `mapstructure:"kind" yaml:"kind"`
	Event  anxin.EventType `mapstructure:"event" yaml:"event"`   // smoke | gas | water_leak
	Invert bool            `mapstructure:"invert" yaml:"invert"` // active when the input reads 0 (NC contact)
}

// Clear is the event sent when the input returns to rest.
func (e *InputEvent) Clear() anxin.EventType { return e.Event + "_clear" }

// Defaults: 9600 8N1, a poll every 10 s, 500 ms per request.
const (
	DefaultPollInterval = 10 * time.Second
	DefaultTimeout      = 500 * time.Millisecond
)

// NewConfig returns the defaults.
func NewConfig() *Config {
	c := &Config{PollInterval: DefaultPollInterval, Timeout: DefaultTimeout}
	c.Port.SetDefaults()
	return c
}

// Validate checks the config without opening the port. It fills register
// defaults (holding, uint16, big, high_first, scale 1).
func (c *Config) Validate() error {
	if err := c.Port.Validate(); err != nil {
		return drivers.UnderKey("port", err)
	}
	if c.Port.StopBits != 1 && c.Port.StopBits != 2 {
		return drivers.NewConfigError(drivers.ValueNotChoice, "port.stop_bits", "%v: Modbus RTU uses 1 or 2", c.Port.StopBits).
			WithValue(c.Port.StopBits).WithChoices("1", "2")
	}
	if c.Port.DataBits != 8 {
		return drivers.NewConfigError(drivers.ValueNotChoice, "port.data_bits", "%d: Modbus RTU uses 8", c.Port.DataBits).
			WithValue(c.Port.DataBits).WithChoices("8")
	}
	if c.PollInterval < 10*time.Millisecond {
		return drivers.OutOfRange("poll_interval", c.PollInterval, ">= 10ms")
	}
	if c.Timeout <= 0 || c.Timeout > 10*time.Second {
		return drivers.OutOfRange("timeout", c.Timeout, "(0, 10s]")
	}
	if len(c.Units) == 0 {
		return drivers.Missing("units", "at least one unit is needed")
	}
	return c.validateUnits()
}

// validateUnits checks the unit list (all a capture decoder needs).
func (c *Config) validateUnits() error {
	units := map[byte]bool{}
	inputs := map[string]string{} // device -> key, one input per detector
	for i := range c.Units {
		u := &c.Units[i]
		key := fmt.Sprintf("units[%d]", i)
		if u.Unit < 1 || u.Unit > 247 {
			return drivers.NewConfigError(drivers.ValueOutOfRange, key+".unit", "%d is not 1..247", u.Unit).
				WithValue(u.Unit).WithRange("1..247")
		}
		if units[u.Unit] {
			return drivers.Duplicate(key+".unit", fmt.Sprint(u.Unit))
		}
		units[u.Unit] = true
		if len(u.Registers) == 0 && len(u.Inputs) == 0 {
			return drivers.Missing(key+".registers", "required, or discrete_inputs instead")
		}
		if len(u.Registers) > 0 {
			if !anxin.ValidID(u.Device) {
				return drivers.NotID(key+".device", u.Device)
			}
			if !u.Kind.Valid() {
				return drivers.NotKind(key+".kind", u.Kind)
			}
		} else if u.Device != "" || u.Kind != "" {
			k := key + ".device"
			if u.Device == "" {
				k = key + ".kind"
			}
			return drivers.NewConfigError(drivers.KeysConflict, k, "only used with registers; detectors name theirs per input").
				WithChoices(key + ".discrete_inputs")
		}
		names := map[string]bool{}
		for j := range u.Registers {
			r := &u.Registers[j]
			r.setDefaults()
			rk := fmt.Sprintf("%s.registers[%d]", key, j)
			if err := r.validate(rk); err != nil {
				return err
			}
			if names[r.Name] {
				return drivers.Duplicate(rk+".name", fmt.Sprintf("%q", r.Name)).WithValue(r.Name)
			}
			names[r.Name] = true
		}
		seen := map[uint16]bool{}
		for j := range u.Inputs {
			in := &u.Inputs[j]
			ik := fmt.Sprintf("%s.discrete_inputs[%d]", key, j)
			if seen[in.Input] {
				return drivers.Duplicate(ik+".input", fmt.Sprint(in.Input))
			}
			seen[in.Input] = true
			if !anxin.ValidID(in.Device) {
				return drivers.NotID(ik+".device", in.Device)
			}
			if prev, dup := inputs[in.Device]; dup {
				return drivers.NewConfigError(drivers.ValueDuplicate, ik+".device", "%s is already %s", in.Device, prev).WithValue(in.Device)
			}
			inputs[in.Device] = ik
			if !in.Kind.Valid() {
				return drivers.NotKind(ik+".kind", in.Kind)
			}
			switch in.Event {
			case anxin.EventSmoke, anxin.EventGas, anxin.EventWaterLeak:
			default:
				return drivers.NotChoice(ik+".event", string(in.Event), string(anxin.EventSmoke), string(anxin.EventGas), string(anxin.EventWaterLeak))
			}
		}
	}
	return nil
}

func init() {
	drivers.Register(drivers.Plugin{
		Name:         "modbus",
		SampleConfig: sampleConfig,
		NewConfig:    func() drivers.Config { return NewConfig() },
		New: func(cfg drivers.Config, env drivers.Env) (drivers.Driver, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("modbus: config is %T, not *modbus.Config", cfg)
			}
			return newDriver(c, env)
		},
		NewDecoder: func(cfg drivers.Config, env drivers.Env) (drivers.Decoder, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("modbus: config is %T, not *modbus.Config", cfg)
			}
			if err := c.validateUnits(); err != nil {
				return nil, err
			}
			return &decoder{units: c.Units, env: env}, nil
		},
	})
}

// SerialPort tells gatewayd which port the driver uses and how: it opens
// the device itself through simonvetter/modbus, whose client has no way to
// run over a port opened elsewhere, so the port cannot be shared with
// another driver (see serialport.CheckSharing).
func (c *Config) SerialPort() (serialport.Config, serialport.Mode) {
	return c.Port, serialport.Exclusive
}
