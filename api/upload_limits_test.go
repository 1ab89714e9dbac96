package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/ledger"
	"github.com/anxin-care/anxin/ledger/ledgertest"
)

// allocatedBy is how many bytes the process allocated while fn ran.
func allocatedBy(fn func()) uint64 {
	var before, after runtime.MemStats
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
	if code != 413 || eb.Error.Code != "too_large" || !strings.Contains(eb.Error.Message, "共享字符串") {
		t.Fatalf("bomb: %d %+v", code, eb)
	}
	if alloc > 100<<20 {
		t.Fatalf("allocated %d MB refusing a %d-byte file", alloc>>20, len(bomb))
	}
}

// FuzzImportLedger sends hostile ledgers (XLSX or CSV) to the import with
// dry_run=1 and an area token: each is answered below 500 with the error
// JSON when refused, and no request allocates more than 128 MiB.
func FuzzImportLedger(f *testing.F) {
	e := newEnv(f)
	e.api.Logger = slog.New(slog.DiscardHandler)
	rec := anxin.ElderRecord{ID: "e8", Name: "王五", IDNumber: idNumber("19400506", 8), Current: anxin.Address{Village: "善广村"},
		Assessment: anxin.Assessment{Guardianship: "独居", SelfCare: "完好", Health: "正常"}}
	csv := ledgerCSV(f, rec)
	var xlsx bytes.Buffer
	if err := ledger.WriteXLSX(&xlsx, ledger.LedgerSheet([]anxin.ElderRecord{rec}, ledger.Options{})); err != nil {
		f.Fatal(err)
	}
	f.Add(true, []byte(csv))
	f.Add(false, xlsx.Bytes())
	f.Add(false, ledgertest.XLSXBomb(64<<10)) // small: TestXLSXBombRefusedInBoundedMemory sends the real one
	f.Add(true, []byte("\xd0\xd5\xc3\xfb,\xc9\xed\xb7\xdd\xd6\xa4\xba\xc5\r\n"))
	h := e.api.Handler()
	f.Fuzz(func(t *testing.T, isCSV bool, body []byte) {
		req := httptest.NewRequest("POST", "/api/v1/elders/import?dry_run=1", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+shanguangTok)
		req.Header.Set("Content-Type", map[bool]string{true: "text/csv", false: "application/octet-stream"}[isCSV])
		rec := httptest.NewRecorder()
		if n := allocatedBy(func() { h.ServeHTTP(rec, req) }); n > 128<<20 {
			t.Fatalf("allocated %d MiB for a %d-byte upload", n>>20, len(body))
		}
		if rec.Code >= 500 {
			t.Fatalf("%d %s", rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 {
			var eb errBody
			if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil || eb.Error.Code == "" || eb.Error.Message == "" {
				t.Fatalf("%d answered %s", rec.Code, rec.Body.Bytes())
			}
		}
	})
}
