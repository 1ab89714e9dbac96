package mqtt

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	mochipackets "github.com/mochi-mqtt/server/v2/packets"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/spool"
	"github.com/anxin-care/anxin/spool/spooltest"
)

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		n    int
		r    float64
		want time.Duration
	}{
		{0, 0, time.Second}, {1, 0, 2 * time.Second}, {3, 0, 8 * time.Second},
		{10, 0, time.Minute}, {100, 0, time.Minute}, {0, 0.5, 900 * time.Millisecond},
		{10, 0.99, time.Minute - time.Duration(float64(time.Minute)*0.2*0.99)},
	} {
		if got := Backoff(c.n, time.Second, time.Minute, c.r); got != c.want {
			t.Errorf("Backoff(%d, r=%v) = %s, want %s", c.n, c.r, got, c.want)
		}
	}
}

// TestRetryWait: an outage's first round tries every broker of the tier at
// once — also when it starts on the last one in the list (the gateway was
// on it), which once waited its backoff before the first broker — and every
// attempt after it waits; one broker waits from the first failure.
func TestRetryWait(t *testing.T) {
	s, m := time.Second, time.Minute
	for _, c := range []struct {
		attempt, brokers int
		want             time.Duration
	}{
		{0, 1, s}, {1, 1, 2 * s}, {0, 3, 0}, {1, 3, 0}, {2, 3, s}, {3, 3, 2 * s}, {5, 3, 2 * s}, {6, 3, 4 * s},
	} {
		if got := retryWait(c.attempt, c.brokers, s, m, 0); got != c.want {
			t.Errorf("retryWait(attempt %d, %d brokers) = %s, want %s", c.attempt, c.brokers, got, c.want)
		}
	}
}

// subscriber is a persistent-session QoS 1 subscriber recording everything
// under anxin/v1/#, as alarmd would see it.
type subscriber struct {
	t      testing.TB
	cl     paho.Client
	mu     sync.Mutex
	msgs   []anxin.Message
	raw    map[string]string // id -> payload, to check duplicates are identical
	dups   int
	status []string
	device []string // device statuses: "<dev> <payload>", in arrival order
}

func subscribe(t testing.TB, broker string) *subscriber {
	t.Helper()
	s := &subscriber{t: t, raw: map[string]string{}}
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("alarmd-test-%d", time.Now().UnixNano())).
		SetCleanSession(false).SetAutoReconnect(true).SetMaxReconnectInterval(200 * time.Millisecond).
		SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).SetOrderMatters(true)
	// set before Connect: a persistent session's queued messages arrive at once
	o.SetDefaultPublishHandler(s.handle)
	s.cl = paho.NewClient(o)
	if tok := s.cl.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	if tok := s.cl.Subscribe("anxin/v1/#", 1, nil); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { s.cl.Disconnect(100) })
	return s
}

func (s *subscriber) handle(_ paho.Client, m paho.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.HasSuffix(m.Topic(), "/gateway/status") {
		s.status = append(s.status, string(m.Payload()))
		return
	}
	if _, dev, class, err := anxin.ParseTopic(m.Topic()); err == nil && class == "status" {
		if _, err := anxin.ParseStatus(m.Payload()); err != nil {
			s.t.Errorf("invalid status on %s: %v", m.Topic(), err)
		}
		s.device = append(s.device, dev+" "+string(m.Payload()))
		return
	}
	msg, err := anxin.ParseMessage(m.Topic(), m.Payload())
	if err != nil {
		s.t.Errorf("invalid message on %s: %v", m.Topic(), err)
		return
	}
	if prev, seen := s.raw[msg.ID]; seen {
		if prev != string(m.Payload()) {
			s.t.Errorf("duplicate id %s with a different payload", msg.ID)
		}
		s.dups++
		return
	}
	s.raw[msg.ID] = string(m.Payload())
	s.msgs = append(s.msgs, msg)
}

