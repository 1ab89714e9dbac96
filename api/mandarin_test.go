package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/ledger"
	"github.com/anxin-care/anxin/sqlite"
)

// asciiWords finds the English a refusal may still hold; allowedWords are
// what a worker types as is (parameter and field names, their values,
// formats) and may appear. Mirrors web/words_test.go.
var asciiWords = regexp.MustCompile(`[A-Za-z]{3,}`)

var allowedWords = map[string]bool{
	"YYYY": true, "RFC": true, "JSON": true, "json": true, "xlsx": true, "csv": true, "PUT": true, "GET": true,
	"POST": true, "DELETE": true, "PATCH": true, "month": true, "limit": true, "tier": true, "irregular": true,
	"general": true, "key": true, "high": true, "unassessed": true, "area": true, "format": true, "layout": true, "register": true,
	"form": true, "filler": true, "phone": true, "since": true, "until": true, "item": true, "away": true,
	"true": true, "false": true, "reason": true, "Excel": true, "CSV": true, "UTF": true, "GBK": true,
}

var quoted = regexp.MustCompile(`「[^」]*」`)

var hanChar = regexp.MustCompile(`\p{Han}`)

// failingStore is the store failing as a disk does: an internal error.
type failingStore struct{ *sqlite.DB }

func (failingStore) Elders(context.Context, anxin.ElderFilter) ([]anxin.ElderRecord, error) {
	return nil, errors.New("disk I/O error reading /var/lib/anxin/alarmd.db")
}

