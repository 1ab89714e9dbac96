package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/sqlite"
)

// FuzzJSONBodies sends hostile bodies to every API path that takes JSON:
// each is answered below 500, and every refusal is the error JSON with a
// code and a message.
func FuzzJSONBodies(f *testing.F) {
	e := newEnv(f)
	e.api.Alarms, e.api.Closer = e.db, &storeCloser{db: e.db}
	e.api.Away = fuzzAway{}
	e.api.Logger = slog.New(slog.DiscardHandler) // millions of requests
	ctx := context.Background()
	res, err := e.db.ApplyIngest(ctx, &sqlite.IngestBatch{At: now, Changes: []sqlite.AlarmChange{{Op: sqlite.AlarmOpOpen,
		Household: "hh-1", Rule: "button", RuleKind: "event", Device: "btn1", Severity: anxin.SeverityCritical,
		Route: anxin.RouteFamily, At: now.Add(-time.Hour)}}})
	if err != nil || len(res.Opened) != 1 {
		f.Fatalf("open: %+v %v", res, err)
	}
	paths := []struct{ method, path string }{
		{"POST", "/api/v1/elders"}, {"PUT", "/api/v1/elders/e1"}, {"POST", "/api/v1/visits"},
		{"PUT", "/api/v1/households/hh-1/away"}, {"POST", "/api/v1/alarms/" + res.Opened[0].ID + "/close"},
	}
	elder, _ := json.Marshal(elderJSON("e1", "善广村", 1))
	for i, seed := range [][]byte{elder, []byte(`{"household":"hh-1","method":"home","visitor":"王芳"}`),
		[]byte(`{"away": true}`), []byte(`{"reason":"误按"}`), []byte(`{"reason":"\u0000"}`), []byte(`[]`), []byte(`{"a":1}{"b":2}`),
		[]byte(`{"date":"2026-13-45","method":"x"}`), []byte(`{"reason":"` + string(bytes.Repeat([]byte{0xe7}, 600)) + `"}`)} {
		f.Add(uint8(i), seed)
	}
	h := e.api.Handler()
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		p := paths[int(which)%len(paths)]
		req := httptest.NewRequest(p.method, p.path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+districtToken)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", p.method, p.path, body, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 {
			var eb errBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("%s %s %q: %d answered %s", p.method, p.path, body, rec.Code, rec.Body.Bytes())
			}
		}
	})
}

type fuzzAway struct{}

func (fuzzAway) SetAway(context.Context, string, bool) error { return nil }
func (fuzzAway) Away(context.Context, string) (bool, error)  { return false, nil }
