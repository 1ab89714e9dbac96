package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
)

// schemaAwayMarks holds each household's last away mark (anxin.AwayMark):
// a person marks it through any alarmd, the one holding the household's
// partition applies it (applied = version once its rule state is
// committed). One row a household ever marked.
var schemaAwayMarks = `
CREATE TABLE IF NOT EXISTS away_marks (
	household TEXT PRIMARY KEY,
	away      INTEGER NOT NULL,
	at        INTEGER NOT NULL,
	version   INTEGER NOT NULL,
	applied   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS away_marks_pending ON away_marks(at) WHERE applied < version;
`

// PutAwayMark records a household away or back, pending.
func (d *DB) PutAwayMark(ctx context.Context, household string, away bool, at time.Time) (anxin.AwayMark, error) {
	m := anxin.AwayMark{Household: household, Away: away, At: at}
	if !anxin.ValidID(household) {
		return m, anxin.Errorf(anxin.EINVALID, "invalid household id")
	}
	err := d.db.QueryRowContext(ctx, `INSERT INTO away_marks (household, away, at, version) VALUES (?, ?, ?, 1)
		ON CONFLICT (household) DO UPDATE SET away = excluded.away, at = excluded.at, version = away_marks.version + 1
		RETURNING version`, household, away, at.UnixMilli()).Scan(&m.Version)
	if err != nil {
		return m, fmt.Errorf("away mark: %w", err)
	}
	return m, nil
}

// AwayMark is the household's last mark.
func (d *DB) AwayMark(ctx context.Context, household string) (anxin.AwayMark, error) {
	ms, err := d.awayMarks(ctx, `WHERE household = ?`, household)
	if err != nil {
		return anxin.AwayMark{}, err
	}
	if len(ms) == 0 {
		return anxin.AwayMark{Household: household}, anxin.Errorf(anxin.ENOTFOUND, "household never marked away")
	}
	return ms[0], nil
}

// PendingAwayMarks lists the marks not applied yet, oldest first.
func (d *DB) PendingAwayMarks(ctx context.Context) ([]anxin.AwayMark, error) {
	return d.awayMarks(ctx, `WHERE applied < version ORDER BY at, household`)
}

// AwayMarkApplied records the household's mark of version applied.
func (d *DB) AwayMarkApplied(ctx context.Context, household string, version int64) error {
	_, err := d.db.ExecContext(ctx, `UPDATE away_marks SET applied = ? WHERE household = ? AND applied < ?`,
		version, household, version)
	if err != nil {
		return fmt.Errorf("away mark applied: %w", err)
	}
	return nil
}

// AdoptAwayMarks records households away and applied unless they have a
// mark, 500 a statement in one transaction.
func (d *DB) AdoptAwayMarks(ctx context.Context, households []string, at time.Time) error {
	if len(households) == 0 {
		return nil
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("away marks: %w", err)
	}
	defer tx.Rollback()
	for lo := 0; lo < len(households); lo += 500 {
		chunk := households[lo:min(lo+500, len(households))]
		args := make([]any, 0, 2*len(chunk))
		for _, hh := range chunk {
			args = append(args, hh, at.UnixMilli())
		}
		q := `INSERT INTO away_marks (household, away, at, version, applied) VALUES (?, 1, ?, 1, 1)` +
			strings.Repeat(`, (?, 1, ?, 1, 1)`, len(chunk)-1) + ` ON CONFLICT (household) DO NOTHING`
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("away marks: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("away marks: %w", err)
	}
	return nil
}

func (d *DB) awayMarks(ctx context.Context, where string, args ...any) ([]anxin.AwayMark, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT household, away, at, version, applied FROM away_marks `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("away marks: %w", err)
	}
	defer rows.Close()
	var out []anxin.AwayMark
	for rows.Next() {
		var m anxin.AwayMark
		var away int
		var at, applied int64
		if err := rows.Scan(&m.Household, &away, &at, &m.Version, &applied); err != nil {
			return nil, err
		}
		m.Away, m.At, m.Applied = away == 1, time.UnixMilli(at).UTC(), applied >= m.Version
		out = append(out, m)
	}
	return out, rows.Err()
}
