package ingest

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/rules"
	"github.com/anxin-care/anxin/sqlite"
)

// TestAwayPausesNoUseAndSurvivesRestart: marking a household away closes
// its open no-water alarm (its chain is stopped) and keeps the rule quiet
// for days; the mark is committed, so a restarted alarmd still has it;
// back restarts the 24 h from then.
func TestAwayPausesNoUseAndSurvivesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "a.db")
		db, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		start := func() (*Pipeline, *clockEscalator, func()) {
			esc := &clockEscalator{opened: map[string]time.Time{}, resolved: map[string]time.Time{}}
			p, err := New(Config{TickEvery: time.Minute}, Deps{Engine: rules.New(rules.Default()), Store: db, Escalator: esc})
			if err != nil {
				t.Fatal(err)
			}
			return p, esc, runPipeline(t, p)
		}
		p, esc, stop := start()
		ctx := context.Background()
		t0 := time.Now()
		hours := func(n int) {
			for range n {
				now := time.Now()
				m := anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-1", Device: "wm1", Kind: anxin.KindWaterMeter,
					Fields: anxin.Fields{"total_m3": anxin.Num(100)}}
				b, _ := json.Marshal(&m)
				if err := p.Deliver(ctx, Delivery{Topic: m.Topic(), Payload: b}); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Hour)
			}
			synctest.Wait()
		}
		hours(25)
		if _, ok := esc.openedAt("hh-1/no_water"); !ok {
			t.Fatal("no no-water alarm after 25 h")
		}
		if err := p.SetAway(ctx, "hh-1", true); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		as, _ := db.Alarms(ctx, sqlite.AlarmFilter{Household: "hh-1"})
		if len(as) != 1 || as[0].State != anxin.AlarmResolved {
			t.Fatalf("after away: %+v", as)
		}
		if _, ok := esc.resolved[as[0].ID]; !ok {
			t.Fatal("the alarm's chain was not stopped")
		}
		hours(30) // away: nothing, however long
		stop()

		// a restart keeps the mark, in the rules and not only in the store
		p, esc, stop = start()
		if !p.engine.Away("hh-1") {
			t.Fatal("the away mark was lost at restart")
		}
		hours(10)
		back := time.Now()
		if err := p.SetAway(ctx, "hh-1", false); err != nil {
			t.Fatal(err)
		}
		hours(25)
		at, ok := esc.openedAt("hh-1/no_water")
		if !ok || at.Sub(back) < 24*time.Hour || at.Sub(back) > 25*time.Hour {
			t.Fatalf("after back at t+%s: alarm %v at t+%s, want 24 h after back", back.Sub(t0), ok, at.Sub(t0))
		}
		as, _ = db.Alarms(ctx, sqlite.AlarmFilter{Household: "hh-1"})
		if len(as) != 2 {
			t.Fatalf("alarms %+v: want the first (resolved) and one after back", as)
		}
		stop()
		db.Close()
	})
}
