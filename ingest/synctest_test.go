package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/rules"
	"github.com/anxin-care/anxin/sqlite"
)

// timelineRules: the built-in rules plus a geofence and a device-offline
// rule, so every rule kind runs through the pipeline's own timers.
const timelineRules = `
timezone: Asia/Shanghai
rules:
  - {name: button, kind: event, severity: critical, events: [button_pressed]}
  - {name: smoke, kind: event, severity: critical, events: [smoke]}
  - {name: no_water_24h, kind: no_use, severity: warning, device_kinds: [water_meter], field: total_m3,
     min_delta: 0.01, for: 24h, fresh_within: 2x, silent_after: 25h, silent_rule: device_silent}
  - {name: water_running_2h, kind: continuous, severity: warning, device_kinds: [water_meter],
     field: flow_lpm, above: 0.5, for: 2h, max_gap: 90m}
  - {name: battery_low, kind: threshold, severity: info, route: installer, field: battery_pct,
     below: 15, clear_above: 25}
  - {name: gateway_offline, kind: offline, severity: info, route: installer, target: gateway, for: 30m}
  - {name: wander, kind: geofence, severity: warning, center: {lat: 31.2304, lon: 121.4737},
     radius_m: 300, for: 15m}
`

// clockEscalator notes the (virtual) time each family alarm reached
// escalation and each device-cleared alarm was resolved.
type clockEscalator struct {
	mu       sync.Mutex
	opened   map[string]time.Time // household/rule → when
	resolved map[string]time.Time // alarm id → when
}

func (e *clockEscalator) Escalate(_ context.Context, a anxin.Alarm) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.opened[a.Household+"/"+a.Rule] = time.Now()
	return nil
}

func (e *clockEscalator) Resolve(_ context.Context, id, _ string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.resolved[id] = time.Now()
	return nil
}

func (e *clockEscalator) openedAt(key string) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.opened[key]
	return t, ok
}

