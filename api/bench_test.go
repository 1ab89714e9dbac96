package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/ledger"
	"github.com/anxin-care/anxin/sqlite"
)

// genRegister fills an empty store with n elders in 40 villages and a year
// of visits (Dec 2025 – Nov 2026) at their tier's cadence, every third
// contact of key/high elders and every third of general a home visit. One
// elder in 20 lapses: nobody has seen them since September. It returns the
// number of elders that were visited in November 2026 and consent.
func genRegister(t testing.TB, path string, n int) (visitedNov, consenting int) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sq := db.SQL()
	// bulk load without the visit indexes; Open recreates them afterwards
	for _, ix := range []string{"visits_household_date", "visits_date_household", "visits_alarm", "visits_visitor_date"} {
		if _, err := sq.ExecContext(ctx, "DROP INDEX IF EXISTS "+ix); err != nil {
			t.Fatal(err)
		}
	}
	loc := care.DefaultLocation()
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2025, 12, 1, 9, 0, 0, 0, loc)
	end := time.Date(2026, 12, 1, 0, 0, 0, 0, loc)
	lapse := time.Date(2026, 9, 15, 0, 0, 0, 0, loc)
	novStart := time.Date(2026, 11, 1, 0, 0, 0, 0, loc)
	tiers := []anxin.Tier{anxin.TierIrregular, anxin.TierGeneral, anxin.TierGeneral, anxin.TierGeneral, anxin.TierGeneral,
		anxin.TierGeneral, anxin.TierKey, anxin.TierKey, anxin.TierIrregular, anxin.TierHigh}
	cad := care.DefaultCadence()
	const batch = 5000
	seq := 0
	for lo := 0; lo < n; lo += batch {
		tx, err := sq.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		insE, err := tx.PrepareContext(ctx, `INSERT INTO elders (id, household, name, gender, id_number, cur_township, cur_village,
			guardianship, self_care, health, age, assessed_on, score, tier, grid_worker, consent, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`)
		if err != nil {
			t.Fatal(err)
		}
		insV, err := tx.PrepareContext(ctx, `INSERT INTO visits (id, household, date, method, visitor) VALUES (?,?,?,?,?)`)
		if err != nil {
			t.Fatal(err)
		}
		insS, err := tx.PrepareContext(ctx, `INSERT INTO visit_schedule (household, last_contact, last_home) VALUES (?,?,?)`)
		if err != nil {
			t.Fatal(err)
		}
		for i := lo; i < min(lo+batch, n); i++ {
			id := fmt.Sprintf("e%06d", i)
			hh := "hh-" + id
			tier := tiers[i%len(tiers)]
			village := fmt.Sprintf("村%02d", (i/10)%40)
			consent := i%50 != 7
			if _, err := insE.ExecContext(ctx, id, hh, "张桂兰", "女", fmt.Sprintf("ID%012d", i), fmt.Sprintf("街道%d", ((i/10)%40)/8), village,
				"独居", "完好", "正常", 75, start.UnixMilli(), 5, string(tier), fmt.Sprintf("网格员%d", i%200), consent,
				start.UnixMilli(), start.UnixMilli()); err != nil {
				t.Fatal(err)
			}
			if consent {
				consenting++
			}
			c := cad[tier]
			var lastContact, lastHome int64
			k := 0
			seenNov := false
			for d := start.Add(time.Duration(rng.IntN(c.PhoneDays*24)) * time.Hour); d.Before(end); d = d.AddDate(0, 0, c.PhoneDays) {
				if i%20 == 3 && d.After(lapse) {
					break
				}
				method := "phone"
				if k%(c.HomeDays/c.PhoneDays) == 0 {
					method = "home"
					lastHome = d.UnixMilli()
				}
				k++
				seq++
				if _, err := insV.ExecContext(ctx, fmt.Sprintf("V%09d", seq), hh, d.UnixMilli(), method, fmt.Sprintf("网格员%d", i%200)); err != nil {
					t.Fatal(err)
				}
				lastContact = d.UnixMilli()
				if !d.Before(novStart) {
					seenNov = true
				}
			}
			if seenNov && consent {
				visitedNov++
			}
			if _, err := insS.ExecContext(ctx, hh, lastContact, lastHome); err != nil {
				t.Fatal(err)
			}
		}
		insE.Close()
		insV.Close()
		insS.Close()
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return visitedNov, consenting
}

