package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/internal/testenv"
)

// openPair is two alarmd's stores on one new schema.
func (s *server) openPair(t *testing.T) (a, b *DB) {
	t.Helper()
	a = s.open(t)
	b, err := Open(context.Background(), s.url())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return a, b
}

// changes hooks db's register changes into a channel.
func changes(db *DB) <-chan anxin.RegisterChange {
	ch := make(chan anxin.RegisterChange, 64)
	db.OnRegisterChange(func(c anxin.RegisterChange) { ch <- c })
	return ch
}

// next is the next change on ch (the test fails after testenv.MinWait).
func next(t *testing.T, ch <-chan anxin.RegisterChange) anxin.RegisterChange {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(testenv.MinWait):
		t.Fatal("no register change")
		return anxin.RegisterChange{}
	}
}

func kit(id string) *anxin.Household {
	return &anxin.Household{ID: id, Elder: anxin.Elder{Name: "张桂兰", Tier: anxin.TierHigh},
		Devices: []anxin.Device{{ID: id + "-btn", Kind: anxin.KindCallButton}}}
}

// A register write through one alarmd reaches the others' OnRegisterChange
// hooks (LISTEN/NOTIFY), with what it touched; the writer's own hook runs
// once (its own notification is ignored). Before, a peer saw nothing until
// its SIGHUP and rejected the new household's messages.
func registerChangeReachesPeers(t *testing.T, s *server) {
	ctx := context.Background()
	a, b := s.openPair(t)
	atA, atB := changes(a), changes(b)
	now := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	var delays []time.Duration
	for i := range 20 {
		h := fmt.Sprintf("hh-n%d", i)
		start := time.Now()
		if err := a.PutKit(ctx, kit(h), now); err != nil {
			t.Fatal(err)
		}
		c := next(t, atB)
		delays = append(delays, time.Since(start))
		if c.All || !slices.Equal(c.Households, []string{h}) {
			t.Fatalf("B saw %+v, want household %s", c, h)
		}
		if c := next(t, atA); c.All || !slices.Equal(c.Households, []string{h}) {
			t.Fatalf("A saw %+v, want household %s", c, h)
		}
	}
	t.Logf("PutKit through A to B's hook, 20 changes: p50 %s, max %s", care.Percentile(delays, 50), care.Percentile(delays, 100))
	// an elder written through B reaches A; A's own 20 notifications came
	// before it (one connection delivers in commit order) and were not run again
	e := anxin.ElderRecord{ID: "e-n1", Household: "hh-n1", Name: "张桂兰", IDNumber: "11010519491231002X", Tier: anxin.TierKey}
	if err := b.PutElder(ctx, &e); err != nil {
		t.Fatal(err)
	}
	if c := next(t, atA); c.All || !slices.Equal(c.Elders, []string{"e-n1"}) || !slices.Equal(c.Households, []string{"hh-n1"}) {
		t.Fatalf("A saw %+v, want elder e-n1 of hh-n1", c)
	}
	if c := next(t, atB); !slices.Equal(c.Elders, []string{"e-n1"}) {
		t.Fatalf("B saw %+v, want its own elder once", c)
	}
	// a households file load is everything
	if err := a.LoadHouseholdsFile(ctx, []anxin.Household{*kit("hh-f1")}, "h1", now); err != nil {
		t.Fatal(err)
	}
	if c := next(t, atB); !c.All {
		t.Fatalf("B saw %+v after a file load, want all", c)
	}
	if c := next(t, atA); !c.All {
		t.Fatalf("A saw %+v after a file load, want all", c)
	}
	if n := len(atA) + len(atB); n != 0 {
		t.Fatalf("%d changes more than written", n)
	}
}

// A write that fails after its notification was queued (the commit itself
// fails: a deferred constraint) notifies no one: the notification is the
// transaction's. A refused import (an ID-number clash) neither.
func failedWriteNotifiesNothing(t *testing.T, s *server) {
	ctx := context.Background()
	a, b := s.openPair(t)
	atB := changes(b)
	for _, q := range []string{
		`CREATE FUNCTION refuse_bad() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN IF NEW.household = 'hh-bad' THEN RAISE EXCEPTION 'refused at commit'; END IF; RETURN NEW; END $$`,
		`CREATE CONSTRAINT TRIGGER refuse_bad AFTER INSERT OR UPDATE ON kits DEFERRABLE INITIALLY DEFERRED
			FOR EACH ROW EXECUTE FUNCTION refuse_bad()`,
	} {
		if _, err := a.SQL().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)
	if err := a.PutKit(ctx, kit("hh-bad"), now); err == nil {
		t.Fatal("the commit of hh-bad did not fail")
	}
	e := anxin.ElderRecord{ID: "e-1", Household: "hh-1", Name: "张桂兰", IDNumber: "11010519491231002X", Tier: anxin.TierKey}
	if err := a.PutElder(ctx, &e); err != nil {
		t.Fatal(err)
	}
	if c := next(t, atB); !slices.Equal(c.Elders, []string{"e-1"}) {
		t.Fatalf("B saw %+v first, want elder e-1", c)
	}
	clash := e
	clash.ID = "e-2"
	if err := a.PutElder(ctx, &clash); err == nil {
		t.Fatal("an ID-number clash was written")
	}
	if err := a.PutKit(ctx, kit("hh-2"), now); err != nil {
		t.Fatal(err)
	}
	if c := next(t, atB); !slices.Equal(c.Households, []string{"hh-2"}) {
		t.Fatalf("B saw %+v, want hh-2 (nothing of the refused writes)", c)
	}
}

// The listener's connection dropped (killed here; PostgreSQL restarted in
// life): it connects again and reports everything changed, since
// notifications may have been missed, and later writes reach it again.
func listenerReconnects(t *testing.T, s *server) {
	ctx := context.Background()
	a, b := s.openPair(t)
	atB := changes(b)
	pid := b.listenerPID()
	if pid == 0 {
		t.Fatal("B has no listener connection")
	}
	var killed bool
	if err := a.SQL().QueryRow(`SELECT pg_terminate_backend(?)`, pid).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminate B's listener %d: %v %v", pid, killed, err)
	}
	if c := next(t, atB); !c.All {
		t.Fatalf("B saw %+v after reconnecting, want all", c)
	}
	if p := b.listenerPID(); p == pid || p == 0 {
		t.Fatalf("B's listener is %d after reconnecting (was %d)", p, pid)
	}
	if err := a.PutKit(ctx, kit("hh-after"), time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if c := next(t, atB); !slices.Equal(c.Households, []string{"hh-after"}) {
		t.Fatalf("B saw %+v, want hh-after", c)
	}
}
