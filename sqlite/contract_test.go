package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/storetest"
)

// The storage contract every store passes (storetest), on a file store.
func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) anxin.Store { return openTestDB(t) })
}

// Ingest commits on the path alarmd uses (the dedicated writer, each
// commit synced); compare with postgres.BenchmarkIngestCommits.
func BenchmarkIngestCommits(b *testing.B) {
	db, err := Open(context.Background(), filepath.Join(b.TempDir(), "alarmd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	w, err := db.NewIngestWriter(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	storetest.BenchmarkIngest(b, w.ApplyIngest)
}

// The partition-lease contract (storetest.RunLeases), on a file store.
func TestLeaseContract(t *testing.T) {
	storetest.RunLeases(t, func(t *testing.T) storetest.LeaseStore { return openTestDB(t) })
}

// The fenced ingest write (storetest.RunFencedIngest), on a file store.
func TestFencedIngestContract(t *testing.T) {
	storetest.RunFencedIngest(t, func(t *testing.T) storetest.FencedIngestStore { return openTestDB(t) })
}
