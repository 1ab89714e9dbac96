package alarmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anxin-care/anxin"
)

const twoHouseholds = `
households:
  - id: hh-0001
    elder: {name: 张桂兰, phone: "+8613800000000", address: 善广乡一村, tier: high}
    contacts:
      - {name: 李明, relation: child, phone: "+8613900000001"}
    community:
      - {name: 王芳, role: grid_worker, phone: "+8613700000002"}
    devices: [{id: wm1, kind: water_meter}, {id: btn1, kind: call_button}, {id: btn9, kind: call_button}]
  - id: hh-0002
    elder: {name: 赵国强, tier: general}
    contacts: [{name: 赵小红, relation: child, phone: "+8613900000003"}]
    devices: [{id: wm1, kind: water_meter}, {id: btn1, kind: call_button}, {id: sd1, kind: smoke_detector},
      {id: acc1, kind: tracker}]
`

func TestHouseholdsFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "households.yaml")
	if err := os.WriteFile(path, []byte(twoHouseholds), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := LoadHouseholds(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := f.Household(context.Background(), "hh-0001")
	if err != nil || h.Elder.Tier != anxin.TierHigh || len(h.Chain()) != 2 || h.Devices[0].Kind != anxin.KindWaterMeter {
		t.Fatalf("hh-0001: %+v %v", h, err)
	}
	if _, err := f.Household(context.Background(), "hh-9"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("unknown household: %v", err)
	}
	// a bad file is rejected with the reason, and the old households stay
	for bad, want := range map[string]string{
		"households: [{id: hh-1, elder: {nam: x}}]":                                                                   "nam",
		"households: [{id: 'bad id'}]":                                                                                "household id",
		"households: [{id: hh-1, contacts: [{name: a, phone: '13800000000'}]}]":                                       "E.164",
		"households: [{id: hh-1}, {id: hh-1}]":                                                                        "twice",
		"households: [{id: hh-1, devices: [{id: x, kind: toaster}]}]":                                                 "toaster",
		"households: [{id: hh-1, elder: {tier: extreme}}]":                                                            "tier",
		"households:\n  - id: hh-1\n    contacts: [" + strings.Repeat("{name: a, phone: '+8613900000001'},", 5) + "]": "at most 4",
	} {
		if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		err := f.Reload(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", bad, err, want)
		}
		if strings.Contains(err.Error(), "13800000000") {
			t.Errorf("phone number in error: %v", err)
		}
	}
	if len(f.All()) != 2 {
		t.Fatalf("bad reload replaced households: %d left", len(f.All()))
	}
}

// FuzzHouseholds: hostile households files never panic, and what is
// accepted is valid and has unique ids.
func FuzzHouseholds(f *testing.F) {
	f.Add([]byte(twoHouseholds))
	f.Add([]byte("households: [{id: hh-1, devices: [{id: x, kind: water_meter}]}]"))
	f.Add([]byte("households: {id: 1}"))
	f.Add([]byte("a: &a [*a, *a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		hs, err := ParseHouseholds(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for i := range hs {
			if err := hs[i].Validate(); err != nil || seen[hs[i].ID] {
				t.Fatalf("accepted an invalid or repeated household %q: %v", hs[i].ID, err)
			}
			seen[hs[i].ID] = true
		}
	})
}
