package alarmd

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
)

type syncBuf = testenv.SyncBuffer

// TestIntegrationRulesFileChangeReloads: editing rules_file reloads it; a
// bad edit keeps the running rules and the log says what is wrong.
func TestIntegrationRulesFileChangeReloads(t *testing.T) {
	cfg := testConfig(t)
	cfg.RulesFile = filepath.Join(t.TempDir(), "rules.yaml")
	write := func(s string) {
		if err := os.WriteFile(cfg.RulesFile, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("rules:\n  - {name: button, kind: event, severity: critical, events: [button_pressed]}\n")
	logs := &syncBuf{}
	esc := &recordingEscalator{}
	m := &Main{Config: cfg, Escalator: esc, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	startMain(t, m)
	pub := publisher(t, m.BrokerURL().Dial())
	fall := func() {
		now := time.Now()
		publishMsg(t, pub, anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-0002", Device: "acc1", Kind: anxin.KindTracker, Event: anxin.EventFall})
	}
	// a bad edit: rejected, said why
	write("rules:\n  - {name: fall, kind: event, severity: critical, events: [tumble]}\n")
	waitFor(t, "the rejection", 10*time.Second, func() bool { return strings.Contains(logs.String(), "reload rejected: rules") })
	if !strings.Contains(logs.String(), "tumble") {
		t.Fatalf("rejection does not say what is wrong:\n%s", logs)
	}
	if !strings.Contains(logs.String(), `zh="配置有误，没有重新加载，alarmd 继续按原来的配置运行：rules.yaml 中的 rules[0].events[0] 项：“tumble” 不是可用的值`) {
		t.Fatalf("rejection is not said in Mandarin first:\n%s", logs)
	}
	// a good edit adds a fall rule
	write("rules:\n  - {name: button, kind: event, severity: critical, events: [button_pressed]}\n  - {name: fall, kind: event, severity: critical, events: [fall]}\n")
	waitFor(t, "the reload", 10*time.Second, func() bool { return strings.Contains(logs.String(), "msg=reloaded") })
	fall()
	waitFor(t, "the fall alarm under the new rules", 10*time.Second, func() bool { return len(esc.Escalated()) == 1 })
	if a := esc.Escalated()[0]; a.Rule != "fall" {
		t.Fatalf("alarm %+v", a)
	}
}
