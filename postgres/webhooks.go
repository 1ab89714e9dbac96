package postgres

import (
	"context"
	"fmt"
	"time"
)

// schemaWebhookReplays is the memory of Twilio webhooks already handled, so
// that a replay (Twilio retrying with identical content, or someone sending a
// captured request again) is recognised after a restart too. key is a hash
// chosen by the caller (of signature, URL and body: no secret, no number);
// seen_at is unix nanoseconds, so comparisons are numeric.
var schemaWebhookReplays = `
CREATE TABLE IF NOT EXISTS webhook_replays (
	key     TEXT COLLATE "C" PRIMARY KEY,
	seen_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_replays_seen ON webhook_replays(seen_at);
`

// NoteWebhook records that the webhook with this key was handled at at and
// reports whether it had been handled already within window before at. A
// key older than the window counts as new (and is refreshed).
func (d *DB) NoteWebhook(ctx context.Context, key string, at time.Time, window time.Duration) (replay bool, err error) {
	res, err := d.db.ExecContext(ctx, `INSERT INTO webhook_replays (key, seen_at) VALUES (?1, ?2)
		ON CONFLICT(key) DO UPDATE SET seen_at = excluded.seen_at WHERE webhook_replays.seen_at <= ?3`,
		key, at.UnixNano(), at.Add(-window).UnixNano())
	if err != nil {
		return false, fmt.Errorf("note webhook: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("note webhook: %w", err)
	}
	return n == 0, nil
}

// ForgetWebhook drops a key, so that a retry of a webhook whose handling
// failed is handled again.
func (d *DB) ForgetWebhook(ctx context.Context, key string) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM webhook_replays WHERE key = ?`, key); err != nil {
		return fmt.Errorf("forget webhook: %w", err)
	}
	return nil
}

// ForgetWebhooksBefore trims the memory: keys seen before t are dropped.
func (d *DB) ForgetWebhooksBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := d.db.ExecContext(ctx, `DELETE FROM webhook_replays WHERE seen_at < ?`, t.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("trim webhook replays: %w", err)
	}
	return res.RowsAffected()
}
