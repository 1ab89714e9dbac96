package api

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/ledger"
	"github.com/anxin-care/anxin/sqlite"
)

// ledgerCSV is one elder record as an importable CSV ledger.
func ledgerCSV(t testing.TB, rec anxin.ElderRecord) string {
	t.Helper()
	if errs := care.Normalize(&rec, now); len(errs) > 0 {
		t.Fatal(errs)
	}
	var b bytes.Buffer
	if err := ledger.WriteCSV(&b, ledger.Rows([]anxin.ElderRecord{rec}, ledger.Options{})); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// ACCESS (issue 12, item 2): a token of one area cannot attach an elder to
// another area's household, nor place an elder where the township of one
// name and the village of another meet; every write path refuses it, and
// a household already shared with another area (data from before) is no
// longer visible to either community.
func TestAreaScopeOnEveryWrite(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	closer := &storeCloser{db: e.db}
	e.api.Alarms, e.api.Closer, e.api.Away = e.db, closer, fuzzAway{}
	for i, v := range []string{"善广村", "东村"} {
		if code := e.do("POST", "/api/v1/elders", districtToken, elderJSON(fmt.Sprintf("e%d", i), v, i), nil); code != 201 {
			t.Fatal(code)
		}
	}
	res, err := e.db.ApplyIngest(ctx, &sqlite.IngestBatch{At: now, Changes: []sqlite.AlarmChange{{Op: sqlite.AlarmOpOpen,
		Household: "hh-e1", Rule: "button", RuleKind: "event", Device: "btn1", Severity: anxin.SeverityCritical,
		Route: anxin.RouteFamily, At: now.Add(-time.Hour)}}})
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("open: %+v %v", res, err)
	}
	alarmB := res.Opened[0].ID
	var eb errBody
	// 善广村 (A) puts an elder into 东村's (B's) household
	takeover := elderJSON("e5", "善广村", 5)
	takeover["household"] = "hh-e1"
	if code := e.do("POST", "/api/v1/elders", shanguangTok, takeover, &eb); code != 403 || eb.Error.Code != "forbidden" {
		t.Fatalf("create into another area's household: %d %+v", code, eb)
	}
	// … or into a kit household nobody has registered yet (only the district assigns those)
	kit := elderJSON("e6", "善广村", 6)
	kit["household"] = "hh-2"
	if code := e.do("POST", "/api/v1/elders", shanguangTok, kit, &eb); code != 403 {
		t.Fatalf("create into an unregistered kit household: %d %+v", code, eb)
	}
	// … or moves its own elder there
	own := elderJSON("e0", "善广村", 0)
	own["household"] = "hh-e1"
	if code := e.do("PUT", "/api/v1/elders/e0", shanguangTok, own, &eb); code != 403 {
		t.Fatalf("move own elder into another area's household: %d %+v", code, eb)
	}
	// the township/village OR-match: village 东村 under a township named like A's area
	cross := elderJSON("e7", "东村", 7)
	cross["current_address"] = map[string]any{"township": "善广村", "village": "东村"}
	if code := e.do("POST", "/api/v1/elders", shanguangTok, cross, &eb); code != 403 {
		t.Fatalf("create in B's village under a township named A: %d %+v", code, eb)
	}
	// the same through an import
	rec := anxin.ElderRecord{ID: "e8", Household: "hh-e1", Name: "王五", IDNumber: idNumber("19400506", 8),
		Current: anxin.Address{Village: "善广村"}, Assessment: anxin.Assessment{Guardianship: "独居", SelfCare: "完好", Health: "正常"}}
	if code := e.do("POST", "/api/v1/elders/import", shanguangTok, ledgerCSV(t, rec), &eb); code != 400 || len(eb.Error.Rows) != 1 ||
		eb.Error.Rows[0].Column != "户编号" {
		t.Fatalf("import into another area's household: %d %+v", code, eb)
	}
	rec.Household, rec.Current = "", anxin.Address{Township: "善广村", Village: "东村"}
	if code := e.do("POST", "/api/v1/elders/import", shanguangTok, ledgerCSV(t, rec), &eb); code != 400 || len(eb.Error.Rows) != 1 {
		t.Fatalf("import into B's village under a township named A: %d %+v", code, eb)
	}
	if n, _ := e.db.CountElders(ctx, sqlite.ElderFilter{}); n != 2 {
		t.Fatalf("%d elders stored, want the 2 of the district", n)
	}
	// B's household stays B's: A cannot read it, visit it, close its alarm or set it away
	e.api.Households = HouseholdList{{ID: "hh-e1", Elder: anxin.Elder{Name: "李四", Phone: "+8613800009999"}}}
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/households/hh-e1", nil},
		{"POST", "/api/v1/visits", map[string]any{"household": "hh-e1", "method": "home"}},
		{"POST", "/api/v1/alarms/" + alarmB + "/close", map[string]any{"reason": "误报"}},
		{"PUT", "/api/v1/households/hh-e1/away", map[string]any{"away": true}},
		{"GET", "/api/v1/alarms/" + alarmB, nil},
	} {
		if code := e.do(c.method, c.path, shanguangTok, c.body, &eb); code != 404 {
			t.Errorf("A: %s %s: %d %+v", c.method, c.path, code, eb)
		}
		if c.method == "GET" {
			if code := e.do(c.method, c.path, dongcunTok, c.body, nil); code != 200 {
				t.Errorf("B: %s %s: %d", c.method, c.path, code)
			}
		}
	}
	// an area's listing and export read its own households, not every
	// household of the district to filter (a million at a large district)
	src := &countingHouseholds{HouseholdList: HouseholdList{{ID: "hh-a0"}, {ID: "hh-e1", Elder: anxin.Elder{Name: "李四", Phone: "+8613800009999"}}, {ID: "hh-z9"}}}
	e.api.Households = src
	var listed struct {
		Households []anxin.Household `json:"households"`
	}
	if code := e.do("GET", "/api/v1/households", dongcunTok, nil, &listed); code != 200 || len(listed.Households) != 1 ||
		listed.Households[0].ID != "hh-e1" || src.all != 0 || src.of != 1 {
		t.Errorf("B's listing: %d %+v; read all %d times, some %d times", code, listed, src.all, src.of)
	}
	if code := e.do("GET", "/api/v1/households/export", dongcunTok, nil, nil); code != 200 || src.all != 0 || src.of != 2 {
		t.Errorf("B's export: %d; read all %d times, some %d times", code, src.all, src.of)
	}
	// an import's new households are asked about once, not one read of a
	// household (its people and all) a row
	var csv bytes.Buffer
	var recs []anxin.ElderRecord
	for i, hh := range []string{"hh-z9", "hh-n1"} {
		r := anxin.ElderRecord{ID: fmt.Sprintf("e2%d", i), Household: hh, Name: "王五", IDNumber: idNumber("19400506", 20+i),
			Current: anxin.Address{Village: "善广村"}, Assessment: anxin.Assessment{Guardianship: "独居", SelfCare: "完好", Health: "正常"}}
		if errs := care.Normalize(&r, now); len(errs) > 0 {
			t.Fatal(errs)
		}
		recs = append(recs, r)
	}
	if err := ledger.WriteCSV(&csv, ledger.Rows(recs, ledger.Options{})); err != nil {
		t.Fatal(err)
	}
	of := src.of
	if code := e.do("POST", "/api/v1/elders/import", shanguangTok, csv.String(), &eb); code != 400 || len(eb.Error.Rows) != 1 ||
		eb.Error.Rows[0].Column != "户编号" || src.one != 0 || src.of != of+1 {
		t.Errorf("import into an unregistered kit household: %d %+v; read one %d times, some %d times", code, eb, src.one, src.of-of)
	}
	e.api.Households = src.HouseholdList
	// a household shared by two areas (stored before this check existed) is neither's
	poisoned := anxin.ElderRecord{ID: "e9", Household: "hh-e1", Name: "王五", IDNumber: idNumber("19400506", 9),
		Current: anxin.Address{Village: "善广村"}, Assessment: anxin.Assessment{Guardianship: "独居", SelfCare: "完好", Health: "正常"}}
	if errs := care.Normalize(&poisoned, now); len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := e.db.PutElder(ctx, &poisoned); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{shanguangTok, dongcunTok} {
		if code := e.do("POST", "/api/v1/alarms/"+alarmB+"/close", tok, map[string]any{"reason": "误报"}, &eb); code != 404 {
			t.Errorf("close the alarm of a shared household: %d %+v", code, eb)
		}
		if code := e.do("GET", "/api/v1/households/hh-e1", tok, nil, nil); code != 404 {
			t.Errorf("read a shared household: %d", code)
		}
	}
	if len(closer.calls) != 0 {
		t.Fatalf("alarm closed: %v", closer.calls)
	}
	if code := e.do("GET", "/api/v1/households/hh-e1", districtToken, nil, nil); code != 200 {
		t.Fatalf("district: %d", code)
	}
}

