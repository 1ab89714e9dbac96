package postgres

import (
	"testing"
)

// Package sqlite's placeholders become PostgreSQL's; quoted text and $n stay.
func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT a FROM t WHERE b = ? AND c = ?`:              `SELECT a FROM t WHERE b = $1 AND c = $2`,
		`INSERT INTO w (k, s) VALUES (?1, ?2) WHERE s <= ?3`: `INSERT INTO w (k, s) VALUES ($1, $2) WHERE s <= $3`,
		`SELECT '?' || ?, 'it''s ?' FROM t WHERE x = ?`:      `SELECT '?' || $1, 'it''s ?' FROM t WHERE x = $2`,
		`SELECT pg_advisory_xact_lock(?::int, h)`:            `SELECT pg_advisory_xact_lock($1::int, h)`,
		`SELECT count(*) FROM schema_version WHERE v = $1`:   `SELECT count(*) FROM schema_version WHERE v = $1`,
	} {
		if got := rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
	}
}

// Flags are stored as 0/1; text PostgreSQL refuses becomes U+FFFD, and the
// caller's slice is not changed.
func TestFixValue(t *testing.T) {
	if fixValue(true) != int64(1) || fixValue(false) != int64(0) {
		t.Fatal("bool not stored as 0/1")
	}
	if got := fixValue("a\x00b\xff"); got != "a\uFFFDb\uFFFD" {
		t.Fatalf("text: %q", got)
	}
	ids := []string{"ok", "x\x00"}
	got := fixValue(ids).([]string)
	if got[1] != "x\uFFFD" || ids[1] != "x\x00" || got[0] != "ok" {
		t.Fatalf("ids %q from %q", got, ids)
	}
	if b := []byte{0, 0xff}; string(fixValue(b).([]byte)) != string(b) {
		t.Fatal("bytes changed")
	}
}
