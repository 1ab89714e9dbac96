package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/anxin-care/anxin"
)

// Chain claims (anxin.ChainClaims): several alarmd on one database drive
// chains by claiming them. Each chain row carries
//
//   - wake: when the chain next needs a pass (its timer, in the database;
//     empty sorts first, so an unfinished chain without one is due);
//   - lease_owner, lease_until, lease_epoch: who runs a pass now, until
//     when, and a fencing token that every claim increments;
//   - pokes, lease_pokes: a counter PokeChain increments and the value the
//     holder's claim saw, so a poke during a pass survives the release.
//
// Every method is one conditional UPDATE (or SELECT): on PostgreSQL two
// claims of one row serialise on its row lock and the second re-reads the
// WHERE against the first's commit, so exactly one wins; SQLite has one
// writer. No advisory locks.

// indexChainsWake finds the due chains; made by migrateChainLeases on
// SQLite (older stores gain the column first), with the schema on
// PostgreSQL.
const indexChainsWake = `CREATE INDEX IF NOT EXISTS escalation_chains_wake ON escalation_chains(wake) WHERE finished = 0`

// migrateChainLeases adds the claim columns to a store made before them.
// Old unfinished chains get an empty wake (due at once): the first pass sets it.
func migrateChainLeases(ctx context.Context, db *sql.DB) error {
	for _, c := range []struct{ column, decl string }{
		{"wake", "TEXT NOT NULL DEFAULT ''"},
		{"lease_owner", "TEXT NOT NULL DEFAULT ''"},
		{"lease_until", "TEXT NOT NULL DEFAULT ''"},
		{"lease_epoch", "INTEGER NOT NULL DEFAULT 0"},
		{"pokes", "INTEGER NOT NULL DEFAULT 0"},
		{"lease_pokes", "INTEGER NOT NULL DEFAULT 0"},
	} {
		if err := ensureColumn(ctx, db, "escalation_chains", c.column, c.decl, ""); err != nil {
			return err
		}
	}
	_, err := db.ExecContext(ctx, indexChainsWake)
	return err
}

// minWake is SQL for the stored wake moved to ?1 when that is earlier
// (or when there is none).
const minWake = `CASE WHEN wake = '' OR wake > ?1 THEN ?1 ELSE wake END`

// ClaimChain takes the chain's lease for owner until until, if nobody holds
// it or the holder's lease ran out before now. The chain is then due at now
// at the latest, so that a holder dying in the pass leaves it due when the
// lease runs out. epoch is the fencing token of this claim.
func (d *DB) ClaimChain(ctx context.Context, alarmID, owner string, now, until time.Time) (epoch int64, ok bool, err error) {
	if owner == "" {
		return 0, false, anxin.Errorf(anxin.EINVALID, "claim chain: no owner")
	}
	err = d.db.QueryRowContext(ctx, `UPDATE escalation_chains SET wake = `+minWake+`,
		lease_owner = ?2, lease_until = ?3, lease_epoch = lease_epoch + 1, lease_pokes = pokes
		WHERE alarm_id = ?4 AND (lease_owner = '' OR lease_until < ?1) RETURNING lease_epoch`,
		fmtTime(now), owner, fmtTime(until), alarmID).Scan(&epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	} else if err != nil {
		return 0, false, fmt.Errorf("claim chain: %w", err)
	}
	return epoch, true, nil
}

// RenewChain extends the lease owner holds with epoch to until; ok is
// false when another claim came since (the epoch moved): the caller must
// stop, its pass is stale. A lease that ran out with nobody claiming it is
// still the owner's (any claim would have moved the epoch).
func (d *DB) RenewChain(ctx context.Context, alarmID, owner string, epoch int64, until time.Time) (bool, error) {
	res, err := d.db.ExecContext(ctx, `UPDATE escalation_chains SET lease_until = ?
		WHERE alarm_id = ? AND lease_owner = ? AND lease_epoch = ?`, fmtTime(until), alarmID, owner, epoch)
	if err != nil {
		return false, fmt.Errorf("renew chain lease: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReleaseChain gives the lease back and stores wake (zero: none) as the
// chain's next pass, unless a poke came during the pass: then the poke's
// earlier wake stays and poked is true (the caller runs the pass again). A
// lease lost meanwhile (another claim came) changes nothing: ECONFLICT.
func (d *DB) ReleaseChain(ctx context.Context, alarmID, owner string, epoch int64, wake time.Time) (poked bool, err error) {
	var pokes, seen int64
	err = d.db.QueryRowContext(ctx, `UPDATE escalation_chains SET lease_owner = '', lease_until = '',
		wake = CASE WHEN pokes != lease_pokes THEN wake ELSE ? END
		WHERE alarm_id = ? AND lease_owner = ? AND lease_epoch = ? RETURNING pokes, lease_pokes`,
		fmtTime(wake), alarmID, owner, epoch).Scan(&pokes, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return false, anxin.Errorf(anxin.ECONFLICT, "chain of alarm %s: lease lost", clipAlarmID(alarmID))
	} else if err != nil {
		return false, fmt.Errorf("release chain: %w", err)
	}
	return pokes != seen, nil
}

// PokeChain says something changed (a key press, an ack link, a status
// report, a close): the chain is due now, and a pass under way sees the
// poke when it releases. A chain that does not exist is no error.
func (d *DB) PokeChain(ctx context.Context, alarmID string, now time.Time) error {
	if _, err := d.db.ExecContext(ctx, `UPDATE escalation_chains SET pokes = pokes + 1, wake = `+minWake+`
		WHERE alarm_id = ?2`, fmtTime(now), alarmID); err != nil {
		return fmt.Errorf("poke chain: %w", err)
	}
	return nil
}

// DueChains lists unfinished chains whose wake is at or before now and
// whose lease is free or ran out, earliest wake first (at most limit).
func (d *DB) DueChains(ctx context.Context, now time.Time, limit int) ([]string, error) {
	t := fmtTime(now)
	rows, err := d.db.QueryContext(ctx, `SELECT alarm_id FROM escalation_chains
		WHERE finished = 0 AND wake <= ? AND (lease_owner = '' OR lease_until < ?) ORDER BY wake, alarm_id LIMIT ?`,
		t, t, limit)
	if err != nil {
		return nil, fmt.Errorf("due chains: %w", err)
	}
	return collect(rows, func(r rowScanner) (string, error) {
		var id string
		return id, r.Scan(&id)
	})
}

var _ anxin.ChainClaims = (*DB)(nil)
