package api

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// The due, overdue and follow-up lists' ?visitor= and ?village= select the
// elders of that grid worker and that village — not only an empty answer.
func TestDueListFiltersSelectElders(t *testing.T) {
	e := newEnv(t)
	for i, el := range []struct {
		id, village, worker string
		consent             bool
	}{
		{"e0", "善广村", "王芳", true},
		{"e1", "东村", "王芳", true},
		{"e2", "善广村", "李强", true},
		{"e3", "善广村", "王芳", false}, // declines visits: on no list
		{"e4", "东村", "李强", true},
	} {
		ej := elderJSON(el.id, el.village, i)
		ej["grid_worker"], ej["consent"] = el.worker, el.consent
		if code := e.do("POST", "/api/v1/elders", districtToken, ej, nil); code != 201 {
			t.Fatalf("%s: %d", el.id, code)
		}
	}
	// e4 had a home visit today: not due for days
	if code := e.do("POST", "/api/v1/visits", districtToken, map[string]any{"household": "hh-e4", "date": now, "method": "home"}, nil); code != 201 {
		t.Fatal(code)
	}
	ids := func(path, tok string) []string {
		t.Helper()
		var due struct {
			Count  int
			Elders []DueItem
		}
		if code := e.do("GET", path, tok, nil, &due); code != 200 || due.Count != len(due.Elders) {
			t.Fatalf("%s: %d %+v", path, code, due)
		}
		var out []string
		for _, it := range due.Elders {
			out = append(out, it.ID)
		}
		slices.Sort(out)
		return out
	}
	for _, c := range []struct {
		path, tok string
		want      []string
	}{
		{"/api/v1/due", districtToken, []string{"e0", "e1", "e2"}},
		{"/api/v1/due?visitor=王芳", districtToken, []string{"e0", "e1"}},
		{"/api/v1/due?visitor=李强", districtToken, []string{"e2"}},
		{"/api/v1/due?village=善广村", districtToken, []string{"e0", "e2"}},
		{"/api/v1/due?village=东村", districtToken, []string{"e1"}},
		{"/api/v1/due?visitor=王芳&village=善广村", districtToken, []string{"e0"}},
		{"/api/v1/due?visitor=李强&village=东村", districtToken, nil},
		{"/api/v1/due?visitor=李强&village=东村&within=30", districtToken, []string{"e4"}},
		{"/api/v1/due?visitor=王芳", shanguangTok, []string{"e0"}}, // the token's area still applies
		{"/api/v1/due?village=东村", shanguangTok, nil},
		{"/api/v1/due?visitor=nobody", districtToken, nil},
	} {
		if got := ids(c.path, c.tok); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.path, got, c.want)
		}
	}
	// overdue a month later, and follow-ups, filter the same way
	e.api.Now = func() time.Time { return now.AddDate(0, 1, 0) }
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/api/v1/overdue?visitor=王芳", []string{"e0", "e1"}},
		{"/api/v1/overdue?village=东村", []string{"e1", "e4"}},
		{"/api/v1/overdue?visitor=李强&village=善广村", []string{"e2"}},
	} {
		if got := ids(c.path, districtToken); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.path, got, c.want)
		}
	}
	e.api.Now = func() time.Time { return now }
	for i, hh := range []string{"hh-e1", "hh-e2"} {
		v := anxin.Visit{Household: hh, Date: now.Add(-time.Hour), Method: anxin.VisitRemoteMonitoring, AlarmID: fmt.Sprintf("A%d", i),
			FollowUpDue: now.Add(time.Duration(i+1) * time.Hour)}
		if err := e.db.CreateVisit(context.Background(), &v); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		path string
		want []string
	}{
		{"/api/v1/follow-ups", []string{"e1", "e2"}},
		{"/api/v1/follow-ups?visitor=王芳", []string{"e1"}},
		{"/api/v1/follow-ups?village=善广村", []string{"e2"}},
		{"/api/v1/follow-ups?visitor=王芳&village=善广村", nil},
	} {
		if got := ids(c.path, districtToken); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.path, got, c.want)
		}
	}
}
