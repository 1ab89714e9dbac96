package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin/ingest"
	"github.com/anxin-care/anxin/internal/testenv"
)

// balancer is the load balancer in front of several alarmd: every request
// (Twilio's callbacks, ack links, the records API) goes to the next
// instance in turn, and to the one after it when that one does not answer
// (killed). So webhooks land on any instance, as behind a real one.
type balancer struct {
	URL      string
	backends []string // host:port
	next     atomic.Uint64
	client   *http.Client
	mu       sync.Mutex
	served   map[string]int // requests answered, by backend
}

func startBalancer(t testing.TB, backends []string) *balancer {
	t.Helper()
	b := &balancer{backends: backends, served: map[string]int{},
		client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	b.URL = srv.URL
	return b
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	start := int(b.next.Add(1))
	for i := range b.backends {
		be := b.backends[(start+i)%len(b.backends)]
		out, err := http.NewRequestWithContext(r.Context(), r.Method, "http://"+be+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out.Header = r.Header.Clone()
		out.Host = r.Host // the public URL's host: Twilio's signature covers it
		resp, err := b.client.Do(out)
		if err != nil {
			continue // down: the next instance
		}
		b.mu.Lock()
		b.served[be]++
		b.mu.Unlock()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "no alarmd answers", http.StatusBadGateway)
}

// TestClusterFailover is issue 20's failover test: a three-node NATS
// cluster with JetStream and its MQTT listeners, PostgreSQL, three alarmd
// behind a load balancer, 200 households (the fleet: the real spool and
// uplink per home, each starting at its own NATS node with the others as
// fallback) streaming water readings and pressing their button once each
// at a random moment, while one alarmd and one NATS node at a time are
// killed with SIGKILL and restarted at random moments (seeded:
// ANXIN_FAULT_SEED; ANXIN_LONG for a longer run). Then: every press gave
// exactly one alarm and at least one contact attempt; no step or notice
// reached Twilio twice; every reading the broker acknowledged is in the
// archive; and no chain waited longer than ack_timeout + 10 s between two
// of its steps, however its alarmd died.
func TestClusterFailover(t *testing.T) {
	long := os.Getenv("ANXIN_LONG") != ""
	seed := faultSeed(t, 20261206)
	rng := rand.New(rand.NewPCG(seed, 20))
	const nHouseholds, nAlarmd, ackTimeout = 200, 3, 3 * time.Second
	const lease, poll = 3 * time.Second, 200 * time.Millisecond
	window, kills := 40*time.Second, 2
	if long {
		window, kills = 4*time.Minute, 10
	}
	t.Logf("seed %d, presses over %s, %d kills each of an alarmd and a NATS node", seed, window, kills)

	const partitions = 6
	pg := testenv.StartPostgres(t)
	nc := testenv.StartNATSCluster(t, 3, fmt.Sprintf(`mappings = {
  "anxin.v1.*.*.*": "anxin.p.{{partition(%d,1)}}.v1.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}"
}`, partitions))
	for i := range nc.Len() { // the nodes' own logs (leader changes, catch-ups), kept with alarmd's
		if f := keepLog(t, "nats-"+nc.Name(i)); f != nil {
			t.Cleanup(func() { _, _ = f.WriteString(nc.Output(i)) })
		}
	}
	vm := testenv.StartVictoriaMetrics(t)
	tw := startFakeTwilio(t)
	dir := t.TempDir()
	hs := households(nHouseholds)
	scriptContacts(tw, hs)
	writeFile(t, filepath.Join(dir, "households.yaml"), householdsYAML(hs, "general"))

	var natsURLs, mqttURLs []string
	for i := range nc.Len() {
		mqttURLs = append(mqttURLs, nc.MQTTURL(i))
	}
	natsURLs = nc.URLs()
	addrs := make([]string, nAlarmd)
	for i := range addrs {
		addrs[i] = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	}
	lb := startBalancer(t, addrs)
	quoted := func(ss []string) string {
		b, _ := json.Marshal(ss)
		return string(b)
	}
	// nats-server makes its MQTT stream at the first MQTT connection, and
	// keeps a message only for the consumers interested in it then: one
	// connection first, then alarmd (its consumers), then the gateways
	touchMQTT(t, mqttURLs[0])
	procs := make([]*proc, nAlarmd)
	for i := range procs {
		cfg := writeFile(t, filepath.Join(dir, fmt.Sprintf("alarmd-%d.yaml", i)), fmt.Sprintf(`
http: {listen: %q, public_url: %q}
store: {url: %q}
nats: {urls: %s, partitions: %d}
cluster: {instance: a%d, lease: %s, poll: %s}
influx: {url: %q, token: unused-by-vm, batch_size: 1000, flush_interval: 200ms}
`, addrs[i], lb.URL, pg.URL("postgres"), quoted(natsURLs), partitions, i, lease, poll, vm.URL)+
			// debug: the JetStream source traces every message it is
			// delivered and acknowledges (whereReadingsAre reads it)
			strings.Replace(commonYAML(dir, tw.URL, ackTimeout), "log: {level: info}", "log: {level: debug}", 1))
		procs[i] = startProc(t, binary(t, "alarmd"), "-config", cfg)
	}
	for i, p := range procs {
		healthy(t, "http://"+addrs[i], p, 60*time.Second)
	}
	var ids []string
	for _, h := range hs {
		ids = append(ids, h.ID)
	}
	fl := startFleet(t, strings.Join(mqttURLs, ","), filepath.Join(dir, "fleet"), ids, 5*time.Second)

	// the schedule: one press per household; kill/restart pairs of an
	// alarmd and of a NATS node, one of each kind down at a time
	type action struct {
		at     time.Duration
		what   string // press, kill, restart
		kind   string // alarmd, nats
		target int    // household index, or instance
	}
	var plan []action
	for i := range hs {
		plan = append(plan, action{time.Second + time.Duration(rng.Int64N(int64(window))), "press", "", i})
	}
	for _, kind := range []string{"alarmd", "nats"} {
		slot := window / time.Duration(kills)
		for k := range kills {
			at := time.Duration(k)*slot + 2*time.Second + time.Duration(rng.Int64N(int64(slot/2)))
			down := time.Second + time.Duration(rng.Int64N(int64(4*time.Second)))
			target := rng.IntN(3)
			plan = append(plan, action{at, "kill", kind, target}, action{at + down, "restart", kind, target})
		}
	}
	slices.SortStableFunc(plan, func(a, b action) int { return int(a.at - b.at) })
	killedAt := map[string][]time.Time{}
	faults := &faultLog{}
	lag := startLagMeter(t)
	start := time.Now()
	for _, a := range plan {
		if d := time.Until(start.Add(a.at)); d > 0 {
			<-time.After(d)
		}
		switch {
		case a.what == "press":
			fl.Press(hs[a.target].ID)
		case a.what == "kill" && a.kind == "alarmd":
			faults.add(fmt.Sprintf("kill alarmd a%d", a.target))
			procs[a.target].Kill()
			killedAt["alarmd"] = append(killedAt["alarmd"], time.Now())
		case a.what == "kill":
			faults.add(fmt.Sprintf("kill nats %d", a.target))
			nc.Kill(a.target)
			killedAt["nats"] = append(killedAt["nats"], time.Now())
		case a.what == "restart" && a.kind == "alarmd":
			faults.add(fmt.Sprintf("restart alarmd a%d", a.target))
			procs[a.target].Restart()
		default:
			faults.add(fmt.Sprintf("restart nats %d", a.target))
			nc.Restart(a.target)
		}
	}
	t.Logf("all %d presses injected after %s; kills: %d alarmd, %d NATS", nHouseholds, time.Since(start).Round(time.Millisecond),
		len(killedAt["alarmd"]), len(killedAt["nats"]))

	// no chain waited longer than the bound between two steps: checked at
	// the end, and also when an earlier check stops the test (what the
	// chains did until then still counts)
	gapsChecked := false
	gaps := func() time.Duration {
		gapsChecked = true
		return stepGaps(t, tw, ackTimeout+10*time.Second, func(alarm string, from, to time.Time) string {
			return explainGap(faults, lag, outputsOf(procs), alarm, from, to, ackTimeout+lease+poll, lease)
		})
	}
	defer func() {
		if !gapsChecked {
			t.Logf("longest wait between two steps of a chain until the test stopped: %s", gaps().Round(time.Millisecond))
		}
	}()

	// every reading the broker acknowledged reaches the archive
	readings := fl.Quiet()
	testenv.Eventually(t, "the gateways' spools to drain", 60*time.Second, func() bool { return fl.Depth() == 0 })
	var archived float64
	defer func() {
		// how far the archive got, when it did not get there, and where
		// the rest is (ANXIN_E2E_EXPLAIN: also when it did, to see the
		// report's state of a run that passed)
		if t.Failed() || os.Getenv("ANXIN_E2E_EXPLAIN") != "" {
			t.Logf("archived %.0f distinct readings of %d; spool depth %d", archived, readings, fl.Depth())
			whereReadingsAre(t, vm, nc, partitions, len(hs), readings, outputsOf(procs))
		}
	}()
	testenv.Eventually(t, fmt.Sprintf("the %d readings in VictoriaMetrics", readings), 60*time.Second, func() bool {
		archived = distinctSamples(t, vm)
		return archived >= float64(readings)
	})

	byHousehold, states := oneAlarmEach(t, lb.URL, hs, 120*time.Second)
	tally := reachedTwilioOnce(t, tw, byHousehold)
	worst := gaps()
	lb.mu.Lock()
	served := fmt.Sprint(lb.served)
	lb.mu.Unlock()
	t.Logf("counts: households %d, alarms (%v), %s; readings %d spooled, %.0f archived; longest wait between two steps of a chain %s; requests served by instance %s",
		nHouseholds, states, tally, readings, archived, worst.Round(time.Millisecond), served)
}

// outputsOf is what each alarmd printed, by its cluster instance name
// (a0, a1, …: cluster.instance in its config).
func outputsOf(procs []*proc) map[string]string {
	outputs := map[string]string{}
	for i, p := range procs {
		outputs[fmt.Sprintf("a%d", i)] = p.Output()
	}
	return outputs
}

// whereReadingsAre says, when not every reading was archived, whether the
// rest still waits in JetStream (a consumer's pending or unacknowledged
// messages: late) or is gone (nothing pending: lost), which households,
// partitions and tick times miss readings, and what the cluster and
// alarmd's trace know of them (explainMissing). It is what a CI failure
// has to say for its cause to be found from its log alone.
func whereReadingsAre(t *testing.T, vm *testenv.VictoriaMetrics, nc *testenv.NATSCluster, partitions, households int, readings int64, outputs map[string]string) {
	t.Helper()
	ticks := map[string][]int64{} // household → its readings' times
	if err := vm.Flush(t.Context()); err != nil {
		t.Logf("VictoriaMetrics: %v", err)
		return
	}
	resp, err := http.Get(vm.URL + `/api/v1/export?match[]={__name__=~".*total_m3.*"}`)
	if err != nil {
		t.Logf("VictoriaMetrics: %v", err)
		return
	}
	defer resp.Body.Close()
	var first, last int64 // the first and last reading of any household (ms)
	for dec := json.NewDecoder(resp.Body); ; {
		var line struct {
			Metric     map[string]string `json:"metric"`
			Timestamps []int64           `json:"timestamps"`
		}
		if dec.Decode(&line) != nil {
			break
		}
		ticks[line.Metric["household"]] = append(ticks[line.Metric["household"]], line.Timestamps...)
		for _, ms := range line.Timestamps {
			if first == 0 || ms < first {
				first = ms
			}
			last = max(last, ms)
		}
	}
	want := int(readings) / households // every household reads on the same ticks (within ms)
	// a gap between two of a household's readings (or before its first,
	// after its last) longer than 1.5 reading intervals lost readings
	every := int64(5000)
	if want > 1 {
		every = (last - first) / int64(want-1)
	}
	var from, to time.Time // the missing readings' time span
	example := ""
	for i := range households {
		hh := fmt.Sprintf("hh-%04d", i+1)
		ts := slices.Compact(slices.Sorted(slices.Values(ticks[hh])))
		if len(ts) >= want {
			continue
		}
		if example == "" {
			example = hh
		}
		var gaps []string
		bounds := append(append([]int64{first - every}, ts...), last+every)
		for j := 1; j < len(bounds); j++ {
			if bounds[j]-bounds[j-1] < every*3/2 {
				continue
			}
			a, b := time.UnixMilli(bounds[j-1]+every), time.UnixMilli(bounds[j]-every)
			gaps = append(gaps, fmt.Sprintf("%s-%s", a.UTC().Format("15:04:05.000"), b.UTC().Format("15:04:05.000")))
			if from.IsZero() || a.Before(from) {
				from = a
			}
			if b.After(to) {
				to = b
			}
		}
		t.Logf("%s (partition %d) has %d of %d readings; missing those of %s", hh, ingest.Partition(hh, partitions), len(ts), want,
			strings.Join(gaps, ", "))
	}
	explainMissing(t, nc, partitions, outputs, from, to, example)
}

// distinctSamples counts the water readings in VictoriaMetrics: distinct
// (series, timestamp) pairs, so a reading written twice counts once.
func distinctSamples(t testing.TB, vm *testenv.VictoriaMetrics) float64 {
	t.Helper()
	if err := vm.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(vm.URL + `/api/v1/export?match[]={__name__=~".*total_m3.*"}`)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	seen := map[string]bool{}
	dec := json.NewDecoder(resp.Body)
	for {
		var line struct {
			Metric     map[string]string `json:"metric"`
			Timestamps []int64           `json:"timestamps"`
		}
		if err := dec.Decode(&line); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("VictoriaMetrics export: %v", err)
		}
		key := line.Metric["__name__"] + "/" + line.Metric["household"] + "/" + line.Metric["device"]
		for _, ts := range line.Timestamps {
			seen[key+"/"+strconv.FormatInt(ts, 10)] = true
		}
	}
	return float64(len(seen))
}

// stepGaps checks that no chain waited longer than bound between two of its
// steps (the calls of consecutive steps, as the fake Twilio saw them) and
// returns the longest wait; explain says what happened around a wait too
// long.
func stepGaps(t *testing.T, tw *fakeTwilio, bound time.Duration, explain func(alarm string, from, to time.Time) string) time.Duration {
	t.Helper()
	calls := map[string][]time.Time{} // alarm → step calls in time order
	for _, e := range tw.Events() {
		if e.Kind != "call" || e.Status != 201 {
			continue
		}
		m := attemptURL.FindStringSubmatch(e.Body)
		if m == nil {
			continue
		}
		key, _ := url.QueryUnescape(html.UnescapeString(m[1]))
		alarm, _, _ := strings.Cut(key, "/")
		calls[alarm] = append(calls[alarm], e.At)
	}
	var worst time.Duration
	for alarm, ts := range calls {
		for i := 1; i < len(ts); i++ {
			gap := ts[i].Sub(ts[i-1])
			worst = max(worst, gap)
			if gap > bound {
				t.Errorf("alarm %s waited %s between two steps, %s to %s (bound ack_timeout + 10 s = %s)\n%s", alarm, gap.Round(time.Millisecond),
					ts[i-1].UTC().Format("15:04:05.000"), ts[i].UTC().Format("15:04:05.000"), bound, explain(alarm, ts[i-1], ts[i]))
			}
		}
	}
	return worst
}

// touchMQTT connects to an MQTT listener once (nats-server makes its MQTT
// streams then).
func touchMQTT(t testing.TB, broker string) {
	t.Helper()
	cl := paho.NewClient(paho.NewClientOptions().AddBroker(broker).SetClientID("e2e-touch").SetConnectTimeout(10 * time.Second))
	if tok := cl.Connect(); !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
		t.Fatalf("MQTT connect to %s: %v", broker, tok.Error())
	}
	cl.Disconnect(100)
}
