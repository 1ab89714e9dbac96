package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/testenv"
)

// metricValue sums the samples of one metric (name, or name{labels…}) in a
// Prometheus text page.
func metricValue(t testing.TB, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return -1 // restarting or busy: the caller polls
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		rest, ok := strings.CutPrefix(l, name)
		if !ok || rest == "" || (rest[0] != ' ' && (rest[0] != '{' || strings.Contains(name, "{"))) {
			continue
		}
		if i := strings.LastIndexByte(l, ' '); i > 0 {
			if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
				sum += v
			}
		}
	}
	return sum
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// TestLoadEndToEnd (ANXIN_LONG=1): readings per second end to end — 200
// simulated home gateways (the real spool and uplink, in the fleet process)
// → mosquitto → the real alarmd (validation, de-dup, rules, SQLite commit)
// → VictoriaMetrics over the InfluxDB v2 write API — and, under that load,
// button press → first SMS request at the (fake) Twilio, p50/p99/max. Every
// process shares this machine's cores; the figures are for the whole
// system, not for one daemon.
func TestLoadEndToEnd(t *testing.T) {
	if testing.Short() || os.Getenv("ANXIN_LONG") == "" {
		t.Skip("load test: set ANXIN_LONG=1")
	}
	const loadHH, pressHH, burst = 200, 100, 300_000
	// presses come this often: 100 of them span 6 s, inside the burst even on
	// a quiet machine (where alarmd takes the 300k in ~10 s); the ones that
	// come after alarmd had every reading are reported apart
	const pressEvery = 60 * time.Millisecond
	broker := testenv.StartMosquitto(t)
	vm := testenv.StartVictoriaMetrics(t)
	tw := startFakeTwilio(t)
	dir := t.TempDir()
	hs := households(loadHH + pressHH)
	writeFile(t, filepath.Join(dir, "households.yaml"), householdsYAML(hs, "general"))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	base := "http://" + httpAddr
	cfg := writeFile(t, filepath.Join(dir, "alarmd.yaml"), alarmdYAML(dir, broker.URL, httpAddr, tw.URL, time.Minute,
		fmt.Sprintf("influx: {url: %q, token: unused-by-vm, batch_size: 5000, flush_interval: 200ms}\n", vm.URL)))
	alarmd := startProc(t, binary(t, "alarmd"), "-config", cfg)
	healthy(t, base, alarmd, 20*time.Second)

	// press households first: they get no burst readings, only presses
	var loadIDs, pressIDs []string
	for i, h := range hs {
		if i < pressHH {
			pressIDs = append(pressIDs, h.ID)
		} else {
			loadIDs = append(loadIDs, h.ID)
		}
	}
	received0 := metricValue(t, base+"/metrics", "anxin_ingest_received_total")
	cpu0 := metricValue(t, base+"/metrics", "process_cpu_seconds_total")
	rows0 := metricValue(t, vm.URL+"/metrics", `vm_rows_inserted_total{type="influx"}`)
	start := time.Now()
	// the burst fleet spools its readings as fast as it can; the press fleet
	// is a second process so presses are not queued behind the burst
	load := startFleet(t, broker.URL, filepath.Join(dir, "load"), loadIDs, time.Hour, fleetBurstEnv+"="+strconv.Itoa(burst))
	presses := startFleet(t, broker.URL, filepath.Join(dir, "press"), pressIDs, time.Hour)

	pressedAt := map[string]time.Time{}
	pressDone := make(chan struct{})
	go func() {
		defer close(pressDone)
		for i, hh := range pressIDs {
			<-time.After(time.Until(start.Add(time.Duration(i+1) * pressEvery)))
			pressedAt[hh] = time.Now()
			presses.Press(hh)
		}
	}()

	var rows, received float64
	var ingested time.Duration // when alarmd had taken in (committed) every reading
	testenv.Eventually(t, "every reading in VictoriaMetrics", 5*time.Minute, func() bool {
		if ingested == 0 && metricValue(t, base+"/metrics", "anxin_ingest_received_total")-received0 >= burst {
			ingested = time.Since(start)
		}
		rows = metricValue(t, vm.URL+"/metrics", `vm_rows_inserted_total{type="influx"}`) - rows0
		return rows >= burst
	})
	elapsed := time.Since(start)
	received = metricValue(t, base+"/metrics", "anxin_ingest_received_total") - received0
	cpu := metricValue(t, base+"/metrics", "process_cpu_seconds_total") - cpu0
	<-pressDone

	byFirstContact := map[string]string{}
	for _, h := range hs[:pressHH] {
		byFirstContact[h.Contacts[0]] = h.ID
	}
	var lat, loaded []time.Duration // every press; those pressed before alarmd had every reading
	testenv.Eventually(t, "a first SMS for every press", time.Minute, func() bool {
		lat, loaded = lat[:0], loaded[:0]
		got := map[string]bool{}
		for _, e := range tw.Events() {
			hh, ok := byFirstContact[e.To]
			if e.Kind != "sms" || e.Status != 201 || !ok || got[hh] {
				continue
			}
			got[hh] = true
			lat = append(lat, e.At.Sub(pressedAt[hh]))
			if ingested == 0 || pressedAt[hh].Before(start.Add(ingested)) {
				loaded = append(loaded, e.At.Sub(pressedAt[hh]))
			}
		}
		return len(lat) == pressHH
	})
	dropped := metricValue(t, base+"/metrics", "anxin_archive_dropped_total")
	t.Logf("load: %d readings from %d gateways (spool → uplink → mosquitto → alarmd → VictoriaMetrics) in %s: %.0f readings/s end to end; alarmd ingested %.0f messages; archive dropped %.0f",
		burst, loadHH, elapsed.Round(time.Millisecond), float64(burst)/elapsed.Seconds(), received, dropped)
	spooled := "?"
	for _, l := range strings.Split(load.out.String(), "\n") {
		if strings.HasPrefix(l, "burst spooled:") {
			spooled = l
		}
	}
	t.Logf("gateways: %s; alarmd had received all after %s; alarmd CPU %.1f s: %.1f µs per message",
		spooled, ingested.Round(time.Millisecond), cpu, cpu/received*1e6)
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond / 10) }
	t.Logf("button press → first SMS request at Twilio under that load (%d of %d presses, 1 every %s, made before alarmd had every reading): p50 %s, p99 %s, max %s",
		len(loaded), len(lat), pressEvery, ms(percentile(loaded, 0.50)), ms(percentile(loaded, 0.99)), ms(percentile(loaded, 1)))
	if len(loaded) < len(lat) {
		t.Logf("all %d presses (%d after the load): p50 %s, p99 %s, max %s", len(lat), len(lat)-len(loaded),
			ms(percentile(lat, 0.50)), ms(percentile(lat, 0.99)), ms(percentile(lat, 1)))
	}
	if rows < burst || dropped > 0 {
		t.Errorf("VictoriaMetrics has %.0f of %d readings (%.0f dropped)", rows, burst, dropped)
	}
}
