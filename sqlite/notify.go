package sqlite

// Register changes across processes, on PostgreSQL: every alarmd sharing
// the database keeps a view of the register (OnRegisterChange hooks), and
// a write through one of them must reach the others. Each register write
// queues a notification (pg_notify) in its own transaction, so it is
// delivered when the write commits and never when it rolls back; package
// postgres LISTENs on a connection of its own and hands what it receives
// to RemoteRegisterChange. SQLite has one process: nothing is sent.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
)

// RegisterChannelSQL is the SQL expression of the notification channel:
// one per schema (stores in different schemas of one database do not hear
// each other), always shorter than PostgreSQL's 63-byte identifiers.
const RegisterChannelSQL = `'anxin_register_' || md5(coalesce(current_schema(), ''))`

// MaxRegisterNotice is the longest payload PostgreSQL sends (it refuses
// 8000 bytes or more); a longer change is sent as "all".
const MaxRegisterNotice = 7999

// registerNotice is a notification's payload: the instance that wrote (its
// own notifications are skipped: its hooks ran at the write) and the change.
type registerNotice struct {
	From       string   `json:"from"`
	All        bool     `json:"all,omitempty"`
	Elders     []string `json:"elders,omitempty"`
	Households []string `json:"households,omitempty"`
}

// encodeRegisterNotice is c as a payload from instance from, "all" when
// the ids would not fit.
func encodeRegisterNotice(from string, c RegisterChange) string {
	n := registerNotice{From: from, All: c.All}
	if !c.All {
		n.Elders, n.Households = c.Elders, c.Households
	}
	b, err := json.Marshal(n)
	if err != nil || len(b) > MaxRegisterNotice {
		b, _ = json.Marshal(registerNotice{From: from, All: true})
	}
	return string(b)
}

// DecodeRegisterNotice reads a payload (bytes from the database: anyone
// with access may NOTIFY the channel). One that is too long or not a
// notice means something changed, not what: all.
func DecodeRegisterNotice(payload string) (from string, c RegisterChange) {
	var n registerNotice
	if len(payload) > MaxRegisterNotice || json.Unmarshal([]byte(payload), &n) != nil {
		return "", RegisterChange{All: true}
	}
	if n.All {
		return n.From, RegisterChange{All: true}
	}
	return n.From, RegisterChange{Elders: n.Elders, Households: n.Households}
}

// newInstanceID is a random id for this process's notifications.
func newInstanceID() string {
	b := make([]byte, 12)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// notifyRegister queues c's notification in tx (PostgreSQL only), just
// before its commit.
func (d *DB) notifyRegister(ctx context.Context, tx *sql.Tx, c RegisterChange) error {
	if !d.pg {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_notify(`+RegisterChannelSQL+`, ?)`, encodeRegisterNotice(d.instance, c))
	return err
}

// commitRegister commits a register write and tells the hooks (and, on
// PostgreSQL, the other processes at the commit) of c.
func (d *DB) commitRegister(ctx context.Context, tx *sql.Tx, c RegisterChange) error {
	if err := d.notifyRegister(ctx, tx, c); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	d.registerChanged(c)
	return nil
}

// RemoteRegisterChange takes a notification received on the register's
// channel (package postgres's listener): a change written by another
// process runs this DB's hooks as a write through it would; this DB's own
// are skipped.
func (d *DB) RemoteRegisterChange(payload string) {
	from, c := DecodeRegisterNotice(payload)
	if from != "" && from == d.instance {
		return
	}
	d.registerChanged(c)
}

// RegisterChangedEverywhere runs the hooks with "all": what the listener
// reports after it (re)connects, since notifications may have been missed.
func (d *DB) RegisterChangedEverywhere() { d.registerChanged(RegisterChange{All: true}) }
