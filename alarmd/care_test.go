package alarmd

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

func TestCareConfig(t *testing.T) {
	c, err := Parse([]byte(`
api:
  tokens:
    - {name: district, token: "district-0123456789abcdef"}
    - {name: shanguang, token: "shanguang-0123456789abcdef", area: 善广村}
care:
  timezone: Asia/Shanghai
  cadence: {high: {phone_days: 2, home_days: 5}}
  surges: [{from: 2026-12-20, to: 2027-01-05, reason: festival}]
`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.Care.Plan()
	if err != nil {
		t.Fatal(err)
	}
	if p.Cadence["high"].PhoneDays != 2 || p.Cadence["key"].PhoneDays != 5 || p.Cadence["irregular"].HomeDays != 90 ||
		len(p.Surges) != 1 || p.Surges[0].From.Format(time.DateOnly) != "2026-12-20" || p.Location.String() != "Asia/Shanghai" {
		t.Fatalf("plan %+v", p)
	}
	toks := c.API.APITokens()
	if len(toks) != 2 || toks[1].Area != "善广村" || toks[1].Token != "shanguang-0123456789abcdef" {
		t.Fatalf("tokens %+v", toks)
	}
	for bad, key := range map[string]string{
		`care: {cadence: {urgent: {phone_days: 1, home_days: 1}}}`:                                      "care.cadence.urgent",
		`care: {cadence: {key: {phone_days: 0, home_days: 15}}}`:                                        "care.cadence.key",
		`care: {cadence: {key: {phone_days: 1, home_days: 15, yearly: 1}}}`:                             "yearly",
		`care: {timezone: Mars/Olympus}`:                                                                "care.timezone",
		`care: {surges: [{from: 2027-01-05, to: 2026-12-20}]}`:                                          "care.surges[0]",
		`api: {tokens: [{name: a, token: short}]}`:                                                      "api.tokens[0].token",
		`api: {tokens: [{name: a, token: "0123456789abcdef0"}, {name: a, token: "0123456789abcdef0"}]}`: "api.tokens[1]",
	} {
		_, err := Parse([]byte(bad), noEnv)
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %v does not name %s", bad, err, key)
		}
		if err != nil && strings.Contains(err.Error(), "0123456789abcdef0") {
			t.Errorf("error shows a token: %v", err)
		}
	}
}

func TestMainMountsRecordsAPI(t *testing.T) {
	c := testConfig(t)
	c.API.Tokens = []APIToken{{Name: "district", Token: "district-0123456789abcdef"}}
	m := &Main{Config: c}
	startMain(t, m)
	base := "http://" + m.HTTPAddr() + "/api/v1/"
	if code, _ := get(t, base+"elders"); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	// an alarm outcome recorded by the escalation lands in the register's visits
	v := anxin.Visit{Household: "hh-0001", Date: time.Now(), Method: anxin.VisitRemoteMonitoring, AlarmID: "01ALARM",
		FollowUpDue: time.Now().Add(24 * time.Hour)}
	if err := m.Store.CreateVisit(context.Background(), &v); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", base+"visits?alarm_id=01ALARM", nil)
	req.Header.Set("Authorization", "Bearer district-0123456789abcdef")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Visits []anxin.Visit }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || len(out.Visits) != 1 || out.Visits[0].ID != v.ID {
		t.Fatalf("visits: %d %v %+v", resp.StatusCode, err, out)
	}
}

func TestReloadRevokesAPIToken(t *testing.T) {
	c := testConfig(t)
	c.API.Tokens = []APIToken{{Name: "district", Token: "district-0123456789abcdef"}, {Name: "old", Token: "old-token-0123456789abcdef"}}
	m := &Main{Config: c}
	startMain(t, m)
	call := func(token string) int {
		req, _ := http.NewRequest("GET", "http://"+m.HTTPAddr()+"/api/v1/elders", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := call("old-token-0123456789abcdef"); code != 200 {
		t.Fatalf("old token before reload: %d", code)
	}
	// what Reload does once the new file has parsed: swap the config whole
	next := *c
	next.API.Tokens = c.API.Tokens[:1]
	m.mu.Lock()
	m.Config = &next
	m.mu.Unlock()
	if code := call("old-token-0123456789abcdef"); code != http.StatusUnauthorized {
		t.Fatalf("revoked token after reload: %d", code)
	}
	if code := call("district-0123456789abcdef"); code != 200 {
		t.Fatalf("kept token after reload: %d", code)
	}
}
