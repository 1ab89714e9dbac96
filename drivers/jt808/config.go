package jt808

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/tcpserver"
)

//go:embed sample.yaml
var sampleConfig string

// Config is the jt808 driver's section of the gatewayd config.
type Config struct {
	tcpserver.ListenConfig `mapstructure:",squash" yaml:",inline"`
	AuthKeyFile            string            `mapstructure:"auth_key_file" yaml:"auth_key_file"`
	Vendor                 Vendor            `mapstructure:"vendor" yaml:"vendor"`
	Models                 map[string]Vendor `mapstructure:"models" yaml:"models"` // profiles a terminal names with model:
}

// vendorOf is the vendor mapping of a terminal's model.
func (c *Config) vendorOf(model string) *Vendor {
	if v, ok := c.Models[model]; ok {
		return &v
	}
	return &c.Vendor
}

// NewConfig returns the defaults.
func NewConfig() *Config {
	c := &Config{Vendor: Vendor{BatteryTLV: 0xFE}}
	c.SetDefaults(":8808")
	return c
}

// terminalID reports whether s can be a JT/T 808 terminal phone: up to 20
// digits (a 2019 header holds 20, a 2013 header 12).
func terminalID(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Validate checks the config without binding the port or reading the key.
func (c *Config) Validate() error {
	if err := c.ListenConfig.Validate(terminalID, drivers.ReasonTerminalJT808); err != nil {
		return err
	}
	if err := c.Vendor.validate(); err != nil {
		return drivers.UnderKey("vendor", err)
	}
	models := make([]string, 0, len(c.Models))
	for name := range c.Models {
		models = append(models, name)
	}
	slices.Sort(models) // the first bad model is the same on every run
	for _, name := range models {
		v := c.Models[name]
		if err := v.validate(); err != nil {
			return drivers.UnderKey("models."+name, err)
		}
	}
	for i, t := range c.Terminals {
		if _, ok := c.Models[t.Model]; t.Model != "" && !ok {
			return drivers.NewConfigError(drivers.ValueNotChoice, fmt.Sprintf("terminals[%d].model", i), "%q is not under models", t.Model).
				WithValue(t.Model).WithChoices(models...)
		}
	}
	return nil
}

func (v *Vendor) validate() error {
	for _, it := range []struct {
		key string
		id  int
	}{{"battery_tlv", v.BatteryTLV}, {"heart_rate_tlv", v.HeartRateTLV}} {
		if it.id < 0 || it.id > 0xFF {
			return drivers.OutOfRange(it.key, it.id, "0..255 (0: not sent)")
		}
	}
	if v.FallAlarmBit < 0 || v.FallAlarmBit > 31 || v.FallAlarmBit == 7 {
		return drivers.OutOfRange("fall_alarm_bit", v.FallAlarmBit, "0..31 except 7 (0: none; 7 is low power)")
	}
	return nil
}

// authKey reads the key file, or makes a key for this run.
func (c *Config) authKey() ([]byte, error) {
	if c.AuthKeyFile == "" {
		k := make([]byte, 32)
		_, err := rand.Read(k)
		return k, err
	}
	b, err := os.ReadFile(c.AuthKeyFile)
	if err != nil {
		return nil, fmt.Errorf("auth_key_file: %w", err)
	}
	k := []byte(strings.TrimSpace(string(b)))
	if len(k) < 16 {
		return nil, fmt.Errorf("auth_key_file: key shorter than 16 bytes")
	}
	return k, nil
}

// authCode is the code a terminal gets at registration: derived from the
// key and its id, so it needs no storage and survives restarts with a key
// file.
func authCode(key []byte, phone string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(tcpserver.Key(phone)))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

func init() {
	drivers.Register(drivers.Plugin{
		Name:         "jt808",
		SampleConfig: sampleConfig,
		NewConfig:    func() drivers.Config { return NewConfig() },
		New: func(cfg drivers.Config, env drivers.Env) (drivers.Driver, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("jt808: config is %T, not *jt808.Config", cfg)
			}
			return newDriver(c, env)
		},
		NewDecoder: func(cfg drivers.Config, env drivers.Env) (drivers.Decoder, error) {
			c, ok := cfg.(*Config)
			if !ok {
				return nil, fmt.Errorf("jt808: config is %T, not *jt808.Config", cfg)
			}
			return &decoder{cfg: c, dir: c.Directory(env.Household), env: env}, nil
		},
	})
}
