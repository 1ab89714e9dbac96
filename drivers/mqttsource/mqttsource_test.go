package mqttsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/mqtt"
)

func TestReadCaptures(t *testing.T) {
	long := "t " + strings.Repeat("x", MaxCaptureLine+10)
	in := strings.Join([]string{
		"# comment",
		"",
		"zigbee2mqtt/a {\"action\":\"emergency\"}",
		"tele/x/RESULT = {\"RfReceived\":{\"Data\":\"4AF10A\"}}",
		`{"src":"s","topic":"z/a","payload":{"smoke":true},"zigbee":{"data":{"zonestatus":34}}}`,
		`{"topic":"z/a/action","payload_raw":"emergency"}`,
		`{"topic":"z/a/availability","payload":"online"}`,
		`{"value":142465,"protocol":17}`,
		long,
		"no-payload",
		`{"topic":"z/a"}`,
		`{"topic":"","payload":{}}`,
		`{"broken`,
		"z/a/availability offline\r",
	}, "\n")
	type got struct {
		off          int64
		topic, pload string
		record       bool
	}
	var caps []got
	var fails []drivers.DecodeError
	if err := ReadCaptures(strings.NewReader(in), func(c Capture) {
		caps = append(caps, got{c.Offset, c.Topic, string(c.Payload), c.Record != nil})
	}, func(e drivers.DecodeError) { fails = append(fails, e) }); err != nil {
		t.Fatal(err)
	}
	want := []got{
		{int64(strings.Index(in, "zigbee2mqtt/a")), "zigbee2mqtt/a", `{"action":"emergency"}`, false},
		{int64(strings.Index(in, "tele/")), "tele/x/RESULT", `{"RfReceived":{"Data":"4AF10A"}}`, false},
		{int64(strings.Index(in, `{"src"`)), "z/a", `{"smoke":true}`, true},
		{int64(strings.Index(in, `{"topic":"z/a/action"`)), "z/a/action", "emergency", true},
		{int64(strings.Index(in, `{"topic":"z/a/availability"`)), "z/a/availability", "online", true},
		{int64(strings.Index(in, `{"value"`)), "", `{"value":142465,"protocol":17}`, false},
		{int64(strings.Index(in, "z/a/availability offline")), "z/a/availability", "offline", false},
	}
	if len(caps) != len(want) {
		t.Fatalf("captures %+v", caps)
	}
	for i := range want {
		if caps[i] != want[i] {
			t.Errorf("capture %d = %+v, want %+v", i, caps[i], want[i])
		}
	}
	wantFails := []string{long[:20], "no-payload", `{"topic":"z/a"}`, `{"topic":"","payload":{}}`, `{"broken`}
	if len(fails) != len(wantFails) {
		t.Fatalf("fails %+v", fails)
	}
	for i, w := range wantFails {
		if !strings.HasPrefix(in[fails[i].Offset:], w) {
			t.Errorf("fail %d at %d (%v) does not start %q", i, fails[i].Offset, fails[i].Err, w)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk gone") }

func TestReadCapturesReadError(t *testing.T) {
	if err := ReadCaptures(errReader{}, func(Capture) {}, func(drivers.DecodeError) {}); err == nil {
		t.Fatal("read error not returned")
	}
}

func TestFilters(t *testing.T) {
	for _, c := range []struct {
		f, topic string
		match    bool
	}{
		{"a/b", "a/b", true}, {"a/+", "a/b", true}, {"a/+", "a/b/c", false}, {"a/#", "a", true},
		{"a/#", "a/b/c", true}, {"#", "x/y", true}, {"+/+/RESULT", "tele/x/RESULT", true},
		{"a/b", "a", false}, {"a", "a/b", false}, {"tele/+/RESULT", "tele/x/STATE", false},
	} {
		if got := MatchFilter(c.f, c.topic); got != c.match {
			t.Errorf("MatchFilter(%q, %q) = %v", c.f, c.topic, got)
		}
	}
	for f, ok := range map[string]bool{"a/+/b": true, "#": true, "a/#": true, "a/#/b": false, "a+": false, "": false, "a/b#": false} {
		if err := ValidFilter(f); (err == nil) != ok {
			t.Errorf("ValidFilter(%q) = %v", f, err)
		}
	}
}

func TestConfig(t *testing.T) {
	for name, c := range map[string]Config{
		"no broker":         {},
		"creds in url":      {Broker: anxin.MustBrokerURL("tcp://u:secret@127.0.0.1:1883")},
		"two passwords":     {Broker: anxin.MustBrokerURL(DefaultBroker), Username: "u", Password: "secret", PasswordFile: "/f"},
		"password, no user": {Broker: anxin.MustBrokerURL(DefaultBroker), Password: "secret"},
		"bad client id":     {Broker: anxin.MustBrokerURL(DefaultBroker), ClientID: "a/b"},
	} {
		err := c.Validate()
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error leaks the password: %v", name, err)
		}
	}
	c := Config{Broker: anxin.MustBrokerURL("ssl://broker.local:8883"), Username: "gw", Password: "secret"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(c.String(), "secret") {
		t.Errorf("String leaks the password: %s", c)
	}
}

func TestPasswordFile(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "pw")
	if err := os.WriteFile(pf, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Broker: anxin.MustBrokerURL(DefaultBroker), Username: "gw", PasswordFile: pf}, Options{Driver: "x", Filters: []string{"a/#"}})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := s.clientOptions()
	if err != nil || opts.Password != "s3cret" || opts.Username != "gw" {
		t.Fatalf("password_file not read: %v", err)
	}
	s, _ = New(Config{Broker: anxin.MustBrokerURL(DefaultBroker), Username: "gw", PasswordFile: filepath.Join(dir, "missing")}, Options{Driver: "x", Filters: []string{"a/#"}})
	err = s.Run(context.Background(), func(context.Context, Message) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "password_file") {
		t.Fatalf("missing password file: %v", err)
	}
}

// fakeMessage is a paho message for driving the callback directly.
type fakeMessage struct {
	topic   string
	payload []byte
	qos     byte
	acks    *int
}

func (m fakeMessage) Duplicate() bool   { return false }
func (m fakeMessage) Qos() byte         { return m.qos }
func (m fakeMessage) Retained() bool    { return false }
func (m fakeMessage) Topic() string     { return m.topic }
func (m fakeMessage) MessageID() uint16 { return 1 }
func (m fakeMessage) Payload() []byte   { return m.payload }
func (m fakeMessage) Ack()              { *m.acks++ }

func TestReceiveNeverBlocksNorAcks(t *testing.T) {
	reg := metrics.NewRegistry()
	s, err := New(Config{Broker: anxin.MustBrokerURL(DefaultBroker)}, Options{Driver: "x", Filters: []string{"a/#"}, Queue: 4, MaxPayload: 8,
		Metrics: reg, Skip: func(topic string) bool { return topic == "a/skip" }})
	if err != nil {
		t.Fatal(err)
	}
	ss := s.newSession()
	acks := 0
	msg := func(topic string, p []byte, qos byte) fakeMessage { return fakeMessage{topic, p, qos, &acks} }
	p := []byte("1234")
	s.receive(ss, msg("a/b", p, 1))
	s.receive(ss, msg("a/skip", p, 0))                         // skipped, nothing to acknowledge: not queued
	s.receive(ss, msg("a/b", bytes.Repeat([]byte("x"), 9), 0)) // oversize QoS 0: dropped
	s.receive(ss, msg("a/b", p, 0))                            // QoS 0: room (half the queue)
	s.receive(ss, msg("a/b", p, 0))                            // QoS 0 beyond half the queue: dropped
	s.receive(ss, msg("a/skip", p, 1))                         // QoS 1 skipped: queued to be acknowledged in order
	s.receive(ss, msg("a/b", bytes.Repeat([]byte("x"), 9), 1)) // oversize QoS 1: likewise
	if ss.refusing.Load() {
		t.Fatal("refusing before the queue was full")
	}
	s.receive(ss, msg("a/b", p, 1)) // queue full: refused, not acknowledged, and the session stops taking messages
	if !ss.refusing.Load() {
		t.Fatal("a full queue did not stop the session")
	}
	s.receive(ss, msg("a/b", []byte("late"), 1)) // refused too, so the redelivery keeps the order
	s.receive(ss, msg("a/b", p, 0))
	p[0] = 'X' // the queued copy is the source's own
	if acks != 0 {
		t.Fatalf("the callback acknowledged %d messages", acks)
	}
	var got []entry
	for len(ss.queue) > 0 {
		got = append(got, <-ss.queue)
	}
	if len(got) != 4 || string(got[0].Payload) != "1234" || got[0].ack == nil || got[0].skip ||
		string(got[1].Payload) != "1234" || got[1].ack != nil || !got[2].skip || got[2].ack == nil || !got[3].skip || got[3].ack == nil {
		t.Fatalf("queued %+v", got)
	}
	for name, c := range map[string]struct {
		c    metrics.Collector
		want float64
	}{
		"queue_full": {s.metrics.dropped.WithLabelValues("x", "queue_full"), 2},
		"oversize":   {s.metrics.dropped.WithLabelValues("x", "oversize"), 2},
		"deferred":   {s.metrics.deferred, 2},
		"received":   {s.metrics.received, 2},
	} {
		if v := metrics.ToFloat64(c.c); v != c.want {
			t.Errorf("%s = %v, want %v", name, v, c.want)
		}
	}
}

func TestRegisterTwice(t *testing.T) {
	reg := metrics.NewRegistry()
	for range 2 { // two instances of one driver share the collectors
		if _, err := New(Config{Broker: anxin.MustBrokerURL(DefaultBroker)}, Options{Driver: "x", Filters: []string{"a"}, Metrics: reg}); err != nil {
			t.Fatal(err)
		}
	}
}

// Run against the embedded broker: messages in order, handler errors end Run.
func TestIntegrationRun(t *testing.T) {
	b, err := mqtt.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s, err := New(Config{Broker: anxin.MustBrokerURL(b.URL())}, Options{Driver: "x", Filters: []string{"in/#"}})
	if err != nil {
		t.Fatal(err)
	}
	pubOpts := paho.NewClientOptions().AddBroker(b.URL()).SetClientID("pub")
	pub := paho.NewClient(pubOpts)
	if tok := pub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	var got []string
	go func() {
		done <- s.Run(ctx, func(_ context.Context, m Message) error {
			if m.Topic == "in/stop" {
				stop()
				return nil
			}
			if m.Topic != "in/probe" {
				got = append(got, string(m.Payload))
			}
			return nil
		})
	}()
	// publish until subscribed: probes are QoS 1, the broker drops them before the SUBSCRIBE
	testenv.Eventually(t, "the source subscribed", 60*time.Second, func() bool { return metrics.ToFloat64(s.metrics.connected) == 1 })
	for i := range 100 {
		pub.Publish("in/x", 1, false, []byte{byte('0' + i%10)}).Wait()
	}
	pub.Publish("in/stop", 1, false, []byte("!")).Wait()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not end with its context")
	}
	if len(got) != 100 {
		t.Fatalf("%d messages, want 100", len(got))
	}
	for i, p := range got {
		if p != string(rune('0'+i%10)) {
			t.Fatalf("message %d = %q: out of order", i, p)
		}
	}
}

