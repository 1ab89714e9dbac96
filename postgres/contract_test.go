package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/storetest"
)

// server is one PostgreSQL cluster for a test; each store gets a schema of
// its own in one database (CREATE DATABASE takes a second, a schema a few
// milliseconds).
type server struct {
	pg    *testenv.Postgres
	admin *sql.DB
	n     atomic.Int64
}

func startServer(t testing.TB) *server {
	t.Helper()
	pg := testenv.StartPostgres(t)
	admin, err := sql.Open("pgx", pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	return &server{pg: pg, admin: admin}
}

// open makes an empty schema and opens a store on it; params are added to
// the URL ("&synchronous_commit=off": a setting of the connections).
func (s *server) open(t testing.TB, params ...string) *DB {
	t.Helper()
	name := fmt.Sprintf("anxin_%d", s.n.Add(1))
	if _, err := s.admin.Exec("CREATE SCHEMA " + name); err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), s.pg.URL("postgres")+"&search_path="+name+strings.Join(params, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// One cluster for the package's tests (initdb and start take seconds).
func TestPostgres(t *testing.T) {
	s := startServer(t)
	// The storage contract every store passes (storetest), on PostgreSQL.
	t.Run("Contract", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) anxin.Store { return s.open(t) })
	})
	t.Run("LeaseContract", func(t *testing.T) {
		storetest.RunLeases(t, func(t *testing.T) storetest.LeaseStore { return s.open(t) })
	})
	t.Run("FencedIngestContract", func(t *testing.T) {
		storetest.RunFencedIngest(t, func(t *testing.T) storetest.FencedIngestStore { return s.open(t) })
	})
	t.Run("SchemaVersions", func(t *testing.T) { schemaVersions(t, s) })
	t.Run("TwoInstancesShareOneDatabase", func(t *testing.T) { twoInstancesShareOneDatabase(t, s) })
	t.Run("TableAddedToPackageSqlite", func(t *testing.T) { tableAddedToPackageSqlite(t, s) })
	t.Run("ElderFormTierAddedToAnOlderDatabase", func(t *testing.T) { elderFormTierAdded(t, s) })
	t.Run("ChainClaimsAddedToAnOlderDatabase", func(t *testing.T) { chainClaimsAdded(t, s) })
	t.Run("AwayMarksRefuseAnOlderAlarmd", func(t *testing.T) { awayMarksRefuseAnOlderAlarmd(t, s) })
	t.Run("FrozenTransactionEnds", func(t *testing.T) { frozenTransactionEnds(t, s) })
	t.Run("ClaimWaitsForAFencedCommit", func(t *testing.T) { claimWaitsForAFencedCommit(t, s) })
	t.Run("RegisterChangeReachesPeers", func(t *testing.T) { registerChangeReachesPeers(t, s) })
	t.Run("FailedWriteNotifiesNothing", func(t *testing.T) { failedWriteNotifiesNothing(t, s) })
	t.Run("ListenerReconnects", func(t *testing.T) { listenerReconnects(t, s) })
}

