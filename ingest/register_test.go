package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/rules"
	"github.com/anxin-care/anxin/sqlite"
)

// One home's message id does not suppress another's press: ids are unique
// per gateway, not across gateways (a gateway with a bad id generator, or
// an outsider replaying ids, must not silence a neighbour), and this holds
// across a restart (the persisted window).
func TestDedupIsPerHousehold(t *testing.T) {
	db := openDB(t)
	for run := range 2 {
		p, err := New(Config{BatchWait: time.Millisecond}, Deps{Engine: rules.New(rules.Default()), Store: db})
		if err != nil {
			t.Fatal(err)
		}
		stop := runPipeline(t, p)
		for _, hh := range []string{"hh-1", "hh-2"} {
			m := button(hh, time.Now().UTC())
			m.ID = "same-id"
			d := payload(t, m)
			if err := p.DeliverCommitted(context.Background(), d.Topic, d.Payload); err != nil {
				t.Fatal(err)
			}
		}
		stop()
		for _, hh := range []string{"hh-1", "hh-2"} {
			as, err := db.Alarms(context.Background(), sqlite.AlarmFilter{Household: hh})
			if err != nil || len(as) != 1 || as[0].Repeats != 0 {
				t.Fatalf("run %d, %s: %+v %v", run, hh, as, err)
			}
		}
	}
}

// kit is a register for tests: household → its devices.
type kit map[string][]string

func (k kit) Knows(household, device string) (bool, bool) {
	devs, ok := k[household]
	if !ok {
		return false, false
	}
	if device == anxin.GatewayDevice {
		return true, true
	}
	return true, slices.Contains(devs, device)
}

// Only what the register knows is believed: a press of a household or a
// device the register does not list opens no alarm, leaves no rule state
// and is counted; 100 bogus devices do not make the real smoke detector's
// alarm name another device.
func TestOnlyRegisteredHouseholdsAndDevicesAreBelieved(t *testing.T) {
	db := openDB(t)
	var logs testenv.SyncBuffer
	p, err := New(Config{BatchWait: time.Millisecond}, Deps{Engine: rules.New(rules.Default()), Store: db,
		Register: kit{"hh-1": {"btn1", "sd1"}},
		Logger:   slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	stop := runPipeline(t, p)
	deliver := func(m anxin.Message) {
		t.Helper()
		d := payload(t, m)
		if err := p.DeliverCommitted(context.Background(), d.Topic, d.Payload); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	for range 3 {
		deliver(button("hh-x", now)) // not registered
	}
	b := button("hh-1", now)
	b.Device = "btn9" // not hh-1's
	deliver(b)
	for i := range 100 {
		deliver(anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-1", Device: fmt.Sprintf("bogus%d", i),
			Kind: anxin.KindSmokeDetector, Event: anxin.EventSmoke})
	}
	deliver(anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-1", Device: "sd1",
		Kind: anxin.KindSmokeDetector, Event: anxin.EventSmoke})
	stop()

	as, err := db.Alarms(context.Background(), sqlite.AlarmFilter{})
	if err != nil || len(as) != 1 || as[0].Household != "hh-1" || as[0].Device != "sd1" {
		t.Fatalf("alarms: %+v %v", as, err)
	}
	var stored []string
	if err := db.RuleStates(context.Background(), func(hh string, _ []byte) error { stored = append(stored, hh); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[0] != "hh-1" {
		t.Fatalf("rule state stored for %v", stored)
	}
	if n := metrics.ToFloat64(p.m.rejected.WithLabelValues("unknown_household")); n != 3 {
		t.Errorf("unknown_household rejected %v, want 3", n)
	}
	if n := metrics.ToFloat64(p.m.rejected.WithLabelValues("unknown_device")); n != 101 {
		t.Errorf("unknown_device rejected %v, want 101", n)
	}
	// logged once per household and per device within the hour
	if n := strings.Count(logs.String(), "household=hh-x"); n != 1 {
		t.Errorf("hh-x logged %d times:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "not in the register"); n != 102 {
		t.Errorf("%d lines about unknown senders, want 102", n)
	}
}

// A gateway whose clock was never set sends 1970 timestamps. Its press is
// real: it opens an alarm dated when alarmd received it (never "Thu 1 Jan
// 08:00"), and the fix is counted.
func TestUnsetClockUsesReceiveTime(t *testing.T) {
	db := openDB(t)
	p, err := New(Config{BatchWait: time.Millisecond}, Deps{Engine: rules.New(rules.Default()), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	stop := runPipeline(t, p)
	before := time.Now()
	m := button("hh-1", time.Unix(0, 0).UTC())
	d := payload(t, m)
	if err := p.DeliverCommitted(context.Background(), d.Topic, d.Payload); err != nil {
		t.Fatal(err)
	}
	stop()
	as, err := db.Alarms(context.Background(), sqlite.AlarmFilter{})
	if err != nil || len(as) != 1 {
		t.Fatalf("alarms: %+v %v", as, err)
	}
	if at := as[0].OpenedAt; at.Before(before.Add(-time.Second)) || at.After(time.Now()) {
		t.Fatalf("alarm opened at %v, want the receive time", at)
	}
	if strings.Contains(as[0].Reason, "00:00") || strings.Contains(as[0].Reason, "08:00") {
		t.Errorf("the reason reads the 1970 time: %s", as[0].Reason)
	}
	if n := metrics.ToFloat64(p.m.clockUnset); n != 1 {
		t.Errorf("anxin_ingest_clock_unset_total %v, want 1", n)
	}
}

// State stored for households the register does not know (before alarmd
// checked the register) is not restored: 20,000 bogus rows cost no memory.
func TestUnregisteredStateNotRestored(t *testing.T) {
	db := openDB(t)
	var states []sqlite.RuleState
	src := rules.New(rules.Default())
	for _, hh := range []string{"hh-1", "bogus-1", "bogus-2"} {
		src.Observe(time.Now(), &anxin.Message{ID: anxin.NewID(time.Now()), TS: time.Now(), Household: hh,
			Device: "btn1", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed})
	}
	src.DirtyStates(func(hh string, st []byte) { states = append(states, sqlite.RuleState{Household: hh, State: st}) })
	if _, err := db.ApplyIngest(context.Background(), &sqlite.IngestBatch{States: states, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	engine := rules.New(rules.Default())
	p, err := New(Config{}, Deps{Engine: engine, Store: db, Register: kit{"hh-1": {"btn1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := engine.Households(); n != 1 {
		t.Fatalf("%d households restored, want hh-1 only", n)
	}
}
