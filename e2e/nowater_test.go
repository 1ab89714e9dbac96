package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/alarmd"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
)

// clock is alarmd's injected clock, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func counterValue(t testing.TB, reg metrics.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.Name == name {
			for _, m := range mf.Metrics {
				sum += m.Value
			}
		}
	}
	return sum
}

// TestE2ENoWaterFakeClock: alarmd in process on an injected clock, a real
// mosquitto, the fake Twilio. A high-risk elder's water meter reports every
// 30 minutes (of the clock) without a rise; the no-water alarm (12 h for
// tier high, from the built-in rules) must not come at 11 h 59 and must come
// at 12 h, and the chain rings the elder first (a warning alarm).
func TestE2ENoWaterFakeClock(t *testing.T) {
	broker := testenv.StartMosquitto(t)
	tw := startFakeTwilio(t)
	dir := t.TempDir()
	hs := households(2)
	writeFile(t, filepath.Join(dir, "households.yaml"), householdsYAML(hs[:1], "high")+
		householdsYAML(hs[1:], "general")[len("households:\n"):])
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg, err := alarmd.Parse([]byte(alarmdYAML(dir, broker.URL, httpAddr, tw.URL, time.Minute, "")), nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 20, 6, 40, 0, 0, time.UTC)
	clk := &clock{t: t0}
	reg := metrics.NewRegistry()
	m := &alarmd.Main{Config: cfg, Now: clk.Now, Metrics: reg, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}()

	pub := paho.NewClient(paho.NewClientOptions().AddBroker(broker.URL).SetClientID("meter-feed"))
	if tok := pub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pub.Disconnect(0)
	sent := 0.0
	// reading publishes what the gateway would for both households' meters at
	// the clock's time, and waits until alarmd has taken both in
	reading := func(at time.Time) {
		t.Helper()
		clk.Set(at)
		for _, h := range hs {
			msg := anxin.Message{ID: anxin.NewID(at), TS: at, Household: h.ID, Device: "wm1", Kind: anxin.KindWaterMeter,
				Fields: anxin.Fields{"total_m3": anxin.Num(1000.125), "battery_low": anxin.Bool(false)}}
			b, err := json.Marshal(&msg)
			if err != nil {
				t.Fatal(err)
			}
			if tok := pub.Publish(msg.Topic(), 1, false, b); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
		}
		sent += float64(len(hs))
		testenv.Eventually(t, fmt.Sprintf("alarmd to ingest the readings of %s", at.Sub(t0)), 10*time.Second, func() bool {
			return counterValue(t, reg, "anxin_ingest_received_total") >= sent
		})
	}
	alarms := func() []anxin.Alarm {
		as, err := m.Store.Alarms(context.Background(), sqlite.AlarmFilter{})
		if err != nil {
			t.Fatal(err)
		}
		return as
	}

	for k := 0; k <= 23; k++ { // every 30 min up to 11 h 30
		reading(t0.Add(time.Duration(k) * 30 * time.Minute))
	}
	// 11 h 59: still nothing, and nobody was called. One tick period of real
	// time (the pipeline checks timers at least every second) is waited out.
	clk.Set(t0.Add(12*time.Hour - time.Minute))
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if as := alarms(); len(as) != 0 {
			t.Fatalf("alarm before 12 h without water: %+v", as)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ev := tw.Events(); len(ev) != 0 {
		t.Fatalf("Twilio was asked %d time(s) before any alarm", len(ev))
	}

	clk.Set(t0.Add(12*time.Hour + 30*time.Second))
	testenv.Eventually(t, "the no-water alarm at 12 h", 10*time.Second, func() bool { return len(alarms()) == 1 })
	a := alarms()[0]
	if a.Household != hs[0].ID || a.Rule != "no_water" || a.Severity != anxin.SeverityWarning {
		t.Fatalf("alarm: %+v", a)
	}
	if d := a.OpenedAt.Sub(t0); d < 12*time.Hour || d > 12*time.Hour+30*time.Second {
		t.Fatalf("alarm opened %s after the last use, want 12 h", d)
	}
	// the general-tier household (24 h) is not due yet
	for _, x := range alarms() {
		if x.Household == hs[1].ID {
			t.Fatalf("the general-tier household alarmed at 12 h: %+v", x)
		}
	}
	// a warning alarm rings the elder first
	testenv.Eventually(t, "the elder to be called first", 10*time.Second, func() bool {
		return len(tw.events("call", hs[0].Elder)) == 1
	})
	for _, c := range hs[0].Contacts {
		if n := len(tw.events("call", c)) + len(tw.events("sms", c)); n != 0 {
			t.Fatalf("contact %s notified before the elder's step is over", anxin.MaskPhone(c))
		}
	}
}
