package alarmd

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/influx"
	"github.com/anxin-care/anxin/ingest"
	"github.com/anxin-care/anxin/internal/configerr"
	"github.com/anxin-care/anxin/rules"
	"github.com/anxin-care/anxin/sqlite"
)

var errForeignTopic = errors.New("topic outside the publisher's household")

// ingestWiring is the running ingest side: archive, pipeline, subscriber.
type ingestWiring struct {
	// walStore is SQLite's, whose write-ahead log is folded off the alarm path (nil: PostgreSQL)
	walStore   checkpointer
	archive    *influx.Archive
	pipeline   *ingest.Pipeline
	subscriber *ingest.Subscriber      // nil with the embedded broker
	jetstream  *ingest.JetStreamSource // with nats.urls: the NATS cluster's MQTT message stream
	// stopIntercept refuses what the embedded broker still hands over
	stopIntercept context.CancelFunc
}

// loadRules reads cfg.RulesFile, or the built-in rules when it is empty.
func loadRules(cfg *Config) (*rules.Config, error) {
	if cfg.RulesFile == "" {
		return rules.Default(), nil
	}
	data, err := os.ReadFile(cfg.RulesFile)
	if err != nil {
		ce := configerr.NewConfigError(configerr.FileUnreadable, "rules_file", "%v", err).WithValue(cfg.RulesFile)
		ce.Err = err
		return nil, fmt.Errorf("rules: %w", ce)
	}
	rc, err := rules.Parse(data)
	if err != nil {
		var ce *configerr.ConfigError
		if errors.As(err, &ce) {
			ce.File = cfg.RulesFile
		}
		return nil, fmt.Errorf("%s: %w", cfg.RulesFile, err)
	}
	return rc, nil
}

// openIngest builds the rules engine, the archive and the pipeline from the
// broker to the store, restores rule state and connects to the broker.
func (m *Main) openIngest(ctx context.Context) error {
	cfg := m.Config
	rc, err := loadRules(cfg)
	if err != nil {
		return err
	}
	m.engine = rules.New(rc)
	m.engine.DeferSeen(cfg.Ingest.SeenFlush, cfg.Ingest.StateFlush) // before the pipeline restores states
	if m.register != nil {
		m.register.setOnChange(func(fresh []anxin.Kit) []string { // a register change reaches the rules at once
			return m.syncHouseholdList(slices.Values(fresh))
		})
	}
	m.syncHouseholds()
	w := &ingestWiring{}
	var archive ingest.Archive
	if cfg.Influx.URL != "" {
		a, err := influx.New(influx.Config{URL: cfg.Influx.URL, Token: cfg.Influx.Token.Reveal(), Org: cfg.Influx.Org,
			Bucket: cfg.Influx.Bucket, BatchSize: cfg.Influx.BatchSize, FlushInterval: cfg.Influx.FlushInterval,
			Queue: cfg.Influx.Queue}, m.Logger.With("component", "archive"), m.Metrics)
		if err != nil {
			return err
		}
		w.archive, archive = a, a
		m.closers = append(m.closers, a.Close)
	} else {
		m.Logger.Info("influx.url is empty: readings are not archived")
	}
	var store ingest.Store = m.Store
	if db, ok := m.Store.(*sqlite.DB); ok {
		// SQLite: batches on a connection of their own that syncs each commit
		// and never checkpoints; checkpoint folds the log off the alarm path
		writer, err := db.NewIngestWriter(ctx)
		if err != nil {
			return err
		}
		m.closers = append(m.closers, writer.Close)
		store, w.walStore = ingestStore{DB: db, writer: writer}, db
	}
	var register ingest.Register = householdsRegister{m.Households}
	if m.register != nil {
		register = m.register
	}
	p, err := ingest.New(ingest.Config{Batch: cfg.Ingest.Batch, BatchWait: cfg.Ingest.BatchWait,
		Inflight: cfg.Ingest.Inflight, DedupWindow: cfg.Ingest.DedupWindow, StateFlush: cfg.Ingest.StateFlush,
		StuckAfter: cfg.Ingest.StuckAfter,
		// the NATS tier redelivers what is not acknowledged: a reading is
		// acknowledged once archived, so a killed alarmd's queue is not lost
		AckAfterArchive: cfg.NATS.Enabled()},
		ingest.Deps{Engine: m.engine, Store: store, Archive: archive, Escalator: m.Escalator,
			Register: register, Logger: m.Logger.With("component", "ingest"), Now: m.Now, Metrics: m.Metrics})
	if err != nil {
		return err
	}
	if cfg.NATS.Enabled() {
		// before Restore: the pipeline then restores only the households of
		// the partitions it takes over, as it takes them over
		js, err := m.openJetStream(ctx, p)
		if err != nil {
			return err
		}
		w.jetstream = js
		m.closers = append(m.closers, func() error { js.Close(); return nil }) // if Run never ran
	}
	if err := p.Restore(ctx); err != nil {
		return fmt.Errorf("restore rule state: %w", err)
	}
	w.pipeline = p
	if m.broker != nil {
		// the embedded broker hands messages straight to the pipeline and
		// acknowledges each only after its commit: no client session in
		// between to lose what was acknowledged but not yet stored
		ictx, icancel := context.WithCancel(context.WithoutCancel(ctx))
		w.stopIntercept = icancel
		m.closers = append(m.closers, func() error { icancel(); return nil }) // before the broker closes
		if err := m.broker.Intercept("anxin/v1/", func(household, topic string, payload []byte) error {
			// the broker's ACL already holds a gateway to its household;
			// alarmd checks it again rather than trust one hook's order
			if household != "" {
				if hh, _, _, err := anxin.ParseTopic(topic); err == nil && hh != household {
					m.Logger.Warn("message refused: topic outside the publisher's household", "household", household)
					return errForeignTopic
				}
			}
			return p.DeliverCommitted(ictx, topic, payload)
		}); err != nil {
			return err
		}
	} else if !cfg.NATS.Enabled() {
		s, err := ingest.Subscribe(ctx, ingest.SubscriberConfig{Broker: m.brokerURL, ClientID: cfg.MQTT.ClientID,
			Username: cfg.MQTT.Username, Password: cfg.MQTT.Password.Reveal(), ReadPace: cfg.MQTT.ReadPace}, p, m.Logger.With("component", "mqtt"), 5*time.Second)
		if err != nil {
			return err
		}
		w.subscriber = s
		m.closers = append(m.closers, func() error { s.Close(); return nil }) // if Run never ran
	}
	m.ingest = w
	return nil
}

