package rf433

import (
	_ "embed"
	"fmt"
	"time"

	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/serialport"
)

//go:embed sample.yaml
var sampleConfig string

// Config is the rf433 driver's section of the gatewayd config.
type Config struct {
	Port     serialport.Config `mapstructure:"port" yaml:"port"`
	Format   string            `mapstructure:"format" yaml:"format"`
	Debounce time.Duration     `mapstructure:"debounce" yaml:"debounce"`
	Codes    []Code            `mapstructure:"codes" yaml:"codes"`
}

// NewConfig returns the defaults: 9600 8N1, hex format, 1.5 s de-bounce.
func NewConfig() *Config {
	c := &Config{Format: FormatHex, Debounce: DefaultDebounce}
	c.Port.SetDefaults()
	return c
}

// Validate checks the config without opening the port.
func (c *Config) Validate() error {
	if err := c.Port.Validate(); err != nil {
		return drivers.UnderKey("port", err)
	}
	if err := c.validateDecoding(); err != nil {
		return err
	}
	if len(c.Codes) == 0 {
		return drivers.Missing("codes", "at least one learned code is needed")
	}
	return nil
}

// validateDecoding checks what a capture decoder needs (no port).
func (c *Config) validateDecoding() error {
	switch c.Format {
	case FormatHex, FormatRTL433JSON:
	default:
		return drivers.NotChoice("format", c.Format, FormatHex, FormatRTL433JSON)
	}
	if c.Debounce <= 0 || c.Debounce > time.Minute {
		return drivers.OutOfRange("debounce", c.Debounce, "(0, 1m]")
	}
	if _, err := NewCodeMap(c.Codes); err != nil {
		return err
	}
	return nil
}

func init() {
	drivers.Register(drivers.Plugin{
		Name:         "rf433",
		SampleConfig: sampleConfig,
		NewConfig:    func() drivers.Config { return NewConfig() },
		New: func(cfg drivers.Config, env drivers.Env) (drivers.Driver, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("rf433: config is %T, not *rf433.Config", cfg)
			}
			return newDriver(c, env)
		},
		NewDecoder: func(cfg drivers.Config, env drivers.Env) (drivers.Decoder, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("rf433: config is %T, not *rf433.Config", cfg)
			}
			if err := c.validateDecoding(); err != nil {
				return nil, err
			}
			codes, err := NewCodeMap(c.Codes)
			if err != nil {
				return nil, err
			}
			return &decoder{format: c.Format, window: c.Debounce, codes: codes, env: env}, nil
		},
	})
}

// SerialPort tells gatewayd which port the driver uses and how: it reads
// the port continuously, so the port is its alone (see
// serialport.CheckSharing).
func (c *Config) SerialPort() (serialport.Config, serialport.Mode) { return c.Port, serialport.Stream }
