package alarmd

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
)

// An alarm whose chain cannot start (its household left the households
// file) is not only logged: /healthz says so and /metrics counts it while
// escalation retries, and the chain starts once the household is back.
func TestChainStartRetriedAndReported(t *testing.T) {
	cfg := testConfig(t)
	logs := &testenv.SyncBuffer{}
	m := &Main{Config: cfg, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	startMain(t, m)
	base := "http://" + m.HTTPAddr()
	ctx := context.Background()
	t0 := time.Now()
	// committed by an alarmd whose households file still had hh-0003
	res, err := m.Store.ApplyIngest(ctx, &sqlite.IngestBatch{At: t0, Changes: []sqlite.AlarmChange{{
		Op: sqlite.AlarmOpOpen, Household: "hh-0003", Rule: "button", RuleKind: "event", Device: "btn1",
		Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, At: t0,
	}}})
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	waitFor(t, "/healthz to report the waiting alarm", 15*time.Second, func() bool {
		code, body := get(t, base+"/healthz")
		return code == 503 && strings.Contains(body, "escalation: 1 alarm(s) waiting")
	})
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, "anxin_escalation_waiting_alarms 1") ||
		!strings.Contains(body, "anxin_escalation_start_failures_total") {
		t.Fatalf("/metrics lacks the waiting alarm:\n%.2000s", body[strings.Index(body, "anxin_escalation"):])
	}
	third := twoHouseholds + `  - id: hh-0003
    elder: {name: 孙桂芝, tier: key}
    contacts: [{name: 孙强, relation: child, phone: "+8613900000009"}]
`
	if err := os.WriteFile(cfg.HouseholdsFile, []byte(third), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the chain to start after the household came back", 30*time.Second, func() bool {
		c, err := m.Store.Chain(ctx, res.Opened[0].ID)
		return err == nil && c.State == anxin.ChainWalking && strings.Contains(logs.String(), "chain started after retries")
	})
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz %d %s after the chain started", code, body)
	}
	if strings.Contains(logs.String(), "+8613900000009") {
		t.Fatal("a phone number reached the log")
	}
}
