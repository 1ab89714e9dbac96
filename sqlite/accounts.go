package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/anxin-care/anxin"
)

// schemaAccounts keeps the web app's people (accounts) and their sign-ins
// (sessions). Only digests are stored: a password's argon2id hash and a
// session token's SHA-256.
var schemaAccounts = `
CREATE TABLE IF NOT EXISTS web_accounts (
	login        TEXT PRIMARY KEY,
	name         TEXT NOT NULL,
	area         TEXT NOT NULL,
	role         TEXT NOT NULL,
	hash         TEXT NOT NULL,
	failures     INTEGER NOT NULL DEFAULT 0,
	locked_until INTEGER NOT NULL DEFAULT 0,
	updated_at   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS web_sessions (
	digest     BLOB PRIMARY KEY,
	login      TEXT NOT NULL REFERENCES web_accounts(login) ON DELETE CASCADE,
	csrf       TEXT NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS web_sessions_login ON web_sessions(login);
-- one key per form shown: a form sent twice (a double tap, a resend after
-- a dropped connection) records one visit
CREATE TABLE IF NOT EXISTS web_form_keys (
	key        TEXT PRIMARY KEY,
	login      TEXT NOT NULL,
	visit_id   TEXT NOT NULL DEFAULT '',
	claimed_at INTEGER NOT NULL
);
`

// PutAccount creates or replaces an account (failures cleared). Replacing
// one (alarmd account: a reset password, a new area or role) ends its
// sessions: a reset after a lost phone or a leaked password must sign the
// old holder out, not leave them 12 hours.
func (d *DB) PutAccount(ctx context.Context, a Account, now time.Time) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO web_accounts(login, name, area, role, hash, failures, locked_until, updated_at)
		VALUES(?, ?, ?, ?, ?, 0, 0, ?)
		ON CONFLICT(login) DO UPDATE SET name=excluded.name, area=excluded.area, role=excluded.role,
			hash=excluded.hash, failures=0, locked_until=0, updated_at=excluded.updated_at`,
		a.Login, a.Name, a.Area, a.Role, a.Hash, now.UnixMilli()); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM web_sessions WHERE login = ?`, a.Login); err != nil {
		return err
	}
	return tx.Commit()
}

// Account reads an account; ENOTFOUND when there is none.
func (d *DB) Account(ctx context.Context, login string) (Account, error) {
	var a Account
	var locked int64
	err := d.db.QueryRowContext(ctx, `SELECT login, name, area, role, hash, failures, locked_until FROM web_accounts WHERE login = ?`,
		login).Scan(&a.Login, &a.Name, &a.Area, &a.Role, &a.Hash, &a.Failures, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return a, anxin.Errorf(anxin.ENOTFOUND, "no such account")
	}
	if locked > 0 {
		a.LockedUntil = time.UnixMilli(locked)
	}
	return a, err
}

// SignInFailed counts a failed sign-in and locks the account until
// lockUntil once failures reach limit; it returns the count.
func (d *DB) SignInFailed(ctx context.Context, login string, limit int, lockUntil time.Time) (int, error) {
	var n int
	err := d.db.QueryRowContext(ctx, `UPDATE web_accounts SET failures = failures + 1,
		locked_until = CASE WHEN failures + 1 >= ? THEN ? ELSE locked_until END
		WHERE login = ? RETURNING failures`, limit, lockUntil.UnixMilli(), login).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return n, err
}

// SignedIn clears the failure count after a good sign-in.
func (d *DB) SignedIn(ctx context.Context, login string) error {
	_, err := d.db.ExecContext(ctx, `UPDATE web_accounts SET failures = 0, locked_until = 0 WHERE login = ?`, login)
	return err
}

// CreateSession stores a session under the digest of its token.
func (d *DB) CreateSession(ctx context.Context, digest []byte, s Session) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO web_sessions(digest, login, csrf, expires_at) VALUES(?, ?, ?, ?)`,
		digest, s.Login, s.CSRF, s.Expires.UnixMilli())
	return err
}

// Session reads a session that has not expired at now, with its account.
func (d *DB) Session(ctx context.Context, digest []byte, now time.Time) (Session, Account, error) {
	var s Session
	var a Account
	var exp int64
	err := d.db.QueryRowContext(ctx, `SELECT s.login, s.csrf, s.expires_at, a.name, a.area, a.role
		FROM web_sessions s JOIN web_accounts a ON a.login = s.login WHERE s.digest = ? AND s.expires_at > ?`,
		digest, now.UnixMilli()).Scan(&s.Login, &s.CSRF, &exp, &a.Name, &a.Area, &a.Role)
	if errors.Is(err, sql.ErrNoRows) {
		return s, a, anxin.Errorf(anxin.ENOTFOUND, "no such session")
	}
	s.Expires, a.Login = time.UnixMilli(exp), s.Login
	return s, a, err
}

// DeleteSession ends a session; expired ones of anyone go with it.
func (d *DB) DeleteSession(ctx context.Context, digest []byte, now time.Time) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM web_sessions WHERE digest = ? OR expires_at <= ?`, digest, now.UnixMilli())
	return err
}

// ClaimFormKey claims a form's key for login. claimed is false when the key
// was claimed before; visitID is then the visit it recorded ("" while that
// is unfinished or failed without release). Keys older than 30 days go.
func (d *DB) ClaimFormKey(ctx context.Context, key, login string, now time.Time) (visitID string, claimed bool, err error) {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM web_form_keys WHERE claimed_at < ?`, now.AddDate(0, 0, -30).UnixMilli()); err != nil {
		return "", false, err
	}
	res, err := d.db.ExecContext(ctx, `INSERT INTO web_form_keys(key, login, claimed_at) VALUES(?, ?, ?) ON CONFLICT(key) DO NOTHING`,
		key, login, now.UnixMilli())
	if err != nil {
		return "", false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return "", true, nil
	}
	err = d.db.QueryRowContext(ctx, `SELECT visit_id FROM web_form_keys WHERE key = ? AND login = ?`, key, login).Scan(&visitID)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil // another person's key: claimed, but nothing of theirs is told
	}
	return visitID, false, err
}

// FinishFormKey records the visit a claimed key recorded.
func (d *DB) FinishFormKey(ctx context.Context, key, visitID string) error {
	_, err := d.db.ExecContext(ctx, `UPDATE web_form_keys SET visit_id = ? WHERE key = ?`, visitID, key)
	return err
}

// EnteredVisit reports whether a form key login claimed recorded visitID.
func (d *DB) EnteredVisit(ctx context.Context, login, visitID string) (bool, error) {
	var n int
	err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM web_form_keys WHERE login = ? AND visit_id = ? AND visit_id <> ''`,
		login, visitID).Scan(&n)
	return n > 0, err
}

// ReleaseFormKey gives a key back after its visit was not recorded.
func (d *DB) ReleaseFormKey(ctx context.Context, key string) error {
	_, err := d.db.ExecContext(ctx, `DELETE FROM web_form_keys WHERE key = ? AND visit_id = ''`, key)
	return err
}