// Every refusal the records API answers is read by a community worker
// (anxinctl prints the message, the web app shows it): each is Mandarin,
// with no English left but what the worker types (month, YYYY-MM, xlsx…).
// One row per refusal, driven through the handler over a real store.
func TestRefusalsSpeakMandarin(t *testing.T) {
	e := newEnv(t) // its store; the servers below are built on it
	ctx := context.Background()
	const badAreaTok = "bad-area-token-0123456789abcdef"
	tokens := []Token{{Name: "district", Token: districtToken}, {Name: "shanguang", Token: shanguangTok, Area: "善广村"},
		{Name: "dongcun", Token: dongcunTok, Area: "东村"}, {Name: "broken", Token: badAreaTok, Area: "a/b/c"}}
	kits := HouseholdList{{ID: "hh-1", Elder: anxin.Elder{Name: "张桂兰"}}}
	logger := slog.New(slog.DiscardHandler)
	full := (&Server{Store: e.db, Plan: care.DefaultPlan(), Now: func() time.Time { return now }, Logger: logger,
		Tokens: tokens, Households: kits, Alarms: e.db, Escalation: e.db, Closer: &storeCloser{db: e.db},
		Away: fuzzAway{}}).Handler()
	bare := (&Server{Store: e.db, Now: func() time.Time { return now }, Logger: logger, Tokens: tokens}).Handler()
	failing := (&Server{Store: failingStore{e.db}, Now: func() time.Time { return now }, Logger: logger, Tokens: tokens}).Handler()

	send := func(h http.Handler, method, path, token string, body any) *httptest.ResponseRecorder {
		t.Helper()
		var rd *bytes.Reader
		ct := "application/json"
		switch b := body.(type) {
		case nil:
			rd = bytes.NewReader(nil)
		case []byte:
			rd, ct = bytes.NewReader(b), "application/octet-stream"
		case string:
			rd = bytes.NewReader([]byte(b))
		case csvBody:
			rd, ct = bytes.NewReader([]byte(b)), "text/csv"
		default:
			j, err := json.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			rd = bytes.NewReader(j)
		}
		req := httptest.NewRequest(method, "http://127.0.0.1"+path, rd)
		req.Header.Set("Content-Type", ct)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i, v := range []string{"善广村", "东村"} {
		id := []string{"e1", "e2"}[i]
		if rec := send(full, "POST", "/api/v1/elders", districtToken, elderJSON(id, v, i+1)); rec.Code != 201 {
			t.Fatalf("create %s: %d %s", id, rec.Code, rec.Body)
		}
	}
	opened, err := e.db.ApplyIngest(ctx, &sqlite.IngestBatch{At: now, Changes: []sqlite.AlarmChange{{Op: sqlite.AlarmOpOpen,
		Household: "hh-e1", Rule: "smoke", RuleKind: "event", Device: "smoke1", Severity: anxin.SeverityCritical,
		Route: anxin.RouteFamily, At: now.Add(-time.Hour), Reason: "烟雾报警"}}})
	if err != nil || len(opened.Opened) != 1 {
		t.Fatalf("open an alarm: %+v %v", opened, err)
	}
	alarm := opened.Opened[0].ID
	opened, err = e.db.ApplyIngest(ctx, &sqlite.IngestBatch{At: now, Changes: []sqlite.AlarmChange{{Op: sqlite.AlarmOpOpen,
		Household: "hh-e1", Rule: "gas", RuleKind: "event", Device: "gas1", Severity: anxin.SeverityCritical,
		Route: anxin.RouteFamily, At: now.Add(-time.Hour), Reason: "燃气报警"}}})
	if err != nil || len(opened.Opened) != 1 {
		t.Fatalf("open an alarm: %+v %v", opened, err)
	}
	closedMeanwhile := opened.Opened[0].ID
	racing := (&Server{Store: e.db, Now: func() time.Time { return now }, Logger: logger, Tokens: tokens,
		Alarms: e.db, Escalation: e.db, Closer: racingCloser{e.db}}).Handler()

	withID := func(id, village string, seq int, set func(map[string]any)) map[string]any {
		m := elderJSON(id, village, seq)
		if set != nil {
			set(m)
		}
		return m
	}
	twice := ledgerCSV(t, anxin.ElderRecord{ID: "e7", Name: "王五", IDNumber: idNumber("19400506", 7),
		Current: anxin.Address{Village: "善广村"}, Assessment: anxin.Assessment{Guardianship: "独居", SelfCare: "完好", Health: "正常"}})
	twice += strings.SplitN(strings.Replace(twice, "e7", "e8", 1), "\n", 2)[1]
	taken := ledgerCSV(t, anxin.ElderRecord{ID: "e9", Name: "王五", IDNumber: idNumber("19400506", 2),
		Current: anxin.Address{Village: "善广村"}, Assessment: anxin.Assessment{Guardianship: "独居", SelfCare: "完好", Health: "正常"}})

	for _, c := range []struct {
		what   string
		h      http.Handler
		method string
		path   string
		token  string
		body   any
		status int
	}{
		{"no token", full, "GET", "/api/v1/elders", "", nil, 401},
		{"a token whose area cannot be read", full, "GET", "/api/v1/elders", badAreaTok, nil, 403},
		{"no such endpoint", full, "GET", "/api/v1/nothing-here", districtToken, nil, 404},
		{"a method the path does not take", full, "DELETE", "/api/v1/elders", districtToken, nil, 405},
		{"an internal error", failing, "GET", "/api/v1/elders", districtToken, nil, 500},
		{"limit out of range", full, "GET", "/api/v1/elders?limit=0", districtToken, nil, 400},
		{"an unknown tier", full, "GET", "/api/v1/elders?tier=zz", districtToken, nil, 400},
		{"an unreadable area", full, "GET", "/api/v1/elders?area=a/b/c", districtToken, nil, 400},
		{"an unknown elder", full, "GET", "/api/v1/elders/zz9", districtToken, nil, 404},
		{"another area's elder", full, "GET", "/api/v1/elders/e2", shanguangTok, nil, 404},
		{"an elder created twice", full, "POST", "/api/v1/elders", districtToken, elderJSON("e1", "善广村", 1), 409},
		{"no consent", full, "POST", "/api/v1/elders", shanguangTok, withID("e5", "善广村", 5, func(m map[string]any) { delete(m, "consent") }), 400},
		{"bad fields", full, "POST", "/api/v1/elders", shanguangTok, withID("e5", "善广村", 5, func(m map[string]any) {
			m["id_number"], m["phone"], m["gender"] = "530128194005060", "12", "x"
		}), 400},
		{"ids that differ", full, "PUT", "/api/v1/elders/e1", districtToken, elderJSON("e5", "善广村", 1), 400},
		{"replacing another area's elder", full, "PUT", "/api/v1/elders/e2", shanguangTok, elderJSON("e2", "善广村", 2), 404},
		{"an address outside the area", full, "POST", "/api/v1/elders", shanguangTok, elderJSON("e5", "东村", 5), 403},
		{"a kit's household", full, "POST", "/api/v1/elders", shanguangTok, withID("e5", "善广村", 5, func(m map[string]any) { m["household"] = "hh-1" }), 403},
		{"another area's household", full, "POST", "/api/v1/elders", shanguangTok, withID("e5", "善广村", 5, func(m map[string]any) { m["household"] = "hh-e2" }), 403},
		{"an ID number registered elsewhere", full, "POST", "/api/v1/elders", shanguangTok, elderJSON("e5", "善广村", 2), 409},
		{"an ID number registered here", full, "POST", "/api/v1/elders", districtToken, elderJSON("e5", "善广村", 2), 409},
		{"an import naming one ID number twice", full, "POST", "/api/v1/elders/import", districtToken, csvBody(twice), 400},
		{"an import of a registered ID number", full, "POST", "/api/v1/elders/import", shanguangTok, csvBody(taken), 409},
		{"an import format", full, "POST", "/api/v1/elders/import?format=pdf", districtToken, []byte("x"), 400},
		{"a file that is not a workbook", full, "POST", "/api/v1/elders/import", districtToken, []byte("zz"), 400},
		{"a CSV in neither encoding", full, "POST", "/api/v1/elders/import", districtToken, csvBody("\xff\xfe\x00姓\x80,x\n"), 400},
		{"an export layout", full, "GET", "/api/v1/elders/export?layout=zz", districtToken, nil, 400},
		{"a body that is not JSON", full, "POST", "/api/v1/elders", districtToken, "{oops", 400},
		{"an empty body", full, "POST", "/api/v1/elders", districtToken, "", 400},
		{"a body cut short", full, "POST", "/api/v1/elders", districtToken, `{"id":`, 400},
		{"an unknown field", full, "POST", "/api/v1/elders", districtToken, `{"zz":1}`, 400},
		{"a field of the wrong type", full, "POST", "/api/v1/elders", districtToken, `{"id":1}`, 400},
		{"not an object", full, "POST", "/api/v1/elders", districtToken, `[1]`, 400},
		{"two JSON values", full, "POST", "/api/v1/elders", districtToken, `{}{}`, 400},
		{"a body too large", full, "POST", "/api/v1/elders", districtToken, `{"note":"` + strings.Repeat("长", maxJSON/3+1) + `"}`, 400},
		{"a date that is not one", full, "POST", "/api/v1/visits", districtToken, `{"elder":"e1","date":"zz"}`, 400},
		{"a month that is not one", full, "GET", "/api/v1/reports/visit-rate?month=2026-13", districtToken, nil, 400},
		{"a filler too long", full, "GET", "/api/v1/reports/visit-rate?filler=" + strings.Repeat("长", maxHeaderText+1), districtToken, nil, 400},
		{"a report format", full, "GET", "/api/v1/reports/visit-rate?format=pdf", districtToken, nil, 400},
		{"a month of the item counts", full, "GET", "/api/v1/reports/visit-items?month=11", districtToken, nil, 400},
		{"a day that is not one", full, "GET", "/api/v1/visits?since=23.11.2026", districtToken, nil, 400},
		{"an unknown visit item", full, "GET", "/api/v1/visits?item=zz", districtToken, nil, 400},
		{"a visit with its id", full, "POST", "/api/v1/visits", districtToken, map[string]any{"id": "v1", "elder": "e1", "method": "phone"}, 400},
		{"a visit in the future", full, "POST", "/api/v1/visits", districtToken, map[string]any{"elder": "e1", "method": "phone", "date": now.AddDate(0, 0, 2)}, 400},
		{"a visit's text too long", full, "POST", "/api/v1/visits", districtToken, map[string]any{"elder": "e1", "method": "phone", "needs": strings.Repeat("长", 1400)}, 400},
		{"a care service counted below zero", full, "POST", "/api/v1/visits", districtToken, map[string]any{"elder": "e1", "method": "phone",
			"services": []map[string]any{{"content": "送餐", "number": -1}}}, 400},
		{"an unknown visit", full, "GET", "/api/v1/visits/zz9", districtToken, nil, 404},
		{"a kit set by a community", full, "PUT", "/api/v1/households/hh-1", shanguangTok, map[string]any{}, 403},
		{"a kit with another id", full, "PUT", "/api/v1/households/hh-1", districtToken, map[string]any{"id": "hh-9"}, 400},
		{"a kit's contact without a phone number", full, "PUT", "/api/v1/households/hh-1", districtToken,
			map[string]any{"contacts": []map[string]any{{"name": "李明", "phone": "12"}}}, 400},
		{"a kit's device of no kind", full, "PUT", "/api/v1/households/hh-1", districtToken,
			map[string]any{"devices": []map[string]any{{"id": "d1", "kind": "zz"}}}, 400},
		{"the audit log by a community", full, "GET", "/api/v1/audit", shanguangTok, nil, 403},
		{"away without away", full, "PUT", "/api/v1/households/hh-1/away", districtToken, map[string]any{}, 400},
		{"away on a server without it", bare, "GET", "/api/v1/households/hh-1/away", districtToken, nil, 404},
		{"marking away on a server without it", bare, "PUT", "/api/v1/households/hh-1/away", districtToken, map[string]any{"away": true}, 404},
		{"an unknown alarm", full, "GET", "/api/v1/alarms/zz9", districtToken, nil, 404},
		{"another area's alarm", full, "GET", "/api/v1/alarms/" + alarm, dongcunTok, nil, 404},
		{"a close without reason", full, "POST", "/api/v1/alarms/" + alarm + "/close", districtToken, map[string]any{"reason": " "}, 400},
		{"an alarm closed meanwhile", racing, "POST", "/api/v1/alarms/" + closedMeanwhile + "/close", districtToken, map[string]any{"reason": "测试"}, 409},
		{"alarms on a server without them", bare, "GET", "/api/v1/alarms", districtToken, nil, 404},
		{"an alarm on a server without them", bare, "GET", "/api/v1/alarms/" + alarm, districtToken, nil, 404},
		{"a close on a server without it", bare, "POST", "/api/v1/alarms/" + alarm + "/close", districtToken, map[string]any{"reason": "测试"}, 404},
	} {
		rec := send(c.h, c.method, c.path, c.token, c.body)
		var eb errBody
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || rec.Code != c.status || eb.Error.Code == "" {
			t.Errorf("%s: %d %s (want %d)", c.what, rec.Code, rec.Body, c.status)
			continue
		}
		t.Logf("%s: %d %s", c.what, rec.Code, rec.Body)
		texts := []string{eb.Error.Message}
		for _, f := range eb.Error.Fields {
			texts = append(texts, f.Message)
		}
		for _, r := range eb.Error.Rows {
			texts = append(texts, r.Message)
		}
		for _, s := range texts {
			if !hanChar.MatchString(s) {
				t.Errorf("%s: %q is not Mandarin", c.what, s)
			}
			// what the request named (an alarm's id) is quoted 「…」 as given
			for _, w := range asciiWords.FindAllString(quoted.ReplaceAllString(s, ""), -1) {
				if !allowedWords[w] {
					t.Errorf("%s: %q holds the English word %q", c.what, s, w)
				}
			}
		}
		if strings.Contains(rec.Body.String(), "disk") || strings.Contains(rec.Body.String(), idNumber("19400506", 2)) {
			t.Errorf("%s: the answer leaks a cause or an ID number: %s", c.what, rec.Body)
		}
		if c.status == 405 && rec.Header().Get("Allow") != "GET, POST" {
			t.Errorf("%s: Allow %q", c.what, rec.Header().Get("Allow"))
		}
	}
}

// racingCloser is a close that lost to another: someone closed the alarm
// between the API's check and its own close (the store's conflict).
type racingCloser struct{ db *sqlite.DB }

func (c racingCloser) CloseAlarm(ctx context.Context, id, by, reason string) error {
	if err := c.db.CloseAlarm(ctx, id, "someone", "先关了", now); err != nil {
		return err
	}
	return c.db.CloseAlarm(ctx, id, by, reason, now)
}

// csvBody is a ledger sent as text/csv.
type csvBody string

// The size refusal of an import is the API's own (the ledger's limit is
// its own test): Mandarin too.
func TestImportTooLargeSpeaksMandarin(t *testing.T) {
	if testing.Short() {
		t.Skip("sends a 64 MiB body")
	}
	e := newEnv(t)
	var eb errBody
	big := bytes.Repeat([]byte("a,"), ledger.MaxFileBytes/2+1)
	code := e.do("POST", "/api/v1/elders/import?format=csv", districtToken, string(big), &eb)
	t.Logf("%d %+v", code, eb)
	if code != 413 || !hanChar.MatchString(eb.Error.Message) {
		t.Fatalf("%d %+v", code, eb)
	}
	for _, w := range asciiWords.FindAllString(eb.Error.Message, -1) {
		if !allowedWords[w] {
			t.Errorf("%q holds the English word %q", eb.Error.Message, w)
		}
	}
}