func FuzzReadCaptures(f *testing.F) {
	for _, s := range []string{
		"zigbee2mqtt/a {\"action\":\"emergency\"}\n",
		"tele/x/RESULT = {\"RfReceived\":{\"Data\":\"4AF10A\"}}\n# c\n\n",
		`{"topic":"z/a","payload":{"smoke":true},"zigbee":{"data":{"zonestatus":34}}}`,
		`{"topic":"z/a/action","payload_raw":"emergency"}` + "\r\n" + `{"value":1}`,
		"{\"topic\":1}\n{\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		last := int64(-1)
		check := func(off int64) {
			if off <= last || off >= int64(len(in)) {
				t.Fatalf("offset %d after %d, input %d bytes", off, last, len(in))
			}
			last = off
		}
		err := ReadCaptures(bytes.NewReader(in), func(c Capture) {
			check(c.Offset)
			if len(c.Payload) > len(in) {
				t.Fatal("payload longer than the input")
			}
		}, func(e drivers.DecodeError) { check(e.Offset) })
		if err != nil {
			t.Fatal(err)
		}
	})
}

func TestDefaultClientID(t *testing.T) {
	a := DefaultClientID("zigbee2mqtt", "hh-0001", []string{"zigbee2mqtt/#"})
	if a != DefaultClientID("zigbee2mqtt", "hh-0001", []string{"zigbee2mqtt/#"}) {
		t.Error("client id not stable: the persistent session would be lost on restart")
	}
	if a == DefaultClientID("zigbee2mqtt", "hh-0001", []string{"zigbee2mqtt2/#"}) {
		t.Error("two instances reading different topics share a client id")
	}
	if !strings.HasPrefix(a, "anxin-zigbee2mqtt-hh-0001-") {
		t.Errorf("client id %q", a)
	}
}

