package web_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/api"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/influx"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/web"
)

// gridWorkers share each village's elders half and half.
var gridWorkers = [2]string{"王芳", "李娜"}

// genElders fills an empty store with n elders in 400 villages of 10
// townships (250 per village), with last contacts spread over the last
// 40 days, so that about a third are due or overdue on any day.
func genElders(b *testing.B, path string, n int, now time.Time) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	sq := db.SQL()
	tx, err := sq.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	insE, err := tx.PrepareContext(ctx, `INSERT INTO elders (id, household, name, gender, id_number, phone, cur_county, cur_township,
		cur_village, cur_detail, contacts, guardianship, self_care, health, age, assessed_on, score, tier, grid_worker, consent, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`)
	if err != nil {
		b.Fatal(err)
	}
	insS, err := tx.PrepareContext(ctx, `INSERT INTO visit_schedule (household, last_contact, last_home) VALUES (?,?,?)`)
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	tiers := []string{"irregular", "general", "general", "general", "key", "key", "high"}
	start := now.AddDate(-1, 0, 0).UnixMilli()
	for i := range n {
		id := fmt.Sprintf("e%06d", i)
		v := i % 400
		if _, err := insE.ExecContext(ctx, id, "hh-"+id, "张桂兰", "女", fmt.Sprintf("ID%012d", i), fmt.Sprintf("+86138%08d", i), "禄劝县",
			fmt.Sprintf("街道%d", v/40), fmt.Sprintf("村%03d", v), "幸福路8号", `[{"name":"李明","relation":"child","phone":"+8613900000001"}]`,
			"独居", "完好", "正常", 75, start, 5, tiers[i%len(tiers)], gridWorkers[(i/400)%2], 1, start, start); err != nil {
			b.Fatal(err)
		}
		last := now.Add(-time.Duration(rng.IntN(40*24)) * time.Hour).UnixMilli()
		if _, err := insS.ExecContext(ctx, "hh-"+id, last, last); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := sq.ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
}

