package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
)

type syncBuffer = testenv.SyncBuffer

// waitOutput waits (testenv.Eventually) for the demo's output (a real run on
// real sockets and ptys) to match re, and returns the first submatch (or the
// match).
func waitOutput(t *testing.T, out *syncBuffer, re *regexp.Regexp, within time.Duration) string {
	t.Helper()
	var m []string
	defer func() {
		if m == nil { // Eventually failed the test: show what the demo said
			t.Logf("the demo's output:\n%s", out.String())
		}
	}()
	testenv.Eventually(t, fmt.Sprintf("%q in the demo's output", re), within, func() bool {
		m = re.FindStringSubmatch(out.String())
		return m != nil
	})
	return m[len(m)-1]
}

var (
	ackLink  = regexp.MustCompile(`ack_url=(http://127\.0\.0\.1:\d+/ack/[A-Za-z0-9_.-]+)`)
	httpBase = regexp.MustCompile(`alarmd HTTP  (http://127\.0\.0\.1:\d+)`)
	broker   = regexp.MustCompile(`MQTT broker  (tcp://127\.0\.0\.1:\d+)`)
)

// devicesSeen subscribes to the demo's broker and records which devices
// published contract messages.
func devicesSeen(t *testing.T, url string) func() map[string]int {
	t.Helper()
	var mu sync.Mutex
	seen := map[string]int{}
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("demo-test-watch").
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			if msg, err := anxin.ParseMessage(m.Topic(), m.Payload()); err == nil {
				mu.Lock()
				seen[msg.Device]++
				mu.Unlock()
			}
		}))
	if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to the demo's broker: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	if tok := c.Subscribe("anxin/v1/+/+/+", 1, nil); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(seen)
	}
}

// TestDemoButtonToVisit runs the demo as `make demo` does (in process, short
// timings): the simulated 433 MHz button is pressed through its pty, the log
// shows the alarm, the first SMS and its ack link; POSTing the link accepts
// the alarm, a visit record is written, and once its context ends (as at
// -exit-after or Ctrl-C) the demo stops cleanly with everything persisted.
//
// The test ends the run itself when its checks are done: a fixed
// -exit-after would stop the demo in the middle of them on a loaded machine.
// The ack timeout is long for the same reason: the chain stays at its first
// step until the test accepts.
func TestDemoButtonToVisit(t *testing.T) {
	data := t.TempDir()
	out := &syncBuffer{}
	code := make(chan int, 1)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		code <- run(ctx, []string{"-http", "127.0.0.1:0", "-mqtt", "127.0.0.1:0", "-data", data,
			"-press-after", "1s", "-ack-timeout", "10m", "-fix-every", "200ms", "-poll-every", "500ms"}, out)
	}()

	base := waitOutput(t, out, httpBase, 60*time.Second)
	seen := devicesSeen(t, waitOutput(t, out, broker, 30*time.Second))
	link := waitOutput(t, out, ackLink, 60*time.Second)
	// the step's SMS (with the link) is sent, and logged, before its call:
	// wait for the call too before reading the log
	waitOutput(t, out, regexp.MustCompile(`/s0/voice channel=voice`), 60*time.Second)
	log := out.String()
	for _, want := range []string{
		`msg="433 MHz press"`, `msg="alarm opened"`, `rule=button`, `msg="chain started"`,
		`attempt=`, `/s0/sms channel=sms`, `/s0/voice channel=voice`, "ALARM: the call button was pressed",
		"curl -X POST " + link,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the demo's log lacks %q", want)
		}
	}
	if !strings.HasPrefix(link, base+"/ack/") {
		t.Fatalf("ack link %s is not under alarmd's address %s", link, base)
	}
	for _, secret := range []string{"+8613900000001", "+8613800000000", "张桂兰", "李明"} {
		if strings.Contains(log, secret) {
			t.Errorf("the log shows personal data %q unmasked", secret)
		}
	}

	// the meter (polled over CJ/T 188) and the tracker (NMEA) reach the broker too
	testenv.Eventually(t, "wm1 and trk1 readings on the broker", 30*time.Second, func() bool {
		s := seen()
		return s["wm1"] > 0 && s["trk1"] > 0
	})

	// what a person does with the link: look, then accept
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `<form method="post">`) {
		t.Fatalf("GET ack link: %d %s", resp.StatusCode, page)
	}
	resp, err = http.Post(link, "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "已确认") {
		t.Fatalf("POST ack link: %d %s", resp.StatusCode, page)
	}
	waitOutput(t, out, regexp.MustCompile(`ACCEPTED by`), 30*time.Second)
	visit := waitOutput(t, out, regexp.MustCompile(`msg="outcome recorded".* visit=([0-9A-Z]+)`), 30*time.Second)

	// the community worker's view: the records API with the demo token
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/visits?household="+Household, nil)
	req.Header.Set("Authorization", "Bearer "+DemoToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Visits []anxin.Visit `json:"visits"`
	}
	err = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/visits: %d %v", resp.StatusCode, err)
	}
	if len(list.Visits) != 1 || list.Visits[0].ID != visit || list.Visits[0].Method != anxin.VisitRemoteMonitoring ||
		list.Visits[0].AlarmID == "" || list.Visits[0].FollowUpDue.IsZero() {
		t.Fatalf("visits of %s: %+v, want the outcome visit %s with a follow-up", Household, list.Visits, visit)
	}

	stop()
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit code %d:\n%s", c, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the demo did not stop when its context ended")
	}
	if !strings.Contains(out.String(), "demo: stopped cleanly") {
		t.Fatalf("no clean stop:\n%s", out.String())
	}

	// everything was committed and the store closed: read it back
	db, err := sqlite.Open(context.Background(), filepath.Join(data, "alarmd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	as, err := db.Alarms(context.Background(), sqlite.AlarmFilter{Household: Household})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Rule != "button" || as[0].State != anxin.AlarmAccepted || as[0].ID != list.Visits[0].AlarmID {
		t.Fatalf("alarms after the run: %+v", as)
	}
}

// TestDemoStopsOnInterrupt runs the real binary and presses Ctrl-C: it must
// exit 0 with its ptys closed and the store closed.
func TestDemoStopsOnInterrupt(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "anxin-demo")
	if b, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	out := &syncBuffer{}
	cmd := exec.Command(bin, "-http", "127.0.0.1:0", "-mqtt", "127.0.0.1:0", "-press-after", "1h", "-poll-every", "200ms")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	// running: every pty is open and the gateway is connected to the embedded broker
	waitOutput(t, out, regexp.MustCompile(`msg="serial port open".*driver=rf433`), 60*time.Second)
	waitOutput(t, out, regexp.MustCompile(`uplink: connected`), 60*time.Second)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("no exit 60 s after SIGINT:\n%s", out.String())
	}
	for _, want := range []string{"gatewayd stopped", "demo: stopped cleanly"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q after SIGINT:\n%s", want, out.String())
		}
	}
}

// TestPickAddrFallsBack: a taken -mqtt/-http address moves to a free port on
// the same host (and says so); a free one and port 0 are kept.
func TestPickAddrFallsBack(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().String()
	addr, moved, err := pickAddr(taken)
	if err != nil || !moved || addr == taken || !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("pickAddr(%s taken) = %s, %v, %v; want another port on 127.0.0.1, moved", taken, addr, moved, err)
	}
	if _, moved, err := pickAddr("127.0.0.1:0"); err != nil || moved {
		t.Fatalf("pickAddr(port 0): moved %v, err %v", moved, err)
	}
	if _, _, err := pickAddr("no-port"); err == nil {
		t.Fatal("pickAddr accepted an address without a port")
	}
}
