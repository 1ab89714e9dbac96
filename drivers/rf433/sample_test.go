package rf433

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
	p, ok := drivers.Lookup("rf433")
	if !ok || p.NewDecoder == nil {
		t.Fatal("rf433 is not registered with a decoder")
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
		{func(c *Config) { c.Format = "ascii" }, "format"},
		{func(c *Config) { c.Debounce = 0 }, "debounce"},
		{func(c *Config) { c.Codes = nil }, "codes"},
		{func(c *Config) { c.Codes[0].Code = "xyz" }, "codes[0].code"},
		{func(c *Config) { c.Codes[0].Kind = "doorbell" }, "codes[0].kind"},
		{func(c *Config) { c.Codes = append(c.Codes, c.Codes[0]) }, "codes[1].code: 8d3cf6 is already learned"},
	} {
		c := NewConfig()
		c.Port.Path = "/dev/ttyUSB1"
		c.Codes = []Code{{Code: "8D3CF6", Device: "btn1", Kind: "call_button", Event: "button_pressed"}}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		tc.mut(c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want an error naming %q", err, tc.want)
		}
	}
}
