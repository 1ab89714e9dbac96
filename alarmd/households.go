package alarmd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/configerr"
	"github.com/anxin-care/anxin/internal/configtree"
)

// HouseholdsFile is the households of households_file, held in memory and
// swapped whole on reload. It implements anxin.Households.
type HouseholdsFile struct {
	mu sync.RWMutex
	householdIndex
}

// householdIndex is households in one slice and where each id is in it: one
// copy of each household, and one map for the look-up ingest makes for every
// message (a household's devices are a handful: scanned, not mapped).
type householdIndex struct {
	at   map[string]int32
	list []anxin.Household
}

func indexHouseholds(list []anxin.Household) householdIndex {
	at := make(map[string]int32, len(list))
	for i := range list {
		at[list[i].ID] = int32(i)
	}
	return householdIndex{at: at, list: list}
}

// household looks a household up by id (ENOTFOUND when unknown).
func (x *householdIndex) household(id string) (anxin.Household, error) {
	i, ok := x.at[id]
	if !ok {
		return anxin.Household{}, anxin.Errorf(anxin.ENOTFOUND, "household %s is not registered", id)
	}
	return x.list[i], nil
}

// knows is what ingest believes: household is listed and device is one of
// its devices (or its gateway).
func (x *householdIndex) knows(household, device string) (householdKnown, deviceKnown bool) {
	i, ok := x.at[household]
	return ok, ok && hasDevice(x.list[i].Devices, device)
}

// hasDevice: device is one of devices, or the gateway.
func hasDevice(devices []anxin.Device, device string) bool {
	if device == anxin.GatewayDevice {
		return true
	}
	for i := range devices {
		if devices[i].ID == device {
			return true
		}
	}
	return false
}

// compactHouseholds makes households share what many have alike: a
// district's standard kit (the same device list), a grid worker's
// community chain, the words of tiers, relations and roles. Each is then
// held once, not once a household. Nothing writes into a household's
// slices (a user that changes one copies it first: maskHousehold).
func compactHouseholds(list []anxin.Household) {
	var s sharing
	for i := range list {
		h := &list[i]
		h.Elder.Tier = anxin.Tier(s.word(string(h.Elder.Tier)))
		for j := range h.Contacts {
			c := &h.Contacts[j]
			c.Relation, c.Role = s.word(c.Relation), s.word(c.Role)
		}
		h.Devices, h.Community = s.devices(h.Devices), s.chain(h.Community)
	}
}

// sharing gives equal words and lists one copy.
type sharing struct {
	words  map[string]string
	kits   map[string][]anxin.Device
	chains map[string][]anxin.Contact
	key    []byte
}

func (s *sharing) word(w string) string {
	if v, ok := s.words[w]; ok {
		return v
	}
	if s.words == nil {
		s.words = map[string]string{}
	}
	s.words[w] = w
	return w
}

// field adds f to the key, its length first: a separator could be in f
// itself, and then two different lists would make one key.
func (s *sharing) field(f string) { s.key = append(binary.AppendUvarint(s.key, uint64(len(f))), f...) }

func (s *sharing) devices(ds []anxin.Device) []anxin.Device {
	if len(ds) == 0 {
		return ds
	}
	return shared(&s.kits, s.deviceKey(ds), ds)
}

// deviceKey is s.key made the key of device list ds: its fields.
func (s *sharing) deviceKey(ds []anxin.Device) []byte {
	s.key = s.key[:0]
	for _, d := range ds {
		s.field(d.ID)
		s.field(string(d.Kind))
		s.field(d.Place)
	}
	return s.key
}

func (s *sharing) chain(cs []anxin.Contact) []anxin.Contact {
	if len(cs) == 0 {
		return cs
	}
	s.key = s.key[:0]
	for _, c := range cs {
		s.field(c.Name)
		s.field(c.Relation)
		s.field(c.Role)
		s.field(c.Phone)
	}
	return shared(&s.chains, s.key, cs)
}

// shared is the list kept under key, or list, kept from now on.
func shared[T any](kept *map[string][]T, key []byte, list []T) []T {
	if l, ok := (*kept)[string(key)]; ok {
		return l
	}
	if *kept == nil {
		*kept = map[string][]T{}
	}
	(*kept)[string(key)] = list
	return list
}

