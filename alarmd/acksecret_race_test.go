package alarmd

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
)

// TestAckSecretMadeByTwoStartsAtOnce: two starts on one store path without
// notify.ack_secret (a unit restarted while the old process is still
// exiting, an operator running alarmd by hand beside the service). The key
// file was created empty and written after: a start that found it in
// between read no key and refused to start ("not the hex key alarmd writes
// there"), and a crash in between left an empty file every later start
// refused. Each start must come up, and all with one key.
func TestAckSecretMadeByTwoStartsAtOnce(t *testing.T) {
	for round := range 200 {
		cfg := testConfig(t)
		cfg.Notify.AckSecret = ""
		cfg.Store.URL = ""
		cfg.Store.Path = filepath.Join(t.TempDir(), "anxin.db")
		const n = 4
		keys := make([][]byte, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				m := &Main{Config: cfg, Logger: slog.New(slog.DiscardHandler)}
				keys[i], errs[i] = m.loadAckSecret()
			})
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d: start %d of %d at once: %v", round, i, n, errs[i])
			}
			if !bytes.Equal(keys[i], keys[0]) || len(keys[i]) != ackSecretLen {
				t.Fatalf("round %d: starts at once sign with different keys", round)
			}
		}
	}
}
