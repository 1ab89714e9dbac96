package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/mqtt"
	"github.com/anxin-care/anxin/rules"
	"github.com/anxin-care/anxin/sqlite"
)

// scriptedReader returns the scripted read sizes in turn and notes the
// (virtual) time each read was asked for.
type scriptedReader struct {
	sizes []int
	at    []time.Time
}

func (r *scriptedReader) Read(b []byte) (int, error) {
	r.at = append(r.at, time.Now())
	if len(r.sizes) == 0 {
		return 0, io.EOF
	}
	n := min(r.sizes[0], len(b))
	r.sizes = r.sizes[1:]
	return n, nil
}

// TestPacedReaderWaitsOnlyAfterSmallReads: after a read that came back
// small (messages trickling in) the next socket read waits out the pace,
// so it takes what arrived meanwhile; after a large read (a backlog) the
// next follows at once; the first read, and one after a quiet spell
// longer than the pace, is not delayed (a lone press goes through as it
// comes). Virtual time (synctest): no wall clock is asserted.
func TestPacedReaderWaitsOnlyAfterSmallReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const pace = 2 * time.Millisecond
		src := &scriptedReader{sizes: []int{100, 150, smallRead, 200, 300}}
		r := &pacedReader{r: src, pace: pace}
		buf := make([]byte, 64<<10)
		start := time.Now()
		read := func() {
			if _, err := r.Read(buf); err != nil {
				t.Fatal(err)
			}
		}
		read() // 100 B: small
		read() // 150 B: waits the pace first
		read() // a full read: waits the pace (after the small one) ...
		read() // ... but the read after it does not wait
		time.Sleep(10 * pace)
		quiet := time.Now()
		read() // after a quiet spell: at once
		want := []time.Duration{0, pace, 2 * pace, 2 * pace, quiet.Sub(start)}
		for i, w := range want {
			if got := src.at[i].Sub(start); got != w {
				t.Errorf("read %d asked for at %v, want %v", i, got, w)
			}
		}
	})
}

