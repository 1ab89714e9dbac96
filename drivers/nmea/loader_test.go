package nmea_test

import (
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/drivers/nmea"
	"github.com/anxin-care/anxin/gateway"
)

// TestSampleThroughGatewayLoader: gatewayd's own strict loader (mapstructure,
// unknown keys are errors, no weak typing) accepts the sample as a drivers:
// entry and decodes it to the same config as yaml.v3 does.
func TestSampleThroughGatewayLoader(t *testing.T) {
	p, ok := drivers.Lookup("nmea")
	if !ok {
		t.Fatal("not registered")
	}
	var b strings.Builder
	b.WriteString("household: hh-0001\ndrivers:\n  - driver: nmea\n    name: nmea-sample\n")
	for _, l := range strings.Split(strings.TrimRight(p.SampleConfig, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	cfg, err := gateway.Parse([]byte(b.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if len(cfg.Drivers) != 1 {
		t.Fatalf("%d drivers", len(cfg.Drivers))
	}
	got, ok := cfg.Drivers[0].Config.(*nmea.Config)
	if !ok {
		t.Fatalf("config is %T", cfg.Drivers[0].Config)
	}
	want := nmea.NewConfig()
	dec := yaml.NewDecoder(strings.NewReader(p.SampleConfig))
	dec.KnownFields(true)
	if err := dec.Decode(want); err != nil {
		t.Fatal(err)
	}
	if err := want.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("loader decoded\n%+v\nyaml.v3 decoded\n%+v", got, want)
	}
	// A misspelled key is an error naming it.
	bad := strings.Replace(b.String(), "    port:", "    prot:", 1)
	if _, err := gateway.Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "prot") {
		t.Errorf("misspelled key: %v", err)
	}
}
