package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/mqtt"
	"github.com/anxin-care/anxin/spool"
)

// mosquitto is a broker started with a config of this test's choosing.
type mosquitto struct {
	*proc
	URL, addr string
}

func startMosquitto(t testing.TB, persistence string) *mosquitto {
	t.Helper()
	bin := testenv.Need(t, "mosquitto", "apt-get install -y mosquitto")
	dir := t.TempDir()
	port := testenv.FreePort(t)
	conf := writeFile(t, filepath.Join(dir, "mosquitto.conf"), fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence true
persistence_location %s/
%s
set_tcp_nodelay true
max_queued_messages 0
max_inflight_messages 0
user root
log_dest stderr
log_type error
`, port, dir, persistence))
	m := &mosquitto{proc: startProc(t, bin, "-c", conf), addr: "127.0.0.1:" + strconv.Itoa(port)}
	m.URL = "tcp://" + m.addr
	m.waitListening(t)
	return m
}

func (m *mosquitto) waitListening(t testing.TB) {
	t.Helper()
	testenv.Eventually(t, "mosquitto to listen", 10*time.Second, func() bool {
		var d netDialer
		return d.ok(m.addr)
	})
}

// TestFaultBrokerCrashWhileAlarmdDown: alarmd is down, a gateway's button
// press is acknowledged by mosquitto (PUBACK: the gateway drops it from its
// spool), then mosquitto is killed with SIGKILL before alarmd is back. The
// message then exists only in what mosquitto saved of its memory.
//
//   - saved_before_kill: the kill comes after mosquitto's next save
//     (autosave_interval 1, killed 2.5 s later): the alarm must arrive once
//     both are back — persistent session and persistence survive SIGKILL.
//   - killed_before_save: the kill comes within milliseconds of the PUBACK.
//     With mosquitto 2.0.11 the press is lost (also with autosave_on_changes);
//     the subtest logs what happened rather than asserting a broker's
//     limit. This is the known gap described in docs/deployment.md.
func TestFaultBrokerCrashWhileAlarmdDown(t *testing.T) {
	for _, c := range []struct {
		name        string
		wait        time.Duration
		mustDeliver bool
	}{
		{"saved_before_kill", 2500 * time.Millisecond, true},
		{"killed_before_save", 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			broker := startMosquitto(t, "autosave_interval 1")
			tw := startFakeTwilio(t)
			dir := t.TempDir()
			hs := households(1)
			writeFile(t, filepath.Join(dir, "households.yaml"), householdsYAML(hs, "general"))
			httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			base := "http://" + httpAddr
			cfg := writeFile(t, filepath.Join(dir, "alarmd.yaml"), alarmdYAML(dir, broker.URL, httpAddr, tw.URL, time.Minute, ""))
			alarmd := startProc(t, binary(t, "alarmd"), "-config", cfg)
			healthy(t, base, alarmd, 20*time.Second) // its persistent session now exists at the broker
			alarmd.Kill()

			// the home gateway: the real spool and uplink, in process
			log := slog.New(slog.DiscardHandler)
			sp, err := spool.Open(spool.Options{Dir: filepath.Join(dir, "spool"), Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			up, err := mqtt.NewUplink(mqtt.UplinkOptions{Broker: anxin.MustBrokerURL(broker.URL), Household: hs[0].ID, Logger: log,
				MinRetry: 100 * time.Millisecond, MaxRetry: time.Second}, sp)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			upDone := make(chan struct{})
			go func() { defer close(upDone); _ = up.Run(ctx) }()
			defer func() { cancel(); <-upDone; _ = sp.Close() }()
			testenv.Eventually(t, "the uplink to connect", 10*time.Second, up.Connected)

			now := time.Now().UTC()
			if err := sp.Put(ctx, anxin.Message{ID: anxin.NewID(now), TS: now, Household: hs[0].ID, Device: "btn1",
				Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed}); err != nil {
				t.Fatal(err)
			}
			testenv.Eventually(t, "the broker's PUBACK", 10*time.Second, func() bool { return sp.Stats().Depth == 0 })
			if c.wait > 0 {
				<-time.After(c.wait)
			}
			broker.Kill()
			broker.Restart()
			broker.waitListening(t)
			alarmd.Restart()
			healthy(t, base, alarmd, 20*time.Second)

			var alarms struct {
				Alarms []anxin.Alarm `json:"alarms"`
			}
			deadline := time.Now().Add(30 * time.Second)
			for len(alarms.Alarms) == 0 && time.Now().Before(deadline) {
				apiGet(t, base, "/api/v1/alarms", &alarms)
				time.Sleep(100 * time.Millisecond)
			}
			switch {
			case len(alarms.Alarms) == 1:
				t.Logf("%s: the press survived the broker's SIGKILL", c.name)
			case c.mustDeliver:
				t.Fatalf("%s: the press acknowledged by the broker was lost with its SIGKILL (alarms: %d)", c.name, len(alarms.Alarms))
			default:
				t.Logf("%s: known limit: the press acknowledged by mosquitto was LOST with its SIGKILL before its next save", c.name)
			}
		})
	}
}
