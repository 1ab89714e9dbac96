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
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
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
		send := func(hh string, v float64) {
			now := time.Now()
			m := anxin.Message{ID: anxin.NewID(now), TS: now, Household: hh, Device: "wm1", Kind: anxin.KindWaterMeter,
				Fields: anxin.Fields{"total_m3": anxin.Num(v), "battery_low": anxin.Bool(false)}}
			b, _ := json.Marshal(m)
			if err := p.Deliver(ctx, Delivery{Topic: m.Topic(), Payload: b, Received: now}); err != nil {
				t.Fatal(err)
			}
		}
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
