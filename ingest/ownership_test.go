package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/rules"
	"github.com/anxin-care/anxin/sqlite"
)

// startOwnerPipeline starts a restored pipeline on db; stop ends it.
func startOwnerPipeline(t *testing.T, db *sqlite.DB) (p *Pipeline, stop func()) {
	t.Helper()
	p, err := New(Config{BatchWait: time.Millisecond}, Deps{Engine: rules.New(rules.Default()), Store: db, Escalator: &escalations{}})
	if err != nil {
		t.Fatal(err)
	}
	return p, runPipeline(t, p)
}

// A press committed by one alarmd that died before acknowledging it is
// redelivered to the next owner of its partition, which started (and read
// the de-duplication window) before the commit: taking the partition over
// reads the window again from seen_ids, so the press has no second effect.
// With only the ownership switched (no TakeOver) the same redelivery is a
// repeat on the alarm: the check this test makes fails without the reread.
func TestRedeliveryToNewOwnerHasNoSecondEffect(t *testing.T) {
	for _, takeOver := range []bool{true, false} {
		db := openDB(t)
		all := func(string) bool { return true }
		// b starts first: its in-memory window is empty
		b, stopB := startOwnerPipeline(t, db)
		if err := b.SetOwnership(context.Background(), func(string) bool { return false }); err != nil {
			t.Fatal(err)
		}
		a, stopA := startOwnerPipeline(t, db)
		ev := anxin.Message{ID: "m-owner", TS: time.Now(), Household: "hh-1", Device: "btn1", Kind: anxin.KindCallButton,
			Event: anxin.EventButtonPressed}
		var committed atomic.Bool
		d := payload(t, ev)
		d.Ack = func() { committed.Store(true) } // committed; the ack never reaches the broker
		if err := a.Deliver(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		eventually(t, "a's commit", committed.Load)
		stopA() // a dies; its lease runs out and b takes the partition over
		if takeOver {
			if err := b.TakeOver(context.Background(), all, all); err != nil {
				t.Fatal(err)
			}
		} else if err := b.SetOwnership(context.Background(), all); err != nil {
			t.Fatal(err)
		}
		var acked atomic.Bool
		d = payload(t, ev)
		d.Ack = func() { acked.Store(true) }
		if err := b.Deliver(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		eventually(t, "b's ack of the redelivery", acked.Load)
		stopB()
		as, err := db.Alarms(context.Background(), sqlite.AlarmFilter{})
		if err != nil || len(as) != 1 {
			t.Fatalf("alarms: %+v %v", as, err)
		}
		if takeOver && as[0].Repeats != 0 {
			t.Fatalf("take-over: the redelivered press had a second effect: %+v", as[0])
		}
		if !takeOver && as[0].Repeats != 1 {
			t.Fatalf("without the reread the redelivery should show as a repeat (or this test proves nothing): %+v", as[0])
		}
	}
}

// A household that is not this alarmd's is handed back (Nak), neither
// processed nor acknowledged.
func TestNotOwnedHandedBack(t *testing.T) {
	db := openDB(t)
	p, stop := startOwnerPipeline(t, db)
	defer stop()
	if err := p.SetOwnership(context.Background(), func(hh string) bool { return hh == "hh-1" }); err != nil {
		t.Fatal(err)
	}
	var nak, ack atomic.Int32
	for _, hh := range []string{"hh-2", "hh-1"} {
		d := payload(t, anxin.Message{ID: "m-" + hh, TS: time.Now(), Household: hh, Device: "btn1", Kind: anxin.KindCallButton,
			Event: anxin.EventButtonPressed})
		d.Ack = func() { ack.Add(1) }
		d.Nak = func() { nak.Add(1) }
		if err := p.Deliver(context.Background(), d); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "one ack and one hand-back", func() bool { return ack.Load() == 1 && nak.Load() == 1 })
	as, err := db.Alarms(context.Background(), sqlite.AlarmFilter{})
	if err != nil || len(as) != 1 || as[0].Household != "hh-1" {
		t.Fatalf("alarms: %+v %v", as, err)
	}
}

// The partition function is nats-server's partition(n, wildcard): the
// households the server put in partitions 3, 0, 1, 2 of four (seen on
// nats-server 2.9.10 with the mapping of docs/deployment.md).
func TestPartitionMatchesTheServer(t *testing.T) {
	for hh, want := range map[string]int{"hh0": 3, "hh1": 0, "hh2": 1, "hh3": 2} {
		if got := Partition(hh, 4); got != want {
			t.Errorf("Partition(%s, 4) = %d, the server says %d", hh, got, want)
		}
	}
	if Partition("hh0", 1) != 0 || Partition("hh0", 0) != 0 {
		t.Error("one partition is partition 0")
	}
}

func TestSubjectTopic(t *testing.T) {
	for subj, want := range map[string]string{
		"$MQTT.msgs.anxin.p.3.v1.hh-1.btn1.event":  "anxin/v1/hh-1/btn1/event",
		"$MQTT.msgs.anxin.v1.hh-1.gateway.status":  "anxin/v1/hh-1/gateway/status",
		"$MQTT.msgs.anxin.p.0.v1.a//b.wm1.reading": "anxin/v1/a.b/wm1/reading",
	} {
		if got, err := SubjectTopic(subj); err != nil || got != want {
			t.Errorf("SubjectTopic(%s) = %q, %v; want %q", subj, got, err, want)
		}
	}
	for _, bad := range []string{"anxin.v1.hh.btn1.event", "$MQTT.msgs.anxin.p.3"} {
		if _, err := SubjectTopic(bad); err == nil {
			t.Errorf("SubjectTopic(%q) took it", bad)
		}
	}
}

func FuzzSubjectTopic(f *testing.F) {
	f.Add("$MQTT.msgs.anxin.p.3.v1.hh-1.btn1.event")
	f.Add("$MQTT.msgs.anxin.v1.a//b.x.reading")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = SubjectTopic(s) // an error or a topic, never a panic
	})
}