// TestTimelinesUnderSynctest runs the pipeline's real batch loop, its
// timers and SQLite under testing/synctest for every rule kind: messages
// go in at virtual times and each alarm must come out at the virtual time
// its rule says, from the loop's own timer (nobody calls Tick by hand).
func TestTimelinesUnderSynctest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg, err := rules.Parse([]byte(timelineRules))
		if err != nil {
			t.Fatal(err)
		}
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		esc := &clockEscalator{opened: map[string]time.Time{}, resolved: map[string]time.Time{}}
		p, err := New(Config{TickEvery: time.Minute}, Deps{Engine: rules.New(cfg), Store: db, Escalator: esc})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- p.Run(ctx) }()
		t0 := time.Now()

		send := func(m anxin.Message) {
			t.Helper()
			now := time.Now()
			m.ID, m.TS = anxin.NewID(now), now
			b, err := json.Marshal(&m)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Deliver(ctx, Delivery{Topic: m.Topic(), Payload: b}); err != nil {
				t.Fatal(err)
			}
		}
		status := func(hh, state string) {
			b, _ := json.Marshal(anxin.GatewayStatus{State: state, TS: time.Now()})
			if err := p.Deliver(ctx, Delivery{Topic: "anxin/v1/" + hh + "/gateway/status", Payload: b}); err != nil {
				t.Fatal(err)
			}
		}
		meter := func(hh string, total, flow float64) anxin.Message {
			return anxin.Message{Household: hh, Device: "wm1", Kind: anxin.KindWaterMeter,
				Fields: anxin.Fields{"total_m3": anxin.Num(total), "flow_lpm": anxin.Num(flow)}}
		}

		// t=0: a press, smoke, a low battery, the gateway of hh-gw goes offline
		send(anxin.Message{Household: "hh-btn", Device: "btn1", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed})
		send(anxin.Message{Household: "hh-smoke", Device: "sd1", Kind: anxin.KindSmokeDetector, Event: anxin.EventSmoke})
		send(anxin.Message{Household: "hh-batt", Device: "btn1", Kind: anxin.KindCallButton,
			Fields: anxin.Fields{"battery_pct": anxin.Num(10)}})
		status("hh-gw", "offline")

		// then for 30 h, every 10 minutes: hh-dry's meter stands still, hh-tap's
		// runs at 3 l/min, hh-walk's tracker is 2 km from home; smoke clears at
		// 20 min, the battery is changed at 1 h
		for i := 0; i < 180; i++ {
			min := i * 10
			send(meter("hh-dry", 100, 0))
			if min <= 4*60 {
				send(meter("hh-tap", 100+float64(min)*0.003, 3))
			}
			if min <= 60 {
				send(anxin.Message{Household: "hh-walk", Device: "gps1", Kind: anxin.KindTracker,
					Fields: anxin.Fields{"lat": anxin.Num(31.2484), "lon": anxin.Num(121.4737)}})
			}
			if min == 20 {
				send(anxin.Message{Household: "hh-smoke", Device: "sd1", Kind: anxin.KindSmokeDetector, Event: anxin.EventSmokeClear})
			}
			if min == 60 {
				send(anxin.Message{Household: "hh-batt", Device: "btn1", Kind: anxin.KindCallButton,
					Fields: anxin.Fields{"battery_pct": anxin.Num(90)}})
			}
			time.Sleep(10 * time.Minute)
		}
		synctest.Wait()

		within := func(key string, want time.Duration) {
			t.Helper()
			at, ok := esc.openedAt(key)
			if !ok {
				t.Errorf("%s: no alarm", key)
				return
			}
			if got := at.Sub(t0); got < want || got > want+time.Second {
				t.Errorf("%s: alarm at t+%s, want t+%s", key, got, want)
			}
		}
		within("hh-btn/button", 0)
		within("hh-smoke/smoke", 0)
		within("hh-tap/water_running_2h", 2*time.Hour)
		within("hh-walk/wander", 15*time.Minute)
		within("hh-dry/no_water_24h", 24*time.Hour)

		all, err := db.Alarms(context.Background(), sqlite.AlarmFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		byKey := map[string]anxin.Alarm{}
		for _, a := range all {
			byKey[a.Household+"/"+a.Rule] = a
		}
		if a := byKey["hh-smoke/smoke"]; a.State != anxin.AlarmResolved || a.ClosedAt.Sub(t0) != 20*time.Minute {
			t.Errorf("smoke: %s closed at t+%s, want resolved at t+20m", a.State, a.ClosedAt.Sub(t0))
		} else if _, ok := esc.resolved[a.ID]; !ok {
			t.Error("smoke_clear did not stop the smoke alarm's chain")
		}
		// installer alarms are stored, not escalated
		if a := byKey["hh-batt/battery_low"]; a.Route != anxin.RouteInstaller || a.OpenedAt.Sub(t0) != 0 ||
			a.State != anxin.AlarmResolved || a.ClosedAt.Sub(t0) != time.Hour {
			t.Errorf("battery: %+v", a)
		}
		if a := byKey["hh-gw/gateway_offline"]; a.Route != anxin.RouteInstaller || a.OpenedAt.Sub(t0) != 30*time.Minute {
			t.Errorf("gateway offline: opened t+%s, want t+30m (%+v)", a.OpenedAt.Sub(t0), a)
		}
		if _, ok := esc.openedAt("hh-batt/battery_low"); ok {
			t.Error("an installer alarm was handed to the family chain")
		}
		// a meter that keeps reporting is not silent; a button is not a meter
		for _, k := range []string{"hh-dry/device_silent", "hh-btn/no_water_24h"} {
			if _, ok := byKey[k]; ok {
				t.Errorf("unexpected alarm %s", k)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// syncPipeline is a pipeline on a fresh SQLite store with the default
// rules, for a test inside synctest.Test.
func syncPipeline(t *testing.T, cfg Config) *Pipeline {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	p, err := New(cfg, Deps{Engine: rules.New(rules.Default()), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBatchClosesWhenTheFlowPauses: a broker that holds back what is
// beyond its in-flight window until this batch is acknowledged sends
// nothing more, so a batch closes once nothing came for idleGap rather
// than waiting out batch_wait (here an hour of virtual time). Before
// 2026-12-06 the acks came at batch_wait.
func TestBatchClosesWhenTheFlowPauses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := syncPipeline(t, Config{BatchWait: time.Hour, TickEvery: time.Hour})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- p.Run(ctx) }()
		start := time.Now()
		var mu sync.Mutex
		var acks []time.Duration
		for i := range 5 {
			m := anxin.Message{ID: anxin.NewID(start), TS: start, Household: "hh-1", Device: "wm1", Kind: anxin.KindWaterMeter,
				Fields: anxin.Fields{"total_m3": anxin.Num(float64(i))}}
			b, _ := json.Marshal(m)
			d := Delivery{Topic: m.Topic(), Payload: b, Received: start, Ack: func() {
				mu.Lock()
				acks = append(acks, time.Since(start))
				mu.Unlock()
			}}
			if err := p.Deliver(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second)
		synctest.Wait()
		mu.Lock()
		got := append([]time.Duration(nil), acks...)
		mu.Unlock()
		if len(got) != 5 {
			t.Fatalf("%d of 5 readings acknowledged a (virtual) second later; batch_wait is an hour", len(got))
		}
		for _, d := range got {
			if d > 2*idleGap {
				t.Fatalf("acknowledged %s after delivery, want within %s (the flow paused)", d, 2*idleGap)
			}
		}
		cancel()
		<-done
	})
}

// TestQuietStatesAllWritten: the rule state of households that only sent
// quiet readings is written once StateFlush has passed, stateChunk rows per
// batch, until every one is written, with no event or decision to carry it.
func TestQuietStatesAllWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := syncPipeline(t, Config{StateFlush: time.Minute, TickEvery: time.Hour})
		db := p.store
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- p.Run(ctx) }()
		send := func(hh string, v float64) { sendWater(t, ctx, p, hh, v) }
		const households = 3*stateChunk + 10
		for i := range households {
			send(fmt.Sprintf("hh-%04d", i), 1)
		}
		time.Sleep(2 * time.Minute) // past StateFlush
		synctest.Wait()
		for i := range 6 { // batches of one reading each, a second apart
			send("hh-0000", float64(2+i))
			time.Sleep(time.Second)
			synctest.Wait()
		}
		n := 0
		if err := db.RuleStates(context.Background(), func(string, []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != households {
			t.Fatalf("%d of %d households' rule state written after StateFlush and 6 batches", n, households)
		}
		cancel()
		<-done
	})
}

// TestBatchClosesAtTheSourcesLastDelivery: a delivery marked Last (the
// MQTT client parsed all that one socket read brought) closes the batch at
// once: no idleGap wait, so the acknowledgements (and the broker's next
// messages) are not held back by a timer. Virtual time: no wall clock.
func TestBatchClosesAtTheSourcesLastDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := syncPipeline(t, Config{BatchWait: time.Hour, TickEvery: time.Hour})
		flushes := 0
		p.FlushAcksWith(func() { flushes++ })
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		var acks []time.Duration
		for i := range 5 {
			m := anxin.Message{ID: anxin.NewID(start), TS: start, Household: "hh-1", Device: "wm1", Kind: anxin.KindWaterMeter,
				Fields: anxin.Fields{"total_m3": anxin.Num(float64(i))}}
			b, _ := json.Marshal(m)
			d := Delivery{Topic: m.Topic(), Payload: b, Received: start, Last: i == 4,
				Ack: func() { acks = append(acks, time.Since(start)) }}
			if err := p.Deliver(ctx, d); err != nil { // queued before the loop runs
				t.Fatal(err)
			}
		}
		done := make(chan error)
		go func() { done <- p.Run(ctx) }()
		time.Sleep(time.Second)
		synctest.Wait()
		cancel()
		<-done
		if len(acks) != 5 || flushes != 1 {
			t.Fatalf("%d of 5 acknowledged in %d flushes, want 5 in 1", len(acks), flushes)
		}
		for _, d := range acks {
			if d != 0 {
				t.Fatalf("acknowledged %s after delivery, want at once: the source said nothing more was coming", d)
			}
		}
	})
}

