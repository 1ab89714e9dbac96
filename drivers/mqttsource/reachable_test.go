package mqttsource

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/mqtt"
)

// lostAfterSuback is a paho client whose first subscription completes only
// once the connection is lost and paho's connection-lost handler has run:
// a home broker that dies just after it answers the SUBACK.
type lostAfterSuback struct {
	paho.Client
	kill func()
	lost <-chan struct{}
	once sync.Once
}

type heldToken struct {
	paho.Token
	done chan struct{}
}

func (t heldToken) Done() <-chan struct{} { return t.done }

func (c *lostAfterSuback) SubscribeMultiple(f map[string]byte, cb paho.MessageHandler) paho.Token {
	tok := c.Client.SubscribeMultiple(f, cb)
	first := false
	c.once.Do(func() { first = true })
	if !first {
		return tok
	}
	done := make(chan struct{})
	go func() {
		<-tok.Done()
		c.kill() // the broker is gone, and stays gone
		<-c.lost
		close(done)
	}()
	return heldToken{tok, done}
}

// TestBrokerLostJustAfterSubscribingIsToldDown: the connection-lost
// handler tells "down" on paho's goroutine and the subscribe loop tells
// "up" on its own once the SUBACK is in. A connection lost between the
// two was told down, then up: the home broker stayed unreadable and
// gatewayd was never told again (paho reconnects without a new session,
// and the teller tells a change once), so the devices stayed online.
func TestBrokerLostJustAfterSubscribingIsToldDown(t *testing.T) {
	embedded, err := mqtt.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var told []bool
	last := func() (bool, []bool) {
		mu.Lock()
		defer mu.Unlock()
		return len(told) > 0 && told[len(told)-1], append([]bool(nil), told...)
	}
	lost := make(chan struct{})
	cfg := Config{Broker: anxin.MustBrokerURL(embedded.URL()), ClientID: "anxin-test-lost-after-suback"}
	s, err := New(cfg, Options{Driver: "x", Filters: []string{"in/#"}, Logger: slog.New(slog.DiscardHandler),
		Reachable: func(up bool) { mu.Lock(); told = append(told, up); mu.Unlock() },
		NewClient: func(o *paho.ClientOptions) paho.Client {
			onLost := o.OnConnectionLost
			var once sync.Once
			o.SetConnectionLostHandler(func(c paho.Client, err error) {
				onLost(c, err)
				once.Do(func() { close(lost) })
			})
			return &lostAfterSuback{Client: paho.NewClient(o), kill: func() { _ = embedded.Close() }, lost: lost}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(context.Context, Message) error { return nil }) }()
	defer func() { cancel(); <-done }()
	<-lost
	// the subscribe loop goes on after the lost handler: wait for it to
	// tell up, then for the source to tell down again
	testenv.Eventually(t, "the subscribe loop told up", 0, func() bool { _, all := last(); return len(all) >= 2 })
	testenv.Eventually(t, "the source told down after the broker was lost", 0, func() bool { up, _ := last(); return !up })
	if up, all := last(); up {
		t.Fatalf("the home broker is gone but gatewayd was last told it is read (told %v)", all)
	}
}