func (s *subscriber) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// waitFor polls until the subscriber holds n distinct messages.
func (s *subscriber) waitFor(n int, within time.Duration) {
	s.t.Helper()
	testenv.Eventually(s.t, fmt.Sprintf("the subscriber to hold %d distinct messages", n), within, func() bool { return s.count() >= n })
}

// checkOrder asserts that per device the messages arrived in the order they
// were produced (ids are <dev>-<n>, n counting up per device).
func (s *subscriber) checkOrder() map[string]int {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	last := map[string]int{}
	for _, m := range s.msgs {
		n, err := strconv.Atoi(m.ID[strings.LastIndexByte(m.ID, '-')+1:])
		if err != nil {
			s.t.Fatalf("unexpected id %q", m.ID)
		}
		if p, ok := last[m.Device]; ok && n <= p {
			s.t.Fatalf("%s: message %d arrived after %d", m.Device, n, p)
		}
		last[m.Device] = n
	}
	return last
}

func (s *subscriber) statuses() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.status...)
}

// retained reads the retained gateway status with a fresh client.
func retained(t testing.TB, broker, hh string) string {
	t.Helper()
	return retainedOn(t, broker, anxin.StatusTopic(hh))
}

// retainedOn reads the retained message of topic with a fresh client (clean
// session: it can only come as a retained message).
func retainedOn(t testing.TB, broker, topic string) string {
	t.Helper()
	got := make(chan paho.Message, 1)
	o := paho.NewClientOptions().AddBroker(broker).SetClientID(fmt.Sprintf("probe-%d", time.Now().UnixNano()))
	cl := paho.NewClient(o)
	if tok := cl.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("probe connect: %v", tok.Error())
	}
	defer cl.Disconnect(50)
	cl.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
		select {
		case got <- m:
		default:
		}
	})
	select {
	case m := <-got:
		if !m.Retained() {
			t.Errorf("%s came without the retain flag", topic)
		}
		return string(m.Payload())
	case <-time.After(30 * time.Second):
		t.Fatalf("no retained message on %s", topic)
		return ""
	}
}

type runningUplink struct {
	up     *Uplink
	cancel context.CancelFunc
	done   chan error
	conn   chan bool // the uplink's connection events (OnConnection)
}

