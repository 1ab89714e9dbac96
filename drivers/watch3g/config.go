package watch3g

import (
	_ "embed"
	"fmt"

	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/tcpserver"
)

//go:embed sample.yaml
var sampleConfig string

// Config is the watch3g driver's section of the gatewayd config.
type Config struct {
	tcpserver.ListenConfig `mapstructure:",squash" yaml:",inline"`
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	c := &Config{}
	c.SetDefaults(":8001")
	return c
}

// Validate checks the config without binding the port.
func (c *Config) Validate() error {
	for i, t := range c.Terminals {
		if t.Model != "" {
			return drivers.NewConfigError(drivers.KeyUnknown, fmt.Sprintf("terminals[%d].model", i),
				"watch3g has no vendor profiles (known: device, household, id, kind)").WithChoices("device", "household", "id", "kind")
		}
	}
	return c.ListenConfig.Validate(func(id string) bool { return alnum(id, 20) }, drivers.ReasonTerminalWatch3g)
}

func init() {
	drivers.Register(drivers.Plugin{
		Name:         "watch3g",
		SampleConfig: sampleConfig,
		NewConfig:    func() drivers.Config { return NewConfig() },
		New: func(cfg drivers.Config, env drivers.Env) (drivers.Driver, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("watch3g: config is %T, not *watch3g.Config", cfg)
			}
			return newDriver(c, env)
		},
		NewDecoder: func(cfg drivers.Config, env drivers.Env) (drivers.Decoder, error) {
			return &decoder{env: env}, nil
		},
	})
}
