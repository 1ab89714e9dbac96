package alarmd

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	"github.com/chromedp/chromedp"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/influx"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/web"
)

// TestIntegrationWebElderPage drives the elder page in headless Chromium
// against a whole alarmd whose archive is a real VictoriaMetrics
// (influx.url and influx.query_url): a month of water meter readings go
// in the archive (the last hours over MQTT through ingest), and the page draws them back
// as the 30-day chart, with the meter's last reading, a button press on the
// timeline beside a visit. Screenshots at 360×740 and 1366×768 go to
// artifacts/web (linked from docs/web.md).
func TestIntegrationWebElderPage(t *testing.T) {
	chromium := testenv.Need(t, "chromium", "apt-get install -y chromium")
	vm := testenv.StartVictoriaMetrics(t)
	const token = "district-0123456789abcdef"
	cfg := testConfig(t)
	cfg.API.Tokens = []APIToken{{Name: "district", Token: token}}
	cfg.Influx.URL, cfg.Influx.QueryURL, cfg.Influx.FlushInterval = vm.URL, vm.URL, 20*time.Millisecond
	reg := metrics.NewRegistry()
	m := &Main{Config: cfg, Metrics: reg}
	startMain(t, m)
	if code, body := apiCall(t, m, "POST", "elders", token, elderBody("e1", "hh-0001", "张桂兰", "善广村", 1)); code != 201 {
		t.Fatalf("elder: %d %s", code, body)
	}
	ctx := context.Background()
	if err := web.PutAccount(ctx, m.Store, "wang", "王芳", "善广村", web.RoleWorker, "correct-horse-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	// a month of a water meter every 6 hours, as the archive would have
	// written it over the month (replayed over MQTT in seconds, the rules
	// would see a month of silences), then the last hours over MQTT through
	// ingest and the archive
	pub := publisher(t, m.BrokerURL().Dial())
	now := time.Now().Truncate(time.Millisecond)
	total, n := 731.0, 0
	var history []byte
	// one whole local day, 11 days ago, without a reading: the chart must
	// show it as unknown (a silent stretch not aligned to midnight would
	// leave readings on both days it spans, whatever the time of the run)
	loc := care.DefaultLocation()
	silent := now.In(loc).AddDate(0, 0, -11).Format(time.DateOnly)
	for h := 30 * 24; h > 0; h -= 6 {
		at := now.Add(-time.Duration(h) * time.Hour)
		total += 0.04 + 0.03*math.Abs(math.Sin(float64(h)/40))
		r := anxin.Message{TS: at, Household: "hh-0001", Device: "wm1", Kind: anxin.KindWaterMeter,
			Fields: anxin.Fields{"total_m3": anxin.Num(math.Round(total*1000) / 1000), "battery_low": anxin.Bool(false)}}
		switch {
		case at.In(loc).Format(time.DateOnly) == silent: // the meter was silent that day
		case h > 12:
			history = append(influx.AppendLine(history, &r), '\n')
		default:
			r.ID = anxin.NewID(at)
			publishMsg(t, pub, r)
			n++
		}
	}
	res, err := http.Post(vm.URL+"/api/v2/write?org=anxin&bucket=readings&precision=ms", "text/plain", bytes.NewReader(history))
	if err != nil || res.StatusCode != 204 {
		t.Fatalf("history: %v %v", err, res)
	}
	res.Body.Close()
	publishMsg(t, pub, button("hh-0001", now.Add(-26*time.Hour)))
	visit := fmt.Sprintf(`{"household": "hh-0001", "date": %q, "method": "home", "visitor": "王芳", "needs": "代购降压药"}`,
		now.Add(-50*time.Hour).UTC().Format(time.RFC3339))
	if code, body := apiCall(t, m, "POST", "visits", token, visit); code != 201 {
		t.Fatalf("visit: %d %s", code, body)
	}
	waitFor(t, "the readings archived", 20*time.Second, func() bool {
		return counter(t, reg, "anxin_archive_written_total", "") >= float64(n)
	})
	// the press came after the readings, and the archive counts readings
	// only: its alarm may be committed after them (the timeline shows it)
	waitFor(t, "the button's alarm", 20*time.Second, func() bool {
		return len(alarms(t, m, sqlite.AlarmFilter{Household: "hh-0001"})) > 0
	})
	if err := vm.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	_, run, text, shot := browserSession(t, chromium, 360, 740)
	base := "http://" + m.HTTPAddr()
	run("sign in", chromedp.Navigate(base+"/app/elders/e1"), chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#login"), "wang"), chromedp.SendKeys(chromedp.CSS("#password"), "correct-horse-1"),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#water")))
	run("phone viewport", chromedp.EmulateViewport(360, 740))
	if got := text("#water figcaption"); !strings.Contains(got, "天有读数") || strings.Contains(got, "30 天有读数") {
		t.Errorf("chart caption (a silent day in the month): %q", got)
	}
	if got := text("ul.devices"); !strings.Contains(got, "在线") || !strings.Contains(got, "最近读数") {
		t.Errorf("devices: %q", got)
	}
	if got := text("ol.timeline"); !strings.Contains(got, "告警") || !strings.Contains(got, "代购降压药") {
		t.Errorf("timeline: %q", got)
	}
	shot("elder-360x740.png")
	run("desktop viewport", chromedp.EmulateViewport(1366, 768), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#water")))
	shot("elder-1366x768.png")
}
