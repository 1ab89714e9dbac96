package main

import (
	"encoding/json"
	"reflect"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
)

// TestAppendReadingIsTheContract: the hand-rolled encoder gives what
// json.Marshal of the same anxin.Message gives, and it passes validation.
func TestAppendReadingIsTheContract(t *testing.T) {
	now := time.Date(2026, 12, 2, 8, 0, 0, 123456789, time.UTC)
	topic, b := appendReading(nil, now, 42, 1000.01)
	got, err := anxin.ParseMessage(topic, b)
	if err != nil {
		t.Fatalf("%s %s: %v", topic, b, err)
	}
	want := anxin.Message{ID: got.ID, TS: now, Household: "hh-000042", Device: "wm1", Kind: anxin.KindWaterMeter,
		Fields: anxin.Fields{"total_m3": anxin.Num(1000.01), "flow_lpm": anxin.Num(0), "battery_low": anxin.Bool(false)}}
	wb, _ := json.Marshal(&want)
	if string(wb) != string(b) {
		t.Fatalf("encoded\n %s\nwant\n %s", b, wb)
	}
	if !reflect.DeepEqual(got, want) || topic != want.Topic() {
		t.Fatalf("parsed %+v on %s", got, topic)
	}
}

// TestRawPublisherDeliversEveryMessage: against a real mosquitto, both
// clients deliver every message exactly as sent.
func TestRawPublisherDeliversEveryMessage(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	var mu sync.Mutex
	seen := map[string]int{}
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL).SetClientID("load-test-sub"))
	if tok := sub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(0)
	if tok := sub.Subscribe("anxin/v1/#", 1, func(_ paho.Client, m paho.Message) {
		msg, err := anxin.ParseMessage(m.Topic(), m.Payload())
		if err != nil {
			t.Errorf("%s: %v", m.Topic(), err)
			return
		}
		mu.Lock()
		seen[msg.ID]++
		mu.Unlock()
	}); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	for _, client := range []string{"raw", "paho"} {
		mu.Lock()
		clear(seen)
		mu.Unlock()
		res, err := publish(mq.URL, client, 3000, 100, 10, 200, 2, 1, 0)
		if err != nil {
			t.Fatalf("%s: %v", client, err)
		}
		if res.Readings != 3000 || res.Events != 10 {
			t.Fatalf("%s: %+v", client, res)
		}
		testenv.Eventually(t, client+": 3010 distinct messages arrived", 60*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(seen) == 3010
		})
		mu.Lock()
		for id, k := range seen {
			if k != 1 {
				t.Errorf("%s: %s arrived %d times", client, id, k)
			}
		}
		mu.Unlock()
	}
}