// crashableDialer dials the broker until crash is called; crash then cuts
// the connection without an MQTT DISCONNECT, as a killed gatewayd would,
// and refuses further connections from this client.
type crashableDialer struct {
	mu      sync.Mutex
	conn    net.Conn
	crashed bool
}

func (d *crashableDialer) open(uri *url.URL, _ paho.ClientOptions) (net.Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.crashed {
		return nil, errors.New("crashed")
	}
	c, err := net.DialTimeout("tcp", uri.Host, 5*time.Second)
	d.conn = c
	return c, err
}

func (d *crashableDialer) crash() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.crashed = true
	if d.conn != nil {
		_ = d.conn.Close()
	}
}

// The rule "an event accepted is an alarm raised or a reason logged", across
// a crash: the sink takes the first messages, then stalls (an fsync that
// never returns) while the rest are queued in the source (or, with a small
// queue, left unacknowledged at the broker); the driver is then killed
// without a DISCONNECT. A new source with the same client id must get every
// message the sink had not taken, in order: nothing was acknowledged to the
// broker before the sink's Put returned.
func TestIntegrationCrashLosesNothing(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	embedded, err := mqtt.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer embedded.Close()
	for _, c := range []struct {
		name, broker string
		queue        int
		// mochi-mqtt v2.7.9 resends a session's unacknowledged messages
		// sorted by uint16(Created), a time in seconds, with an unstable
		// sort: those of one second come back in random order
		ordered bool
	}{
		{"mosquitto all queued", mq.URL, 0, true}, {"mosquitto queue overflows", mq.URL, 16, true},
		{"embedded all queued", embedded.URL(), 0, false}, {"embedded queue overflows", embedded.URL(), 16, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if !c.ordered && c.queue > 0 {
				// The overflow path reconnects while the publisher is still
				// publishing. mochi-mqtt v2.7.9 loses QoS 1 messages routed to
				// a persistent session during a takeover: inheritClientSession
				// clones the old client's inflights, moves the subscriptions,
				// then clears the old client's inflights, and the new client
				// is added to s.Clients only after that (server.go:457-458,
				// 573-592); whatever was published in between is gone. Seen
				// here as 1-5 of 400 lost in ~1 run of 4. Not a fault of the
				// source; mosquitto is the home broker to use.
				t.Skip("mochi-mqtt v2.7.9 loses messages published during a session takeover")
			}
			const n, spooledFirst = 400, 100
			cfg := Config{Broker: anxin.MustBrokerURL(c.broker), ClientID: "anxin-test-crash-" + strings.ReplaceAll(c.name, " ", "-")}
			pub := paho.NewClient(paho.NewClientOptions().AddBroker(c.broker).SetClientID(cfg.ClientID + "-pub"))
			if tok := pub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				t.Fatal(tok.Error())
			}
			defer pub.Disconnect(100)

			var mu sync.Mutex
			spooled := make([]int, n) // times the sink's Put returned nil for each message
			var second []int          // message numbers spooled after the restart, in order
			redelivered := 0          // of those, flagged DUP by the broker
			put := func(m Message, after bool) error {
				i, err := strconv.Atoi(string(m.Payload))
				if err != nil || i < 0 || i >= n {
					return fmt.Errorf("payload %q", m.Payload)
				}
				mu.Lock()
				defer mu.Unlock()
				spooled[i]++
				if after {
					second = append(second, i)
					if m.Redelivered {
						redelivered++
					}
				}
				return nil
			}

			// run 1
			reg1 := metrics.NewRegistry()
			dial := &crashableDialer{}
			s1, err := New(cfg, Options{Driver: "x", Filters: []string{"in/#"}, Queue: c.queue, Metrics: reg1,
				NewClient: func(o *paho.ClientOptions) paho.Client {
					return paho.NewClient(o.SetCustomOpenConnectionFn(dial.open))
				}})
			if err != nil {
				t.Fatal(err)
			}
			ctx1, crash := context.WithCancel(context.Background())
			done1 := make(chan error, 1)
			go func() {
				done1 <- s1.Run(ctx1, func(ctx context.Context, m Message) error {
					if string(m.Payload) >= fmt.Sprintf("%04d", spooledFirst) {
						<-ctx.Done() // the sink is stuck until the process dies
						return ctx.Err()
					}
					return put(m, false)
				})
			}()
			waitFor(t, "run 1 subscribed", func() bool { return metrics.ToFloat64(s1.metrics.connected) == 1 })
			for i := range n {
				if tok := pub.Publish("in/x", 1, false, fmt.Sprintf("%04d", i)); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
					t.Fatalf("publish %d: %v", i, tok.Error())
				}
			}
			// every message reached the source: queued, being handled, or refused unacknowledged
			waitFor(t, "run 1 got every message", func() bool {
				return metrics.ToFloat64(s1.metrics.received)+metrics.ToFloat64(s1.metrics.deferred) >= n
			})
			received, deferred := metrics.ToFloat64(s1.metrics.received), metrics.ToFloat64(s1.metrics.deferred)
			if c.queue == 0 && (received != n || deferred != 0) {
				t.Fatalf("default queue: received %v, deferred %v; want %d, 0", received, deferred, n)
			}
			if c.queue > 0 && deferred == 0 {
				t.Fatal("small queue: nothing deferred, the overflow path was not exercised")
			}
			// a refused message comes back only after the source drained its
			// queue and reconnected: wait for the first spooledFirst to pass
			waitFor(t, "run 1 spooled the first messages", func() bool {
				mu.Lock()
				defer mu.Unlock()
				for i := range spooledFirst {
					if spooled[i] == 0 {
						return false
					}
				}
				return true
			})
			mu.Lock()
			for i := range spooledFirst {
				if spooled[i] != 1 {
					t.Fatalf("message %d spooled %d times before the crash", i, spooled[i])
				}
			}
			mu.Unlock()
			dial.crash() // no DISCONNECT: the broker keeps the session and its unacknowledged messages
			crash()
			if err := <-done1; err != nil {
				t.Fatalf("run 1: %v", err)
			}

			// run 2: gatewayd restarted, same client id
			s2, err := New(cfg, Options{Driver: "x", Filters: []string{"in/#"}, Queue: c.queue, Metrics: metrics.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			ctx2, stop := context.WithCancel(context.Background())
			done2 := make(chan error, 1)
			go func() { done2 <- s2.Run(ctx2, func(_ context.Context, m Message) error { return put(m, true) }) }()
			all := eventually(func() bool {
				mu.Lock()
				defer mu.Unlock()
				for _, k := range spooled {
					if k == 0 {
						return false
					}
				}
				return true
			})
			stop()
			if err := <-done2; err != nil {
				t.Fatalf("run 2: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			dups, lost := 0, 0
			var lostIDs []int
			for i, k := range spooled {
				if k == 0 {
					lost++
					lostIDs = append(lostIDs, i)
				} else {
					dups += k - 1
				}
			}
			if !all || lost > 0 {
				t.Fatalf("%d of %d messages never spooled: %v (run 1 received %v, deferred %v)", lost, n, lostIDs, received, deferred)
			}
			// first deliveries keep the publish order; a redelivery (at least
			// once) may repeat messages already spooled, never skip one
			last := -1
			for _, i := range second {
				if c.ordered && i > last+1 && last >= 0 {
					t.Fatalf("after the restart message %d came after %d: order lost; %v", i, last, second)
				}
				last = max(last, i)
			}
			// every message after the first spooledFirst had been sent once
			if redelivered < n-spooledFirst {
				t.Errorf("%d of %d messages after the restart flagged as redelivered", redelivered, len(second))
			}
			t.Logf("queue %d: %v queued and %v deferred before the crash; %d spooled after the restart (%d flagged DUP), %d duplicates",
				c.queue, received, deferred, len(second), redelivered, dups)
		})
	}
}

// waitFor waits for cond (a real broker's progress) for up to 60 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, 60*time.Second, cond)
}