// sendWater delivers a water meter reading of hh (total_m3 v) at now.
func sendWater(t *testing.T, ctx context.Context, p *Pipeline, hh string, v float64) {
	t.Helper()
	now := time.Now()
	m := anxin.Message{ID: anxin.NewID(now), TS: now, Household: hh, Device: "wm1", Kind: anxin.KindWaterMeter,
		Fields: anxin.Fields{"total_m3": anxin.Num(v)}}
	b, _ := json.Marshal(m)
	if err := p.Deliver(ctx, Delivery{Topic: m.Topic(), Payload: b, Received: now}); err != nil {
		t.Fatal(err)
	}
}

// rowStore counts the rule states each household had written.
type rowStore struct {
	*sqlite.DB
	mu   sync.Mutex
	rows map[string]int
}

func (s *rowStore) ApplyIngest(ctx context.Context, b *sqlite.IngestBatch) (sqlite.IngestResult, error) {
	res, err := s.DB.ApplyIngest(ctx, b)
	if err == nil {
		s.mu.Lock()
		for _, st := range b.States {
			s.rows[st.Household]++
		}
		s.mu.Unlock()
	}
	return res, err
}

func (s *rowStore) written(hh string) int { s.mu.Lock(); defer s.mu.Unlock(); return s.rows[hh] }