// An area names one level exactly: a village (善广村), a village of a
// township (屏山街道/善广村) or a whole township (屏山街道/*).
func TestAreaForms(t *testing.T) {
	e := newEnv(t)
	e.api.Tokens = append(e.api.Tokens, Token{Name: "pingshan", Token: "pingshan-token-0123456789abcdef", Area: "屏山街道/*"},
		Token{Name: "pingshan-shanguang", Token: "pingshan-sg-token-0123456789abcdef", Area: "屏山街道/善广村"})
	for i, v := range []string{"善广村", "东村"} {
		if code := e.do("POST", "/api/v1/elders", districtToken, elderJSON(fmt.Sprintf("e%d", i), v, i), nil); code != 201 {
			t.Fatal(code)
		}
	}
	other := elderJSON("e2", "善广村", 2)
	other["current_address"] = map[string]any{"township": "城关镇", "village": "善广村"}
	if code := e.do("POST", "/api/v1/elders", districtToken, other, nil); code != 201 {
		t.Fatal(code)
	}
	var list struct{ Total int }
	for tok, want := range map[string]int{"pingshan-token-0123456789abcdef": 2, "pingshan-sg-token-0123456789abcdef": 1,
		shanguangTok: 2, dongcunTok: 1, districtToken: 3} {
		if e.do("GET", "/api/v1/elders", tok, nil, &list); list.Total != want {
			t.Errorf("%s sees %d elders, want %d", tok[:8], list.Total, want)
		}
	}
	// a township token may not be read as a village named like the township
	if code := e.do("POST", "/api/v1/elders", "pingshan-token-0123456789abcdef", func() map[string]any {
		x := elderJSON("e3", "屏山街道", 3)
		x["current_address"] = map[string]any{"township": "城关镇", "village": "屏山街道"}
		return x
	}(), nil); code != 403 {
		t.Fatalf("township token writes into a village of its name: %d", code)
	}
}

// countingHouseholds counts how the API reads households.
type countingHouseholds struct {
	HouseholdList
	all, of, one int
}

func (c *countingHouseholds) Household(ctx context.Context, id string) (anxin.Household, error) {
	c.one++
	return c.HouseholdList.Household(ctx, id)
}

func (c *countingHouseholds) AllHouseholds(ctx context.Context) ([]anxin.Household, error) {
	c.all++
	return c.HouseholdList.AllHouseholds(ctx)
}

func (c *countingHouseholds) HouseholdsOf(ctx context.Context, ids []string) ([]anxin.Household, error) {
	c.of++
	return c.HouseholdList.HouseholdsOf(ctx, ids)
}
