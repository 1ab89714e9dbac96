package nmea

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
	p, ok := drivers.Lookup("nmea")
	if !ok || p.NewDecoder == nil {
		t.Fatal("nmea is not registered with a decoder")
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
		{func(c *Config) { c.Device = "" }, "device"},
		{func(c *Config) { c.Device = "a/b" }, "device"},
		{func(c *Config) { c.Port.Path = "" }, "port.path"},
		{func(c *Config) { c.Port.Parity = "mark" }, "port."},
		{func(c *Config) { c.MinInterval = -1 }, "min_interval"},
	} {
		c := NewConfig()
		c.Device, c.Port.Path = "trk1", "/dev/ttyUSB0"
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		tc.mut(c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate() = %v, want an error naming %q", err, tc.want)
		}
	}
}
