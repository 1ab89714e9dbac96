package alarmd

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
)

// recordingEscalator remembers what alarmd handed to escalation.
type recordingEscalator struct {
	mu        sync.Mutex
	escalated []anxin.Alarm
	resolved  []string
}

func (e *recordingEscalator) Escalate(_ context.Context, a anxin.Alarm) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.escalated = append(e.escalated, a)
	return nil
}

func (e *recordingEscalator) Resolve(_ context.Context, id, _ string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.resolved = append(e.resolved, id)
	return nil
}

func (e *recordingEscalator) Escalated() []anxin.Alarm {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]anxin.Alarm(nil), e.escalated...)
}

// fakeClock is alarmd's injected clock in tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func publisher(t *testing.T, url string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(fmt.Sprintf("pub-%d", time.Now().UnixNano())))
	if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

func publish(t *testing.T, c paho.Client, topic string, payload []byte) {
	t.Helper()
	if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
}

func publishMsg(t *testing.T, c paho.Client, m anxin.Message) {
	t.Helper()
	b, err := json.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, c, m.Topic(), b)
}

// waitFor is testenv.Eventually (the daemon works on real peers).
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, what, within, cond)
}

func alarms(t *testing.T, m *Main, f sqlite.AlarmFilter) []anxin.Alarm {
	t.Helper()
	as, err := m.Store.Alarms(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func counter(t *testing.T, reg *metrics.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.Name != name {
			continue
		}
		for _, m := range mf.Metrics {
			if label != "" {
				ok := false
				for _, l := range m.Labels {
					ok = ok || l.Value == label
				}
				if !ok {
					continue
				}
			}
			sum += m.Value
		}
	}
	return sum
}

var _ = metrics.ToFloat64

func button(hh string, ts time.Time) anxin.Message {
	return anxin.Message{ID: anxin.NewID(ts), TS: ts, Household: hh, Device: "btn1", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed}
}

// ingestContract runs the contract checks against one broker.
func ingestContract(t *testing.T, brokerURL string) {
	cfg := testConfig(t)
	cfg.MQTT.Broker = anxin.MustBrokerURL(brokerURL)
	cfg.MQTT.ClientID = "alarmd-test"
	esc := &recordingEscalator{}
	reg := metrics.NewRegistry()
	m := &Main{Config: cfg, Escalator: esc, Metrics: reg}
	startMain(t, m)
	code, body := get(t, "http://"+m.HTTPAddr()+"/healthz")
	if code != 200 {
		t.Fatalf("/healthz %d %s", code, body)
	}
	pub := publisher(t, m.BrokerURL().Dial())

	// an event raises an alarm, stored and handed to escalation
	msg := button("hh-0001", time.Now().UTC().Truncate(time.Millisecond))
	publishMsg(t, pub, msg)
	waitFor(t, "the button alarm", 10*time.Second, func() bool { return len(esc.Escalated()) == 1 })
	a := esc.Escalated()[0]
	if a.Household != "hh-0001" || a.Rule != "button" || a.State != anxin.AlarmOpen || a.MessageID != msg.ID ||
		a.Route != anxin.RouteFamily || a.Severity != anxin.SeverityCritical {
		t.Fatalf("alarm: %+v", a)
	}
	stored, err := m.Store.Alarm(context.Background(), a.ID)
	if err != nil || stored.State != anxin.AlarmOpen {
		t.Fatalf("stored alarm: %+v %v", stored, err)
	}

	// the same message again (a redelivery): no second effect
	publishMsg(t, pub, msg)
	waitFor(t, "the duplicate to be counted", 10*time.Second, func() bool {
		return counter(t, reg, "anxin_ingest_duplicates_total", "") == 1
	})
	// bad payloads are counted by reason, never a crash
	publish(t, pub, "anxin/v1/hh-0001/btn1/event", []byte(`{"id":"x","kind":"toaster"}`))
	publish(t, pub, "anxin/v1/hh-0001/btn1/event", []byte(`not json`))
	publish(t, pub, "anxin/v1/hh-0002/btn1/event", mustJSON(t, button("hh-0001", time.Now()))) // topic ≠ payload
	publish(t, pub, "anxin/v1/hh-0001/gateway/status", []byte(`{"state":"sleeping"}`))
	publish(t, pub, "anxin/v1/hh-0001/btn1/event", []byte(strings.Repeat(" ", anxin.MaxPayload+1)))
	// valid gateway statuses (and a cleared retained one) are not rejected; offline
	// since 08:00 is long enough for the installers' gateway_offline alarm, which
	// "online" resolves and which never reaches the family's chain
	publish(t, pub, "anxin/v1/hh-0001/gateway/status", []byte(`{"state":"offline","ts":"2026-11-23T08:00:00Z"}`))
	publish(t, pub, "anxin/v1/hh-0001/gateway/status", []byte(`{"state":"online","ts":"2026-11-23T08:00:01Z"}`))
	publish(t, pub, "anxin/v1/hh-0001/gateway/status", nil)
	waitFor(t, "rejections to be counted", 10*time.Second, func() bool {
		return counter(t, reg, "anxin_ingest_rejected_total", "") == 5 && counter(t, reg, "anxin_ingest_received_total", "") == 10
	})
	for reason, want := range map[string]float64{"contract": 2, "topic": 1, "status": 1, "too_large": 1} {
		if got := counter(t, reg, "anxin_ingest_rejected_total", reason); got != want {
			t.Errorf("rejected{reason=%s} = %v, want %v", reason, got, want)
		}
	}
	// a second press while the first alarm is open attaches to it
	publishMsg(t, pub, button("hh-0001", time.Now()))
	waitFor(t, "the repeat", 10*time.Second, func() bool {
		as := alarms(t, m, sqlite.AlarmFilter{Household: "hh-0001"})
		for _, a := range as {
			if a.Rule == "button" {
				return a.Repeats == 1
			}
		}
		return false
	})
	if n := len(esc.Escalated()); n != 1 {
		t.Fatalf("%d escalations, want 1 (repeats attach; installer alarms are not escalated)", n)
	}
	gw := alarms(t, m, sqlite.AlarmFilter{Household: "hh-0001"})
	found := false
	for _, a := range gw {
		if a.Rule == "gateway_offline" {
			found = a.Route == anxin.RouteInstaller && a.State == anxin.AlarmResolved
		}
	}
	if !found {
		t.Fatalf("no resolved installer gateway_offline alarm: %+v", gw)
	}
	// a device's own status on the same filter (added 2026-12-02): offline
	// since 08:00 raises the installers' device_offline at the next timer
	// check, online resolves it; a cleared retained one is ignored
	publish(t, pub, "anxin/v1/hh-0001/btn1/status", []byte(`{"state":"offline","ts":"2026-11-23T08:00:00Z"}`)) // older than its presses: stale
	publish(t, pub, "anxin/v1/hh-0001/btn9/status", []byte(`{"state":"offline","ts":"2026-11-23T08:00:00Z"}`))
	publish(t, pub, "anxin/v1/hh-0001/btn2/status", nil)
	waitFor(t, "the device_offline alarm", 10*time.Second, func() bool {
		for _, a := range alarms(t, m, sqlite.AlarmFilter{Household: "hh-0001"}) {
			if a.Rule == "device_offline" {
				return a.Route == anxin.RouteInstaller && a.Device == "btn9"
			}
		}
		return false
	})
	publish(t, pub, "anxin/v1/hh-0001/btn9/status", []byte(fmt.Sprintf(`{"state":"online","ts":%q}`, time.Now().UTC().Format(time.RFC3339Nano))))
	waitFor(t, "online to resolve device_offline", 10*time.Second, func() bool {
		for _, a := range alarms(t, m, sqlite.AlarmFilter{Household: "hh-0001"}) {
			if a.Rule == "device_offline" {
				return a.State == anxin.AlarmResolved
			}
		}
		return false
	})
	if r := counter(t, reg, "anxin_ingest_rejected_total", ""); r != 5 {
		t.Errorf("rejected %v after the device statuses, want still 5", r)
	}
	// smoke, then smoke_clear: opened, then resolved and the chain stopped
	now := time.Now()
	publishMsg(t, pub, anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-0002", Device: "sd1", Kind: anxin.KindSmokeDetector, Event: anxin.EventSmoke})
	waitFor(t, "the smoke alarm", 10*time.Second, func() bool { return len(esc.Escalated()) == 2 })
	publishMsg(t, pub, anxin.Message{ID: anxin.NewID(now), TS: now.Add(time.Second), Household: "hh-0002", Device: "sd1", Kind: anxin.KindSmokeDetector, Event: anxin.EventSmokeClear})
	waitFor(t, "smoke_clear to resolve it", 10*time.Second, func() bool {
		as := alarms(t, m, sqlite.AlarmFilter{Household: "hh-0002"})
		return len(as) == 1 && as[0].State == anxin.AlarmResolved
	})
	waitFor(t, "the chain to be stopped", 10*time.Second, func() bool {
		esc.mu.Lock()
		defer esc.mu.Unlock()
		return len(esc.resolved) == 1 && esc.resolved[0] == esc.escalated[1].ID
	})
	if code, body := get(t, "http://"+m.HTTPAddr()+"/metrics"); code != 200 || !strings.Contains(body, "anxin_ingest_rejected_total") {
		t.Fatalf("/metrics %d", code)
	}
}

func mustJSON(t *testing.T, m anxin.Message) []byte {
	t.Helper()
	b, err := json.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIntegrationIngestEmbeddedBroker(t *testing.T) { ingestContract(t, "") }

func TestIntegrationIngestMosquitto(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	ingestContract(t, mq.URL)
}

// TestIntegrationIngestPersistentSession: messages published while alarmd
// is stopped are delivered when it starts again.
func TestIntegrationIngestPersistentSession(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	cfg := testConfig(t)
	cfg.MQTT.Broker = anxin.MustBrokerURL(mq.URL)
	esc := &recordingEscalator{}
	m := &Main{Config: cfg, Escalator: esc, Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	if err := m.Open(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	// alarmd is down: a button press and a fall are queued in its session
	pub := publisher(t, mq.URL)
	publishMsg(t, pub, button("hh-0001", time.Now()))
	now := time.Now()
	publishMsg(t, pub, anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-0002", Device: "acc1", Kind: anxin.KindTracker, Event: anxin.EventFall})
	// and the broker restarts meanwhile (persistence on)
	mq.Restart()

	m2 := &Main{Config: cfg, Escalator: esc}
	startMain(t, m2)
	waitFor(t, "both queued alarms", 15*time.Second, func() bool { return len(esc.Escalated()) == 2 })
	rulesSeen := map[string]bool{}
	for _, a := range esc.Escalated() {
		rulesSeen[a.Rule] = true
	}
	if !rulesSeen["button"] || !rulesSeen["fall"] {
		t.Fatalf("escalated %v", esc.Escalated())
	}
}
