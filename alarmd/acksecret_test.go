package alarmd

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// TestAckLinkSurvivesARestartWithoutASecret: with notify.ack_secret unset
// (a single alarmd on SQLite, the default) the links were signed with a
// key made at each start: a restart broke every link already sent, and a
// step whose send was being adopted after a crash (looked up at the
// provider by its text) carried another link, missed the lookup and went
// out twice. The key made at the first start is now kept beside the store.
func TestAckLinkSurvivesARestartWithoutASecret(t *testing.T) {
	cfg := testConfig(t)
	logs := &logBuffer{lines: make(chan string, 10000)}
	m := &Main{Config: cfg, Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	stop := startMain(t, m)
	pub := publisher(t, m.BrokerURL().Dial())
	publishMsg(t, pub, button("hh-0001", time.Now().UTC().Truncate(time.Millisecond)))
	path, _ := ackLinkLogged(t, logs, 30*time.Second, nil)
	stop()

	again := &Main{Config: cfg, Logger: slog.New(slog.DiscardHandler)}
	startMain(t, again)
	if code, body := get(t, "http://"+again.HTTPAddr()+path); code != 200 || !strings.Contains(body, "我来处理") {
		t.Fatalf("the link sent before the restart: %d %s", code, body)
	}
	fi, err := os.Stat(cfg.Store.Path + ".ack-secret")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the kept key: %v %v, want a file readable by alarmd only", fi, err)
	}
}
