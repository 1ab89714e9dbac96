package configs_test

import (
	"os"
	"testing"

	"github.com/anxin-care/anxin/alarmd"
)

// alarmd's example config and households load with the real loaders.
func TestAlarmdExamplesLoad(t *testing.T) {
	for _, k := range []string{"ANXIN_MQTT_BROKER", "ANXIN_NOTIFY_PROVIDER"} {
		if _, ok := os.LookupEnv(k); ok {
			t.Skipf("%s is set: the example would not be read as written", k)
		}
	}
	c, err := alarmd.Load("alarmd.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.HouseholdsFile != "/etc/anxin/households.yaml" || c.Notify.Provider != "log" || len(c.Care.Surges) != 1 {
		t.Fatalf("example read as %+v", c)
	}
	hf, err := alarmd.LoadHouseholds("households.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	hs := hf.All()
	if len(hs) != 2 || len(hs[0].Chain()) != 6 || hs[0].Elder.Name != "张桂兰" || len(hs[1].Devices) != 3 {
		t.Fatalf("households example read as %+v", hs)
	}
}
