package tasmota

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/anxin-care/anxin/drivers/mqttsource/sourcetest"
)

// pauseOn blocks the goroutine that logs msg until release is closed,
// telling entered when it does.
type pauseOn struct {
	msg     string
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (p *pauseOn) Enabled(context.Context, slog.Level) bool { return true }
func (p *pauseOn) Handle(_ context.Context, r slog.Record) error {
	if r.Message == p.msg {
		p.once.Do(func() { close(p.entered); <-p.release })
	}
	return nil
}
func (p *pauseOn) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *pauseOn) WithGroup(string) slog.Handler      { return p }

// TestBridgeOnlineRacingABrokerLossEndsDown: a bridge's LWT Online read
// just as the home broker connection is lost (the message handler and
// paho's connection-lost handler run on different goroutines). The state
// was decided under the driver's lock but told after it was let go, so
// the Online's "up" could be told after the loss's "down": gatewayd then
// held the devices online for as long as the home broker stayed
// unreadable (the source tells "down" once per change, and tells nothing
// more until it is read again).
func TestBridgeOnlineRacingABrokerLossEndsDown(t *testing.T) {
	env, _ := sourcetest.Env(t)
	p := &pauseOn{msg: "RF bridge online", entered: make(chan struct{}), release: make(chan struct{})}
	env.Logger = slog.New(p)
	var mu sync.Mutex
	var told []bool
	env.PortState = func(up bool) { mu.Lock(); told = append(told, up); mu.Unlock() }
	d, err := New(NewConfig(), env)
	if err != nil {
		t.Fatal(err)
	}
	d.brokerState(true)
	d.bridgeState("tele/tasmota_4339CA/LWT", []byte("Offline"))
	done := make(chan struct{})
	go func() { defer close(done); d.bridgeState("tele/tasmota_4339CA/LWT", []byte("Online")) }()
	<-p.entered
	d.brokerState(false) // the home broker connection lost
	close(p.release)
	<-done
	mu.Lock()
	defer mu.Unlock()
	if last := told[len(told)-1]; last {
		t.Fatalf("the home broker is lost but gatewayd was last told the port is up (told %v)", told)
	}
}

// TestClearedLWTForgetsTheBridge: a bridge taken out of the home leaves
// its retained LWT Offline on the home broker, and the installer clears it
// the MQTT way (an empty retained message: mosquitto_pub -r -n). The
// driver took the empty payload for one it did not understand and kept
// the bridge offline, with every device of the home, until gatewayd was
// restarted.
func TestClearedLWTForgetsTheBridge(t *testing.T) {
	env, _ := sourcetest.Env(t)
	var told []bool
	env.PortState = func(up bool) { told = append(told, up) }
	d, err := New(NewConfig(), env)
	if err != nil {
		t.Fatal(err)
	}
	d.brokerState(true)
	d.bridgeState("tele/tasmota_old/LWT", []byte("Offline"))
	d.bridgeState("tele/tasmota_old/LWT", nil) // the retained will cleared
	if last := told[len(told)-1]; !last {
		t.Fatalf("the bridge's retained LWT was cleared but its devices stay unheard (told %v)", told)
	}
}