// eventually is testenv.Eventually as a bool, for the restart test: it
// stops run 2 before failing and names the messages never spooled.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond) // polling a real broker
	}
	return true
}

// With manual acknowledgement the home broker's in-flight window bounds what
// waits in the source: a stuck sink holds mosquitto's default 20 messages
// here and the rest wait in the broker; once the sink moves, every message
// is handled, in order.
func TestIntegrationInflightWindowBoundsQueue(t *testing.T) {
	const window, n = 20, 300
	mq := testenv.StartMosquittoConf(t, fmt.Sprintf("max_inflight_messages %d", window))
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL).SetClientID("pub-window"))
	if tok := pub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	s, err := New(Config{Broker: anxin.MustBrokerURL(mq.URL), ClientID: "anxin-test-window"}, Options{Driver: "x", Filters: []string{"in/#"}, Queue: 64})
	if err != nil {
		t.Fatal(err)
	}
	stuck := make(chan struct{})
	var mu sync.Mutex
	var got []int
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(ctx context.Context, m Message) error {
			select {
			case <-stuck:
			case <-ctx.Done():
				return ctx.Err()
			}
			i, err := strconv.Atoi(string(m.Payload))
			if err != nil {
				return err
			}
			mu.Lock()
			got = append(got, i)
			mu.Unlock()
			return nil
		})
	}()
	waitFor(t, "subscribed", func() bool { return metrics.ToFloat64(s.metrics.connected) == 1 })
	for i := range n {
		if tok := pub.Publish("in/x", 1, false, strconv.Itoa(i)); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	waitFor(t, "the window filled", func() bool { return metrics.ToFloat64(s.metrics.received) >= window })
	// every publish was acknowledged by the broker, so all n are there; the
	// source took only the window
	if r, d := metrics.ToFloat64(s.metrics.received), metrics.ToFloat64(s.metrics.deferred); r != window || d != 0 {
		t.Fatalf("stuck sink: received %v, deferred %v; want %d, 0", r, d, window)
	}
	close(stuck)
	waitFor(t, "every message handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= n
	})
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	seen := make([]int, n)
	last := -1
	for _, v := range got {
		if v > last+1 {
			t.Fatalf("message %d came after %d: order lost; %v", v, last, got)
		}
		seen[v]++
		last = max(last, v)
	}
	dups := 0
	for i, k := range seen {
		if k == 0 {
			t.Errorf("message %d never handled", i)
		}
		dups += max(k-1, 0)
	}
	// mosquitto 2.0.11 overshoots its window once acknowledgements flow
	// (seen: over 64 unacknowledged with a window of 20), so the queue can
	// still overflow: the refuse-and-reconnect path then keeps the order.
	t.Logf("window %d: %d held while the sink was stuck; after release %v refused and redelivered, %d duplicates",
		window, window, metrics.ToFloat64(s.metrics.deferred), dups)
}

