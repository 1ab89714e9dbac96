package alarmd

import (
	"context"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/postgres"
	"github.com/anxin-care/anxin/sqlite"
)

// OpenStore opens the store the config names: PostgreSQL when store.url is
// set (its schema migrated to this alarmd's version first), else SQLite
// at store.path. The URL may hold a password: it is never logged, and the
// postgres package keeps it out of its errors.
func OpenStore(ctx context.Context, c StoreConfig) (anxin.Store, error) {
	if c.URL != "" {
		return postgres.Open(ctx, c.URL.Reveal())
	}
	return sqlite.Open(ctx, c.Path)
}

// storeName says which store is open, for the log (never the URL: it may
// hold a password).
func storeName(c StoreConfig) string {
	if c.URL != "" {
		return "postgresql (store.url)"
	}
	return c.Path
}