// session signs in through the handler and answers the session cookie.
func session(b *testing.B, h http.Handler, login string) *http.Cookie {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/app/login", nil))
	tok := csrfRE.FindStringSubmatch(rec.Body.String())[1]
	req := httptest.NewRequest("POST", "/app/login", strings.NewReader(url.Values{"csrf": {tok}, "login": {login},
		"password": {"correct-horse-1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "anxin_session" {
			return c
		}
	}
	b.Fatalf("no session: %d", rec.Code)
	return nil
}

// BenchmarkPages100k is the server time of the web app's pages over
// 100,000 elders in a SQLite file: a village worker's due list (250
// elders, ~1/3 due), an elder's page, and the district's monthly report
// page. p50/p99 are reported per page, with its size gzipped (wire) and not.
func BenchmarkPages100k(b *testing.B) {
	const n = 100_000
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, care.DefaultLocation())
	path := filepath.Join(os.TempDir(), fmt.Sprintf("anxin-bench-web-v2-%d.db", n))
	if _, err := os.Stat(path); err != nil {
		t0 := time.Now()
		genElders(b, path+".tmp", n, now)
		for _, suffix := range []string{"", "-wal", "-shm"} {
			_ = os.Rename(path+".tmp"+suffix, path+suffix) // -wal and -shm may not exist
		}
		b.Logf("generated %d elders in %v", n, time.Since(t0))
	}
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	clock := func() time.Time { return now }
	kit := []anxin.Household{{ID: "hh-e000007", Elder: anxin.Elder{Name: "张桂兰"}, Devices: []anxin.Device{
		{ID: "wm1", Kind: anxin.KindWaterMeter, Place: "厨房"}, {ID: "w1", Kind: anxin.KindTracker}, {ID: "btn1", Kind: anxin.KindCallButton}}}}
	a := &api.Server{Store: db, Now: clock, Alarms: db, Escalation: db, Households: api.HouseholdList(kit)}
	srv := &web.Server{API: a, Accounts: db, Now: clock, Series: benchSeries(b, now)}
	h := srv.Handler()
	for _, acc := range [][3]string{{"wang", "村007", web.RoleWorker}, {"ops", "", web.RoleOperator}} {
		if err := web.PutAccount(context.Background(), db, acc[0], "王芳", acc[1], acc[2], "correct-horse-1", now); err != nil {
			b.Fatal(err)
		}
	}
	worker, ops := session(b, h, "wang"), session(b, h, "ops")
	for _, p := range []struct {
		name, path string
		who        *http.Cookie
	}{{"due", "/app/due", worker}, {"due-area", "/app/due?all=1", worker}, {"elder", "/app/elders/e000007", worker}, {"report", "/app/report?month=2026-11", ops},
		{"board", "/app/board", ops}} {
		b.Run(p.name, func(b *testing.B) {
			var took []time.Duration
			size := 0
			for b.Loop() {
				req := httptest.NewRequest("GET", p.path, nil)
				req.AddCookie(p.who)
				req.Header.Set("Accept-Encoding", "gzip")
				rec := httptest.NewRecorder()
				t0 := time.Now()
				h.ServeHTTP(rec, req)
				took = append(took, time.Since(t0))
				if rec.Code != 200 {
					b.Fatalf("%s: %d %.300s", p.path, rec.Code, rec.Body.String())
				}
				size = rec.Body.Len()
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
			req := httptest.NewRequest("GET", p.path, nil)
			req.AddCookie(p.who)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			b.ReportMetric(float64(size), "wire-bytes")
			b.ReportMetric(float64(rec.Body.Len()), "html-bytes")
			if p.name == "due" {
				// first view: the page and what it loads (nothing is cached yet), gzipped as served
				b.ReportMetric(float64(size+wireSize(b, h, "/app/static/app.css")+wireSize(b, h, "/app/static/visit.js")), "first-view-bytes")
			}
			if m := regexp.MustCompile(`共 (\d+) 位`).FindStringSubmatch(rec.Body.String()); m != nil {
				b.ReportMetric(float64(strings.Count(rec.Body.String(), `<li class=`)), "listed")
				b.Logf("%s: %s due", p.name, m[1])
			}
			if p.name == "elder" && !strings.Contains(rec.Body.String(), `id="water"`) {
				b.Fatalf("elder page without its water chart: %.2000s", rec.Body.String())
			}
		})
	}
}

// wireSize is how many bytes a gzip-accepting browser receives for path.
func wireSize(b *testing.B, h http.Handler, path string) int {
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		b.Fatalf("%s: %d", path, rec.Code)
	}
	return rec.Body.Len()
}

// benchSeries is a real VictoriaMetrics holding 30 days of the elder's
// water meter every 15 minutes and a watch's battery.
func benchSeries(b *testing.B, now time.Time) influx.Series {
	vm := testenv.StartVictoriaMetrics(b)
	var body []byte
	total := 500.0
	for at := now.AddDate(0, 0, -31); at.Before(now); at = at.Add(15 * time.Minute) {
		total += 0.003
		body = append(influx.AppendLine(body, &anxin.Message{TS: at, Household: "hh-e000007", Device: "wm1", Kind: anxin.KindWaterMeter,
			Fields: anxin.Fields{"total_m3": anxin.Num(total), "battery_low": anxin.Bool(false)}}), '\n')
	}
	body = append(influx.AppendLine(body, &anxin.Message{TS: now.Add(-time.Hour), Household: "hh-e000007", Device: "w1", Kind: anxin.KindTracker,
		Fields: anxin.Fields{"battery_pct": anxin.Num(64)}}), '\n')
	res, err := http.Post(vm.URL+"/api/v2/write?precision=ms", "text/plain", bytes.NewReader(body))
	if err != nil || res.StatusCode != 204 {
		b.Fatalf("write: %v %v", err, res)
	}
	res.Body.Close()
	if err := vm.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	s, err := influx.NewVictoriaMetrics(influx.QueryConfig{URL: vm.URL})
	if err != nil {
		b.Fatal(err)
	}
	return s
}
