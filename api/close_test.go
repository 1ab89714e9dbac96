package api

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/sqlite"
)

// storeCloser is alarmd's closer without escalation: it records the calls
// and closes in the store.
type storeCloser struct {
	db    *sqlite.DB
	mu    sync.Mutex
	calls []string
}

func (c *storeCloser) CloseAlarm(ctx context.Context, id, by, reason string) error {
	c.mu.Lock()
	c.calls = append(c.calls, id+" "+by)
	c.mu.Unlock()
	return c.db.CloseAlarm(ctx, id, by, reason, now)
}

func TestCloseAlarmByHand(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i, v := range []string{"善广村", "东村"} {
		if code := e.do("POST", "/api/v1/elders", districtToken, elderJSON(fmt.Sprintf("e%d", i), v, i), nil); code != 201 {
			t.Fatal(code)
		}
	}
	closer := &storeCloser{db: e.db}
	e.api.Alarms, e.api.Closer = e.db, closer
	open := func(hh string) string {
		t.Helper()
		res, err := e.db.ApplyIngest(ctx, &sqlite.IngestBatch{At: now, Changes: []sqlite.AlarmChange{{Op: sqlite.AlarmOpOpen,
			Household: hh, Rule: "smoke", RuleKind: "event", Device: "smoke1", Severity: anxin.SeverityCritical,
			Route: anxin.RouteFamily, At: now.Add(-time.Hour), Reason: "烟雾报警"}}})
		if err != nil || len(res.Opened) != 1 {
			t.Fatalf("open: %+v %v", res, err)
		}
		return res.Opened[0].ID
	}
	a0, a1 := open("hh-e0"), open("hh-e1")
	path := func(id string) string { return "/api/v1/alarms/" + id + "/close" }
	reason := map[string]string{"reason": "  检测器测试，已确认无火情  "}
	for _, c := range []struct {
		what, id, token string
		body            any
		want            int
		code            string
	}{
		{"another area's alarm", a1, shanguangTok, reason, 404, "not_found"},
		{"an unknown alarm", "no-such-alarm", districtToken, reason, 404, "not_found"},
		{"no token", a0, "", reason, 401, "unauthorized"},
		{"no reason", a0, shanguangTok, map[string]string{}, 400, "invalid"},
		{"a blank reason", a0, shanguangTok, map[string]string{"reason": " \t"}, 400, "invalid"},
		{"a reason too long", a0, shanguangTok, map[string]string{"reason": strings.Repeat("火", maxCloseReason+1)}, 400, "invalid"},
		{"an unknown field", a0, shanguangTok, map[string]any{"reason": "x", "state": "open"}, 400, "invalid"},
	} {
		var got errBody
		if code := e.do("POST", path(c.id), c.token, c.body, &got); code != c.want || got.Error.Code != c.code || got.Error.Message == "" {
			t.Errorf("%s: %d %+v, want %d %s", c.what, code, got, c.want, c.code)
		}
	}
	if len(closer.calls) != 0 {
		t.Fatalf("refused requests reached the closer: %v", closer.calls)
	}

	var closed struct{ Alarm anxin.Alarm }
	if code := e.do("POST", path(a0), shanguangTok, reason, &closed); code != 200 || closed.Alarm.State != anxin.AlarmResolved ||
		!closed.Alarm.ClosedAt.Equal(now) {
		t.Fatalf("close: %d %+v", code, closed)
	}
	if len(closer.calls) != 1 || closer.calls[0] != a0+" shanguang" {
		t.Fatalf("closer calls %v", closer.calls)
	}
	var one struct{ Timeline []TimelineEntry }
	if code := e.do("GET", "/api/v1/alarms/"+a0, shanguangTok, nil, &one); code != 200 {
		t.Fatalf("get: %d", code)
	}
	last := one.Timeline[len(one.Timeline)-1]
	if last.What != "closed" || last.Status != "resolved" || last.To != "shanguang" || last.Detail != "检测器测试，已确认无火情" {
		t.Fatalf("timeline %+v", one.Timeline)
	}
	var again errBody
	if code := e.do("POST", path(a0), districtToken, reason, &again); code != 409 || again.Error.Code != "conflict" {
		t.Fatalf("second close: %d %+v", code, again)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "alarm closed by hand") || strings.Contains(logs, "无火情") {
		t.Fatalf("the close is logged without its reason: %s", logs)
	}
	// a server without a closer (anxinctl -db) says so
	e.api.Closer = nil
	var off errBody
	if code := e.do("POST", path(a1), districtToken, reason, &off); code != 404 || !strings.Contains(off.Error.Message, "正在运行的报警服务") {
		t.Fatalf("without a closer: %d %+v", code, off)
	}
}