// Run runs the archive and the pipeline; the subscriber is closed first at
// the end so nothing new arrives while the last batch commits.
func (w *ingestWiring) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	archCtx, archCancel := context.WithCancel(context.WithoutCancel(ctx))
	if w.archive != nil {
		wg.Add(1)
		go func() { defer wg.Done(); _ = w.archive.Run(archCtx) }()
	}
	if w.walStore != nil {
		wg.Add(1)
		go func() { defer wg.Done(); w.checkpoint(archCtx) }()
	}
	err := w.pipeline.Run(ctx)
	if w.jetstream != nil && w.archive != nil {
		// readings are acknowledged once archived (AckAfterArchive): what the
		// archive holds is sent while the NATS connection can still carry
		// their acks, or a peer gets them again ack_wait later
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = w.archive.Flush(fctx)
		cancel()
	}
	w.stopReceiving()
	archCancel()
	wg.Wait()
	return err
}

// checkpoint folds the write-ahead log into the database every second, off
// the alarm path (the ingest connection never checkpoints itself).
func (w *ingestWiring) checkpoint(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = w.walStore.Checkpoint(ctx) // a busy database is checkpointed next time
		}
	}
}

type checkpointer interface {
	Checkpoint(ctx context.Context) error
}

// ingestStore is the SQLite store with ingest batches on their own connection.
type ingestStore struct {
	*sqlite.DB
	writer *sqlite.IngestWriter
}

func (s ingestStore) ApplyIngest(ctx context.Context, b *sqlite.IngestBatch) (sqlite.IngestResult, error) {
	return s.writer.ApplyIngest(ctx, b)
}

// stopReceiving ends the subscription, or refuses what the embedded broker
// still hands over (its publishers send it again).
func (w *ingestWiring) stopReceiving() {
	if w.subscriber != nil {
		w.subscriber.Close()
	}
	if w.stopIntercept != nil {
		w.stopIntercept()
	}
	if w.jetstream != nil {
		w.jetstream.Close() // after the last batch: its leases go to a peer at once
	}
}

// Notes is what /healthz lists without failing: an old nats-server.
func (w *ingestWiring) Notes() []string {
	if w.jetstream != nil {
		return w.jetstream.Notes()
	}
	return nil
}

func (w *ingestWiring) Healthy() error {
	if w.jetstream != nil {
		return errors.Join(w.jetstream.Healthy(), w.pipeline.Healthy())
	}
	if w.subscriber == nil {
		return w.pipeline.Healthy() // the embedded broker lives and dies with alarmd
	}
	return errors.Join(w.subscriber.Healthy(), w.pipeline.Healthy())
}

// syncHouseholds gives the engine every household's tier, and says which
// households list no devices (ingest believes none of their messages).
func (m *Main) syncHouseholds() {
	if m.engine == nil || m.register == nil {
		return
	}
	if bare := m.syncHouseholdList(m.register.Kits()); len(bare) > 0 {
		m.Logger.Warn("households list no devices: their messages are rejected until the register lists them (households_file or PUT /api/v1/households/<id>)",
			"households", len(bare), "first", bare[0])
	}
}

// syncHouseholdList gives the rules engine each household's tier (未评估:
// the general tier's settings, as its visits) and returns those without devices.
func (m *Main) syncHouseholdList(list iter.Seq[anxin.Kit]) (bare []string) {
	if m.engine == nil {
		return nil
	}
	for k := range list {
		tier := k.Tier
		if tier == anxin.TierUnassessed {
			tier = anxin.TierGeneral
		}
		m.engine.SetHousehold(k.Household, tier)
		if len(k.Devices) == 0 {
			bare = append(bare, k.Household)
		}
	}
	return bare
}

func (w *ingestWiring) SetAway(ctx context.Context, household string, away bool) error {
	return w.pipeline.SetAway(ctx, household, away)
}

func (w *ingestWiring) Away(ctx context.Context, household string) (bool, error) {
	return w.pipeline.Away(ctx, household)
}
