package modbus

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/anxin-care/anxin/drivers"
)

// TestSampleConfig: the plugin is registered, its sample parses strictly
// into NewConfig() and validates, and the README shows the same text.
func TestSampleConfig(t *testing.T) {
	p, ok := drivers.Lookup("modbus")
	if !ok || p.NewDecoder == nil {
		t.Fatal("modbus is not registered with a decoder")
	}
	cfg := p.NewConfig()
	dec := yaml.NewDecoder(strings.NewReader(p.SampleConfig))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("```yaml\n"+p.SampleConfig+"```\n")) {
		t.Error("README.md does not contain the embedded sample config in a yaml block")
	}
	// Unknown keys are errors.
	dec = yaml.NewDecoder(strings.NewReader(p.SampleConfig + "bogus: 1\n"))
	dec.KnownFields(true)
	if err := dec.Decode(p.NewConfig()); err == nil {
		t.Error("unknown key accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.Port.Path = "" }, "port.path"},
		{func(c *Config) { c.Port.StopBits = 1.5 }, "port.stop_bits"},
		{func(c *Config) { c.Port.DataBits = 7 }, "port.data_bits"},
		{func(c *Config) { c.PollInterval = 0 }, "poll_interval"},
		{func(c *Config) { c.Timeout = 0 }, "timeout"},
		{func(c *Config) { c.Units = nil }, "units"},
		{func(c *Config) { c.Units[0].Unit = 0 }, "units[0].unit"},
		{func(c *Config) { c.Units[1].Unit = 1 }, "units[1].unit: 1 is listed twice"},
		{func(c *Config) { c.Units[0].Kind = "meter" }, "units[0].kind"},
		{func(c *Config) { c.Units[0].Registers[0].Format = "uint64" }, "units[0].registers[0].format"},
		{func(c *Config) { c.Units[0].Registers[0].Type = "coil" }, "units[0].registers[0].type"},
		{func(c *Config) { c.Units[0].Registers[0].Byte = "middle" }, "units[0].registers[0].byte_order"},
		{func(c *Config) { c.Units[0].Registers[0].Word = "any" }, "units[0].registers[0].word_order"},
		{func(c *Config) { c.Units[0].Registers[0].Register = 0xFFFF }, "units[0].registers[0].register"},
		{func(c *Config) { c.Units[0].Registers[1].Name = "energy_kwh" }, "units[0].registers[1].name"},
		{func(c *Config) { c.Units[1].Inputs[0].Event = "button_pressed" }, "units[1].discrete_inputs[0].event"},
		{func(c *Config) { c.Units[1].Inputs[1].Input = 0 }, "units[1].discrete_inputs[1].input"},
		{func(c *Config) { c.Units[1].Inputs[1].Device = "smoke1" }, "units[1].discrete_inputs[1].device"},
		{func(c *Config) { c.Units[1].Device = "x" }, "units[1].device: only used with registers"},
	} {
		c := NewConfig()
		c.Port.Path = "/dev/ttyUSB2"
		c.Units = []Unit{
			{Unit: 1, Device: "pm1", Kind: "power_meter", Registers: []Register{
				{Name: "energy_kwh", Format: FormatUint32}, {Name: "voltage_v", Register: 10}}},
			{Unit: 2, Inputs: []InputEvent{
				{Input: 0, Device: "smoke1", Kind: "smoke_detector", Event: "smoke"},
				{Input: 1, Device: "gas1", Kind: "gas_detector", Event: "gas"}}},
		}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		tc.mut(c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want an error naming %q", err, tc.want)
		}
	}
}
