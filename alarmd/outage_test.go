package alarmd

import (
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
)

// TestIntegrationBrokerOutage: /healthz says 503 and why while the broker is
// down; alarmd reconnects by itself and alarms flow again.
func TestIntegrationBrokerOutage(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	cfg := testConfig(t)
	cfg.MQTT.Broker = anxin.MustBrokerURL(mq.URL)
	esc := &recordingEscalator{}
	m := &Main{Config: cfg, Escalator: esc}
	startMain(t, m)
	health := "http://" + m.HTTPAddr() + "/healthz"
	if code, body := get(t, health); code != 200 {
		t.Fatalf("/healthz %d %s", code, body)
	}
	mq.Kill()
	waitFor(t, "503 while the broker is down", 10*time.Second, func() bool {
		code, body := get(t, health)
		return code == 503 && strings.Contains(body, "broker")
	})
	mq.Restart()
	waitFor(t, "200 after the broker is back", 30*time.Second, func() bool {
		code, _ := get(t, health)
		return code == 200
	})
	pub := publisher(t, mq.URL)
	publishMsg(t, pub, button("hh-0001", time.Now()))
	waitFor(t, "an alarm after the outage", 10*time.Second, func() bool { return len(esc.Escalated()) == 1 })
}
