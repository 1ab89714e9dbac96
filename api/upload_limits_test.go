package api

import (
	"runtime"
	"strings"
	"testing"

	"github.com/anxin-care/anxin/ledger/ledgertest"
)

// allocatedBy is how many bytes the process allocated while fn ran.
func allocatedBy(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// LIMITS (issue 12, item 3): a 1.3 MB XLSX with ~500 MB of shared strings,
// sent by an area token with dry_run=1, is refused with 413 while the
// server allocates less than 100 MB (it took over 9 GB of RSS).
func TestXLSXBombRefusedInBoundedMemory(t *testing.T) {
	e := newEnv(t)
	bomb := ledgertest.XLSXBomb(500 << 20)
	t.Logf("bomb: %d bytes", len(bomb))
	var eb errBody
	code := 0
	alloc := allocatedBy(func() { code = e.do("POST", "/api/v1/elders/import?dry_run=1", shanguangTok, bomb, &eb) })
	t.Logf("allocated %d MB while refusing it", alloc>>20)
	if code != 413 || eb.Error.Code != "too_large" || !strings.Contains(eb.Error.Message, "shared strings") {
		t.Fatalf("bomb: %d %+v", code, eb)
	}
	if alloc > 100<<20 {
		t.Fatalf("allocated %d MB refusing a %d-byte file", alloc>>20, len(bomb))
	}
}