// A sink that fails (disk full) does not end Run: the message is not
// acknowledged, Run reconnects after a backoff and the broker delivers it
// (and what followed it) again, in order. Ending Run left the driver failed
// until someone reloaded gatewayd.
func TestIntegrationSinkErrorRedelivers(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	const n, failAt = 20, 10
	cfg := Config{Broker: anxin.MustBrokerURL(mq.URL), ClientID: "anxin-test-sink-error"}
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL).SetClientID("pub-sink-error"))
	if tok := pub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	diskFull := errors.New("spool: no space left on device")
	s1, err := New(cfg, Options{Driver: "x", Filters: []string{"in/#"}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	got := make(chan int, 4*n)
	var failed atomic.Bool
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		done <- s1.Run(ctx, func(_ context.Context, m Message) error {
			i, err := strconv.Atoi(string(m.Payload))
			if err != nil {
				return err
			}
			if i == failAt && failed.CompareAndSwap(false, true) {
				return diskFull
			}
			got <- i
			return nil
		})
	}()
	waitFor(t, "subscribed", func() bool { return metrics.ToFloat64(s1.metrics.connected) == 1 })
	for i := range n {
		if tok := pub.Publish("in/x", 1, false, strconv.Itoa(i)); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	want := 0
	for want < n {
		select {
		case i := <-got:
			if i > want {
				t.Fatalf("%d came while %d was due: lost or out of order", i, want)
			}
			if i == want {
				want++
			}
		case err := <-done:
			t.Fatalf("Run ended on the sink's error: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatalf("message %d never came", want)
		}
	}
	if !failed.Load() {
		t.Fatal("the sink never refused")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