// waitConnection waits for the uplink's next connection event and wants it
// to be connected (true) or disconnected (false).
func (r *runningUplink) waitConnection(t testing.TB, connected bool) {
	t.Helper()
	select {
	case c := <-r.conn:
		if c != connected {
			t.Fatalf("uplink connection event %v, want %v", c, connected)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no uplink connection event %v within 15s", connected)
	}
}

// waitAcked waits until everything put in sp so far is acknowledged.
func waitAcked(t testing.TB, sp *spool.Spool, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := sp.WaitAcked(ctx); err != nil {
		t.Fatalf("spool not acknowledged within %s: %v (%+v)", within, err, sp.Stats())
	}
}

func startUplink(t testing.TB, sp *spool.Spool, broker string, reg metrics.Registerer) *runningUplink {
	t.Helper()
	conn := make(chan bool, 64)
	up, err := NewUplink(UplinkOptions{Broker: anxin.MustBrokerURL(broker), Household: "hh-0001", Window: 256,
		MinRetry: 50 * time.Millisecond, MaxRetry: 500 * time.Millisecond,
		OnConnection: func(c bool) { conn <- c },
		Metrics:      reg, Logger: slog.New(slog.DiscardHandler)}, sp)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningUplink{up: up, cancel: cancel, done: make(chan error, 1), conn: conn}
	go func() { r.done <- up.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

func (r *runningUplink) stop() {
	r.cancel()
	<-r.done
	r.done <- nil // stop is idempotent
}

func TestIntegrationUplinkDelivers(t *testing.T) {
	brokers := map[string]func(t *testing.T) string{
		"embedded": func(t *testing.T) string {
			b, err := StartBroker("127.0.0.1:0", nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b.URL()
		},
		"mosquitto": func(t *testing.T) string { return testenv.StartMosquitto(t).URL },
	}
	for name, start := range brokers {
		t.Run(name, func(t *testing.T) {
			broker := start(t)
			sub := subscribe(t, broker)
			reg := metrics.NewRegistry()
			sp := openSpool(t, spool.Options{Metrics: reg})
			const n = 600
			for i := range n {
				put(t, sp, spooltest.Msg(fmt.Sprintf("dev%d", i%3), i/3, i%10 == 0))
			}
			up := startUplink(t, sp, broker, reg)
			sub.waitFor(n, 20*time.Second)
			sub.checkOrder()
			if s := retained(t, broker, "hh-0001"); !strings.Contains(s, `"online"`) {
				t.Fatalf("retained status while running: %s", s)
			}
			if !up.up.Connected() || metrics.ToFloat64(up.up.mConnected) != 1 {
				t.Fatal("uplink does not report connected")
			}
			up.stop()
			if got := metrics.ToFloat64(up.up.mPublished); got < n {
				t.Fatalf("published_total %v, want >= %d", got, n)
			}
			if st := sp.Stats(); st.Depth != 0 {
				t.Fatalf("spool depth %d after all were acknowledged", st.Depth)
			}
			s := retained(t, broker, "hh-0001")
			var st anxin.GatewayStatus
			if err := json.Unmarshal([]byte(s), &st); err != nil || st.State != "offline" || st.TS.IsZero() {
				t.Fatalf("retained status after shutdown: %s", s)
			}
		})
	}
}

// inFlight is how many messages the spool handed to the uplink that the
// broker has not acknowledged yet: published (or being published) and
// waiting for their PUBACK.

// TestOutageBrokerRestart stops mosquitto while a producer streams at full
// speed and the uplink has publishes in flight (handed out, PUBACK not yet
// received), keeps producing during the outage and while it reconnects, and
// checks what QoS 1 allows: every message arrives, per device in order,
// duplicates only with the same id and payload.
//
// SIGTERM: mosquitto saves its database on the way down, so every message
// must arrive. SIGKILL: mosquitto forgets what it received since its last
// autosave (1 s), acknowledged or not, so messages it acknowledged but had
// not yet passed to the subscriber may be lost on its side (~1,000 when the
// subscriber was still reconnecting at the kill; none in these runs, where
// it is connected); what the uplink guarantees is checked instead: every
// message the broker had not acknowledged when it died arrives.
func TestOutageBrokerRestart(t *testing.T) {
	t.Run("SIGTERM", func(t *testing.T) { testOutage(t, false) })
	t.Run("SIGKILL", func(t *testing.T) { testOutage(t, true) })
}

func testOutage(t *testing.T, kill bool) {
	mq := testenv.StartMosquitto(t)
	sub := subscribe(t, mq.URL)
	poll := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		testenv.Eventually(t, what, within, cond)
	}
	if kill { // a clean restart saves the subscriber's session to disk
		mq.Restart()
		poll("the subscriber to reconnect", 10*time.Second, sub.cl.IsConnectionOpen)
	}
	sp := openSpool(t, spool.Options{MaxBytes: 1 << 30})
	up := startUplink(t, sp, mq.URL, nil)
	devs := []string{"btn1", "wm1", "pm1"}
	next := 0
	produce := func(k int) {
		for range k {
			d := devs[next%len(devs)]
			put(t, sp, spooltest.Msg(d, next/len(devs), d == "btn1"))
			next++
		}
	}
	// phase 1: a producer streams while the broker is stopped under it
	stopProducer := make(chan struct{})
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		for {
			select {
			case <-stopProducer:
				return
			default:
				produce(1)
			}
		}
	}()
	var depth int64
	var flying uint64
	poll("publishes in flight with the subscriber receiving", 20*time.Second, func() bool {
		depth, flying = sp.Stats().Depth, sp.Stats().InFlight
		return sub.count() >= 300 && depth > 0 && flying >= 16
	})
	if kill {
		mq.Kill()
	} else {
		mq.Stop()
	}
	poll("the uplink to notice the broker stopped", 10*time.Second, func() bool { return !up.up.Connected() })
	// the publishing loop has returned: no PUBACK of the dead connection
	// moves the ack pointer any more
	brokerAcked := int(sp.Acked())
	close(stopProducer)
	<-producerDone
	atStop := next
	produce(1000) // during the outage
	if d := sp.Stats().Depth; d < 1000 {
		t.Fatalf("spool depth %d during outage, want >= 1000", d)
	}
	mq.Restart()
	produce(1000) // while reconnecting and replaying
	total := next
	id := func(i int) string { d := devs[i%len(devs)]; return spooltest.Msg(d, i/len(devs), d == "btn1").ID }
	missing := func() []int {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		var miss []int
		for i := range total {
			if _, ok := sub.raw[id(i)]; !ok {
				miss = append(miss, i)
			}
		}
		return miss
	}
	forgotten := 0
	if !kill {
		sub.waitFor(total, 60*time.Second)
	} else {
		// message i is spool seq i+1: everything after the ack pointer
		// must come; before it, mosquitto may have forgotten some
		testenv.Eventually(t, fmt.Sprintf("every message after the broker's last acknowledgement (seq %d) delivered", brokerAcked),
			60*time.Second, func() bool {
				miss := missing()
				forgotten = len(miss)
				return len(miss) == 0 || miss[len(miss)-1] < brokerAcked
			})
	}
	last := sub.checkOrder()
	for i, d := range devs {
		want := (total - 1 - i) / len(devs)
		if last[d] != want {
			t.Fatalf("%s: last message %d, want %d", d, last[d], want)
		}
	}
	waitAcked(t, sp, 10*time.Second)
	sub.mu.Lock()
	dups := sub.dups
	sub.mu.Unlock()
	t.Logf("broker stopped with %d spooled, %d in flight (PUBACK outstanding), %d produced by then; %d messages in all, %d duplicates (same id and payload)",
		depth, flying, atStop, total, dups)
	if kill {
		t.Logf("mosquitto forgot %d messages it had acknowledged (received since its last autosave); none the spool still held", forgotten)
	}
}

// TestCrashHelper is the gateway process of TestCrashKill9NoEventLost: it is
// the test binary re-executed with ANXIN_CRASH_DIR set.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv("ANXIN_CRASH_DIR")
	if dir == "" {
		t.Skip("helper process for TestCrashKill9NoEventLost")
	}
	from, _ := strconv.Atoi(os.Getenv("ANXIN_CRASH_FROM"))
	count, _ := strconv.Atoi(os.Getenv("ANXIN_CRASH_COUNT"))
	sp, err := spool.Open(spool.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	up, err := NewUplink(UplinkOptions{Broker: anxin.MustBrokerURL(os.Getenv("ANXIN_CRASH_BROKER")), Household: "hh-0001",
		MinRetry: 50 * time.Millisecond, MaxRetry: 200 * time.Millisecond}, sp)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- up.Run(ctx) }()
	for i := from; i < from+count; i++ {
		dev := "wm1"
		if i%2 == 0 {
			dev = "btn1"
		}
		if err := sp.Put(ctx, spooltest.Msg(dev, i, dev == "btn1")); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("put %d\n", i) // the parent counts only what Put acknowledged
	}
	if err := sp.WaitAcked(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if err := sp.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("drained")
}

// TestCrashKill9NoEventLost kills the gateway process with SIGKILL in the
// middle of a stream, restarts it on the same spool, and checks every
// message whose Put returned before the kill reaches the subscriber.
func TestCrashKill9NoEventLost(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	sub := subscribe(t, mq.URL)
	dir := t.TempDir()
	run := func(from, count, killAfter int) []int {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), "ANXIN_CRASH_DIR="+dir, "ANXIN_CRASH_BROKER="+mq.URL,
			"ANXIN_CRASH_FROM="+strconv.Itoa(from), "ANXIN_CRASH_COUNT="+strconv.Itoa(count))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var puts []int
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if n, ok := strings.CutPrefix(sc.Text(), "put "); ok {
				v, _ := strconv.Atoi(n)
				puts = append(puts, v)
				if killAfter > 0 && len(puts) == killAfter {
					if err := cmd.Process.Kill(); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		err = cmd.Wait()
		if killAfter == 0 && err != nil {
			t.Fatalf("restarted gateway: %v", err)
		}
		return puts
	}
	first := run(0, 100000, 400)
	if len(first) < 400 {
		t.Fatalf("helper printed %d puts before the kill", len(first))
	}
	from := first[len(first)-1] + 1
	second := run(from, 200, 0)
	want := append(first, second...)
	sub.waitFor(len(want), 30*time.Second)
	sub.checkOrder()
	got := map[string]bool{}
	sub.mu.Lock()
	for _, m := range sub.msgs {
		got[m.ID] = true
	}
	sub.mu.Unlock()
	for _, n := range want {
		dev := "wm1"
		if n%2 == 0 {
			dev = "btn1"
		}
		if id := spooltest.Msg(dev, n, dev == "btn1").ID; !got[id] {
			t.Fatalf("message %s acknowledged by Put before the kill never arrived", id)
		}
	}
	if !slicesContainsFunc(sub.statuses(), func(s string) bool { return s == `{"state":"offline"}` }) {
		t.Errorf("the MQTT will (offline) was not published after SIGKILL: %v", sub.statuses())
	}
	t.Logf("killed after %d puts, %d more after restart, %d duplicates", len(first), len(second), sub.dups)
}

func slicesContainsFunc(s []string, f func(string) bool) bool {
	for _, v := range s {
		if f(v) {
			return true
		}
	}
	return false
}

// BenchmarkUplinkToMosquitto measures messages/s from Put through the spool
// and the windowed publisher until mosquitto acknowledged them, with the
// producer running concurrently, and the spool bytes written per message.
func BenchmarkUplinkToMosquitto(b *testing.B) {
	for _, window := range []int{1, 256, 1000} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			mq := testenv.StartMosquitto(b)
			sp := openSpool(b, spool.Options{MaxBytes: 1 << 30})
			up, err := NewUplink(UplinkOptions{Broker: anxin.MustBrokerURL(mq.URL), Household: "hh-0001", Window: window}, sp)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- up.Run(ctx) }()
			defer func() { cancel(); <-done }()
			testenv.Eventually(b, "connected", 15*time.Second, up.Connected)
			m := spooltest.Msg("wm1", 1, false)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			n := 0
			for b.Loop() {
				m.ID = anxin.NewID(spooltest.T0)
				if err := sp.Put(ctx, m); err != nil {
					b.Fatal(err)
				}
				n++
			}
			produced := time.Since(start)
			want := sp.Stats().NextSeq - 1
			if sp.Acked() < want {
				waitAcked(b, sp, time.Minute)
			}
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(n)/el.Seconds(), "msgs/s")
			b.ReportMetric(float64(n)/produced.Seconds(), "put/s")
			b.ReportMetric(float64(sp.Stats().Written)/float64(n), "spool-bytes/msg")
		})
	}
}

