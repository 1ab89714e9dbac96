package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
)

// metricValue reads one unlabelled metric from gatewayd's /metrics; -1 when
// it cannot.
func metricValue(addr, name string) int {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\d+)`).FindSubmatch(body)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// slowLink is a TCP relay on loopback that delays every chunk by a
// settable time in each direction: a slow uplink (4G with a long round trip)
// in front of a real broker, so gatewayd's spool holds a backlog while it
// streams. Closing either side closes both, as a dead process does.
type slowLink struct {
	l      net.Listener
	target string
	delay  atomic.Int64 // nanoseconds
}

func startSlowLink(t *testing.T, target string, delay time.Duration) *slowLink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &slowLink{l: l, target: target}
	s.delay.Store(int64(delay))
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go s.pipe(u, c)
			go s.pipe(c, u)
		}
	}()
	return s
}

func (s *slowLink) URL() string { return "tcp://" + s.l.Addr().String() }

func (s *slowLink) pipe(dst, src net.Conn) {
	type chunk struct {
		b  []byte
		at time.Time
	}
	ch := make(chan chunk, 4096)
	go func() {
		defer close(ch)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				ch <- chunk{append([]byte(nil), buf[:n]...), time.Now()}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		if d := time.Until(c.at.Add(time.Duration(s.delay.Load()))); d > 0 {
			<-time.After(d) // the emulated link's latency, not synchronisation
		}
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	for range ch { // let the reader finish
	}
}

// TestCrashGatewaydBinaryKill9WhileStreaming: the real gatewayd relays SOS
// presses from the home broker (jsonmap driver, one device per press) to a
// live district mosquitto over a slow link (5 ms each way, window 4: ~400
// messages/s, slower than the presses come, so the spool holds a backlog);
// it is killed with SIGKILL in the middle of the stream, with messages in
// flight and in the spool, while presses keep coming, and restarted on the
// same spool (the link now fast). A
// persistent-session subscriber at the district must get every press.
// Duplicates are allowed: the spool's replay repeats ids; a press the home
// broker sends again (gatewayd spooled it but died before its PUBACK)
// becomes a new message with a new id. Both are counted.
func TestCrashGatewaydBinaryKill9WhileStreaming(t *testing.T) {
	need(t, "jsonmap")
	presses := 3000
	if os.Getenv("ANXIN_LONG") != "" {
		presses = 20000
	}
	// mosquitto at home too: it keeps a session's unacknowledged messages
	// across a takeover (the embedded broker does not, docs/drivers-mqtt.md)
	home := testenv.StartMosquitto(t)
	district := testenv.StartMosquitto(t)
	link := startSlowLink(t, district.Addr(), 5*time.Millisecond)

	var mu sync.Mutex
	byDev := map[string]map[string]bool{} // device -> ids
	sameID := 0
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(district.URL).SetClientID("alarmd-crash").
		SetCleanSession(false).SetAutoReconnect(true).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			msg, err := anxin.ParseMessage(m.Topic(), m.Payload())
			if err != nil || msg.Event != anxin.EventButtonPressed {
				return // the gateway status
			}
			mu.Lock()
			defer mu.Unlock()
			ids := byDev[msg.Device]
			if ids == nil {
				ids = map[string]bool{}
				byDev[msg.Device] = ids
			}
			if ids[msg.ID] {
				sameID++
			}
			ids[msg.ID] = true
		}))
	if tok := sub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(50)
	if tok := sub.Subscribe("anxin/v1/+/+/event", 1, nil); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	devices := func() int { mu.Lock(); defer mu.Unlock(); return len(byDev) }

	dir := t.TempDir()
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfgPath := filepath.Join(dir, "gatewayd.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
household: hh-0001
mqtt: {broker: %q, window: 4, reconnect: {min: 100ms, max: 300ms}}
spool: {dir: %q}
metrics: {listen: %q}
drivers:
  - driver: jsonmap
    broker: %q
    mappings:
      - topic: "sos/{device}"
        kind: call_button
        events: [{path: "$.sos", event: button_pressed}]
`, link.URL(), filepath.Join(dir, "spool"), metricsAddr, home.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() (*exec.Cmd, *syncBuffer, chan error) {
		gw := startGatewayd(t, cfgPath, true)
		return gw.cmd, gw.logs, gw.exited
	}
	poll := func(what string, within time.Duration, logs *syncBuffer, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(within)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %s waiting for %s; log:\n%s", within, what, logs.String())
			}
			time.Sleep(time.Millisecond) // polling real processes with a deadline
		}
	}
	cmd, logs, exited := start()
	poll("gatewayd connected to the district broker", 20*time.Second, logs, func() bool {
		return metricValue(metricsAddr, "anxin_uplink_connected") == 1
	})

	pub := paho.NewClient(paho.NewClientOptions().AddBroker(home.URL).SetClientID("vendor-bridge"))
	if tok := pub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(50)
	dev := func(i int) string { return fmt.Sprintf("p%05d", i) }
	// the driver subscribes after gatewayd starts: a first press, repeated
	// until it is through, makes sure the subscription is there
	var sentAt time.Time
	poll("the first press relayed", 20*time.Second, logs, func() bool {
		if time.Since(sentAt) > 200*time.Millisecond {
			pub.Publish("sos/"+dev(0), 1, false, `{"sos":true}`).WaitTimeout(time.Second)
			sentAt = time.Now()
		}
		return devices() > 0
	})
	published := make(chan error, 1)
	go func() { // the vendor's bridge keeps publishing through the crash
		var toks []paho.Token
		for i := 1; i < presses; i++ {
			toks = append(toks, pub.Publish("sos/"+dev(i), 1, false, `{"sos":true}`))
		}
		for _, tok := range toks {
			if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				published <- fmt.Errorf("home publish: %v", tok.Error())
				return
			}
		}
		published <- nil
	}()
	// kill while streaming: a good part relayed, much still to come
	var depth, relayed int
	poll("presses streaming through gatewayd, a backlog in its spool", 20*time.Second, logs, func() bool {
		relayed = devices()
		if relayed < 100 {
			return false
		}
		depth = metricValue(metricsAddr, "anxin_spool_depth_messages")
		return depth >= 100
	})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-exited
	if relayed+depth >= presses {
		t.Fatalf("all %d presses were spooled before the kill (%d relayed, %d spooled): not mid-stream", presses, relayed, depth)
	}

	link.delay.Store(0)
	cmd, logs, exited = start()
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	poll("every press at the district", 60*time.Second, logs, func() bool { return devices() == presses })
	mu.Lock()
	newID := 0
	for i := range presses {
		ids := byDev[dev(i)]
		if len(ids) == 0 {
			t.Errorf("press %s lost", dev(i))
		}
		if i > 0 { // the first press was repeated until it came through
			newID += max(len(ids)-1, 0)
		}
	}
	dupSame := sameID
	mu.Unlock()
	t.Logf("%d presses; killed with %d relayed, %d in the spool, %d not yet spooled; all arrived, %d duplicates with the same id (spool replay), %d with a new id (home broker redelivery)",
		presses, relayed, depth, presses-relayed-depth, dupSame, newID)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-exited; err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, logs.String())
	}
}
