package nmea

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

// Config is the nmea driver's section of the gatewayd config.
type Config struct {
	Device      string            `mapstructure:"device" yaml:"device"`
	Port        serialport.Config `mapstructure:"port" yaml:"port"`
	MinInterval time.Duration     `mapstructure:"min_interval" yaml:"min_interval"`
}

// NewConfig returns the defaults: 9600 8N1, one reading per fix.
func NewConfig() *Config {
	c := &Config{}
	c.Port.SetDefaults()
	return c
}

// Validate checks the config without opening the port.
func (c *Config) Validate() error {
	if !anxin.ValidID(c.Device) {
		return drivers.NotID("device", c.Device)
	}
	if err := c.Port.Validate(); err != nil {
		return drivers.UnderKey("port", err)
	}
	if c.MinInterval < 0 {
		return drivers.OutOfRange("min_interval", c.MinInterval, ">= 0")
	}
	return nil
}

func (c *Config) message(f Fix, ts time.Time, household string) anxin.Message {
	return anxin.Message{
		ID:        anxin.NewID(ts),
		TS:        ts,
		Household: household,
		Device:    c.Device,
		Kind:      anxin.KindTracker,
		Fields:    f.Fields(),
	}
}

func init() {
	drivers.Register(drivers.Plugin{
		Name:         "nmea",
		SampleConfig: sampleConfig,
		NewConfig:    func() drivers.Config { return NewConfig() },
		New: func(cfg drivers.Config, env drivers.Env) (drivers.Driver, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("nmea: config is %T, not *nmea.Config", cfg)
			}
			return newDriver(c, env)
		},
		NewDecoder: func(cfg drivers.Config, env drivers.Env) (drivers.Decoder, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("nmea: config is %T, not *nmea.Config", cfg)
			}
			cc := *c
			if cc.Device == "" {
				cc.Device = "tracker" // a capture decoded without a config
			}
			return &decoder{cfg: &cc, env: env}, nil
		},
	})
}

// SerialPort tells gatewayd which port the driver uses and how: it reads
// the port continuously, so the port is its alone (see
// serialport.CheckSharing).
func (c *Config) SerialPort() (serialport.Config, serialport.Mode) { return c.Port, serialport.Stream }