// A fenced ingest write whose lease check passed holds its partitions'
// lease rows until it commits: a peer's claim of one of them, made between
// the check and the commit (alarmd paused there), waits for the commit, so
// the new owner's take-over reads the write and no stale commit lands
// after it. The write is held at its commit by a deferred trigger waiting
// on an advisory lock the test holds.
func claimWaitsForAFencedCommit(t *testing.T, s *server) {
	ctx := context.Background()
	db := s.open(t)
	if _, err := db.PartitionLeases(ctx, "S", 1); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	e, ok, err := db.ClaimPartition(ctx, "S", 0, "a", now, now.Add(time.Hour))
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	for _, q := range []string{
		`CREATE FUNCTION hold_commit() RETURNS trigger LANGUAGE plpgsql AS
			'BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NULL; END'`,
		`CREATE CONSTRAINT TRIGGER hold_commit AFTER INSERT ON seen_ids
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION hold_commit()`,
	} {
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	holder, err := db.SQL().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	if _, err := holder.ExecContext(ctx, "SELECT pg_advisory_lock(4242)"); err != nil {
		t.Fatal(err)
	}
	ingested := make(chan error, 1)
	go func() {
		_, err := db.ApplyIngest(ctx, &anxin.IngestBatch{At: now, SeenIDs: []string{"hh-1/m-1"},
			Fence: &anxin.LeaseFence{Stream: "S", Owner: "a", Parts: []anxin.PartitionEpoch{{Part: 0, Epoch: e}}}})
		ingested <- err
	}()
	// (a session of the cluster waiting on a lock of that kind: the
	// subtests run one at a time)
	waiting := func(lock string) func() bool {
		return func() bool {
			var n int
			err := db.SQL().QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE wait_event_type = 'Lock' AND wait_event = '`+lock+`'`).Scan(&n)
			return err == nil && n > 0
		}
	}
	testenv.Eventually(t, "the fenced write held at its commit", 30*time.Second, waiting("advisory"))
	// b claims the partition (a's lease ran out by b's clock); once the
	// claim returns, a's write must be in the store
	type claimed struct {
		ok, seen bool
		err      error
	}
	claims := make(chan claimed, 1)
	go func() {
		var c claimed
		_, c.ok, c.err = db.ClaimPartition(ctx, "S", 0, "b", now.Add(2*time.Hour), now.Add(3*time.Hour))
		if c.err == nil {
			c.err = db.SeenIDs(ctx, now.Add(-time.Hour), func(id string, _ time.Time) { c.seen = c.seen || id == "hh-1/m-1" })
		}
		claims <- c
	}()
	testenv.Eventually(t, "the claim waits on the lease row, or returned", 30*time.Second, func() bool {
		return len(claims) > 0 || waiting("transactionid")() || waiting("tuple")()
	})
	if _, err := holder.ExecContext(ctx, "SELECT pg_advisory_unlock(4242)"); err != nil {
		t.Fatal(err)
	}
	if err := <-ingested; err != nil {
		t.Fatalf("the fenced write, its check passed before the claim: %v", err)
	}
	c := <-claims
	if c.err != nil || !c.ok {
		t.Fatalf("claim: %v %v", c.ok, c.err)
	}
	if !c.seen {
		t.Fatal("the claim returned before the fenced write committed: a take-over then would miss it")
	}
}

// An alarmd frozen inside a transaction (a VM paused between a fenced
// ingest's lease check, which holds the lease rows FOR SHARE, and its
// commit) must not hold a peer's claim of those partitions for ever:
// alarmd's sessions end a transaction left idle for idleTxTimeout, unless
// the URL sets its own limit.
func frozenTransactionEnds(t *testing.T, s *server) {
	for _, c := range []struct{ params, want string }{
		{"", "30s"},
		{"&idle_in_transaction_session_timeout=5000", "5s"},
	} {
		db := s.open(t, c.params)
		var got string
		if err := db.SQL().QueryRow("SHOW idle_in_transaction_session_timeout").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("URL params %q: idle_in_transaction_session_timeout %q, want %q", c.params, got, c.want)
		}
	}
}

// schemaBeforeAwayMarks is the last schema version of an alarmd that
// neither stores nor applies away marks (away_marks): it must refuse a
// database that holds them. Started on one, it would answer and change
// away from its own rules only, leaving stored marks stale or pending; a
// pending "away" would then be applied, after that alarmd's own "back",
// once a newer alarmd takes the household over.
const schemaBeforeAwayMarks = 3

func awayMarksRefuseAnOlderAlarmd(t *testing.T, s *server) {
	db := s.open(t)
	if v, err := db.SchemaVersion(context.Background()); err != nil || v <= schemaBeforeAwayMarks {
		t.Fatalf("schema version %d %v: an alarmd of version %d would open a database with away marks", v, err, schemaBeforeAwayMarks)
	}
}

// A table package sqlite gained after a database was made (here: one
// dropped, and the digest of the schema last applied changed, as an older
// alarmd's database lacks it) exists after the next Open, with no schema
// step written for it, and works. While the schema is unchanged a second
// Open does not apply it again (it would lock the tables).
func tableAddedToPackageSqlite(t *testing.T, s *server) {
	ctx := context.Background()
	db := s.open(t)
	if _, err := db.SQL().Exec(`DROP TABLE webhook_replays`); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	unchanged, err := Open(ctx, s.url())
	if err != nil {
		t.Fatal(err)
	}
	_, err = unchanged.NoteWebhook(ctx, "k1", at, time.Hour)
	unchanged.Close()
	if err == nil {
		t.Fatal("the unchanged schema was applied again at Open")
	}
	if _, err := db.SQL().Exec(`UPDATE schema_tables SET digest = 'an older alarmd'`); err != nil {
		t.Fatal(err)
	}
	again, err := Open(ctx, s.url())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if replay, err := again.NoteWebhook(ctx, "k1", at, time.Hour); err != nil || replay {
		t.Fatalf("first webhook after reopening: replay=%v %v", replay, err)
	}
	if replay, err := again.NoteWebhook(ctx, "k1", at.Add(time.Minute), time.Hour); err != nil || !replay {
		t.Fatalf("replayed webhook: replay=%v %v", replay, err)
	}
}

// A database made at schema version 1 before elders had form_tier (as an
// alarmd older than the register merge left it) gains the column at the
// next Open (step 2), and the form tier round-trips.
func elderFormTierAdded(t *testing.T, s *server) {
	ctx := context.Background()
	db := s.open(t)
	for _, q := range []string{`ALTER TABLE elders DROP COLUMN form_tier`, `DELETE FROM schema_version WHERE version > 1`,
		`UPDATE schema_tables SET digest = 'an older alarmd'`} {
		if _, err := db.SQL().Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	again, err := Open(ctx, s.url())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	e := anxin.ElderRecord{ID: "e1", Household: "hh-1", Name: "张桂兰", IDNumber: "11010519491231002X", Tier: anxin.TierKey,
		FormTier: "重点", Contacts: []anxin.Contact{{Name: "李明", Phone: "+8613900000001"}}}
	if err := again.PutElder(ctx, &e); err != nil {
		t.Fatal(err)
	}
	if got, err := again.Elder(ctx, "e1"); err != nil || got.FormTier != "重点" {
		t.Fatalf("form tier after the migration: %q %v", got.FormTier, err)
	}
	if v, err := again.SchemaVersion(ctx); err != nil || v != len(versions) {
		t.Fatalf("version %d %v, want %d", v, err, len(versions))
	}
}

// url is the URL of the store that open made last.
func (s *server) url() string {
	return s.pg.URL("postgres") + fmt.Sprintf("&search_path=anxin_%d", s.n.Load())
}

// Open migrates once: a second Open (another alarmd) finds the newest
// version and changes nothing; a database at a newer version than this
// alarmd knows is refused rather than written.
func schemaVersions(t *testing.T, s *server) {
	ctx := context.Background()
	db := s.open(t)
	if v, err := db.SchemaVersion(ctx); err != nil || v != len(versions) {
		t.Fatalf("version %d %v, want %d", v, err, len(versions))
	}
	url := s.url()
	again, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	if err := again.SQL().QueryRow(`SELECT count(*) FROM schema_version`).Scan(&rows); err != nil || rows != len(versions) {
		t.Fatalf("%d version rows after a second Open, %v", rows, err)
	}
	again.Close()
	if _, err := db.SQL().Exec(`INSERT INTO schema_version (version) VALUES ($1)`, len(versions)+1); err != nil {
		t.Fatal(err)
	}
	if newer, err := Open(ctx, url); err == nil {
		newer.Close()
		t.Fatal("a database at a newer schema version was opened")
	} else if !strings.Contains(err.Error(), "newer than this alarmd") {
		t.Fatalf("refusal: %v", err)
	}
}

// Two alarmd on one database racing to open the same alarm make one alarm
// (the per-rule advisory lock), and their state changes log in commit order.
func twoInstancesShareOneDatabase(t *testing.T, s *server) {
	ctx := context.Background()
	a, b := s.openPair(t)
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		db := a
		if i%2 == 1 {
			db = b
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// each batch touches both rules, in opposite orders: the locks are taken sorted
			cs := []anxin.AlarmChange{
				{Op: anxin.AlarmOpOpen, Household: "hh-1", Rule: "fall", RuleKind: "event", Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, At: at},
				{Op: anxin.AlarmOpOpen, Household: "hh-1", Rule: "button", RuleKind: "event", Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, At: at},
			}
			if i%2 == 1 {
				cs[0], cs[1] = cs[1], cs[0]
			}
			_, err := db.ApplyIngest(ctx, &anxin.IngestBatch{At: at, Changes: cs, SeenIDs: []string{fmt.Sprintf("hh-1/m%d", i)}})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	open, err := b.Alarms(ctx, anxin.AlarmFilter{State: anxin.AlarmOpen})
	if err != nil || len(open) != 2 || open[0].Repeats != 19 || open[1].Repeats != 19 {
		t.Fatalf("open alarms after racing instances: %+v %v", open, err)
	}
}

// Ingest commits on a local PostgreSQL (fsync on, synchronous_commit on:
// the defaults); compare with sqlite.BenchmarkIngestCommits.
func BenchmarkIngestCommits(b *testing.B) {
	s := startServer(b)
	db := s.open(b)
	storetest.BenchmarkIngest(b, db.ApplyIngest)
}

// BenchmarkFencedIngestCommits: what the lease fence adds to a commit
// (alarmd on the NATS tier). Each op commits the same kind of batch (100
// seen ids, 20 rule states) three times in turn: unfenced, fenced by the
// lease of 1 partition, and of 6 (one alarmd's share in the deployment
// guide's example), so a loaded machine slows all three alike; the medians
// are reported (µs/commit), and added-µs is fenced-6's median less the
// unfenced one. With commits synced (the default) and with
// synchronous_commit off, where the flush's noise hides less.
func BenchmarkFencedIngestCommits(b *testing.B) {
	s := startServer(b)
	ctx := context.Background()
	for _, sync := range []string{"on", "off"} {
		b.Run("sync="+sync, func(b *testing.B) {
			db := s.open(b, "&synchronous_commit="+sync)
			now := time.Now()
			if _, err := db.PartitionLeases(ctx, "S", 6); err != nil {
				b.Fatal(err)
			}
			var held []anxin.PartitionEpoch
			for k := range 6 {
				e, ok, err := db.ClaimPartition(ctx, "S", k, "a", now, now.Add(24*time.Hour))
				if err != nil || !ok {
					b.Fatal(ok, err)
				}
				held = append(held, anxin.PartitionEpoch{Part: k, Epoch: e})
			}
			fences := []*anxin.LeaseFence{nil, {Stream: "S", Owner: "a", Parts: held[:1]}, {Stream: "S", Owner: "a", Parts: held}}
			states := make([]anxin.RuleState, 20)
			for i := range states {
				states[i] = anxin.RuleState{Household: fmt.Sprintf("hh-%04d", i), State: make([]byte, 64)}
			}
			took := make([][]time.Duration, len(fences))
			ids := make([]string, 100)
			for b.Loop() {
				for j, f := range fences {
					for k := range ids {
						ids[k] = "hh-0001/" + anxin.NewID(now)
					}
					start := time.Now()
					if _, err := db.ApplyIngest(ctx, &anxin.IngestBatch{At: now, SeenIDs: ids, States: states, Fence: f}); err != nil {
						b.Fatal(err)
					}
					took[j] = append(took[j], time.Since(start))
				}
			}
			median := func(d []time.Duration) float64 {
				slices.Sort(d)
				return float64(d[len(d)/2].Microseconds())
			}
			m := []float64{median(took[0]), median(took[1]), median(took[2])}
			b.ReportMetric(m[0], "unfenced-µs")
			b.ReportMetric(m[1], "fenced-1-µs")
			b.ReportMetric(m[2], "fenced-6-µs")
			b.ReportMetric(m[2]-m[0], "added-µs")
		})
	}
}
