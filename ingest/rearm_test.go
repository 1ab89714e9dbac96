package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/rules"
	"github.com/anxin-care/anxin/sqlite"
)

// pressAlarms is the alarms of hh and how many are in each state; it fails
// the test when one took a repeat (every press here is a new alarm).
func pressAlarms(t *testing.T, db *sqlite.DB, hh string) (as []anxin.Alarm, states map[anxin.AlarmState]int) {
	t.Helper()
	as, err := db.Alarms(context.Background(), sqlite.AlarmFilter{Household: hh})
	if err != nil {
		t.Fatal(err)
	}
	states = make(map[anxin.AlarmState]int)
	for _, a := range as {
		states[a.State]++
		if a.Repeats != 0 {
			t.Fatalf("a press was absorbed as a repeat of alarm %s (%s)", a.ID, a.State)
		}
	}
	return as, states
}

func openOne(t *testing.T, as []anxin.Alarm) anxin.Alarm {
	t.Helper()
	for _, a := range as {
		if a.State == anxin.AlarmOpen {
			return a
		}
	}
	t.Fatalf("no open alarm in %+v", as)
	return anxin.Alarm{}
}

// press delivers a button press and returns once its batch is committed.
func press(t *testing.T, p *Pipeline, hh string) {
	t.Helper()
	m := button(hh, time.Now().UTC().Truncate(time.Millisecond))
	d := payload(t, m)
	if err := p.DeliverCommitted(context.Background(), d.Topic, d.Payload); err != nil {
		t.Fatal(err)
	}
}

// A press right after people accepted or closed the alarm opens a new
// alarm: the pipeline reads what people did before it evaluates a batch,
// not on a timer (TickEvery is an hour here), so nothing of a second press
// is absorbed as a repeat of an alarm people already took.
func TestPressAfterAcceptOrCloseOpensANewAlarm(t *testing.T) {
	db := openDB(t)
	p, err := New(Config{BatchWait: time.Millisecond, TickEvery: time.Hour},
		Deps{Engine: rules.New(rules.Default()), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	defer runPipeline(t, p)()
	ctx := context.Background()

	press(t, p, "hh-1")
	as, _ := pressAlarms(t, db, "hh-1")
	if err := db.SetAlarmState(ctx, openOne(t, as).ID, anxin.AlarmAccepted, "+8613900000001", time.Now()); err != nil {
		t.Fatal(err)
	}
	press(t, p, "hh-1")
	as, n := pressAlarms(t, db, "hh-1")
	if len(as) != 2 || n[anxin.AlarmOpen] != 1 {
		t.Fatalf("a press right after the accept: %+v", as)
	}

	// closed by hand while an older accepted alarm of the rule is still
	// unresolved: the press must not land on that old one either
	if err := db.CloseAlarm(ctx, openOne(t, as).ID, "district", "误按", time.Now()); err != nil {
		t.Fatal(err)
	}
	press(t, p, "hh-1")
	as, n = pressAlarms(t, db, "hh-1")
	if len(as) != 3 || n[anxin.AlarmOpen] != 1 || n[anxin.AlarmAccepted] != 1 || n[anxin.AlarmResolved] != 1 {
		t.Fatalf("a press right after the close: %+v", as)
	}
}

// The crash variant: people accept, the running pipeline re-arms the rule
// in memory, and the process dies before the household's rule state is
// written (a quiet household's state waits up to StateFlush). The restart
// must still know the alarm was taken: the next press is a new alarm.
func TestPressAfterAcceptSurvivesACrash(t *testing.T) {
	db := openDB(t)
	ctx := context.Background()
	p1, err := New(Config{}, Deps{Engine: rules.New(rules.Default()), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	if err := p1.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	// the batch loop's steps, by hand, so the test decides where it dies
	if err := p1.process(ctx, []Delivery{payload(t, button("hh-1", time.Now().UTC()))}); err != nil {
		t.Fatal(err)
	}
	as, _ := pressAlarms(t, db, "hh-1")
	if err := db.SetAlarmState(ctx, openOne(t, as).ID, anxin.AlarmAccepted, "+8613900000001", time.Now()); err != nil {
		t.Fatal(err)
	}
	p1.syncAlarmStates(ctx, nil, true) // the housekeeping tick, before its commit
	// a reading of another household commits a batch: alarmd is busy, the
	// re-armed state of hh-1 waits for its flush
	r := anxin.Message{ID: anxin.NewID(time.Now()), TS: time.Now().UTC(), Household: "hh-2", Device: "wm1",
		Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(1)}}
	if err := p1.process(ctx, []Delivery{payload(t, r)}); err != nil {
		t.Fatal(err)
	}
	// kill -9: p1 is dropped without flushing

	p2, err := New(Config{BatchWait: time.Millisecond}, Deps{Engine: rules.New(rules.Default()), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	defer runPipeline(t, p2)()
	press(t, p2, "hh-1")
	as, n := pressAlarms(t, db, "hh-1")
	if len(as) != 2 || n[anxin.AlarmOpen] != 1 || n[anxin.AlarmAccepted] != 1 {
		t.Fatalf("after a crash, a press after the accept: %+v", as)
	}
}
