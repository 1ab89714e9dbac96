package postgres

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/anxin-care/anxin"
)

// schemaAckTokens holds the short acknowledgement links of SMS: token →
// alarm and chain step (escalate), until a day after they expire.
var schemaAckTokens = `
CREATE TABLE IF NOT EXISTS ack_tokens (
	token      TEXT COLLATE "C" PRIMARY KEY,
	alarm_id   TEXT COLLATE "C" NOT NULL,
	step       BIGINT NOT NULL,
	phone_tag  BYTEA NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS ack_tokens_expiry ON ack_tokens(expires_at);
`

// PutAckToken stores a short ack token (the first one stored wins) and, now
// and then, prunes tokens that expired two days before this one: long
// enough that a late tap still says "expired" rather than "unknown".
func (d *DB) PutAckToken(ctx context.Context, t anxin.AckToken) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO ack_tokens (token, alarm_id, step, phone_tag, expires_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (token) DO NOTHING`,
		t.Token, t.AlarmID, t.Step, t.PhoneTag[:], t.Expires.Unix())
	if err != nil {
		return err
	}
	if t.Expires.Unix()%64 == 0 {
		_, err = d.db.ExecContext(ctx, `DELETE FROM ack_tokens WHERE expires_at < ?`, t.Expires.Add(-48*time.Hour).Unix())
	}
	return err
}

// AckToken finds a short ack token.
func (d *DB) AckToken(ctx context.Context, token string) (anxin.AckToken, error) {
	t := anxin.AckToken{Token: token}
	var tag []byte
	var exp int64
	err := d.db.QueryRowContext(ctx, `SELECT alarm_id, step, phone_tag, expires_at FROM ack_tokens WHERE token = ?`, token).
		Scan(&t.AlarmID, &t.Step, &tag, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return t, anxin.Errorf(anxin.ENOTFOUND, "ack token not found")
	}
	if err != nil {
		return t, err
	}
	copy(t.PhoneTag[:], tag)
	t.Expires = time.Unix(exp, 0).UTC()
	return t, nil
}
