package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenRefusesNewerSchema: a file stamped by a newer alarmd is refused
// with the same words as PostgreSQL's; an older one (no stamp) is opened
// and stamped.
func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "anxin.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v != schemaVersion {
		t.Fatalf("user_version %d (%v), want %d", v, err, schemaVersion)
	}
	if _, err := db.db.ExecContext(ctx, "PRAGMA user_version = 0"); err != nil { // as made before the stamp
		t.Fatal(err)
	}
	db.Close()
	if db, err = Open(ctx, path); err != nil {
		t.Fatalf("a file from before the stamp: %v", err)
	}
	if _, err := db.db.ExecContext(ctx, "PRAGMA user_version = 99"); err != nil { // as a newer alarmd would
		t.Fatal(err)
	}
	db.Close()
	_, err = Open(ctx, path)
	if err == nil || !strings.Contains(err.Error(), "newer than this alarmd") {
		t.Fatalf("a newer file opened: %v", err)
	}
}

// TestOpenNeverLowersTheStamp: a newer alarmd that stamps the file while an
// older one opens it (anxinctl, a second process) must not have its stamp
// taken back to the older version, which would let every older alarmd after
// it open the file again.
func TestOpenNeverLowersTheStamp(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "anxin.db")
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = append(append([]func(context.Context, *sql.DB) error(nil), saved...),
		func(ctx context.Context, db *sql.DB) error { // between this Open's check and its stamp
			_, err := db.ExecContext(ctx, "PRAGMA user_version = 99")
			return err
		})
	if db, err := Open(ctx, path); err == nil {
		db.Close()
		t.Errorf("opened a file a newer alarmd stamped during the open")
	}
	migrations = saved
	if db, err := Open(ctx, path); err == nil || !strings.Contains(err.Error(), "newer than this alarmd") {
		if db != nil {
			db.Close()
		}
		t.Fatalf("the newer stamp was lowered: %v", err)
	}
}
