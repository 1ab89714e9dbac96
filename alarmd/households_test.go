package alarmd

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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
			// placing the error in the file never fails on any bytes
			if zh := ConfigErrorText(householdsDecodeError(data, "households.yaml", err), AtStart); zh == "" {
				t.Fatal("no Mandarin line")
			}
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

// TestHouseholdsSplitLikeWhole: a file of the usual shape is decoded a few
// households at a time, with the households and the errors (line numbers
// of the whole file, numbers masked) the whole-document decoder gives.
func TestHouseholdsSplitLikeWhole(t *testing.T) {
	big := loadHouseholds(3*splitGroup, 2)
	lines := strings.Split(big, "\n")
	// an unknown key and a wrong kind in the third group, a repeated key in the first
	lines[4*(2*splitGroup+10)+2] = "    elder: {nam: x, phone: \"+8613912345678\"}"
	lines[4*(2*splitGroup+11)+4] = "    devices: {id: x}"
	lines[4*3+1] += "\n    id: again"
	typed := strings.Join(lines, "\n")
	for name, data := range map[string]string{
		"generated":   big,
		"two":         twoHouseholds,
		"crlf":        strings.ReplaceAll(twoHouseholds, "\n", "\r\n"),
		"indentless":  "# kits\nhouseholds:  # all\n- id: a\n  devices: [{id: x, kind: water_meter}]\n\n# next\n- id: b\n",
		"type errors": typed,
		"block":       "households:\n  - id: a\n    elder:\n      name: |\n        张\n         - 桂兰\n  - id: b\n",
	} {
		got, ok, err := parseHouseholdsSplit([]byte(data))
		if !ok {
			t.Errorf("%s: not decoded in groups", name)
			continue
		}
		want, werr := decodeHouseholds([]byte(data))
		if fmt.Sprint(err) != fmt.Sprint(werr) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: in groups %d households, %v; whole %d, %v", name, len(got), err, len(want), werr)
		}
		if name == "type errors" && (err == nil || !strings.Contains(err.Error(), fmt.Sprintf("line %d: field nam not found", 4*(2*splitGroup+10)+4) /* after the line added */)) {
			t.Errorf("type errors: %v", err)
		}
	}
	if hs, err := ParseHouseholds([]byte(big)); err != nil || len(hs) != 3*splitGroup+3 || hs[700].Contacts[0].Phone != "+8613900000700" {
		t.Fatalf("generated: %d households, %v", len(hs), err)
	}
	// anything else goes to the whole decoder
	for _, data := range []string{
		"households: [{id: a}]",
		"households:\n  - id: a\nother: 1\n",
		"households:\n  - id: a\n---\nhouseholds: []\n",
		"x: &a {id: a}\nhouseholds:\n  - *a\n",
		"households:\n  - id: a\n    elder: {name: \"x\n  - y\"}\n",
	} {
		if _, ok, _ := parseHouseholdsSplit([]byte(data)); ok {
			if got, _, err := parseHouseholdsSplit([]byte(data)); err == nil {
				want, werr := decodeHouseholds([]byte(data))
				if werr != nil || !reflect.DeepEqual(got, want) {
					t.Errorf("%q: decoded in groups unlike the whole decoder", data)
				}
			}
		}
	}
}

// FuzzHouseholdsSplit: whatever the grouped decoder takes, it decodes to
// the households, or the error, of the whole-document decoder.
func FuzzHouseholdsSplit(f *testing.F) {
	f.Add([]byte(twoHouseholds))
	f.Add([]byte(loadHouseholds(3, 1)))
	f.Add([]byte("households:\n- id: a\n  elder: {nam: x}\n- id: b\n  elder:\n    name: |\n      x\n"))
	f.Add([]byte("households:\r\n  - id: a\r\n  - {id: b, devices: [{id: x, kind: water_meter}]}\r\n"))
	f.Add([]byte("households:\n  - id: a\n    elder: {name: \"x\n  - y\"}\n"))
	f.Add([]byte("households:\n  - id: a\n    id: b\n  -\n  - [1]\n  - 'x'\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok, err := parseHouseholdsGroups(data, 2) // small inputs cross the cuts between groups
		if !ok {
			return
		}
		want, werr := decodeHouseholds(data)
		if fmt.Sprint(err) != fmt.Sprint(werr) {
			t.Fatalf("in groups: %v\nwhole:     %v", err, werr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("in groups: %+v\nwhole:     %+v", got, want)
		}
	})
}

// TestCompactKeepsDifferentListsApart: the sharing key is made of the
// fields, so a field holding the separator must not make two different
// lists one key (a household would get another's devices or chain: its own
// devices' messages refused, or another's people called).
func TestCompactKeepsDifferentListsApart(t *testing.T) {
	list := []anxin.Household{
		{ID: "h1", Devices: []anxin.Device{{ID: "a", Kind: anxin.KindCallButton, Place: "x\x00b\x00" + string(anxin.KindWaterMeter) + "\x00p"}},
			Community: []anxin.Contact{{Name: "甲\x00\x00\x00+8613900000001\x00乙", Phone: "+8613900000002"}}},
		{ID: "h2", Devices: []anxin.Device{{ID: "a", Kind: anxin.KindCallButton, Place: "x"}, {ID: "b", Kind: anxin.KindWaterMeter, Place: "p"}},
			Community: []anxin.Contact{{Name: "甲", Phone: "+8613900000001"}, {Name: "乙", Phone: "+8613900000002"}}},
	}
	want := slices.Clone(list)
	for i := range want {
		want[i].Devices, want[i].Community = slices.Clone(want[i].Devices), slices.Clone(want[i].Community)
	}
	compactHouseholds(list)
	for i := range list {
		if !reflect.DeepEqual(list[i].Devices, want[i].Devices) || !reflect.DeepEqual(list[i].Community, want[i].Community) {
			t.Errorf("%s: %d devices and %d responders, want %d and %d", list[i].ID,
				len(list[i].Devices), len(list[i].Community), len(want[i].Devices), len(want[i].Community))
		}
	}
	kits := []anxin.Kit{{Household: "h1", Devices: want[0].Devices}, {Household: "h2", Devices: want[1].Devices}}
	b := newSnapBuilder(0, len(kits)) // the register's view shares equal device lists
	for _, k := range kits {
		b.add(k)
	}
	if got := b.s.kit(1).Devices; !reflect.DeepEqual(got, want[1].Devices) {
		t.Fatalf("h2's kit: %+v, want %+v", got, want[1].Devices)
	}
}

// A second batch of households appended after --- (two files pasted into
// one) was dropped without a word: those elders' alarms had no household
// to go to. The file is refused, naming the line.
func TestHouseholdsSecondDocumentRefused(t *testing.T) {
	b, err := os.ReadFile("../configs/households.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	more := strings.NewReplacer("hh-0001", "hh-0101", "hh-0002", "hh-0102").Replace(string(b))
	list, err := ParseHouseholds([]byte(string(b) + "---\n" + more))
	if err == nil || !strings.Contains(err.Error(), "second document") {
		t.Fatalf("two documents: %d households, err %v", len(list), err)
	}
}
