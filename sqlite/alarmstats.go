package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
)

// EachAlarmOutcome calls fn for every family-route alarm opened in
// [since, until) of the given households (nil: all), oldest first, with the
// acceptance time of its escalation chain. Unlike AlarmsOpened it has no
// limit: the report's counts are exact. It selects as AlarmsOpened does
// (openedIn) and reads only the columns it needs, in one scan of
// alarms_opened joined to escalation_chains on its key. fn runs while the
// rows are read: it must not use the store.
func (d *DB) EachAlarmOutcome(ctx context.Context, since, until time.Time, households map[string]bool, fn func(AlarmOutcome) error) error {
	if households != nil && len(households) == 0 {
		return nil
	}
	where, args := openedIn("a.", since, until, households)
	where, args = append(where, "a.route != ?"), append(args, string(anxin.RouteInstaller))
	q := `SELECT a.id, a.household, a.rule, a.state, a.accepted_by, a.opened_at, a.updated_at, coalesce(c.accepted_at, '')
		FROM alarms a LEFT JOIN escalation_chains c ON c.alarm_id = a.id
		WHERE ` + strings.Join(where, " AND ") + ` ORDER BY a.opened_at, a.id`
	rows, err := d.db.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("alarm outcomes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var o AlarmOutcome
		var opened, updated, accepted string
		if err := rows.Scan(&o.ID, &o.Household, &o.Rule, &o.State, &o.AcceptedBy, &opened, &updated, &accepted); err != nil {
			return fmt.Errorf("alarm outcomes: %w", err)
		}
		if households != nil && !households[o.Household] {
			continue
		}
		if o.OpenedAt, err = parseAlarmTime(opened); err == nil {
			if o.UpdatedAt, err = parseAlarmTime(updated); err == nil {
				o.ChainAcceptedAt, err = parseTime(accepted)
			}
		}
		if err != nil {
			return fmt.Errorf("alarm outcomes: alarm %s: %w", clipAlarmID(o.ID), err)
		}
		if err := fn(o); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("alarm outcomes: %w", err)
	}
	return nil
}
