package sqlite

// Partition leases: several alarmd consuming one JetStream source share its
// partitions (households hashed by the broker's subject mapping) so that
// one household's readings are processed by one alarmd at a time. Each
// instance says it is alive (partition_members) and claims a fair share of
// the partitions for a lease (partition_leases); the epoch grows with every
// change of owner and fences a renewal or release by an owner that lost
// the lease. Times are the instances' wall clocks in Unix milliseconds:
// their skew must stay well below the lease (NTP).

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/anxin-care/anxin"
)

var schemaLeases = `
CREATE TABLE IF NOT EXISTS partition_leases (
	stream TEXT NOT NULL,
	part   INTEGER NOT NULL,
	owner  TEXT NOT NULL DEFAULT '',
	epoch  INTEGER NOT NULL DEFAULT 0,
	held_until  INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (stream, part)
);
CREATE TABLE IF NOT EXISTS partition_members (
	stream TEXT NOT NULL,
	owner  TEXT NOT NULL,
	held_until  INTEGER NOT NULL,
	PRIMARY KEY (stream, owner)
);
`

// PartitionLease is one partition's row (anxin.PartitionLease).
type PartitionLease = anxin.PartitionLease

var _ anxin.LeaseStore = (*DB)(nil)

// HeartbeatMember says owner is alive until until.
func (d *DB) HeartbeatMember(ctx context.Context, stream, owner string, until time.Time) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO partition_members (stream, owner, held_until) VALUES (?, ?, ?)
		ON CONFLICT (stream, owner) DO UPDATE SET held_until = excluded.held_until`, stream, owner, until.UnixMilli())
	return err
}

// LeaveMembers removes owner (it stops).
func (d *DB) LeaveMembers(ctx context.Context, stream, owner string) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM partition_members WHERE stream = ? AND owner = ?`, stream, owner)
	return err
}

// LiveMembers are the members whose heartbeat runs past now, by name.
func (d *DB) LiveMembers(ctx context.Context, stream string, now time.Time) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT owner FROM partition_members WHERE stream = ? AND held_until > ? ORDER BY owner`,
		stream, now.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// PartitionLeases makes sure partitions 0..parts-1 of stream have a row
// and returns them in order.
func (d *DB) PartitionLeases(ctx context.Context, stream string, parts int) ([]PartitionLease, error) {
	out, err := d.partitionLeases(ctx, stream, parts)
	if err != nil || len(out) == parts {
		return out, err // the rows are there (every call but the first): one read, not an insert a partition
	}
	for k := range parts {
		if _, err := d.db.ExecContext(ctx, `INSERT INTO partition_leases (stream, part) VALUES (?, ?)
			ON CONFLICT (stream, part) DO NOTHING`, stream, k); err != nil {
			return nil, err
		}
	}
	return d.partitionLeases(ctx, stream, parts)
}

func (d *DB) partitionLeases(ctx context.Context, stream string, parts int) ([]PartitionLease, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT part, owner, epoch, held_until FROM partition_leases
		WHERE stream = ? AND part < ? ORDER BY part`, stream, parts)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PartitionLease
	for rows.Next() {
		var l PartitionLease
		var until int64
		if err := rows.Scan(&l.Part, &l.Owner, &l.Epoch, &until); err != nil {
			return nil, err
		}
		l.Until = time.UnixMilli(until)
		out = append(out, l)
	}
	return out, rows.Err()
}

// ClaimPartition takes a partition whose lease ran out (or was released)
// by now for owner until until, with a new epoch. ok is false when
// someone else holds it.
func (d *DB) ClaimPartition(ctx context.Context, stream string, part int, owner string, now, until time.Time) (epoch int64, ok bool, err error) {
	err = d.db.QueryRowContext(ctx, `UPDATE partition_leases SET owner = ?, epoch = epoch + 1, held_until = ?
		WHERE stream = ? AND part = ? AND (owner = '' OR held_until <= ?) RETURNING epoch`,
		owner, until.UnixMilli(), stream, part, now.UnixMilli()).Scan(&epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return epoch, err == nil, err
}

// RenewPartition extends owner's lease of epoch to until; false: the lease
// is no longer owner's (it ran out and another took it).
func (d *DB) RenewPartition(ctx context.Context, stream string, part int, owner string, epoch int64, until time.Time) (bool, error) {
	r, err := d.db.ExecContext(ctx, `UPDATE partition_leases SET held_until = ?
		WHERE stream = ? AND part = ? AND owner = ? AND epoch = ?`, until.UnixMilli(), stream, part, owner, epoch)
	if err != nil {
		return false, err
	}
	n, err := r.RowsAffected()
	return n == 1, err
}

// ReleasePartition gives a partition up at once (a peer may claim it
// without waiting for the lease); a no-op when epoch is no longer owner's.
func (d *DB) ReleasePartition(ctx context.Context, stream string, part int, owner string, epoch int64) error {
	_, err := d.db.ExecContext(ctx, `UPDATE partition_leases SET owner = '', held_until = 0
		WHERE stream = ? AND part = ? AND owner = ? AND epoch = ?`, stream, part, owner, epoch)
	return err
}

// checkFence is the fence of a write (anxin.LeaseFence), the last statement
// of its transaction: one statement that finds the fence's partitions
// still held by its owner at their epochs, not run out by the database's
// clock. On PostgreSQL it share-locks those lease rows until the commit,
// so a claim (an UPDATE of the row) waits for the write to end and the
// new owner's take-over reads it; a SQLite write transaction holds the
// database's write lock already. A partition that does not hold makes the
// whole write roll back with a *anxin.LeaseLostError.
func checkFence(ctx context.Context, tx *sql.Tx, pg bool, f *anxin.LeaseFence) error {
	if f == nil {
		return nil
	}
	var q string
	var args []any
	if pg {
		q = `SELECT l.part, l.epoch FROM partition_leases l
			JOIN unnest(?::bigint[], ?::bigint[]) AS u(p, e) ON l.part = u.p AND l.epoch = u.e
			WHERE l.stream = ? AND l.owner = ? AND l.held_until > (extract(epoch FROM clock_timestamp()) * 1000)::bigint
			FOR SHARE OF l`
		parts := make([]int64, len(f.Parts))
		epochs := make([]int64, len(f.Parts))
		for i, p := range f.Parts {
			parts[i], epochs[i] = int64(p.Part), p.Epoch
		}
		args = []any{parts, epochs, f.Stream, f.Owner}
	} else {
		// (at most one row a partition: the owner's, compared below)
		q = `SELECT part, epoch FROM partition_leases WHERE stream = ? AND owner = ?
			AND held_until > CAST(unixepoch('subsec') * 1000 AS INTEGER)`
		args = []any{f.Stream, f.Owner}
	}
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	held := make(map[int]int64, len(f.Parts))
	for rows.Next() {
		var k int
		var epoch int64
		if err := rows.Scan(&k, &epoch); err != nil {
			return err
		}
		held[k] = epoch
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var lost []int
	for _, p := range f.Parts {
		if e, ok := held[p.Part]; !ok || e != p.Epoch {
			lost = append(lost, p.Part)
		}
	}
	if len(lost) > 0 {
		slices.Sort(lost)
		return &anxin.LeaseLostError{Parts: lost}
	}
	return nil
}