func reportServer(t testing.TB, path string) (*sqlite.DB, http.Handler) {
	db, err := sqlite.Open(context.Background(), path) // recreates the indexes
	if err != nil {
		t.Fatal(err)
	}
	var stats int
	if err := db.SQL().QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'").Scan(&stats); err != nil {
		t.Fatal(err)
	}
	if stats == 0 {
		if _, err := db.SQL().ExecContext(context.Background(), "ANALYZE"); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{Store: db, Plan: care.DefaultPlan(), Tokens: []Token{{Name: "district", Token: districtToken}},
		Now: func() time.Time { return time.Date(2026, 11, 30, 10, 0, 0, 0, care.DefaultLocation()) }}
	return db, s.Handler()
}

func getReport(t testing.TB, h http.Handler, query string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/api/v1/reports/visit-rate?"+query, nil)
	req.Header.Set("Authorization", "Bearer "+districtToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("report: %d %s", rec.Code, rec.Body.String())
	}
	return rec
}

// TestReportOnGeneratedRegister checks the report against what the
// generator knows it wrote.
func TestReportOnGeneratedRegister(t *testing.T) {
	path := filepath.Join(t.TempDir(), "register.db")
	visited, consenting := genRegister(t, path, 1000)
	db, h := reportServer(t, path)
	defer db.Close()
	var rep VisitRateReport
	if err := json.Unmarshal(getReport(t, h, "month=2026-11").Body.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Total.InScope != consenting || rep.Total.Visited != visited || rep.Total.Declined != 1000-consenting {
		t.Fatalf("total %+v, want in scope %d visited %d", rep.Total, consenting, visited)
	}
	// the lapsed elders (1 in 20) are the ones not visited, each on 本月未探访名单 with their last visit (September)
	if consenting-visited < 1000/20-1000/50 || len(rep.NotVisited) != consenting-visited {
		t.Fatalf("%d not visited, %d listed", consenting-visited, len(rep.NotVisited))
	}
	for _, e := range rep.NotVisited {
		if m := e.LastContact.In(care.DefaultLocation()).Month(); m != time.September {
			t.Fatalf("%s last seen %v, want September", e.ID, e.LastContact)
		}
	}
	if len(rep.ByVillage) != 40 || len(rep.ByGridWorker) != 200 {
		t.Fatalf("%d villages, %d grid workers; want 40 and 200", len(rep.ByVillage), len(rep.ByGridWorker))
	}
	if len(rep.Rows) != 40*4 || len(rep.ByTier) != 4 {
		t.Fatalf("%d rows by village and tier, %d by tier; want 160 and 4", len(rep.Rows), len(rep.ByTier))
	}
}

// TestDueCutIsExact checks that narrowing the schedule query in the store
// (sqlite.DueCut) drops no elder that the exact computation would list, with
// and without a surge, across several days.
func TestDueCutIsExact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "register.db")
	genRegister(t, path, 800)
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	loc := care.DefaultLocation()
	for _, surges := range [][]care.Surge{nil, {{From: time.Date(2026, 11, 28, 0, 0, 0, 0, loc), To: time.Date(2026, 12, 3, 0, 0, 0, 0, loc), Reason: "寒潮"}}} {
		for _, day := range []int{25, 28, 30} {
			now := time.Date(2026, 11, day, 9, 0, 0, 0, loc)
			s := &Server{Store: db, Plan: care.DefaultPlan(), Now: func() time.Time { return now }}
			s.Plan.Surges = surges
			req := httptest.NewRequest("GET", "/api/v1/due", nil)
			all, today, err := s.schedule(req, time.Time{}, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, within := range []int{-1, 0, 2, 7} {
				by := care.AddDays(today, within)
				got, _, err := s.schedule(req, by, false)
				if err != nil {
					t.Fatal(err)
				}
				var want []string
				for _, it := range all {
					p, _ := time.ParseInLocation(time.DateOnly, it.PhoneDue, loc)
					h, _ := time.ParseInLocation(time.DateOnly, it.HomeDue, loc)
					if !p.After(by) || !h.After(by) {
						want = append(want, it.ID)
					}
				}
				var ids []string
				for _, it := range got {
					ids = append(ids, it.ID)
				}
				if fmt.Sprint(ids) != fmt.Sprint(want) {
					t.Fatalf("day %d within %d surge %v: narrowed %d elders, exact %d", day, within, surges != nil, len(ids), len(want))
				}
				if within == 0 && len(want) == 0 {
					t.Fatalf("day %d: nobody due: the test proves nothing", day)
				}
			}
		}
	}
}

