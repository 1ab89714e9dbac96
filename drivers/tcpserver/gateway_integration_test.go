package tcpserver_test

import (
	"context"
	"fmt"
	"github.com/anxin-care/anxin/internal/testenv"
	"log/slog"
	"strconv"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/jt808"
	"github.com/anxin-care/anxin/drivers/watch3g"
	"github.com/anxin-care/anxin/gateway"
	"github.com/anxin-care/anxin/mqtt"
)

// freeAddr is a free 127.0.0.1 address for a driver's listen key.
func freeAddr(t *testing.T) string { return "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)) }

// dial connects once the gateway's driver listens (it starts in Run).
func dial[T any](t *testing.T, connect func() (T, error)) T {
	t.Helper()
	var c T
	testenv.Eventually(t, "the driver to listen", 10*time.Second, func() bool {
		var err error
		c, err = connect()
		return err == nil
	})
	return c
}

// TestIntegrationSOSReachesBroker runs gatewayd with both dial-in drivers,
// configured through its strict loader, publishing to the embedded broker.
// A JT/T 808 terminal and a 3G watch connect over 127.0.0.1, register,
// report and press SOS; the normalized events arrive on the broker.
func TestIntegrationSOSReachesBroker(t *testing.T) {
	b, err := mqtt.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got := make(chan anxin.Message, 100)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("sub").
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			if msg, err := anxin.ParseMessage(m.Topic(), m.Payload()); err == nil {
				got <- msg
			}
		}))
	if tok := sub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(50)
	if tok := sub.Subscribe("anxin/v1/+/+/+", 1, nil); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	jtAddr, watchAddr := freeAddr(t), freeAddr(t)
	cfg, err := gateway.Parse(fmt.Appendf(nil, `
household: district-1
mqtt: {broker: %q, reconnect: {min: 50ms, max: 200ms}}
spool: {dir: %q, fsync: always}
drivers:
  - driver: jt808
    listen: %q
    terminals: [{id: "13800138000", household: hh-0001, device: tracker1}]
  - driver: watch3g
    listen: %q
    terminals: [{id: "9031853319", household: hh-0002, device: watch1}]
`, b.URL(), t.TempDir(), jtAddr, watchAddr))
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(cfg, gateway.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	wait := func(what string, ok func(anxin.Message) bool) anxin.Message {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case m := <-got:
				if ok(m) {
					return m
				}
			case <-timeout:
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	term := dial(t, func() (*jt808.Terminal, error) { return jt808.Dial(jtAddr, "013800138000", false) })
	defer term.Close()
	if _, err := term.Login(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := term.Report(jt808.Fix{Lat: 30.1, Lon: 120.2, Time: now, BatteryPct: 90}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	wait("tracker reading", func(m anxin.Message) bool {
		return m.Topic() == "anxin/v1/hh-0001/tracker1/reading" && m.Fields["lat"].Float() == 30.1
	})
	if err := term.Report(jt808.Fix{Lat: 30.1, Lon: 120.2, Time: now.Add(time.Second), Alarm: jt808.AlarmSOS, BatteryPct: 90}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	wait("tracker SOS", func(m anxin.Message) bool {
		return m.Topic() == "anxin/v1/hh-0001/tracker1/event" && m.Event == anxin.EventButtonPressed
	})

	w := dial(t, func() (*watch3g.Watch, error) { return watch3g.DialWatch(watchAddr, "9031853319") })
	defer w.Close()
	if err := w.Call("LK,0,0,80", "LK", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := w.Report(watch3g.Fix{Time: now, Lat: 22.76, Lon: 114.36, BatteryPct: 80}); err != nil {
		t.Fatal(err)
	}
	wait("watch reading", func(m anxin.Message) bool {
		return m.Topic() == "anxin/v1/hh-0002/watch1/reading" && m.Fields["lat"].Float() == 22.76
	})
	if err := w.SOS(watch3g.Fix{Time: now, Lat: 22.76, Lon: 114.36, BatteryPct: 80}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	wait("watch SOS", func(m anxin.Message) bool {
		return m.Topic() == "anxin/v1/hh-0002/watch1/event" && m.Event == anxin.EventButtonPressed
	})
}
