package api

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/sqlite"
)

// personal is what must not appear where data is masked: the elder's and
// the contact's names and phone numbers (elderJSON's), the ID number.
func personal(seq int) []string {
	return []string{"张桂兰", "13800001234", "李明", "13900000001", idNumber("19400506", seq)}
}

func holdsAny(t *testing.T, what string, data []byte, values []string) {
	t.Helper()
	for _, v := range values {
		if strings.Contains(string(data), v) {
			t.Errorf("%s holds %q", what, v)
		}
	}
}

// PRIVACY (issue 12): export?mask=1 masks names and phone numbers too, not
// only ID numbers.
func TestMaskedExportMasksNamesAndPhones(t *testing.T) {
	e := newEnv(t)
	if code := e.do("POST", "/api/v1/elders", districtToken, elderJSON("e1", "善广村", 1), nil); code != 201 {
		t.Fatal(code)
	}
	for _, format := range []string{"csv", "xlsx"} {
		var out []byte
		if code := e.do("GET", "/api/v1/elders/export?mask=1&format="+format, districtToken, nil, &out); code != 200 {
			t.Fatalf("%s: %d", format, code)
		}
		if format == "xlsx" {
			var flat []string
			for _, row := range cells(t, out) {
				flat = append(flat, strings.Join(row, ","))
			}
			out = []byte(strings.Join(flat, "\n"))
		}
		holdsAny(t, "masked "+format+" export", out, personal(1))
		if !strings.Contains(string(out), "张**") || !strings.Contains(string(out), "1234") {
			t.Errorf("masked %s export lost the masked values: %s", format, out)
		}
	}
}

