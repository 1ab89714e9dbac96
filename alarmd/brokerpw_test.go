package alarmd

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
)

// TestBrokerPasswordNeverLogged (issue 12, item 5): a password in
// mqtt.broker reaches neither "alarmd open", "subscribed" nor a config
// error.
func TestBrokerPasswordNeverLogged(t *testing.T) {
	const pw = "brokerpw-FFFF"
	mq := testenv.StartMosquitto(t) // anonymous allowed: any password is taken
	cfg := testConfig(t)
	var err error
	if cfg.MQTT.Broker, err = anxin.ParseBrokerURL(fmt.Sprintf("tcp://alarmd:%s@%s", pw, mq.Addr())); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	m := &Main{Config: cfg, Escalator: &recordingEscalator{}, Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	ctx, cancel := context.WithCancel(t.Context())
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	waitFor(t, "subscribed", 10*time.Second, func() bool { return strings.Contains(logs.String(), `"msg":"subscribed"`) })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, bad := range []string{
		"mqtt: {broker: 'http://alarmd:" + pw + "@127.0.0.1:1883'}",
		"mqtt: {broker: 'tcp://alarmd:" + pw + "@127.0.0.1:1883/%zz'}",
		"mqtt: {broker: 'tcp://alarmd:" + pw + "@'}",
	} {
		if _, err := Parse([]byte(bad), noEnv); err == nil {
			t.Errorf("accepted: %s", bad)
		} else {
			out += err.Error() + "\n"
		}
	}
	if strings.Contains(out, pw) {
		t.Errorf("broker password logged:\n%s", out)
	}
	if !strings.Contains(out, "alarmd:xxxxx@") || !strings.Contains(out, `"msg":"alarmd open"`) {
		t.Errorf("want the broker logged with its password redacted:\n%s", out)
	}
}
