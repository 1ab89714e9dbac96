package anxin

import (
	"context"
	"time"
)

// SleepContext waits d or until ctx ends; it reports whether d passed. The
// retry loops of the uplink, the serial drivers and alarmd's broker clients
// back off with it.
func SleepContext(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
