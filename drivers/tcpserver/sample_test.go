package tcpserver_test

import (
	"os"
	"strings"
	"testing"

	"github.com/anxin-care/anxin/drivers"
	_ "github.com/anxin-care/anxin/drivers/jt808"
	_ "github.com/anxin-care/anxin/drivers/watch3g"
	"github.com/anxin-care/anxin/gateway"
)

// TestReadmesShowTheEmbeddedSample: each dial-in driver's README holds the
// sample config its code embeds (gateway's TestEverySampleConfigLoads loads
// every sample through the strict loader).
func TestReadmesShowTheEmbeddedSample(t *testing.T) {
	for _, name := range []string{"jt808", "watch3g"} {
		p, ok := drivers.Lookup(name)
		if !ok {
			t.Fatalf("%s not registered", name)
		}
		readme, err := os.ReadFile("../" + name + "/README.md")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(readme), "```yaml\n"+p.SampleConfig+"```") {
			t.Errorf("%s/README.md does not show the embedded sample config", name)
		}
	}
}

// TestDistrictExampleLoads: the district example config loads through the
// strict loader.
func TestDistrictExampleLoads(t *testing.T) {
	cfg, err := gateway.Load("../../configs/gatewayd-district.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Drivers) != 2 {
		t.Fatalf("%d drivers", len(cfg.Drivers))
	}
}
