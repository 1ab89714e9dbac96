package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/rules"
	"github.com/anxin-care/anxin/sqlite"
)

// stallingStore refuses every commit while down is set.
type stallingStore struct {
	*sqlite.DB
	down    atomic.Bool
	refused atomic.Int64
	// pressRefused: a refused batch held the alarm of publishFlood's press
	pressRefused atomic.Bool
}

func (s *stallingStore) ApplyIngest(ctx context.Context, b *sqlite.IngestBatch) (sqlite.IngestResult, error) {
	if s.down.Load() {
		s.refused.Add(1)
		for _, c := range b.Changes {
			if c.Household == "hh-press" {
				s.pressRefused.Store(true)
			}
		}
		return sqlite.IngestResult{}, errors.New("disk I/O error")
	}
	return s.DB.ApplyIngest(ctx, b)
}

// TestIntegrationStoreStallBackPressure: with a small delivery queue and a
// store that refuses commits, paho's router waits (ordered delivery) and
// the backlog stays in a real mosquitto; when the store is back every
// message is processed, nothing is lost and the press opens one alarm.
// ANXIN_LONG=1 holds the store down for 45 s, past paho's keep-alive.
func TestIntegrationStoreStallBackPressure(t *testing.T) {
	mq := testenv.StartMosquittoConf(t, "max_inflight_messages 1000")
	store := &stallingStore{DB: openDB(t)}
	store.down.Store(true)
	esc := &escalations{}
	p, err := New(Config{Inflight: 50, Batch: 20}, Deps{Engine: rules.New(rules.Default()), Store: store, Escalator: esc})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	goroutines := runtime.NumGoroutine()
	sub, err := Subscribe(ctx, SubscriberConfig{Broker: anxin.MustBrokerURL(mq.URL), ClientID: "alarmd-bp"}, p, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	const n = 3000
	publishFlood(t, mq.URL, "bp-pub", n, 200)
	// the store refuses for a while: nothing is acknowledged, alarmd holds at
	// most its queue, the rest waits in mosquitto
	eventually(t, "refused commits", func() bool { return store.refused.Load() >= 3 })
	if os.Getenv("ANXIN_LONG") != "" {
		// past paho's keep-alive (30 s) and ping timeout: the waiting router
		// leaves the PINGRESP unread, paho drops the connection and must
		// come back once the store does
		time.Sleep(45 * time.Second) // the outage being simulated
	}
	if p.Healthy() == nil {
		t.Fatal("healthy while the store refuses")
	}
	// what alarmd holds beyond its queue of 50: paho's router waits with one
	// message; a goroutine per message (paho's unordered delivery) would
	// hold the broker's whole window of 1,000
	if extra := runtime.NumGoroutine() - goroutines; extra > 100 {
		t.Fatalf("%d more goroutines while the store refuses: messages are piling up in alarmd", extra)
	}
	store.down.Store(false)
	eventually(t, "every message processed", func() bool {
		return metrics.ToFloat64(p.m.received)-metrics.ToFloat64(p.m.duplicates) >= n
	})
	eventually(t, "the press escalated", func() bool { return esc.n() == 1 })
	if p.Healthy() != nil {
		t.Fatal(p.Healthy())
	}
	as, err := store.Alarms(ctx, sqlite.AlarmFilter{Household: "hh-press"})
	if err != nil || len(as) != 1 {
		t.Fatalf("alarms of the press: %v %v", as, err)
	}
}

// publishFlood publishes n readings of households hh-0 … hh-<homes-1> at
// QoS 1 through broker url, the n/2-th replaced by a press of hh-press,
// and waits until the broker took the last.
func publishFlood(t *testing.T, url, clientID string, n, homes int) {
	t.Helper()
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(clientID))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { pub.Disconnect(0) })
	now := time.Now()
	var last paho.Token
	for i := range n {
		m := anxin.Message{ID: anxin.NewID(now), TS: now, Household: fmt.Sprintf("hh-%d", i%homes), Device: "wm1",
			Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(float64(i))}}
		if i == n/2 {
			m = anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-press", Device: "btn1",
				Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed}
		}
		last = pub.Publish(m.Topic(), 1, false, payload(t, m).Payload)
	}
	if !last.WaitTimeout(10*time.Second) || last.Error() != nil {
		t.Fatal("publish:", last.Error())
	}
}
