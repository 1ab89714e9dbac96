package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/drivers/watch3g"
	"github.com/anxin-care/anxin/internal/testenv"
)

// TestE2EWatchSOSWalksTheChain: a simulated 3G watch dials the real
// gatewayd (watch3g driver) over 127.0.0.1, says hello, reports and presses
// SOS → a real mosquitto → the real alarmd opens the alarm and the fake
// Twilio gets the SMS and the call to the household's first contact.
func TestE2EWatchSOSWalksTheChain(t *testing.T) {
	broker := testenv.StartMosquitto(t)
	tw := startFakeTwilio(t)
	dir := t.TempDir()
	h := households(1)[0]
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	writeFile(t, filepath.Join(dir, "households.yaml"), householdsYAML([]household{h}, "high"))
	cfg := writeFile(t, filepath.Join(dir, "alarmd.yaml"), alarmdYAML(dir, broker.URL, httpAddr, tw.URL, time.Minute, ""))
	alarmd := startProc(t, binary(t, "alarmd"), "-config", cfg)
	healthy(t, "http://"+httpAddr, alarmd, 20*time.Second)

	watchAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	gcfg := writeFile(t, filepath.Join(dir, "gatewayd.yaml"), fmt.Sprintf(`
household: district-gw
mqtt: {broker: %q, reconnect: {min: 100ms, max: 2s}}
spool: {dir: %q}
drivers:
  - driver: watch3g
    listen: %q
    terminals: [{id: "9031853319", household: %s, device: trk1}] # trk1: a tracker of the register
`, broker.URL, filepath.Join(dir, "spool"), watchAddr, h.ID))
	gatewayd := startProc(t, binary(t, "gatewayd"), "-config", gcfg)
	testenv.Eventually(t, "gatewayd to listen and connect", 20*time.Second, func() bool {
		return strings.Contains(gatewayd.Output(), "uplink: connected") && netDialer{}.ok(watchAddr)
	})
	defer func() {
		if t.Failed() {
			t.Logf("gatewayd:\n%s\nalarmd:\n%s", tail(gatewayd.Output(), 3000), tail(alarmd.Output(), 3000))
		}
	}()

	w, err := watch3g.DialWatch(watchAddr, "9031853319")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Call("LK,0,0,90", "LK", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	fix := watch3g.Fix{Time: time.Now(), Lat: 30.27, Lon: 120.15, BatteryPct: 90}
	if err := w.Report(fix); err != nil {
		t.Fatal(err)
	}
	pressed := time.Now()
	fix.Time = pressed
	if err := w.SOS(fix, 5*time.Second); err != nil { // answered only once the spool holds it
		t.Fatal(err)
	}
	testenv.Eventually(t, "the SMS and the call to the first contact", 20*time.Second, func() bool {
		return len(tw.events("sms", h.Contacts[0])) == 1 && len(tw.events("call", h.Contacts[0])) == 1
	})
	t.Logf("watch SOS → first SMS request at the fake Twilio: %s", tw.events("sms", h.Contacts[0])[0].At.Sub(pressed))
}
