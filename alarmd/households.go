package alarmd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/anxin-care/anxin"
)

// HouseholdsFile is the households of households_file, held in memory and
// swapped whole on reload. It implements anxin.Households.
type HouseholdsFile struct {
	mu   sync.RWMutex
	byID map[string]anxin.Household
	kit  map[string]kitDevices // household → its device ids
	list []anxin.Household
}

// ParseHouseholds decodes households.yaml strictly (unknown keys are errors)
// and validates every household. A file of the usual shape is decoded a few
// households at a time (parseHouseholdsSplit), so a district's million
// households do not become a million YAML node trees at once; anything else
// goes to the whole-document decoder. Both give the same households and the
// same errors (FuzzHouseholdsSplit).
func ParseHouseholds(data []byte) ([]anxin.Household, error) {
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
	return fmt.Errorf("households: %s", scrubNumbers(strings.Join(errs, "; ")))
}

// validateHouseholds checks each household and that no id is listed twice.
func validateHouseholds(list []anxin.Household) error {
	seen := make(map[string]bool, len(list))
	for i := range list {
		h := &list[i]
		if err := h.Validate(); err != nil {
			return fmt.Errorf("households[%d]: %w", i, err)
		}
		if seen[h.ID] {
			return fmt.Errorf("households[%d]: household %s listed twice", i, h.ID)
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
		return fmt.Errorf("households: %w", err)
	}
	list, err := ParseHouseholds(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	f.Set(list)
	return nil
}

// Set replaces the households.
func (f *HouseholdsFile) Set(list []anxin.Household) {
	byID := make(map[string]anxin.Household, len(list))
	kit := make(map[string]kitDevices, len(list))
	for _, h := range list {
		byID[h.ID] = h
		kit[h.ID] = kitOf(h)
	}
	f.mu.Lock()
	f.byID, f.kit, f.list = byID, kit, list
	f.mu.Unlock()
}

// Knows reports whether household is in the file and device one of its
// devices (or its gateway): what alarmd's ingest believes.
func (f *HouseholdsFile) Knows(household, device string) (householdKnown, deviceKnown bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return knows(f.kit, household, device)
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
	if device == anxin.GatewayDevice {
		return true, true
	}
	for _, d := range h.Devices {
		if d.ID == device {
			return true, true
		}
	}
	return true, false
}

// Household looks a household up by id (ENOTFOUND when unknown).
func (f *HouseholdsFile) Household(_ context.Context, id string) (anxin.Household, error) {
	f.mu.RLock()
	h, ok := f.byID[id]
	f.mu.RUnlock()
	if !ok {
		return anxin.Household{}, anxin.Errorf(anxin.ENOTFOUND, "household %s is not registered", id)
	}
	return h, nil
}

// All is every household, in file order.
func (f *HouseholdsFile) All() []anxin.Household {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.list
}