// A pipeline fed by a partitioned source (ownership set before Restore, as
// StartJetStream does) restores no household at start: its engine holds
// only the households of the partitions it takes over, from then on, and
// runs no timer of another alarmd's.
func TestPartitionedRestoreHoldsOnlyOwnHouseholds(t *testing.T) {
	db := openDB(t)
	a, stopA := startOwnerPipeline(t, db)
	for _, hh := range []string{"hh-1", "hh-2"} {
		var acked atomic.Bool
		d := payload(t, anxin.Message{ID: "m-" + hh, TS: time.Now(), Household: hh, Device: "btn1",
			Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed})
		d.Ack = func() { acked.Store(true) }
		if err := a.Deliver(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		eventually(t, hh+" committed", acked.Load)
	}
	stopA()
	engine := rules.New(rules.Default())
	p, err := New(Config{BatchWait: time.Millisecond}, Deps{Engine: engine, Store: db, Escalator: &escalations{}})
	if err != nil {
		t.Fatal(err)
	}
	p.owns = func(string) bool { return false }
	stop := runPipeline(t, p)
	defer stop()
	if n := engine.Households(); n != 0 {
		t.Fatalf("%d households restored before any partition was taken over", n)
	}
	one := func(hh string) bool { return hh == "hh-1" }
	if err := p.TakeOver(context.Background(), one, one); err != nil {
		t.Fatal(err)
	}
	if n := engine.Households(); n != 1 {
		t.Fatalf("%d households held after taking hh-1's partition over, want 1", n)
	}
	// handed on to another alarmd: its state is stored and dropped here
	if err := p.GiveUp(context.Background(), one, func(string) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if n := engine.Households(); n != 0 {
		t.Fatalf("%d households held after giving hh-1's partition up, want 0", n)
	}
	// and taken back: read again from the store
	if err := p.TakeOver(context.Background(), one, one); err != nil {
		t.Fatal(err)
	}
	if n := engine.Households(); n != 1 {
		t.Fatalf("%d households held after taking hh-1's partition back, want 1", n)
	}
}

// A household marked away through an alarmd that does not hold its
// partition is away on the one that does, and stays so when the
// partition moves on; a mark made while nobody holds the partition is
// applied by whoever takes it over. The mark is stored first and the
// owner applies it (PendingAwayMarks), as it restores rule state.
func TestAwayMarkReachesTheOwner(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	all, none := func(string) bool { return true }, func(string) bool { return false }
	a, stopA := startOwnerPipeline(t, db)
	defer stopA()
	b, stopB := startOwnerPipeline(t, db)
	defer stopB()
	if err := b.SetOwnership(ctx, none); err != nil {
		t.Fatal(err)
	}
	away := func(p *Pipeline) bool {
		t.Helper()
		v, err := p.Away(ctx, "hh-1")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := b.SetAway(ctx, "hh-1", true); err != nil {
		t.Fatalf("away through the alarmd that does not hold the household: %v", err)
	}
	if !away(b) {
		t.Fatal("the alarmd that took the mark does not report it")
	}
	eventually(t, "the owner's engine applies the mark", func() bool { return a.engine.Away("hh-1") })

	// the partition moves to b: the mark is in the state a committed
	if err := a.GiveUp(ctx, all, none); err != nil {
		t.Fatal(err)
	}
	if err := b.TakeOver(ctx, all, all); err != nil {
		t.Fatal(err)
	}
	if !b.engine.Away("hh-1") || !away(a) {
		t.Fatalf("after the hand-over: owner %v, the other %v", b.engine.Away("hh-1"), away(a))
	}
	if err := a.SetAway(ctx, "hh-1", false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "back, through the other alarmd", func() bool { return !b.engine.Away("hh-1") })

	// marked while nobody holds the partition: the next owner applies it
	if err := b.GiveUp(ctx, all, none); err != nil {
		t.Fatal(err)
	}
	if err := b.SetAway(ctx, "hh-1", true); err != nil {
		t.Fatal(err)
	}
	if err := a.TakeOver(ctx, all, all); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the next owner applies the mark", func() bool { return a.engine.Away("hh-1") })
	if ms, err := db.PendingAwayMarks(ctx); err != nil || len(ms) != 0 {
		t.Fatalf("marks left pending: %+v %v", ms, err)
	}
}

// A household the stored rule state holds away with no stored mark (marked
// before marks were stored) gets its mark, applied, when its owner
// restores it: every alarmd then answers it away. A mark made meanwhile
// wins.
func TestAwayFromBeforeMarksAdopted(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	now := time.Now()
	storeAwayFromBeforeMarks(t, db, now, "hh-1", "hh-2")
	if _, err := db.PutAwayMark(ctx, "hh-2", false, now); err != nil { // back, through another alarmd
		t.Fatal(err)
	}
	p, stop := startOwnerPipeline(t, db)
	defer stop()
	if m, err := db.AwayMark(ctx, "hh-1"); err != nil || !m.Away || !m.Applied {
		t.Fatalf("hh-1 after the restore: %+v %v", m, err)
	}
	eventually(t, "hh-2 back", func() bool { return !p.engine.Away("hh-2") })
	if m, err := db.AwayMark(ctx, "hh-2"); err != nil || m.Away {
		t.Fatalf("hh-2 after the restore: %+v %v", m, err)
	}
}

// awayMarksDown is a store whose away marks cannot be read while down is
// set (the database blinked).
type awayMarksDown struct {
	*sqlite.DB
	down atomic.Bool
}

func (s *awayMarksDown) PendingAwayMarks(ctx context.Context) ([]anxin.AwayMark, error) {
	if s.down.Load() {
		return nil, errors.New("database is locked")
	}
	return s.DB.PendingAwayMarks(ctx)
}

// A take-over whose pending away marks cannot be read still takes the
// partition over (the marks stay stored and are applied at the next tick
// that reads them). A take-over that fails must leave the households
// someone else's: its partitions' leases are released on that error, and
// an alarmd still evaluating them would be a second owner.
func TestTakeOverWithAwayMarksUnreadable(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	store := &awayMarksDown{DB: db}
	p, err := New(Config{BatchWait: time.Millisecond}, Deps{Engine: rules.New(rules.Default()), Store: store, Escalator: &escalations{}})
	if err != nil {
		t.Fatal(err)
	}
	defer runPipeline(t, p)()
	none, all := func(string) bool { return false }, func(string) bool { return true }
	if err := p.SetOwnership(ctx, none); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutAwayMark(ctx, "hh-1", true, time.Now()); err != nil { // through another alarmd
		t.Fatal(err)
	}
	store.down.Store(true)
	err = p.TakeOver(ctx, all, all)
	owns := false
	if ierr := p.inLoop(ctx, func(context.Context) error { owns = p.owned("hh-1"); return nil }); ierr != nil {
		t.Fatal(ierr)
	}
	if err != nil || !owns {
		t.Fatalf("take-over with the marks unreadable: err %v, owns hh-1 %v (an error must leave it unowned; marks need not fail it)", err, owns)
	}
	store.down.Store(false)
	eventually(t, "the mark applied once readable", func() bool { return p.engine.Away("hh-1") })
}

// adoptCounter counts the store's calls adopting away marks.
type adoptCounter struct {
	*sqlite.DB
	calls, households atomic.Int64
}

func (s *adoptCounter) AdoptAwayMarks(ctx context.Context, households []string, at time.Time) error {
	s.calls.Add(1)
	s.households.Add(int64(len(households)))
	return s.DB.AdoptAwayMarks(ctx, households, at)
}

// Households held away from before marks were stored are adopted in one
// store call for the restore, not one a household: a take-over runs in
// the batch loop, and a round trip per away household (on PostgreSQL over
// a network, every take-over) held every other household's messages back.
func TestAwayFromBeforeMarksAdoptedAtOnce(t *testing.T) {
	db := openDB(t)
	const n = 1200 // past one statement's 500
	var hhs []string
	for i := range n {
		hhs = append(hhs, fmt.Sprintf("hh-%04d", i))
	}
	storeAwayFromBeforeMarks(t, db, time.Now(), hhs...)
	store := &adoptCounter{DB: db}
	p, err := New(Config{BatchWait: time.Millisecond}, Deps{Engine: rules.New(rules.Default()), Store: store, Escalator: &escalations{}})
	if err != nil {
		t.Fatal(err)
	}
	defer runPipeline(t, p)()
	if c, h := store.calls.Load(), store.households.Load(); c != 1 || h != n {
		t.Fatalf("%d store calls adopting %d households, want 1 for %d", c, h, n)
	}
	for _, hh := range []string{"hh-0000", "hh-0500", fmt.Sprintf("hh-%04d", n-1)} {
		if m, err := db.AwayMark(context.Background(), hh); err != nil || !m.Away || !m.Applied {
			t.Fatalf("%s after the restore: %+v %v", hh, m, err)
		}
	}
}

// storeAwayFromBeforeMarks stores the rule state of households held away
// with no mark, as an alarmd older than the stored marks left it.
func storeAwayFromBeforeMarks(t *testing.T, db *sqlite.DB, now time.Time, households ...string) {
	t.Helper()
	old := rules.New(rules.Default())
	var states []anxin.RuleState
	for _, hh := range households {
		old.SetAway(now, hh, true)
		st, ok := old.DirtyState(hh)
		if !ok {
			t.Fatal("no state to store")
		}
		states = append(states, anxin.RuleState{Household: hh, State: st})
	}
	if _, err := db.ApplyIngest(context.Background(), &sqlite.IngestBatch{States: states, At: now}); err != nil {
		t.Fatal(err)
	}
}
