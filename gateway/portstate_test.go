package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/creack/pty"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	_ "github.com/anxin-care/anxin/drivers/rf433"
	"github.com/anxin-care/anxin/internal/testenv"
)

// TestReceiverUnpluggedMarksItsDevicesOffline: a 433 MHz receiver whose
// USB adapter died left its call button and smoke detector unheard, and
// nobody was told: the driver retries the port for ever, its state stays
// running, and a button that is never pressed is never missed. Now the
// devices of a driver whose port has been unavailable for a while are
// reported offline on their status topics (alarmd's device_offline rule
// tells the installers), and online again once the port is back — also
// after a restart, so that an offline left retained does not stay.
func TestReceiverUnpluggedMarksItsDevicesOffline(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	dir := t.TempDir()
	link := filepath.Join(dir, "ttyRF")
	cfg, err := Parse(fmt.Appendf(nil, `
household: hh-0001
mqtt: {broker: %q, reconnect: {min: 50ms, max: 200ms}}
spool: {dir: %q}
drivers:
  - driver: rf433
    name: rf
    port: {path: %q, baud: 9600}
    codes:
      - {code: "8d3cf6", device: btn1, kind: call_button, event: button_pressed}
      - {code: "c1a96c", device: smoke1, kind: smoke_detector, event: smoke}
`, mq.URL, filepath.Join(dir, "spool"), link))
	if err != nil {
		t.Fatal(err)
	}
	states := make(chan string, 64) // "<device> <state>"
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL).SetClientID("district").
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			_, dev, _, err := anxin.ParseTopic(m.Topic())
			var st anxin.Status
			if err == nil && dev != anxin.GatewayDevice && json.Unmarshal(m.Payload(), &st) == nil {
				states <- dev + " " + st.State
			}
		}))
	if tok := sub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(50)
	for _, dev := range []string{"btn1", "smoke1"} {
		if tok := sub.Subscribe(anxin.DeviceStatusTopic("hh-0001", dev), 1, nil); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	want := func(what ...string) {
		t.Helper()
		left := map[string]bool{}
		for _, w := range what {
			left[w] = true
		}
		timeout := time.After(30 * time.Second)
		for len(left) > 0 {
			select {
			case s := <-states:
				delete(left, s)
			case <-timeout:
				t.Fatalf("no status %v on the broker", left)
			}
		}
	}
	run := func() (stop func()) {
		g, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler), PortDownAfter: 200 * time.Millisecond,
			PortUpAfter: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- g.Run(ctx) }()
		return func() { cancel(); <-done }
	}
	stop := run() // the receiver is not plugged in
	want("btn1 offline", "smoke1 offline")

	master, slave, err := pty.Open() // plugged in
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	if err := os.Symlink(slave.Name(), link); err != nil {
		t.Fatal(err)
	}
	want("btn1 online", "smoke1 online")
	stop()

	// unplugged while gatewayd is down, plugged back before it starts: the
	// retained offline of before is replaced
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	stop = run()
	want("btn1 offline", "smoke1 offline")
	if err := os.Symlink(slave.Name(), link); err != nil {
		t.Fatal(err)
	}
	want("btn1 online", "smoke1 online")
	stop()
}
