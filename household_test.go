package anxin

import (
	"strings"
	"testing"
)

func TestTierFromScoreBoundaries(t *testing.T) {
	cases := []struct {
		score int
		want  Tier
	}{
		{0, TierIrregular}, {2, TierIrregular}, {3, TierGeneral}, {7, TierGeneral},
		{8, TierKey}, {14, TierKey}, {15, TierHigh}, {20, TierHigh},
	}
	for _, c := range cases {
		if got := TierFromScore(c.score); got != c.want {
			t.Errorf("TierFromScore(%d) = %s, want %s", c.score, got, c.want)
		}
	}
}

func TestHouseholdValidate(t *testing.T) {
	ok := Household{
		ID:        "hh-0001",
		Elder:     Elder{Name: "张桂兰", Tier: TierHigh},
		Contacts:  []Contact{{Name: "李明", Relation: "child", Phone: "+8613900000001"}},
		Community: []Contact{{Name: "王芳", Role: "grid_worker", Phone: "+8613700000002"}},
		Devices:   []Device{{ID: "wm1", Kind: KindWaterMeter}},
	}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid household rejected: %v", err)
	}
	if got := ok.Chain(); len(got) != 2 || got[0].Name != "李明" || got[1].Name != "王芳" {
		t.Fatalf("chain order wrong: %+v", got)
	}
	bad := map[string]func(h *Household){
		"id":    func(h *Household) { h.ID = "hh 1" },
		"tier":  func(h *Household) { h.Elder.Tier = "urgent" },
		"phone": func(h *Household) { h.Contacts[0].Phone = "13900000001" },
		"five people": func(h *Household) {
			h.Contacts = append(h.Contacts, h.Contacts[0], h.Contacts[0], h.Contacts[0], h.Contacts[0])
		},
		"device kind": func(h *Household) { h.Devices[0].Kind = "toaster" },
	}
	for name, mutate := range bad {
		h := ok
		h.Contacts = append([]Contact(nil), ok.Contacts...)
		h.Devices = append([]Device(nil), ok.Devices...)
		mutate(&h)
		err := h.Validate()
		if ErrorCode(err) != EINVALID {
			t.Errorf("%s: got %v, want an invalid error", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "+86139") {
			t.Errorf("%s: error leaks a phone number: %v", name, err)
		}
	}
}

func TestMasking(t *testing.T) {
	if got := MaskPhone("+8613800001234"); got != "+86*******1234" {
		t.Errorf("MaskPhone = %q", got)
	}
	if got := MaskPhone("123"); got != "***" {
		t.Errorf("MaskPhone short = %q", got)
	}
	if got := MaskName("张桂兰"); got != "张**" {
		t.Errorf("MaskName = %q", got)
	}
	if got := MaskIDNumber("110101199003071234"); got != "1101**********1234" {
		t.Errorf("MaskIDNumber = %q", got)
	}
	for id, want := range map[string]string{
		"11010119900307123X": "1101**********123X", "110101900307123": "1101*******7123",
		"e-00012": "e-00012", "hh-0001-elder-1234": "hh-0001-elder-1234",
	} {
		if got := MaskRecordID(id); got != want {
			t.Errorf("MaskRecordID(%q) = %q, want %q", id, got, want)
		}
	}
}

func TestEventClears(t *testing.T) {
	if e, ok := EventSmokeClear.Clears(); !ok || e != EventSmoke {
		t.Errorf("smoke_clear clears %q %v", e, ok)
	}
	if _, ok := EventButtonPressed.Clears(); ok {
		t.Error("button_pressed is not a clearing event")
	}
}
