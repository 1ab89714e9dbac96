package ingest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/rules"
)

// hungRestoreStore never answers the take-over's read of the rule states
// (a store connection that hangs: the read has no deadline) until release.
type hungRestoreStore struct {
	anxin.IngestStore
	once    sync.Once
	reached chan struct{}
	release chan struct{}
}

func (s *hungRestoreStore) RuleStates(ctx context.Context, fn func(string, []byte) error) error {
	s.once.Do(func() { close(s.reached) })
	<-s.release
	return s.IngestStore.RuleStates(ctx, fn)
}

// A take-over is not timed (a million households' restore may take long)
// and renewWhile renews every lease it waits with. A take-over whose store
// read hangs therefore keeps this alarmd's partitions for as long as it
// hangs — the held one and the one being taken over — while the batch loop
// processes nothing, and /healthz says nothing: the very case
// ingest.stuck_after was made for, through the one task it does not time.
func TestHungTakeOverIsNotKeptForEver(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	key, claim := leaseRows(t, db, 2)
	now := time.Now()
	store := &hungRestoreStore{IngestStore: db, reached: make(chan struct{}), release: make(chan struct{})}
	p, err := New(Config{BatchWait: time.Millisecond, StuckAfter: 500 * time.Millisecond},
		Deps{Engine: rules.New(rules.Default()), Store: store})
	if err != nil {
		t.Fatal(err)
	}
	s := leaseSource(p, "a", 2, map[int]int64{0: claim(0, "a", now)})
	s.leases, s.cfg.Lease, s.cfg.Poll = db, 2*time.Second, 10*time.Millisecond
	stop := runPipeline(t, p)
	var release sync.Once
	unhang := func() { release.Do(func() { close(store.release) }) }
	took := make(chan error, 1)
	t.Cleanup(func() { unhang(); <-took; s.cancel(); stop() })
	go func() { took <- s.takeOver(map[int]int64{1: claim(1, "a", now)}, now.Add(time.Minute)) }()
	<-store.reached
	eventually(t, "a hung take-over reported or its leases given up", func() bool {
		ls, err := db.PartitionLeases(ctx, key, 2)
		if err != nil {
			t.Fatal(err)
		}
		return p.Healthy() != nil || ls[0].Owner == "" || ls[1].Owner == ""
	})
}
