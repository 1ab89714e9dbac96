package anxin

import "context"

// Tier is an elder's risk tier, from the assessment form's score.
type Tier string

// Tiers by assessment score: 0–2 irregular, 3–7 general, 8–14 key, 15–20 high.
const (
	TierIrregular Tier = "irregular"
	TierGeneral   Tier = "general"
	TierKey       Tier = "key"
	TierHigh      Tier = "high"
	// TierUnassessed (未评估): no assessment and no 重点/一般 on the form;
	// visited at the general cadence.
	TierUnassessed Tier = "unassessed"
)

// Valid reports whether t is a known tier.
func (t Tier) Valid() bool {
	switch t {
	case TierIrregular, TierGeneral, TierKey, TierHigh, TierUnassessed:
		return true
	}
	return false
}

// TierFromScore maps an assessment score (0–20) to its tier.
func TierFromScore(score int) Tier {
	switch {
	case score <= 2:
		return TierIrregular
	case score <= 7:
		return TierGeneral
	case score <= 14:
		return TierKey
	default:
		return TierHigh
	}
}

// Elder is the person a household's kit watches over.
type Elder struct {
	Name    string `json:"name" yaml:"name"`
	Phone   string `json:"phone,omitempty" yaml:"phone"`
	Address string `json:"address,omitempty" yaml:"address"`
	Tier    Tier   `json:"tier" yaml:"tier"`
}

// Contact is one step of a contact chain: a family member or neighbour
// (Relation set) or community staff (Role set).
type Contact struct {
	Name     string `json:"name" yaml:"name"`
	Relation string `json:"relation,omitempty" yaml:"relation"` // child, spouse, relative, neighbour
	Role     string `json:"role,omitempty" yaml:"role"`         // grid_worker, community_head, social_work_station, street_office
	Phone    string `json:"phone" yaml:"phone"`
}

// MaxPersonalContacts is how many personal contacts a chain may have.
const MaxPersonalContacts = 4

// MaxDevices is how many devices one household's kit may list (the rules
// engine keeps state for at most this many per household).
const MaxDevices = 64

// Device is one device of a household's kit.
type Device struct {
	ID    string `json:"id" yaml:"id"`
	Kind  Kind   `json:"kind" yaml:"kind"`
	Place string `json:"place,omitempty" yaml:"place"` // room, in the words people read: 厨房
}

// Household is one home: the elder, the chain of people to call, the kit.
type Household struct {
	ID        string    `json:"id" yaml:"id"`
	Elder     Elder     `json:"elder" yaml:"elder"`
	Contacts  []Contact `json:"contacts" yaml:"contacts"`   // personal chain, in order, at most 4
	Community []Contact `json:"community" yaml:"community"` // walked after the personal contacts
	Devices   []Device  `json:"devices" yaml:"devices"`
}

// Chain is the household's whole contact chain in the order it is walked.
func (h *Household) Chain() []Contact {
	c := make([]Contact, 0, len(h.Contacts)+len(h.Community))
	c = append(c, h.Contacts...)
	return append(c, h.Community...)
}

// Validate checks a household as configured.
func (h *Household) Validate() error {
	if !ValidID(h.ID) {
		return Errorf(EINVALID, "household id %q is not [A-Za-z0-9_-]{1,64}", clip(h.ID))
	}
	if h.Elder.Tier != "" && !h.Elder.Tier.Valid() {
		return Errorf(EINVALID, "household %s: tier %q is not irregular, general, key or high", h.ID, clip(string(h.Elder.Tier)))
	}
	if len(h.Contacts) > MaxPersonalContacts {
		return Errorf(EINVALID, "household %s: %d personal contacts, at most %d", h.ID, len(h.Contacts), MaxPersonalContacts)
	}
	for i, c := range h.Chain() {
		if !ValidPhone(c.Phone) {
			return Errorf(EINVALID, "household %s: contact %d has no valid E.164 phone number", h.ID, i+1)
		}
	}
	if len(h.Devices) > MaxDevices {
		return Errorf(EINVALID, "household %s: %d devices, at most %d", h.ID, len(h.Devices), MaxDevices)
	}
	for _, d := range h.Devices {
		if !ValidID(d.ID) || !d.Kind.Valid() {
			return Errorf(EINVALID, "household %s: device %q of kind %q is not valid", h.ID, clip(d.ID), clip(string(d.Kind)))
		}
	}
	return nil
}

// ValidPhone reports whether s is an E.164 number: + and 8 to 15 digits.
func ValidPhone(s string) bool {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Households looks households up by id.
type Households interface {
	Household(ctx context.Context, id string) (Household, error) // ENOTFOUND when unknown
}
