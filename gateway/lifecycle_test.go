package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
)

// TestDriverStatesInStatus: each driver instance's state is in the
// gateway's retained status on the district broker (mosquitto); a reload
// with the same config restarts the failed instance, keeps the running
// one, and the status says so.
func TestDriverStatesInStatus(t *testing.T) { driverStates(t, true) }

// TestFailedDriverComesBackWithoutAReload: a driver whose Run failed (a
// serial port without permission: udev had not yet given it to dialout
// at boot, or the installer fixes the group) is started again on its own
// after a while; before, it stayed down, the home's meters unread, until
// someone sent gatewayd a SIGHUP.
func TestFailedDriverComesBackWithoutAReload(t *testing.T) { driverStates(t, false) }

func driverStates(t *testing.T, reload bool) {
	mq := testenv.StartMosquitto(t)
	dir := t.TempDir()
	perm := filepath.Join(dir, "no-permission")
	if err := os.WriteFile(perm, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(fmt.Appendf(nil, `
household: hh-0001
mqtt: {broker: %q, reconnect: {min: 50ms, max: 200ms}}
spool: {dir: %q}
drivers:
  - {driver: testsim, name: water, device: wm1, count: 1}
  - {driver: testsim, name: power, device: pm1, fail_file: %q}
`, mq.URL, filepath.Join(dir, "spool"), perm))
	if err != nil {
		t.Fatal(err)
	}
	statuses := make(chan anxin.Status, 16)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL).SetClientID("district").
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			var st anxin.Status
			if json.Unmarshal(m.Payload(), &st) == nil {
				statuses <- st
			}
		}))
	if tok := sub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(50)
	if tok := sub.Subscribe(anxin.StatusTopic("hh-0001"), 1, nil); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	want := func(drivers map[string]string) {
		t.Helper()
		timeout := time.After(15 * time.Second)
		for {
			select {
			case st := <-statuses:
				if st.Online() && maps.Equal(st.Drivers, drivers) {
					return
				}
			case <-timeout:
				t.Fatalf("no online status with drivers %v", drivers)
			}
		}
	}
	retry := time.Hour // the reload must do it
	if !reload {
		retry = 100 * time.Millisecond
	}
	g, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler), RetryFailed: retry})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(t.Context())
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()
	want(map[string]string{"water": anxin.DriverRunning, "power": anxin.DriverFailed})

	if err := os.Remove(perm); err != nil { // the installer fixes the permission
		t.Fatal(err)
	}
	if reload {
		g.Reload(cfg)
	}
	want(map[string]string{"water": anxin.DriverRunning, "power": anxin.DriverRunning})
}
