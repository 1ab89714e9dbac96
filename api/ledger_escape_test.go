package api

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/anxin-care/anxin"
)

// Cells a spreadsheet would run as formulas or turn into numbers (a phone
// in E.164, notes beginning with =, -, @) survive export → import into an
// empty store → export unchanged: byte for byte in CSV (escaped with a
// leading '), cell for cell in XLSX (inline strings); phones stay text.
func TestImportExportRoundTripFormulaCells(t *testing.T) {
	e := newEnv(t)
	ej := elderJSON("e0", "善广村", 0)
	ej["phone"] = "+85291234567"
	ej["illness"] = `=HYPERLINK("http://example.org","点击")`
	ej["economic"] = "-低保"
	ej["ability"] = "@能力完好"
	ej["contacts"] = []map[string]any{{"name": "=李明", "relation": "child", "phone": "+868712345678"}}
	if code := e.do("POST", "/api/v1/elders", districtToken, ej, nil); code != 201 {
		t.Fatal(code)
	}
	ej = elderJSON("e1", "善广村", 1)
	ej["phone"] = "+8613800000000"
	ej["grid_worker"] = "=1+2"
	if code := e.do("POST", "/api/v1/elders", districtToken, ej, nil); code != 201 {
		t.Fatal(code)
	}
	for _, format := range []string{"csv", "xlsx"} {
		var first, second []byte
		if code := e.do("GET", "/api/v1/elders/export?format="+format, districtToken, nil, &first); code != 200 {
			t.Fatalf("%s export: %d %s", format, code, first)
		}
		e2 := newEnv(t)
		var body any = first
		if format == "csv" {
			body = string(first)
			for _, want := range []string{",'+85291234567,", `"'=HYPERLINK(`, ",'-低保,", ",'@能力完好,", ",'=李明,", ",'+868712345678,", ",13800000000,", ",'=1+2,"} {
				if !strings.Contains(body.(string), want) {
					t.Errorf("CSV lacks %s", want)
				}
			}
		}
		var res importResult
		if code := e2.do("POST", "/api/v1/elders/import", districtToken, body, &res); code != 200 || res.Imported != 2 {
			t.Fatalf("%s import: %d %v", format, code, res)
		}
		var got anxin.ElderRecord
		e2.do("GET", "/api/v1/elders/e0", districtToken, nil, &got)
		if got.Phone != "+85291234567" || got.Illness != `=HYPERLINK("http://example.org","点击")` || got.Economic != "-低保" ||
			got.Ability != "@能力完好" || got.Contacts[0].Name != "=李明" || got.Contacts[0].Phone != "+868712345678" {
			t.Fatalf("%s: imported %+v", format, got)
		}
		e2.do("GET", "/api/v1/elders/e1", districtToken, nil, &got)
		if got.Phone != "+8613800000000" || got.GridWorker != "=1+2" {
			t.Fatalf("%s: imported %+v", format, got)
		}
		e2.do("GET", "/api/v1/elders/export?format="+format, districtToken, nil, &second)
		if format == "csv" && !bytes.Equal(first, second) {
			t.Fatalf("CSV differs after import:\n%s\n%s", first, second)
		}
		if format == "xlsx" {
			if a, b := cells(t, first), cells(t, second); !slices.EqualFunc(a, b, slices.Equal) {
				t.Fatalf("XLSX differs after import:\n%q\n%q", a, b)
			}
		}
	}
}
