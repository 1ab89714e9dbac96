package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// The replay memory survives a reopen, keeps a key for the window, forgets
// it after, and can be trimmed.
func TestWebhookReplayMemory(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alarmd.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	const day = 24 * time.Hour
	note := func(d *DB, key string, at time.Time) bool {
		t.Helper()
		replay, err := d.NoteWebhook(ctx, key, at, day)
		if err != nil {
			t.Fatal(err)
		}
		return replay
	}
	if note(d, "k1", t0) {
		t.Fatal("a new key is a replay")
	}
	if !note(d, "k1", t0.Add(time.Second)) {
		t.Fatal("the same key a second later is not a replay")
	}
	if note(d, "k2", t0.Add(time.Second)) {
		t.Fatal("another key is a replay")
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if !note(d, "k1", t0.Add(time.Hour)) {
		t.Fatal("a reopened store forgot k1")
	}
	// k1 was first seen at t0 (a replay does not extend the window)
	if note(d, "k1", t0.Add(day)) {
		t.Fatal("k1 is still a replay after the window")
	}
	if !note(d, "k1", t0.Add(day+time.Minute)) {
		t.Fatal("k1, noted again, is not remembered")
	}
	if err := d.ForgetWebhook(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if note(d, "k1", t0.Add(day+2*time.Minute)) {
		t.Fatal("a forgotten key is a replay")
	}
	n, err := d.ForgetWebhooksBefore(ctx, t0.Add(day))
	if err != nil || n != 1 { // k2
		t.Fatalf("trimmed %d, %v; want k2 only", n, err)
	}
	if note(d, "k2", t0.Add(day+3*time.Minute)) {
		t.Fatal("a trimmed key is a replay")
	}
}