// BenchmarkMonthlyReport100k is the monthly report (by village and tier,
// by grid worker, 本月未探访名单; JSON and XLSX) over 100,000 elders and a year of visits
// (~4.7 M) in a SQLite file. The generated store is kept in the temp dir
// between runs (delete anxin-bench-register-*.db to regenerate).
func BenchmarkMonthlyReport100k(b *testing.B) {
	const n = 100_000
	path := filepath.Join(os.TempDir(), fmt.Sprintf("anxin-bench-register-v3-%d.db", n))
	if _, err := os.Stat(path); err != nil {
		t0 := time.Now()
		genRegister(b, path+".tmp", n)
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Rename(path+".tmp"+suffix, path+suffix)
		}
		b.Logf("generated %d elders in %v", n, time.Since(t0))
	}
	db, h := reportServer(b, path)
	defer db.Close()
	var visits int
	if err := db.SQL().QueryRow("SELECT count(*) FROM visits").Scan(&visits); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d elders, %d visits", n, visits)
	// cold: the month computed from the store each time (the cache emptied
	// first); cached: the register unchanged since the last computation
	for _, run := range []struct {
		name, format string
		cold         bool
	}{{"json-cold", "json", true}, {"xlsx-cold", "xlsx", true}, {"json-cached", "json", false}, {"xlsx-cached", "xlsx", false}} {
		b.Run(run.name, func(b *testing.B) {
			getReport(b, h, "month=2026-11&format="+run.format)
			var took []time.Duration
			cpu := testenv.SelfCPU()
			for b.Loop() {
				if run.cold {
					reports.mu.Lock()
					clear(reports.m)
					reports.mu.Unlock()
				}
				t0 := time.Now()
				getReport(b, h, "month=2026-11&format="+run.format)
				took = append(took, time.Since(t0))
			}
			b.ReportMetric(float64((testenv.SelfCPU()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(care.Percentile(took, 50).Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(care.Percentile(took, 99).Microseconds())/1000, "p99-ms")
		})
	}
	b.Run("month-visits-only", func(b *testing.B) {
		loc := care.DefaultLocation()
		from, to := care.Month(2026, 11, loc)
		cpu := testenv.SelfCPU()
		for b.Loop() {
			if es, err := db.MonthVisits(context.Background(), anxin.Area{}, from, to); err != nil || len(es) != 100_000 {
				b.Fatal(len(es), err)
			}
		}
		b.ReportMetric(float64((testenv.SelfCPU()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
	})
}

// BenchmarkImportLedger10k imports a 10,000-row XLSX ledger into an empty
// store through the API (parse, check every row, one transaction).
func BenchmarkImportLedger10k(b *testing.B) {
	const n = 10_000
	loc := care.DefaultLocation()
	today := time.Date(2026, 11, 23, 0, 0, 0, 0, loc)
	es := make([]anxin.ElderRecord, 0, n)
	for i := range n {
		s := fmt.Sprintf("530128%04d%02d%02d%03d", 1930+i%35, 1+i%12, 1+i%28, i%1000)
		e := anxin.ElderRecord{ID: fmt.Sprintf("e%06d", i), Name: "张桂兰", IDNumber: s + string(care.CheckDigit(s)),
			Phone:      fmt.Sprintf("138%08d", i),
			Current:    anxin.Address{County: "禄劝县", Township: "屏山街道", Village: fmt.Sprintf("村%02d", i%40), Detail: "3组12号"},
			Categories: []anxin.Category{"独居"},
			Assessment: anxin.Assessment{Guardianship: "独居", SelfCare: "完好", Health: "正常"},
			Contacts:   []anxin.Contact{{Name: "李明", Relation: "child", Phone: fmt.Sprintf("139%08d", i)}},
			GridWorker: "王芳", Consent: true}
		if errs := care.Normalize(&e, today); len(errs) > 0 {
			b.Fatal(errs)
		}
		es = append(es, e)
	}
	var buf bytes.Buffer
	if err := ledger.WriteXLSX(&buf, ledger.LedgerSheet(es, ledger.Options{Location: loc})); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		b.StopTimer()
		db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "alarmd.db"))
		if err != nil {
			b.Fatal(err)
		}
		h := (&Server{Store: db, Plan: care.DefaultPlan(), Tokens: []Token{{Name: "d", Token: districtToken}},
			Now: func() time.Time { return today.Add(10 * time.Hour) }}).Handler()
		req := httptest.NewRequest("POST", "/api/v1/elders/import", bytes.NewReader(buf.Bytes()))
		req.Header.Set("Authorization", "Bearer "+districtToken)
		rec := httptest.NewRecorder()
		b.StartTimer()
		h.ServeHTTP(rec, req)
		b.StopTimer()
		if rec.Code != 200 {
			b.Fatalf("%d %.300s", rec.Code, rec.Body.String())
		}
		db.Close()
		b.StartTimer()
	}
}
