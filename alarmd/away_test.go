package alarmd

import (
	"net/http"
	"strings"
	"testing"
)

// TestAwayOverTheRecordsAPI: PUT households/{id}/away marks a household
// away through the running rules, GET reads it, a restart keeps it; bad
// bodies are 400, unknown households and other areas 404.
func TestAwayOverTheRecordsAPI(t *testing.T) {
	c := testConfig(t)
	c.API.Tokens = []APIToken{{Name: "district", Token: "district-0123456789abcdef"},
		{Name: "elsewhere", Token: "elsewhere-0123456789abcdef", Area: "另一村"}}
	const district = "district-0123456789abcdef"
	m := &Main{Config: c}
	stop := startMain(t, m)
	if code, body := apiCall(t, m, "GET", "households/hh-0001/away", district, ""); code != 200 || !strings.Contains(body, `"away":false`) {
		t.Fatalf("before: %d %s", code, body)
	}
	if code, body := apiCall(t, m, "PUT", "households/hh-0001/away", district, `{"away": true}`); code != 200 || !strings.Contains(body, `"away":true`) {
		t.Fatalf("put: %d %s", code, body)
	}
	for _, c := range []struct {
		method, path, token, body string
		want                      int
	}{
		{"PUT", "households/hh-0001/away", district, `{}`, 400},
		{"PUT", "households/hh-0001/away", district, `{"away": "yes"}`, 400},
		{"PUT", "households/hh-9999/away", district, `{"away": true}`, 404},
		{"PUT", "households/hh-0001/away", "elsewhere-0123456789abcdef", `{"away": false}`, 404},
		{"GET", "households/hh-0001/away", "elsewhere-0123456789abcdef", ``, 404},
		{"PUT", "households/hh-0001/away", "wrong-token-0123456789abcdef", `{"away": false}`, 401},
	} {
		if code, body := apiCall(t, m, c.method, c.path, c.token, c.body); code != c.want {
			t.Errorf("%s %s %s: %d %s, want %d", c.method, c.path, c.body, code, body, c.want)
		}
	}
	stop()

	m2 := &Main{Config: c}
	startMain(t, m2)
	if code, body := apiCall(t, m2, "GET", "households/hh-0001/away", district, ""); code != 200 || !strings.Contains(body, `"away":true`) {
		t.Fatalf("after a restart: %d %s", code, body)
	}
	if code, body := apiCall(t, m2, "PUT", "households/hh-0001/away", district, `{"away": false}`); code != 200 || !strings.Contains(body, `"away":false`) {
		t.Fatalf("back: %d %s", code, body)
	}
}

// apiCall sends one records API request to a running Main.
func apiCall(t *testing.T, m *Main, method, path, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+m.HTTPAddr()+"/api/v1/"+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	return send(t, req)
}
