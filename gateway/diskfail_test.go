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
	b, err := mqtt.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var mu sync.Mutex
	presses := map[string]bool{}
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("sub").
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			if msg, err := anxin.ParseMessage(m.Topic(), m.Payload()); err == nil && msg.IsEvent() {
				mu.Lock()
				presses[msg.Device+"/"+msg.ID] = true
				mu.Unlock()
			}
		}))
	if tok := sub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(50)
	if tok := sub.Subscribe("anxin/v1/#", 1, nil); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	count := func(dev string) (n int) {
		mu.Lock()
		defer mu.Unlock()
		for k := range presses {
			if strings.HasPrefix(k, dev+"/") {
				n++
			}
		}
		return n
	}
	conf := `
household: hh-0001
mqtt: {broker: %q, reconnect: {min: 50ms, max: 200ms}}
spool: {dir: %q, fsync: always}
drivers:
  - {driver: testsim, name: a, device: btn1, count: 3, event_every: 1}
`
	cfg, err := Parse(fmt.Appendf(nil, conf, b.URL(), dir))
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	g, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, "3 presses through the spool", func() bool { return count("btn1") == 3 })
	waitUntil(t, "spool drained", func() bool { st, _ := g.Stats(); return st.Depth == 0 })

	// the disk fails under the spool: filled by something else (a log, a
	// core dump) to the last byte, with nothing the spool may thin (it
	// holds events only); a card gone read-only fails every write alike
	// (a remount cannot be made here while the spool holds files open)
	fill(t, dir)
	next, err := Parse(fmt.Appendf(nil, conf+"  - {driver: testsim, name: b, device: btn2, count: 200, event_every: 1}\n", b.URL(), dir))
	if err != nil {
		t.Fatal(err)
	}
	g.Reload(next)
	waitUntil(t, "200 presses with the spool's disk full", func() bool { return count("btn2") == 200 })
	if !strings.Contains(strings.Join(logs.lines(), "\n"), "sent straight to the broker") {
		t.Fatalf("the spool's failure was not logged:\n%s", strings.Join(logs.lines(), "\n"))
	}
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

// TestGatewaydStartsOnAReadOnlySpoolDisk: gatewayd restarts on an SD card
// the kernel has remounted read-only. The spool cannot open there; rather
// than exit (and be restarted by systemd in a loop, the home without
// alarms), gatewayd spools in memory and its presses reach the broker.
func TestGatewaydStartsOnAReadOnlySpoolDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs and remount it read-only")
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
	if out, err := exec.Command("mount", "-o", "remount,ro", dir).CombinedOutput(); err != nil {
		t.Skipf("remount read-only: %v %s", err, out)
	}
	household := fmt.Sprintf("hh-ro%d", os.Getpid())
	t.Cleanup(func() { os.RemoveAll("/dev/shm/anxin-spool-" + household) })
	b, err := mqtt.StartBroker("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var mu sync.Mutex
	got := 0
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("sub").
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			if msg, err := anxin.ParseMessage(m.Topic(), m.Payload()); err == nil && msg.IsEvent() {
				mu.Lock()
				got++
				mu.Unlock()
			}
		}))
	if tok := sub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(50)
	if tok := sub.Subscribe("anxin/v1/#", 1, nil); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	cfg, err := Parse(fmt.Appendf(nil, `
household: %s
mqtt: {broker: %q, reconnect: {min: 50ms, max: 200ms}}
spool: {dir: %q}
drivers:
  - {driver: testsim, name: a, device: btn1, count: 5, event_every: 1}
`, household, b.URL(), dir+"/spool"))
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	g, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitUntil(t, "5 presses from a gatewayd on a read-only card", func() bool { mu.Lock(); defer mu.Unlock(); return got == 5 })
	if !strings.Contains(strings.Join(logs.lines(), "\n"), "spooling in memory instead") {
		t.Fatalf("the fallback was not logged:\n%s", strings.Join(logs.lines(), "\n"))
	}
	// the spool in memory's metrics are the ones exported (not a failed one's)
	if s := strings.Join(logs.lines(), "\n"); strings.Contains(s, "spool metric not registered") {
		t.Fatalf("the memory spool's metrics were not exported:\n%s", s)
	}
}
