package gateway

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
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
