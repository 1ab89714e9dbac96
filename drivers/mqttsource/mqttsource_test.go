package mqttsource

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/anxin-care/anxin/drivers"
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
		"http":              {Broker: "http://127.0.0.1:1883"},
		"no host":           {Broker: "tcp://"},
		"creds in url":      {Broker: "tcp://u:secret@127.0.0.1:1883"},
		"two passwords":     {Broker: DefaultBroker, Username: "u", Password: "secret", PasswordFile: "/f"},
		"password, no user": {Broker: DefaultBroker, Password: "secret"},
		"bad client id":     {Broker: DefaultBroker, ClientID: "a/b"},
	} {
		err := c.Validate()
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error leaks the password: %v", name, err)
		}
	}
	c := Config{Broker: "ssl://broker.local:8883", Username: "gw", Password: "secret"}
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
	s, err := New(Config{Broker: DefaultBroker, Username: "gw", PasswordFile: pf}, Options{Driver: "x", Filters: []string{"a/#"}})
	if err != nil {
		t.Fatal(err)
	}
	opts, err := s.clientOptions()
	if err != nil || opts.Password != "s3cret" || opts.Username != "gw" {
		t.Fatalf("password_file not read: %v", err)
	}
	s, _ = New(Config{Broker: DefaultBroker, Username: "gw", PasswordFile: filepath.Join(dir, "missing")}, Options{Driver: "x", Filters: []string{"a/#"}})
	err = s.Run(context.Background(), func(context.Context, Message) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "password_file") {
		t.Fatalf("missing password file: %v", err)
	}
}

// fakeMessage is a paho message for driving the callback directly.
type fakeMessage struct {
	topic   string
	payload []byte
}

func (m fakeMessage) Duplicate() bool   { return false }
func (m fakeMessage) Qos() byte         { return 1 }
func (m fakeMessage) Retained() bool    { return false }
func (m fakeMessage) Topic() string     { return m.topic }
func (m fakeMessage) MessageID() uint16 { return 1 }
func (m fakeMessage) Payload() []byte   { return m.payload }
func (m fakeMessage) Ack()              {}

func TestReceiveNeverBlocks(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(Config{Broker: DefaultBroker}, Options{Driver: "x", Filters: []string{"a/#"}, Queue: 2, MaxPayload: 8,
		Metrics: reg, Skip: func(topic string) bool { return topic == "a/skip" }})
	if err != nil {
		t.Fatal(err)
	}
	p := []byte("1234")
	for range 3 {
		s.receive(nil, fakeMessage{"a/b", p}) // the third finds the queue full and must not block
	}
	s.receive(nil, fakeMessage{"a/b", bytes.Repeat([]byte("x"), 9)})
	s.receive(nil, fakeMessage{"a/skip", p})
	p[0] = 'X' // the queued copy is the source's own
	if m := <-s.queue; string(m.Payload) != "1234" {
		t.Errorf("queued payload %q changed with paho's buffer", m.Payload)
	}
	if v := testutil.ToFloat64(s.metrics.dropped.WithLabelValues("x", "queue_full")); v != 1 {
		t.Errorf("queue_full drops %v", v)
	}
	if v := testutil.ToFloat64(s.metrics.dropped.WithLabelValues("x", "oversize")); v != 1 {
		t.Errorf("oversize drops %v", v)
	}
	if v := testutil.ToFloat64(s.metrics.received); v != 2 {
		t.Errorf("received %v", v)
	}
}

func TestRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 { // two instances of one driver share the collectors
		if _, err := New(Config{Broker: DefaultBroker}, Options{Driver: "x", Filters: []string{"a"}, Metrics: reg}); err != nil {
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
	s, err := New(Config{Broker: b.URL()}, Options{Driver: "x", Filters: []string{"in/#"}})
	if err != nil {
		t.Fatal(err)
	}
	pubOpts := paho.NewClientOptions().AddBroker(b.URL()).SetClientID("pub")
	pub := paho.NewClient(pubOpts)
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(100)
	stopErr := errors.New("sink closed")
	done := make(chan error, 1)
	var got []string
	go func() {
		done <- s.Run(context.Background(), func(_ context.Context, m Message) error {
			if m.Topic == "in/stop" {
				return stopErr
			}
			if m.Topic != "in/probe" {
				got = append(got, string(m.Payload))
			}
			return nil
		})
	}()
	// publish until subscribed: probes are QoS 1, the broker drops them before the SUBSCRIBE
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(s.metrics.connected) != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling the real broker's subscription
	}
	for i := range 100 {
		pub.Publish("in/x", 1, false, []byte{byte('0' + i%10)}).Wait()
	}
	pub.Publish("in/stop", 1, false, []byte("!")).Wait()
	select {
	case err := <-done:
		if !errors.Is(err, stopErr) {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end on a handler error")
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
