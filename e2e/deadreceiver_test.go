package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/anxin-care/anxin/internal/testenv"
)

// TestE2EDeadReceiverTellsTheInstaller: the real gatewayd reads a call
// button through a 433 MHz receiver whose serial adapter is missing; after
// offline_after it reports the button offline, and the real alarmd's
// device_offline rule sends the installer an SMS (the fake Twilio). Plugged
// in (a pty), a press walks the family's chain. Before, the receiver's driver retried its port for ever
// and nobody was told the button could not be heard.
func TestE2EDeadReceiverTellsTheInstaller(t *testing.T) {
	broker := testenv.StartMosquitto(t)
	tw := startFakeTwilio(t)
	dir := t.TempDir()
	h := households(1)[0]
	const installer = "+8613500000009"
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	writeFile(t, filepath.Join(dir, "households.yaml"), householdsYAML([]household{h}, "general"))
	rules := writeFile(t, filepath.Join(dir, "rules.yaml"), `timezone: Asia/Shanghai
rules:
  - {name: button, kind: event, severity: critical, events: [button_pressed]}
  - {name: device_offline, kind: offline, severity: warning, route: installer, target: device, trigger: status, for: 2s}
`)
	acfg := alarmdYAML(dir, broker.URL, httpAddr, tw.URL, time.Minute, fmt.Sprintf("rules_file: %q\n", rules))
	acfg = strings.Replace(acfg, "notify:\n", fmt.Sprintf("notify:\n  installers: [{name: 安装员, phone: %q}]\n", installer), 1)
	alarmd := startProc(t, binary(t, "alarmd"), "-config", writeFile(t, filepath.Join(dir, "alarmd.yaml"), acfg))
	healthy(t, "http://"+httpAddr, alarmd, 20*time.Second)

	link := filepath.Join(dir, "ttyRF") // the receiver's adapter: not plugged in
	gcfg := writeFile(t, filepath.Join(dir, "gatewayd.yaml"), fmt.Sprintf(`
household: %s
offline_after: 1s
mqtt: {broker: %q, reconnect: {min: 100ms, max: 2s}}
spool: {dir: %q}
drivers:
  - driver: rf433
    name: rf
    port: {path: %q, baud: 9600}
    codes: [{code: "8d3cf6", device: btn1, kind: call_button, event: button_pressed}]
`, h.ID, broker.URL, filepath.Join(dir, "spool"), link))
	gatewayd := startProc(t, binary(t, "gatewayd"), "-config", gcfg)
	defer func() {
		if t.Failed() {
			t.Logf("gatewayd:\n%s\nalarmd:\n%s", tail(gatewayd.Output(), 3000), tail(alarmd.Output(), 3000))
		}
	}()
	testenv.Eventually(t, "the installer's SMS about the button", 60*time.Second, func() bool {
		return len(tw.events("sms", installer)) > 0
	})
	if body := tw.events("sms", installer)[0].Body; !strings.Contains(body, "离线") || !strings.Contains(body, h.ID) && !strings.Contains(body, "老人1") {
		t.Errorf("the installer's SMS does not say which home's device is offline: %q", body)
	}
	if n := len(tw.events("sms", h.Contacts[0])); n != 0 {
		t.Errorf("the family was sent %d SMS about an installer's matter", n)
	}

	master, slave, err := pty.Open() // the receiver is plugged in
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	if err := os.Symlink(slave.Name(), link); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "gatewayd opening the receiver's port", 60*time.Second, func() bool {
		out := gatewayd.Output()
		return strings.Contains(out, "serial port reconnected") || strings.Contains(out, "serial port open")
	}) // (online is reported once the port has stayed usable 30 s: gateway tests)
	if _, err := master.WriteString("8D3CF6\r\n"); err != nil { // a press, as the receiver prints it
		t.Fatal(err)
	}
	testenv.Eventually(t, "the press's SMS to the first contact", 60*time.Second, func() bool {
		return len(tw.events("sms", h.Contacts[0])) > 0
	})
}
