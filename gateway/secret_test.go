package gateway

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/testenv"
)

// TestBrokerPasswordNeverPrinted: a password in mqtt.broker
// (tcp://user:pass@host) reaches no log line, %v or error (it was logged by
// Config.LogValue at start and at every reload).
func TestBrokerPasswordNeverPrinted(t *testing.T) {
	const pw = "brokerpw-7Qz"
	dir := t.TempDir()
	cfg, err := Load(writeConfig(t, fmt.Sprintf(`
household: hh-0001
mqtt: {broker: "tcp://gw1:%s@127.0.0.1:1883"}
spool: {dir: %q}
`, pw, dir)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	slog.New(slog.NewJSONHandler(&out, nil)).Info("gatewayd starting", "config", cfg)
	slog.New(slog.NewTextHandler(&out, nil)).Info("reloaded", "config", cfg, "mqtt", cfg.MQTT)
	fmt.Fprintf(&out, "%v %+v %#v %v %+v\n", cfg, cfg, cfg, cfg.MQTT, cfg.MQTT)
	for _, bad := range []string{
		"household: hh-0001\nmqtt: {broker: 'http://gw1:" + pw + "@127.0.0.1:1883'}\n",
		"household: hh-0001\nmqtt: {broker: 'tcp://gw1:" + pw + "@127.0.0.1:1883/%zz'}\n",
		"household: hh-0001\nmqtt: {broker: 'tcp://gw1:" + pw + "@'}\n",
	} {
		_, err := Load(writeConfig(t, bad))
		if err == nil {
			t.Errorf("accepted: %s", bad)
			continue
		}
		out.WriteString(err.Error() + "\n")
	}
	if strings.Contains(out.String(), pw) {
		t.Errorf("broker password printed:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "gw1:xxxxx@127.0.0.1:1883") {
		t.Errorf("the broker should print with its password redacted:\n%s", out.String())
	}
}

// TestNoSecretInAnyLogLine runs the gateway against mosquitto with a
// password in the broker URL, another in mqtt.password and a third in a
// driver's home-broker login, reloads it and stops it: no log line holds
// any of them.
func TestNoSecretInAnyLogLine(t *testing.T) {
	need := []string{"urlpw-Kq81", "mqttpw-Zr55", "homepw-Jc07"}
	mq := testenv.StartMosquitto(t) // anonymous allowed: any password is taken
	dir := t.TempDir()
	cfg, err := Parse(fmt.Appendf(nil, `
household: hh-0001
mqtt: {broker: "tcp://gw1:%s@%s", username: gw1, password: %s}
spool: {dir: %q}
log: {level: debug}
drivers:
  - {driver: testsim, name: water, device: wm1, count: 3}
  - {driver: zigbee2mqtt, name: zigbee, broker: %q, username: z, password: %s, devices: [{name: sos, device: btn1, kind: call_button}]}
`, need[0], mq.Addr(), need[1], dir, mq.URL, need[2]))
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	connected := make(chan bool, 4)
	g, err := New(cfg, Options{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	g.onConnection = func(c bool) { connected <- c }
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	select {
	case <-connected:
	case <-time.After(15 * time.Second):
		t.Fatalf("uplink not connected:\n%s", logs.String())
	}
	g.Reload(cfg)
	testenv.Eventually(t, "config reloaded", 15*time.Second, func() bool { return strings.Contains(logs.String(), "config reloaded") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, s := range need {
		if strings.Contains(logs.String(), s) {
			t.Errorf("secret %s logged:\n%s", s, logs.String())
		}
	}
}