// TestIntegrationPacedSubscriberCrashBeforeCommit: with paced reads, on a
// real mosquitto (default in-flight window of 20), a crash between
// receiving the press and committing it loses nothing: the batch holding
// it was not acknowledged, the next process (same client id) gets it and
// every message the first did not take again, and the press opens its one
// alarm. (Readings of batches that changed nothing had nothing to commit
// and were acknowledged by the first process. Readings and events come on
// two sessions with paced reads, in no order between them: how many
// readings the first took before the press stalled it varies.)
func TestIntegrationPacedSubscriberCrashBeforeCommit(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	store := &stallingStore{DB: openDB(t)}
	store.down.Store(true) // the first process never commits: it "crashes" before
	cfg := SubscriberConfig{Broker: anxin.MustBrokerURL(mq.URL), ClientID: "alarmd-paced", ReadPace: 2 * time.Millisecond}
	start := func(esc *escalations) (*Pipeline, *Subscriber, func()) {
		p, err := New(Config{}, Deps{Engine: rules.New(rules.Default()), Store: store, Escalator: esc})
		if err != nil {
			t.Fatal(err)
		}
		stop := runPipeline(t, p)
		sub, err := Subscribe(context.Background(), cfg, p, nil, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return p, sub, func() { sub.Close(); stop() }
	}
	p1, _, stop1 := start(&escalations{})

	const n = 500
	publishFlood(t, mq.URL, "paced-pub", n, 50)
	// the press reached the first process, whose commit is refused
	eventually(t, "the press's commit refused", store.pressRefused.Load)
	stop1() // the crash: nothing was acknowledged

	store.down.Store(false)
	esc := &escalations{}
	p2, _, stop2 := start(esc)
	defer stop2()
	eventually(t, "the press escalated", func() bool { return esc.n() == 1 })
	// nothing lost: every message the first process did not acknowledge
	// (it acknowledges a batch's messages, then counts the batch) reaches
	// the second. (What the first received counts the unacknowledged ones
	// twice: a sum with it would miss as many lost.)
	h := metrics.One(p1.m.batches)
	acked := int(h.Sum)
	eventually(t, "the rest redelivered to the second process", func() bool {
		return int(metrics.ToFloat64(p2.m.received)) >= n-acked
	})
	t.Logf("first process: %v received, %d acknowledged; second: %v received",
		metrics.ToFloat64(p1.m.received), acked, metrics.ToFloat64(p2.m.received))
	as, err := store.Alarms(context.Background(), sqlite.AlarmFilter{Household: "hh-press"})
	if err != nil || len(as) != 1 {
		t.Fatalf("alarms of the press: %v %v", as, err)
	}
}

// TestPacedSubscriberDoesNotHoldAPressBehindThePace: with paced reads, a
// press that comes while readings flow is read as it arrives, not after
// the pace: presses and statuses come on a connection of their own that is
// never paced. The pace here is an hour: a press held behind it (with the
// reading published before it) would not come within the test's wait.
func TestPacedSubscriberDoesNotHoldAPressBehindThePace(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	p := queuePipeline()
	s, err := Subscribe(context.Background(), SubscriberConfig{Broker: anxin.MustBrokerURL(mq.URL), ClientID: "alarmd-slow-pace",
		ReadPace: time.Hour}, p, testLogger(t), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// subscribed within the wait (an UNSUBACK held behind the pace would
	// not be read, and a reconnect 45 s on would bring the press unpaced)
	if err := s.Healthy(); err != nil {
		t.Fatal(err)
	}
	pub := connectPublisher(t, mq.URL, "pub")
	now := time.Now().UTC()
	publish := func(m anxin.Message) {
		t.Helper()
		b, _ := json.Marshal(&m)
		if tok := pub.Publish(m.Topic(), 1, false, b); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	reading := anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-1", Device: "wm1", Kind: anxin.KindWaterMeter,
		Fields: anxin.Fields{"total_m3": anxin.Num(1)}}
	// the readings' reader has read (the SUBACK): it now waits out its pace
	// or the mark, holding the reading in the kernel
	publish(reading)
	press := anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-1", Device: "btn1", Kind: anxin.KindCallButton,
		Event: anxin.EventButtonPressed}
	publish(press)
	if d := take(t, p); !bytes.Contains(d.Payload, []byte(press.ID)) {
		t.Fatalf("delivery %q, want the press", d.Payload)
	}
}

// TestPacedSubscriberSplitsAnUpgradedSession: a paced alarmd upgraded in
// place finds its persistent session subscribed to every filter. The
// readings move to a session of their own (client id + "-readings"); the
// old one keeps events and statuses and drops the readings' filter, so no
// reading comes twice.
func TestPacedSubscriberSplitsAnUpgradedSession(t *testing.T) {
	b, err := mqtt.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	const id = "alarmd-upgraded"
	legacySession(t, b.URL(), id)
	s, err := Subscribe(context.Background(), SubscriberConfig{Broker: anxin.MustBrokerURL(b.URL()), ClientID: id,
		ReadPace: time.Millisecond}, queuePipeline(), testLogger(t), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Healthy(); err != nil {
		t.Fatal(err)
	}
	filters := func(id string) []string {
		t.Helper()
		got, ok := b.SessionFilters(id)
		if !ok {
			t.Fatalf("no session %s on the broker", id)
		}
		return got
	}
	if got, want := filters(id), []string{"anxin/v1/+/+/event", "anxin/v1/+/+/status"}; !slices.Equal(got, want) {
		t.Errorf("session %s: filters %v, want %v", id, got, want)
	}
	if got, want := filters(id+"-readings"), []string{"anxin/v1/+/+/reading"}; !slices.Equal(got, want) {
		t.Errorf("session %s-readings: filters %v, want %v", id, got, want)
	}
}

// connectPublisher connects a paho client as id, disconnected when the
// test ends.
func connectPublisher(t *testing.T, url, id string) paho.Client {
	t.Helper()
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id))
	if tok := pub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { pub.Disconnect(50) })
	return pub
}
