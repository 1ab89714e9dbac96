package api

import (
	"bytes"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/anxin-care/anxin"
)

// households.yaml is an import and export format of the register: what the
// export writes reads back (strictly, as alarmd reads households_file) as
// the households alarmd runs, phones in full, and the read is audited.
func TestExportHouseholdsReadsBack(t *testing.T) {
	e := newEnv(t)
	var body []byte
	if code := e.do("GET", "/api/v1/households/export", districtToken, nil, &body); code != 200 {
		t.Fatalf("export: %d %s", code, body)
	}
	var doc struct {
		Households []anxin.Household `yaml:"households"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(body))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("export does not read back: %v\n%s", err, body)
	}
	for i := range doc.Households { // YAML's [] reads back as nil
		h := &doc.Households[i]
		h.Contacts, h.Community, h.Devices = nonNil(h.Contacts), nonNil(h.Community), nonNil(h.Devices)
	}
	want, err := e.api.Households.AllHouseholds(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		h := &want[i]
		h.Contacts, h.Community, h.Devices = nonNil(h.Contacts), nonNil(h.Community), nonNil(h.Devices)
	}
	if !reflect.DeepEqual(doc.Households, want) {
		t.Fatalf("read back %+v, want %+v", doc.Households, want)
	}
	if !bytes.Contains(body, []byte("+8613800001234")) {
		t.Fatalf("the export masks phones: %s", body)
	}
	log, err := e.db.AuditLog(t.Context(), anxin.AuditFilter{Action: auditHouseholdRead})
	if err != nil || len(log) != 2 || log[0].Detail != "export" {
		t.Fatalf("audit: %+v %v", log, err)
	}
	// an area's token exports only what lies wholly in its area (here: nothing)
	if code := e.do("GET", "/api/v1/households/export", shanguangTok, nil, &body); code != 200 || bytes.Contains(body, []byte("hh-1")) {
		t.Fatalf("area export: %d %s", code, body)
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