func (s *rowStore) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.rows {
		n += r
	}
	return n
}

// TestSeenOnlyReadingsRowsPerReading: 300 households read every 5 minutes
// for 3 hours (virtual time) through the batch loop, the meter still:
// with ingest.seen_flush (DeferSeen 15m) about one rule state row is
// written for four such readings (0.25), not one a reading as with every
// change written at the 10 s state flush (1.0 before). A use is still
// written within the state flush, and shutdown writes what is pending:
// the store then holds every household's state as the engine has it.
func TestSeenOnlyReadingsRowsPerReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openDB(t)
		store := &rowStore{DB: db, rows: map[string]int{}}
		engine := rules.New(rules.Default())
		engine.DeferSeen(15*time.Minute, 10*time.Second)
		p, err := New(Config{StateFlush: 10 * time.Second}, Deps{Engine: engine, Store: store})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- p.Run(ctx) }()
		send := func(hh string, v float64) { sendWater(t, ctx, p, hh, v) }
		const households = 300
		round := func() {
			for i := range households {
				send(fmt.Sprintf("hh-%04d", i), 100)
			}
			time.Sleep(5 * time.Minute)
			synctest.Wait()
		}
		for range 13 { // an hour: the households made, the meters' interval learned
			round()
		}
		before := store.total()
		const rounds = 36 // 3 hours
		for range rounds {
			round()
		}
		per := float64(store.total()-before) / float64(rounds*households)
		t.Logf("%d rule states written for %d readings that learned nothing: %.3f a reading", store.total()-before, rounds*households, per)
		if per > 0.3 {
			t.Fatalf("%.3f rule states written a reading that learned nothing, want at most 0.3", per)
		}

		// a use reaches the store within the state flush
		w := store.written("hh-0007")
		send("hh-0007", 100.01)
		time.Sleep(11 * time.Second)
		synctest.Wait()
		if store.written("hh-0007") != w+1 {
			t.Fatalf("a use: %d rows written for its household within the state flush, want 1", store.written("hh-0007")-w)
		}

		cancel() // shutdown: what is pending is written
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		n := 0
		if err := db.RuleStates(context.Background(), func(hh string, st []byte) error {
			if !bytes.Equal(st, engine.State(hh)) {
				t.Errorf("%s: stored state is not the engine's after shutdown", hh)
			}
			n++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if n != households {
			t.Fatalf("%d of %d households stored", n, households)
		}
	})
}