// ParseHouseholds decodes households.yaml strictly (unknown keys are errors)
// and validates every household. A file of the usual shape is decoded a few
// households at a time (parseHouseholdsSplit), so a district's million
// households do not become a million YAML node trees at once; anything else
// goes to the whole-document decoder. Both give the same households and the
// same errors (FuzzHouseholdsSplit).
func ParseHouseholds(data []byte) ([]anxin.Household, error) {
	if err := configtree.OneDocument(data); err != nil {
		// households appended after ---: a reader of one document drops them
		return nil, fmt.Errorf("households: %w", err)
	}
	list, ok, err := parseHouseholdsSplit(data)
	if !ok {
		list, err = decodeHouseholds(data)
	}
	if err != nil {
		return nil, err
	}
	return list, validateHouseholds(list)
}

// decodeHouseholds decodes the whole document at once.
func decodeHouseholds(data []byte) ([]anxin.Household, error) {
	var doc struct {
		Households []anxin.Household `yaml:"households"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, householdsTypeError(te.Errors)
		}
		return nil, fmt.Errorf("households: %s", scrubNumbers(firstLine(err.Error())))
	}
	return doc.Households, nil
}

func householdsTypeError(errs []string) error {
	return fmt.Errorf("households: %s", scrubValues(scrubNumbers(strings.Join(errs, "; "))))
}

// quotedValue is a value the YAML decoder quotes in a type error
// ("cannot unmarshal !!str `张桂兰` into …"): a name or an address as often
// as not.
var quotedValue = regexp.MustCompile("`[^`]*`")

func scrubValues(s string) string { return quotedValue.ReplaceAllString(s, "`…`") }

// validateHouseholds checks each household and that no id is listed twice.
func validateHouseholds(list []anxin.Household) error {
	seen := make(map[string]bool, len(list))
	for i := range list {
		h := &list[i]
		if err := h.Validate(); err != nil {
			return householdProblem(i, h, err)
		}
		if seen[h.ID] {
			return configerr.NewConfigError(configerr.ValueDuplicate, fmt.Sprintf("households[%d].id", i),
				"household %s listed twice", h.ID).WithValue(h.ID)
		}
		seen[h.ID] = true
	}
	return nil
}

// longNumber is anything that could be a phone or ID number quoted by the YAML decoder.
var longNumber = regexp.MustCompile(`\+?[0-9][0-9 -]{5,}[0-9Xx]`)

func scrubNumbers(s string) string { return longNumber.ReplaceAllString(s, "<number>") }

// LoadHouseholds reads and parses a households file.
func LoadHouseholds(path string) (*HouseholdsFile, error) {
	f := new(HouseholdsFile)
	return f, f.Reload(path)
}

// Reload replaces the households with the file's; on error the old ones stay.
func (f *HouseholdsFile) Reload(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return householdsFileError(path, err)
	}
	list, err := ParseHouseholds(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, householdsDecodeError(data, path, err))
	}
	f.Set(list)
	return nil
}

// Set replaces the households.
func (f *HouseholdsFile) Set(list []anxin.Household) {
	compactHouseholds(list)
	x := indexHouseholds(list)
	f.mu.Lock()
	f.householdIndex = x
	f.mu.Unlock()
}

// Knows reports whether household is in the file and device one of its
// devices (or its gateway): what alarmd's ingest believes.
func (f *HouseholdsFile) Knows(household, device string) (householdKnown, deviceKnown bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.knows(household, device)
}

// householdsRegister asks any anxin.Households what ingest believes (for a
// Main given households other than a HouseholdsFile).
type householdsRegister struct{ anxin.Households }

func (r householdsRegister) Knows(household, device string) (bool, bool) {
	h, err := r.Household(context.Background(), household)
	if anxin.ErrorCode(err) == anxin.ENOTFOUND {
		return false, false
	} else if err != nil {
		return true, true // the register cannot answer now: a press is believed, not dropped
	}
	return true, hasDevice(h.Devices, device)
}

// Household looks a household up by id (ENOTFOUND when unknown).
func (f *HouseholdsFile) Household(_ context.Context, id string) (anxin.Household, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.household(id)
}

// All is every household, in file order.
func (f *HouseholdsFile) All() []anxin.Household {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.list
}
