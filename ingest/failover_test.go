package ingest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
)

// TestIntegrationJetStreamFailoverKeepsEveryPUBACK is nats-server alone,
// without alarmd: gateways publish at QoS 1 to a three-node cluster
// (partition mapping, the consumers ensureConsumers makes, pulled and
// acknowledged as fetch does) while nodes are SIGKILLed and restarted one
// at a time, and every message the cluster PUBACKed must come out of a
// consumer. A loss here is the broker's: nothing of alarmd's pipeline,
// leases or archive takes part. ANXIN_LONG (minutes of kills);
// ANXIN_FAULT_SEED picks the nodes.
func TestIntegrationJetStreamFailoverKeepsEveryPUBACK(t *testing.T) {
	if os.Getenv("ANXIN_LONG") == "" {
		t.Skip("ANXIN_LONG unset: minutes of node kills")
	}
	const parts, gateways, households, kills = 6, 12, 60, 8
	seed := uint64(4711)
	if s, err := strconv.ParseUint(os.Getenv("ANXIN_FAULT_SEED"), 10, 64); err == nil {
		seed = s
	}
	rng := rand.New(rand.NewPCG(seed, 21))
	c := testenv.StartNATSCluster(t, 3, fmt.Sprintf(`mappings = {
  "anxin.v1.*.*.*": "anxin.p.{{partition(%d,1)}}.v1.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}"
}`, parts))
	// the first MQTT connection makes the stream; the consumers come
	// before any gateway publishes (interest retention)
	gws := make([]paho.Client, gateways)
	for g := range gateways {
		opts := paho.NewClientOptions().SetClientID(fmt.Sprintf("gw-%d", g)).SetCleanSession(true).SetAutoReconnect(true).
			SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).SetMaxReconnectInterval(time.Second).
			SetConnectTimeout(2 * time.Second).SetWriteTimeout(5 * time.Second)
		for i := range c.Len() {
			opts.AddBroker(c.MQTTURL((g + i) % c.Len()))
		}
		gws[g] = paho.NewClient(opts)
		if tok := gws[g].Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("gateway %d connect: %v", g, tok.Error())
		}
		defer gws[g].Disconnect(0)
	}
	cfg := JetStreamConfig{URLs: c.URLs(), Partitions: parts}
	cfg.defaults()
	nc, err := nats.Connect(strings.Join(c.URLs(), ","), nats.MaxReconnects(-1), nats.ReconnectWait(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	t.Logf("seed %d, nats-server %s", seed, nc.ConnectedServerVersion())
	js, err := nc.JetStream(nats.MaxWait(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	src := &JetStreamSource{cfg: cfg, js: js}
	testenv.Eventually(t, "the consumers made", 60*time.Second, func() bool { return src.ensureConsumers() == nil })

	pubCtx, stopPub := context.WithCancel(context.Background())
	defer stopPub()
	conCtx, stopCon := context.WithCancel(context.Background())
	defer stopCon()
	var (
		mu     sync.Mutex
		got    = map[string]bool{}      // payloads consumed
		acked  = map[string]time.Time{} // payloads PUBACKed, when published
		nAcked atomic.Int64
	)
	for k := range parts {
		go func() { // pull and acknowledge, as fetch does
			var sub *nats.Subscription
			for conCtx.Err() == nil {
				if sub == nil {
					var err error
					if sub, err = js.PullSubscribe(cfg.filter(k), cfg.durable(k), nats.Bind(cfg.Stream, cfg.durable(k))); err != nil {
						sub = nil
						anxin.SleepContext(conCtx, 200*time.Millisecond) // the cluster is electing
						continue
					}
				}
				msgs, err := sub.Fetch(cfg.Fetch, nats.MaxWait(fetchWait))
				if err != nil && (errors.Is(err, nats.ErrConsumerNotFound) || errors.Is(err, nats.ErrBadSubscription)) {
					_ = sub.Unsubscribe()
					sub = nil
				}
				for _, m := range msgs {
					mu.Lock()
					got[string(m.Data)] = true
					mu.Unlock()
					_ = m.Ack()
				}
			}
		}()
	}
	var published sync.WaitGroup
	for g := range gateways {
		published.Add(1)
		go func() { // each gateway's households, a reading each in turn
			defer published.Done()
			for n := 0; pubCtx.Err() == nil; n++ {
				for i := g; i < households; i += gateways {
					hh := fmt.Sprintf("hh-%04d", i)
					payload := fmt.Sprintf("%s/%d", hh, n)
					at := time.Now()
					for pubCtx.Err() == nil { // until PUBACKed, as a spool keeps it
						tok := gws[g].Publish("anxin/v1/"+hh+"/wm1/reading", 1, false, payload)
						if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
							mu.Lock()
							acked[payload] = at
							mu.Unlock()
							nAcked.Add(1)
							break
						}
					}
				}
			}
		}()
	}
	// kills paced by the PUBACKs, not the clock: one node down at a time
	waitAcked := func(n int64) {
		testenv.Eventually(t, fmt.Sprintf("%d PUBACKs", n), 5*time.Minute, func() bool { return nAcked.Load() >= n })
	}
	for range kills {
		waitAcked(nAcked.Load() + 1500 + rng.Int64N(1500))
		i := rng.IntN(c.Len())
		c.Kill(i)
		t.Logf("%s SIGKILLed at %d PUBACKs", c.Name(i), nAcked.Load())
		waitAcked(nAcked.Load() + 200 + rng.Int64N(600))
		c.Restart(i)
		t.Logf("%s back at %d PUBACKs", c.Name(i), nAcked.Load())
	}
	waitAcked(nAcked.Load() + 1000)
	stopPub()
	published.Wait()

	missing := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for p := range acked {
			if !got[p] {
				out = append(out, p)
			}
		}
		return out
	}
	defer func() {
		if !t.Failed() {
			return
		}
		lost := missing()
		byPart := map[int]int{}
		var first, last time.Time
		mu.Lock()
		for _, p := range lost {
			hh, _, _ := strings.Cut(p, "/")
			byPart[Partition(hh, parts)]++
			at := acked[p]
			if first.IsZero() || at.Before(first) {
				first = at
			}
			if at.After(last) {
				last = at
			}
		}
		mu.Unlock()
		slices.Sort(lost)
		t.Logf("%d PUBACKed messages never consumed, by partition %v, published %s to %s; e.g. %s", len(lost), byPart,
			first.UTC().Format("15:04:05.000"), last.UTC().Format("15:04:05.000"), strings.Join(lost[:min(10, len(lost))], " "))
		for k := range parts {
			ci, err := js.ConsumerInfo(cfg.Stream, cfg.durable(k))
			if err != nil {
				t.Logf("%s: %v", cfg.durable(k), err)
				continue
			}
			t.Logf("%s: delivered %d, ack floor %d, pending %d, unacknowledged %d, leader %s", ci.Name, ci.Delivered.Stream,
				ci.AckFloor.Stream, ci.NumPending, ci.NumAckPending, ci.Cluster.Leader)
		}
		for i := range c.Len() {
			t.Logf("%s's log:\n%s", c.Name(i), c.Output(i))
		}
	}()
	// what a node held unacknowledged when it died comes again after AckWait
	testenv.Eventually(t, "every PUBACKed message consumed", 2*cfg.AckWait+30*time.Second, func() bool { return len(missing()) == 0 })
	t.Logf("%d PUBACKed, all consumed", nAcked.Load())
}
