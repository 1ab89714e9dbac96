package api

import (
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/anxin-care/anxin"
)

// An elder created through the API without "consent" was stored as
// declining visits: silently out of the due lists and the visit rate.
// consent is now required on POST and PUT (issue 12, item 6).
func TestConsentIsRequired(t *testing.T) {
	e := newEnv(t)
	ej := elderJSON("e1", "善广村", 1)
	delete(ej, "consent")
	var eb errBody
	if code := e.do("POST", "/api/v1/elders", shanguangTok, ej, &eb); code != 400 || len(eb.Error.Fields) != 1 ||
		eb.Error.Fields[0].Field != "consent" || !strings.Contains(eb.Error.Fields[0].Message, "知情同意") {
		t.Fatalf("create without consent: %d %+v", code, eb)
	}
	ej["consent"] = true
	if code := e.do("POST", "/api/v1/elders", shanguangTok, ej, nil); code != 201 {
		t.Fatal(code)
	}
	delete(ej, "consent")
	if code := e.do("PUT", "/api/v1/elders/e1", shanguangTok, ej, &eb); code != 400 || eb.Error.Fields[0].Field != "consent" {
		t.Fatalf("replace without consent: %d %+v", code, eb)
	}
	var due struct{ Count int }
	if e.do("GET", "/api/v1/due", shanguangTok, nil, &due); due.Count != 1 {
		t.Fatalf("the elder is not on the due list: %+v", due)
	}
}

// A CSV saved by Excel in China is GBK: it was refused with "no header
// row"; it is read (and a file in neither encoding gets a clear error).
func TestImportGBKCSV(t *testing.T) {
	e := newEnv(t)
	rec := anxin.ElderRecord{ID: "e8", Name: "王五", IDNumber: idNumber("19400506", 8), Current: anxin.Address{Village: "善广村"},
		Assessment: anxin.Assessment{Guardianship: "独居", SelfCare: "完好", Health: "正常"}}
	utf := strings.TrimPrefix(ledgerCSV(t, rec), "\ufeff")
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(utf)
	if err != nil {
		t.Fatal(err)
	}
	var res importResult
	if code := e.do("POST", "/api/v1/elders/import", shanguangTok, gbk, &res); code != 200 || res.Imported != 1 {
		t.Fatalf("GBK CSV: %d %v", code, res)
	}
	var got anxin.ElderRecord
	if e.do("GET", "/api/v1/elders/e8", shanguangTok, nil, &got); got.Name != "王五" || got.Current.Village != "善广村" {
		t.Fatalf("read back %+v", got)
	}
	var eb errBody
	if code := e.do("POST", "/api/v1/elders/import", shanguangTok, "\xff\xfe\x00姓\x80,x\n", &eb); code != 400 ||
		!strings.Contains(eb.Error.Message, "UTF-8") {
		t.Fatalf("neither UTF-8 nor GBK: %d %+v", code, eb)
	}
}
