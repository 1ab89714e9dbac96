package mqtt

import (
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func TestEmbeddedBrokerDeliversQoS1(t *testing.T) {
	b, err := StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	got := make(chan string, 1)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(brokerReady) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer sub.Disconnect(0)
	var once sync.Once
	if tok := sub.Subscribe("anxin/v1/+/+/event", 1, func(_ paho.Client, m paho.Message) {
		once.Do(func() { got <- string(m.Payload()) })
	}); !tok.WaitTimeout(brokerReady) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("pub"))
	if tok := pub.Connect(); !tok.WaitTimeout(brokerReady) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pub.Disconnect(0)
	if tok := pub.Publish("anxin/v1/hh-1/btn1/event", 1, false, "x"); !tok.WaitTimeout(brokerReady) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	select {
	case p := <-got:
		if p != "x" {
			t.Fatalf("payload %q, want x", p)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("message not delivered by the embedded broker")
	}
}
