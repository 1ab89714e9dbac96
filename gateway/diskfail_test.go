package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/mqtt"
)

// TestPressReachesBrokerWhenTheSpoolDiskFails: the disk under the spool
// fails (an SD card the kernel remounts read-only on I/O errors, or full
// with nothing the spool may drop): every put fails from then on. A press
// must still reach the district broker while the uplink is up, straight
// past the spool, and the failure be logged.
func TestPressReachesBrokerWhenTheSpoolDiskFails(t *testing.T) {
	dir := smallTmpfs(t)
	url, presses := pressBroker(t)
	conf := `
household: hh-0001
mqtt: {broker: %q, reconnect: {min: 50ms, max: 200ms}}
spool: {dir: %q, fsync: always}
drivers:
  - {driver: testsim, name: a, device: btn1, count: 3, event_every: 1}
`
	g, logs := runGateway(t, fmt.Appendf(nil, conf, url, dir))
	waitUntil(t, "3 presses through the spool", func() bool { return presses("btn1") == 3 })
	waitUntil(t, "spool drained", func() bool { st, _ := g.Stats(); return st.Depth == 0 })

	// the disk fails under the spool: filled by something else (a log, a
	// core dump) to the last byte, with nothing the spool may thin (it
	// holds events only); a card gone read-only fails every write alike
	// (a remount cannot be made here while the spool holds files open)
	fill(t, dir)
	next, err := Parse(fmt.Appendf(nil, conf+"  - {driver: testsim, name: b, device: btn2, count: 200, event_every: 1}\n", url, dir))
	if err != nil {
		t.Fatal(err)
	}
	g.Reload(next)
	waitUntil(t, "200 presses with the spool's disk full", func() bool { return presses("btn2") == 200 })
	if !strings.Contains(strings.Join(logs.lines(), "\n"), "sent straight to the broker") {
		t.Fatalf("the spool's failure was not logged:\n%s", strings.Join(logs.lines(), "\n"))
	}
}

// TestGatewaydStartsOnAReadOnlySpoolDisk: gatewayd restarts on an SD card
// the kernel has remounted read-only. The spool cannot open there; rather
// than exit (and be restarted by systemd in a loop, the home without
// alarms), gatewayd spools in memory and its presses reach the broker.
func TestGatewaydStartsOnAReadOnlySpoolDisk(t *testing.T) {
	dir := smallTmpfs(t)
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Skipf("remount read-only: %v %s", err, out)
	}
	household := fmt.Sprintf("hh-ro%d", os.Getpid())
	t.Cleanup(func() { os.RemoveAll("/dev/shm/anxin-spool-" + household) })
	url, presses := pressBroker(t)
	_, logs := runGateway(t, fmt.Appendf(nil, `
household: %s
mqtt: {broker: %q, reconnect: {min: 50ms, max: 200ms}}
spool: {dir: %q}
drivers:
  - {driver: testsim, name: a, device: btn1, count: 5, event_every: 1}
`, household, url, dir+"/spool"))
	waitUntil(t, "5 presses from a gatewayd on a read-only card", func() bool { return presses("btn1") == 5 })
	s := strings.Join(logs.lines(), "\n")
	if !strings.Contains(s, "spooling in memory instead") {
		t.Fatalf("the fallback was not logged:\n%s", s)
	}
	// the spool in memory's metrics are the ones exported (not a failed one's)
	if strings.Contains(s, "spool metric not registered") {
		t.Fatalf("the memory spool's metrics were not exported:\n%s", s)
	}
}

// smallTmpfs is a 4 MiB tmpfs mounted for the test (root only: skipped
// otherwise).
func smallTmpfs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

// pressBroker starts an embedded broker and a subscriber counting the
// events each device's messages brought (by message id: a resent one
// counts once).
func pressBroker(t *testing.T) (url string, presses func(device string) int) {
	t.Helper()
	b, err := mqtt.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	var mu sync.Mutex
	seen := map[string]map[string]bool{}
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("sub").
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			if msg, err := anxin.ParseMessage(m.Topic(), m.Payload()); err == nil && msg.IsEvent() {
				mu.Lock()
				if seen[msg.Device] == nil {
					seen[msg.Device] = map[string]bool{}
				}
				seen[msg.Device][msg.ID] = true
				mu.Unlock()
			}
		}))
	if tok := sub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(50) })
	if tok := sub.Subscribe("anxin/v1/#", 1, nil); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	return b.URL(), func(device string) int { mu.Lock(); defer mu.Unlock(); return len(seen[device]) }
}

// runGateway runs a gateway of conf until the test ends.
func runGateway(t *testing.T, conf []byte) (*Gateway, *lockedBuffer) {
	t.Helper()
	cfg, err := Parse(conf)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	g, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return g, logs
}

// fill writes dir's file system full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(dir + "/filler")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zero := make([]byte, 64<<10)
	for {
		if _, err := f.Write(zero); err != nil {
			break
		}
	}
	for n := len(zero) / 2; n > 0; n /= 2 { // the last blocks too
		for {
			if _, err := f.Write(zero[:n]); err != nil {
				break
			}
		}
	}
}
