package anxin

import (
	"context"
	"fmt"
	"time"
)

// PartitionLease is one partition of a shared message source and who
// holds it: several alarmd consuming one JetStream source each claim a
// share of its partitions (households hashed by the broker), so that one
// household's messages are processed by one alarmd at a time. The epoch
// grows with every change of owner and fences a renewal or release by an
// owner that lost the lease. Owner "" is free.
type PartitionLease struct {
	Part  int
	Owner string
	Epoch int64
	Until time.Time
}

// LeaseStore keeps partition leases and who is alive to hold them
// (*sqlite.DB, on SQLite and PostgreSQL). Times are the instances' wall
// clocks: their skew must stay well below the lease.
type LeaseStore interface {
	// HeartbeatMember says owner is alive until until.
	HeartbeatMember(ctx context.Context, stream, owner string, until time.Time) error
	// LeaveMembers removes owner (it stops).
	LeaveMembers(ctx context.Context, stream, owner string) error
	// LiveMembers are the members whose heartbeat runs past now, by name.
	LiveMembers(ctx context.Context, stream string, now time.Time) ([]string, error)
	// PartitionLeases makes sure partitions 0..parts-1 have a row and
	// returns them in order.
	PartitionLeases(ctx context.Context, stream string, parts int) ([]PartitionLease, error)
	// ClaimPartition takes a partition that is free or whose lease ran out
	// by now, until until, with a new epoch; ok false: someone holds it.
	ClaimPartition(ctx context.Context, stream string, part int, owner string, now, until time.Time) (epoch int64, ok bool, err error)
	// RenewPartition extends owner's lease of epoch; false: it is no longer owner's.
	RenewPartition(ctx context.Context, stream string, part int, owner string, epoch int64, until time.Time) (bool, error)
	// ReleasePartition frees a partition at once; a no-op when epoch is no longer owner's.
	ReleasePartition(ctx context.Context, stream string, part int, owner string, epoch int64) error
}

// LeaseFence fences a write by the partition leases it was made under
// (IngestBatch.Fence): in the write's own transaction the store checks
// that Owner still holds every partition of Parts at its epoch and that
// the lease has not run out by the database's clock, and keeps the
// leases from changing owner until the write commits. If one does not
// hold, nothing of the write is applied and the store returns a
// *LeaseLostError. One statement per write.
type LeaseFence struct {
	Stream string // the lease key (LeaseStore's stream)
	Owner  string
	Parts  []PartitionEpoch
}

// PartitionEpoch is a partition held under a lease of epoch.
type PartitionEpoch struct {
	Part  int
	Epoch int64
}

// LeaseLostError refuses a fenced write: Parts (in order) are no longer
// the writer's (another alarmd claimed them, or their leases ran out).
type LeaseLostError struct {
	Parts []int
}

func (e *LeaseLostError) Error() string {
	return fmt.Sprintf("partition leases lost before the commit: %v", e.Parts)
}
