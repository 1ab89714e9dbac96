package ingest

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/mqtt"
	"github.com/anxin-care/anxin/rules"
	"github.com/anxin-care/anxin/sqlite"
)

// TestSubscribeReplacesLegacyStatusFilter: an alarmd upgraded in place
// finds its persistent session still subscribed to the old
// anxin/v1/+/gateway/status beside the new anxin/v1/+/+/status: a gateway
// status comes once and a device status comes through the new filter.
// (mosquitto 2.0 sends one copy for overlapping filters anyway; alarmd drops
// the old filter for brokers that send one per filter.)
func TestSubscribeReplacesLegacyStatusFilter(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	const id = "alarmd-upgraded"
	legacySession(t, mq.URL, id)

	p := newSubscribePipeline(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	s, err := Subscribe(ctx, SubscriberConfig{Broker: anxin.MustBrokerURL(mq.URL), ClientID: id}, p, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	pub := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL).SetClientID("pub"))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(50)
	publish := func(topic string, payload []byte) {
		t.Helper()
		if tok := pub.Publish(topic, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	now := time.Now().UTC()
	st, _ := json.Marshal(anxin.Status{State: "online", TS: now})
	publish(anxin.StatusTopic("hh-1"), st)
	publish(anxin.DeviceStatusTopic("hh-1", "btn1"), st)
	marker := anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-1", Device: "wm1", Kind: anxin.KindWaterMeter,
		Fields: anxin.Fields{"total_m3": anxin.Num(1)}}
	b, _ := json.Marshal(&marker)
	publish(marker.Topic(), b)
	// one subscriber's messages come in order: once the marker is in, any
	// second copy of a status would be too
	eventually(t, "3 messages received", func() bool { return metrics.ToFloat64(p.m.received) >= 3 })
	if got := metrics.ToFloat64(p.m.received); got != 3 {
		t.Errorf("received %v messages, want 3 (a gateway status came twice)", got)
	}
	if got := metrics.ToFloat64(p.m.rejected.WithLabelValues("status")) + metrics.ToFloat64(p.m.rejected.WithLabelValues("topic")); got != 0 {
		t.Errorf("%v statuses rejected", got)
	}
}

// TestSubscribeDropsLegacyFilterFromSession: after Subscribe, the
// persistent session an older alarmd left holds exactly the current
// filters, the old anxin/v1/+/gateway/status gone. (Against mosquitto, which
// sends one copy for overlapping filters, the test above passes with or
// without the unsubscribe; the embedded broker shows the session itself.)
func TestSubscribeDropsLegacyFilterFromSession(t *testing.T) {
	b, err := mqtt.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	url := b.URL()
	const id = "alarmd-upgraded"
	legacySession(t, url, id)

	p := newSubscribePipeline(t)
	s, err := Subscribe(context.Background(), SubscriberConfig{Broker: anxin.MustBrokerURL(url), ClientID: id}, p, nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Healthy() != nil {
		t.Fatal("not subscribed within 5 s")
	}
	got, ok := b.SessionFilters(id)
	if !ok {
		t.Fatal("no session on the broker")
	}
	if want := slices.Sorted(slices.Values(Topics)); !slices.Equal(got, want) {
		t.Errorf("session filters %v, want %v", got, want)
	}
}

// newSubscribePipeline is a pipeline over a fresh store with the default rules.
func newSubscribePipeline(t *testing.T) *Pipeline {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := New(Config{}, Deps{Engine: rules.New(rules.Default()), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