// TestOutageWhileIdle: a broker restart with nothing to send is still
// noticed (keepalive/TCP close), the uplink reconnects by itself and
// publishes its online status again.
func TestOutageWhileIdle(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	sp := openSpool(t, spool.Options{})
	up := startUplink(t, sp, mq.URL, nil)
	up.waitConnection(t, true)
	mq.Stop()
	up.waitConnection(t, false) // the idle uplink noticed the broker is gone
	mq.Restart()
	up.waitConnection(t, true)
	if s := retained(t, mq.URL, "hh-0001"); !strings.Contains(s, `"online"`) {
		t.Fatalf("status after reconnect: %s", s)
	}
	sub := subscribe(t, mq.URL)
	put(t, sp, spooltest.Msg("btn1", 1, true))
	sub.waitFor(1, 10*time.Second)
}

// TestOutageEmbeddedBroker: the embedded broker (no persistence) goes away
// and a new one comes up on the same address; everything produced during the
// outage is replayed from the spool to it, in order per device.
func TestOutageEmbeddedBroker(t *testing.T) {
	type seen struct {
		mu  sync.Mutex
		ids map[string]bool
		seq map[string][]int
	}
	inline := func(b *Broker) *seen {
		s := &seen{ids: map[string]bool{}, seq: map[string][]int{}}
		err := b.srv.Subscribe("anxin/v1/+/+/+", 1, func(_ *mochi.Client, _ mochipackets.Subscription, pk mochipackets.Packet) {
			if strings.HasSuffix(pk.TopicName, "/gateway/status") {
				return
			}
			m, err := anxin.ParseMessage(pk.TopicName, pk.Payload)
			if err != nil {
				t.Errorf("bad message: %v", err)
				return
			}
			n, _ := strconv.Atoi(m.ID[strings.LastIndexByte(m.ID, '-')+1:])
			s.mu.Lock()
			defer s.mu.Unlock()
			if !s.ids[m.ID] {
				s.ids[m.ID] = true
				s.seq[m.Device] = append(s.seq[m.Device], n)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	count := func(s *seen) int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.ids) }
	b1, err := StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := b1.Addr()
	first := inline(b1)
	sp := openSpool(t, spool.Options{})
	up := startUplink(t, sp, b1.URL(), nil)
	for i := range 100 {
		put(t, sp, spooltest.Msg("wm1", i, false))
	}
	eventually(t, "first 100 delivered", func() bool { return count(first) == 100 })
	b1.Close()
	eventually(t, "uplink to notice", func() bool { return !up.up.Connected() })
	for i := range 500 {
		dev := []string{"btn1", "wm1"}[i%2]
		put(t, sp, spooltest.Msg(dev, 1000+i, dev == "btn1"))
	}
	b2, err := StartBroker(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b2.Close()
	second := inline(b2)
	eventually(t, "the 500 spooled during the outage", func() bool { return count(second) >= 500 })
	second.mu.Lock()
	defer second.mu.Unlock()
	for dev, ns := range second.seq {
		for i := 1; i < len(ns); i++ {
			if ns[i] <= ns[i-1] {
				t.Fatalf("%s: %d after %d", dev, ns[i], ns[i-1])
			}
		}
	}
	for i := range 500 {
		dev := []string{"btn1", "wm1"}[i%2]
		if id := spooltest.Msg(dev, 1000+i, dev == "btn1").ID; !second.ids[id] {
			t.Fatalf("%s produced during the outage never arrived", id)
		}
	}
}

// TestDeviceStatusRetainedAfterOutage: device statuses spooled while the
// broker is down (a call button going offline, online, offline again; the
// zigbee2mqtt bridge going offline) are published once it is back, in
// order, retained: a client that subscribes afterwards reads each
// device's newest status, beside the gateway's own.
func TestDeviceStatusRetainedAfterOutage(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	sub := subscribe(t, mq.URL)
	sp := openSpool(t, spool.Options{})
	up := startUplink(t, sp, mq.URL, nil)
	up.waitConnection(t, true)
	mq.Stop()
	up.waitConnection(t, false) // the uplink noticed the broker is gone

	ctx := context.Background()
	status := func(dev, state string, at time.Duration) {
		t.Helper()
		if err := sp.PutStatus(ctx, anxin.DeviceStatus{Household: "hh-0001", Device: dev, State: state, TS: spooltest.T0.Add(at)}); err != nil {
			t.Fatal(err)
		}
	}
	status("btn1", "offline", 0)
	put(t, sp, spooltest.Msg("wm1", 1, false))
	status("zigbee2mqtt", "offline", time.Second)
	status("btn1", "online", 2*time.Second)
	put(t, sp, spooltest.Msg("btn1", 2, true))
	status("btn1", "offline", 3*time.Second)
	if d := sp.Stats().Depth; d != 6 {
		t.Fatalf("spool depth %d while the broker is down, want 6", d)
	}

	mq.Restart()
	waitAcked(t, sp, 15*time.Second)
	if got, want := retainedOn(t, mq.URL, "anxin/v1/hh-0001/btn1/status"), `{"state":"offline","ts":"2026-11-23T08:00:03Z"}`; got != want {
		t.Errorf("retained btn1 status %s, want %s", got, want)
	}
	if got, want := retainedOn(t, mq.URL, "anxin/v1/hh-0001/zigbee2mqtt/status"), `{"state":"offline","ts":"2026-11-23T08:00:01Z"}`; got != want {
		t.Errorf("retained bridge status %s, want %s", got, want)
	}
	if s := retained(t, mq.URL, "hh-0001"); !strings.Contains(s, `"online"`) {
		t.Errorf("gateway status %s", s)
	}
	// the subscriber that was there all along got every status, in order
	sub.waitFor(2, 10*time.Second)
	eventually(t, "four device statuses", func() bool { sub.mu.Lock(); defer sub.mu.Unlock(); return len(sub.device) >= 4 })
	sub.mu.Lock()
	var uniq []string // QoS 1 may repeat one after the broker's restart
	for _, d := range sub.device {
		if !slices.Contains(uniq, d) {
			uniq = append(uniq, d)
		}
	}
	sub.mu.Unlock()
	got := strings.Join(uniq, "\n")
	want := strings.Join([]string{
		`btn1 {"state":"offline","ts":"2026-11-23T08:00:00Z"}`,
		`zigbee2mqtt {"state":"offline","ts":"2026-11-23T08:00:01Z"}`,
		`btn1 {"state":"online","ts":"2026-11-23T08:00:02Z"}`,
		`btn1 {"state":"offline","ts":"2026-11-23T08:00:03Z"}`,
	}, "\n")
	if got != want {
		t.Errorf("device statuses\n%s\nwant\n%s", got, want)
	}
}

// countingClient is a paho client whose Publish only counts; send uses
// nothing else.
type countingClient struct {
	paho.Client
	published int
}

func (c *countingClient) Publish(string, byte, bool, any) paho.Token {
	c.published++
	return nil
}

// TestSendPublishesNothingAfterPumpGaveUp: a sender whose context ended
// (shutting down, or pump gave up on the connection) or whose connection
// was lost publishes nothing more, although the spool still hands out
// records: its publishes could otherwise follow the retained offline status
// or go to a connection nobody waits for the PUBACKs of.
func TestSendPublishesNothingAfterPumpGaveUp(t *testing.T) {
	sp := openSpool(t, spool.Options{})
	for i := range 10 {
		put(t, sp, spooltest.Msg("wm1", i, i == 3))
	}
	up, err := NewUplink(UplinkOptions{Broker: anxin.MustBrokerURL("tcp://127.0.0.1:1"), Household: "hh-0001"}, sp)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	gone := make(chan struct{})
	close(gone)
	for _, c := range []struct {
		name string
		ctx  context.Context
		lost chan struct{}
		want error
	}{
		{"context ended", cancelled, make(chan struct{}), context.Canceled},
		{"connection lost", context.Background(), gone, errConnLost},
	} {
		cl := &countingClient{}
		pending := make(chan inflight, 16)
		if err := up.send(c.ctx, cl, sp.Cursor(), c.lost, pending); !errors.Is(err, c.want) {
			t.Errorf("%s: send returned %v, want %v", c.name, err, c.want)
		}
		if cl.published != 0 || len(pending) != 0 {
			t.Errorf("%s: %d published, %d queued for PUBACK", c.name, cl.published, len(pending))
		}
		if _, ok := <-pending; ok {
			t.Errorf("%s: pending not closed", c.name)
		}
	}
}

// TestUplinkLogsNoPasswordFromBrokerURL: paho takes credentials from the
// broker URL too (tcp://user:pass@host); the uplink's log lines name the
// broker with the password redacted.
func TestUplinkLogsNoPasswordFromBrokerURL(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nobody listens: the uplink logs that it cannot connect
	var buf lockedLog
	logged := make(chan struct{})
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	up, err := NewUplink(UplinkOptions{Broker: anxin.MustBrokerURL("tcp://gw-0001:s3cret@" + addr), Household: "hh-0001",
		MinRetry: time.Hour, Logger: slog.New(notifyHandler{h, logged})}, openSpool(t, spool.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- up.Run(ctx) }()
	select {
	case <-logged:
	case <-time.After(30 * time.Second):
		t.Fatal("nothing logged")
	}
	cancel()
	<-done
	out := buf.String()
	if strings.Contains(out, "s3cret") || !strings.Contains(out, "gw-0001") {
		t.Errorf("log:\n%s", out)
	}
}

type lockedLog = testenv.SyncBuffer

// notifyHandler closes logged after the first "cannot connect" record.
type notifyHandler struct {
	slog.Handler
	logged chan struct{}
}

func (h notifyHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if strings.HasPrefix(r.Message, "uplink: cannot connect") {
		close(h.logged) // MinRetry 1 h: logged once
	}
	return err
}

func (h notifyHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return notifyHandler{h.Handler.WithAttrs(a), h.logged}
}

// openSpool opens a spool in a temp dir (unless opts.Dir says), closed when
// the test ends.
func openSpool(t testing.TB, opts spool.Options) *spool.Spool {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := spool.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func put(t testing.TB, s *spool.Spool, m anxin.Message) {
	t.Helper()
	if err := s.Put(context.Background(), m); err != nil {
		t.Fatalf("put %s: %v", m.ID, err)
	}
}

// eventually is testenv.Eventually with the uplink tests' 15 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, 15*time.Second, cond)
}

// TestUplinkFallsOverToTheNextBroker: a gateway given the nodes of a broker
// tier connects to the first that answers (the primary is dead from the
// start), and when the node it is on dies mid-stream it goes on to the next
// without losing a message: every message reaches one of the brokers'
// subscribers, the unacknowledged tail replayed on the new node.
func TestUplinkFallsOverToTheNextBroker(t *testing.T) {
	dead := fmt.Sprintf("tcp://127.0.0.1:%d", testenv.FreePort(t)) // nothing listens
	a, b := testenv.StartMosquitto(t), testenv.StartMosquitto(t)
	subA, subB := subscribe(t, a.URL), subscribe(t, b.URL)
	sp := openSpool(t, spool.Options{})
	conn := make(chan bool, 64)
	up, err := NewUplink(UplinkOptions{Broker: anxin.MustBrokerURL(dead),
		Fallback:  []anxin.BrokerURL{anxin.MustBrokerURL(a.URL), anxin.MustBrokerURL(b.URL)},
		Household: "hh-0001", MinRetry: 50 * time.Millisecond, MaxRetry: 500 * time.Millisecond,
		OnConnection: func(c bool) { conn <- c }, Logger: slog.New(slog.DiscardHandler)}, sp)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- up.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitConn := func(want bool) {
		t.Helper()
		select {
		case c := <-conn:
			if c != want {
				t.Fatalf("connection event %v, want %v", c, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no connection event %v", want)
		}
	}
	waitConn(true)
	const n = 300
	for i := range n / 2 {
		put(t, sp, spooltest.Msg("wm1", i, false))
	}
	subA.waitFor(n/2, 20*time.Second) // the dead primary skipped: on node a
	a.Kill()
	waitConn(false)
	for i := n / 2; i < n; i++ {
		put(t, sp, spooltest.Msg("wm1", i, false))
	}
	waitConn(true)
	union := func() int {
		seen := map[string]bool{}
		for _, s := range []*subscriber{subA, subB} {
			s.mu.Lock()
			for id := range s.raw {
				seen[id] = true
			}
			s.mu.Unlock()
		}
		return len(seen)
	}
	testenv.Eventually(t, "every message on one node or the other", 20*time.Second, func() bool { return union() == n })
	if subB.count() < n/2 {
		t.Fatalf("node b holds %d messages, want at least the %d sent after a died", subB.count(), n/2)
	}
	// a subscriber can see a message before its PUBACK is back at the
	// uplink: the spool empties as those arrive
	testenv.Eventually(t, "the spool empty once every message is acknowledged", 30*time.Second, func() bool { return sp.Stats().Depth == 0 })
}
