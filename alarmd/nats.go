package alarmd

import (
	"context"
	"errors"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/ingest"
)

// openJetStream starts consuming the NATS cluster's MQTT message stream
// (nats.urls set): this alarmd claims its share of the partitions through
// leases in the store (cluster.instance, cluster.lease, cluster.poll) and
// does not subscribe over MQTT.
func (m *Main) openJetStream(ctx context.Context, p *ingest.Pipeline) (*ingest.JetStreamSource, error) {
	cfg := m.Config
	leases, ok := m.Store.(anxin.LeaseStore)
	if !ok {
		return nil, errors.New("alarmd: nats.urls needs a store with partition leases (SQLite or PostgreSQL)")
	}
	inst := instanceName(cfg)
	n := cfg.NATS
	js, err := ingest.StartJetStream(ctx, ingest.JetStreamConfig{URLs: n.URLs, User: n.User, Password: n.Password.Reveal(),
		CredsFile: n.CredsFile, Stream: n.Stream, Partitions: n.Partitions, Replicas: n.Replicas, Consumer: n.Consumer,
		Instance: inst, Lease: cfg.Cluster.Lease, Poll: cfg.Cluster.Poll, AckWait: n.AckWait, MaxAckPending: n.MaxAckPending,
		Fetch: min(cfg.Ingest.Batch, 1000)}, p, leases, m.Logger.With("component", "nats"))
	if err != nil {
		return nil, err
	}
	m.Logger.Info("consuming from NATS JetStream", "servers", len(n.URLs), "stream", n.Stream,
		"partitions", n.Partitions, "instance", inst)
	return js, nil
}