// PRIVACY: the elder list and the due lists show names and phone numbers
// masked unless the caller asks for ?unmasked=1 (an audited read).
func TestListsMaskUnlessAsked(t *testing.T) {
	e := newEnv(t)
	if code := e.do("POST", "/api/v1/elders", districtToken, elderJSON("e1", "善广村", 1), nil); code != 201 {
		t.Fatal(code)
	}
	e.api.Now = func() time.Time { return now.AddDate(0, 0, 3) } // overdue by then
	for _, path := range []string{"elders", "due", "overdue", "reports/visit-rate"} {
		var out []byte
		if code := e.do("GET", "/api/v1/"+path, shanguangTok, nil, &out); code != 200 {
			t.Fatalf("%s: %d", path, code)
		}
		holdsAny(t, path, out, personal(1))
		if !strings.Contains(string(out), "张**") {
			t.Errorf("%s: no masked name in %s", path, out)
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		if code := e.do("GET", "/api/v1/"+path+sep+"unmasked=1", shanguangTok, nil, &out); code != 200 ||
			!strings.Contains(string(out), "张桂兰") {
			t.Errorf("%s unmasked: %d %s", path, code, out)
		}
	}
}

// PRIVACY: a request line never carries an ID number, even when an elder's
// record id is one (some communities file elders under it) or a path is
// unknown.
func TestRequestLogMasksIDsInPaths(t *testing.T) {
	e := newEnv(t)
	num := idNumber("19400506", 1)
	ej := elderJSON(num, "善广村", 1)
	if code := e.do("POST", "/api/v1/elders", districtToken, ej, nil); code != 201 {
		t.Fatal(code)
	}
	for _, p := range []string{"elders/" + num, "elders/" + num + "x", "nothing/" + num, "households/" + num + "/away",
		"alarms/" + num} {
		e.do("GET", "/api/v1/"+p, districtToken, nil, nil)
	}
	e.do("PUT", "/api/v1/elders/"+num, districtToken, ej, nil)
	logs := e.logs.String()
	if strings.Count(logs, `"msg":"api request"`) != 7 {
		t.Fatalf("request lines: %s", logs)
	}
	holdsAny(t, "the log", []byte(logs), personal(1))
	if !strings.Contains(logs, `"path":"/api/v1/elders/5301**********`) {
		t.Errorf("no masked path in %s", logs)
	}
}

type auditPage struct {
	Entries []sqlite.AuditEntry `json:"entries"`
}

// PRIVACY: every change and every read of unmasked personal data leaves an
// audit entry (who, what, which record, when), which a district token can
// query and an area token cannot; masked reads leave none.
func TestAuditLog(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.api.Alarms, e.api.Closer, e.api.Away = e.db, &storeCloser{db: e.db}, fuzzAway{}
	e.api.Households = HouseholdList{{ID: "hh-e1", Elder: anxin.Elder{Name: "张桂兰"}}}
	// the district assigns the kit household hh-e1; 善广村 does the rest
	if code := e.do("POST", "/api/v1/elders", districtToken, elderJSON("e1", "善广村", 1), nil); code != 201 {
		t.Fatal(code)
	}
	res, err := e.db.ApplyIngest(ctx, &sqlite.IngestBatch{At: now, Changes: []sqlite.AlarmChange{{Op: sqlite.AlarmOpOpen,
		Household: "hh-e1", Rule: "button", RuleKind: "event", Device: "btn1", Severity: anxin.SeverityCritical,
		Route: anxin.RouteFamily, At: now.Add(-time.Hour)}}})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		method, path string
		body         any
		want         string // "action record[,action record…]", "" for none
	}{
		{"POST", "elders", elderJSON("e3", "善广村", 3), "elder.create e3"},
		{"GET", "elders", nil, ""},
		{"GET", "due", nil, ""},
		{"GET", "elders/export?mask=1", nil, ""},
		{"GET", "elders/e1", nil, "elder.read e1"},
		{"PUT", "elders/e1", elderJSON("e1", "善广村", 1), "elder.update e1"},
		{"GET", "elders?unmasked=1&limit=1", nil, "elders.list e1"},
		{"GET", "due?unmasked=1", nil, "due.list e1,due.list e3"},
		{"GET", "elders/export?format=csv&household=hh-e1", nil, "elders.export e1"},
		{"POST", "elders/import", ledgerCSV(t, anxin.ElderRecord{ID: "e2", Name: "王五", IDNumber: idNumber("19400506", 2),
			Current: anxin.Address{Village: "善广村"}, Assessment: anxin.Assessment{Guardianship: "独居", SelfCare: "完好", Health: "正常"}}),
			"elder.import e2"},
		{"POST", "visits", map[string]any{"household": "hh-e1", "method": "home"}, "visit.create hh-e1"},
		{"PUT", "households/hh-e1/away", map[string]any{"away": true}, "household.away hh-e1"},
		{"GET", "households/hh-e1", nil, "household.read hh-e1"},
		{"POST", "alarms/" + res.Opened[0].ID + "/close", map[string]any{"reason": "误报"}, "alarm.close " + res.Opened[0].ID},
	}
	var want []string
	for _, s := range steps {
		if code := e.do(s.method, "/api/v1/"+s.path, shanguangTok, s.body, nil); code >= 300 {
			t.Fatalf("%s %s: %d", s.method, s.path, code)
		}
		if s.want != "" {
			want = append(want, strings.Split(s.want, ",")...)
		}
	}
	var page auditPage
	if code := e.do("GET", "/api/v1/audit?who=shanguang&limit=100", districtToken, nil, &page); code != 200 {
		t.Fatalf("audit: %d", code)
	}
	var got []string
	for i := len(page.Entries) - 1; i >= 0; i-- { // newest first
		a := page.Entries[i]
		if a.Who != "shanguang" || !a.At.Equal(now) {
			t.Errorf("entry %+v", a)
		}
		got = append(got, a.Action+" "+a.Record)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit:\n got %q\nwant %q", got, want)
	}
	holdsAny(t, "the audit log", []byte(fmt.Sprint(page)), personal(1))
	// filters; an area token may not read it
	if e.do("GET", "/api/v1/audit?record=e1&action=elder.read", districtToken, nil, &page); len(page.Entries) != 1 {
		t.Fatalf("filtered: %+v", page)
	}
	var eb errBody
	if code := e.do("GET", "/api/v1/audit", shanguangTok, nil, &eb); code != 403 {
		t.Fatalf("area token reads the audit log: %d", code)
	}
}
