package alarmd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/ingest"
	"github.com/anxin-care/anxin/internal/testenv"
)

// natsMapping is the server config that spreads households over p
// partitions (docs/deployment.md, "Broker tier: NATS JetStream").
func natsMapping(p int) string {
	return fmt.Sprintf(`mappings = {
  "anxin.v1.*.*.*": "anxin.p.{{partition(%d,1)}}.v1.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}"
}`, p)
}

func natsHH(i int) string { return fmt.Sprintf("hh-n%04d", i) }

// natsHouseholds is n households with a call button and a water meter.
func natsHouseholds(n int) string {
	var b strings.Builder
	b.WriteString("households:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - id: %s\n    elder: {name: 张桂兰, address: 善广乡一村, tier: general}\n", natsHH(i))
		fmt.Fprintf(&b, "    contacts: [{name: 李明, relation: child, phone: \"+86139%08d\"}]\n", i)
		b.WriteString("    devices: [{id: btn1, kind: call_button}, {id: wm1, kind: water_meter}]\n")
	}
	return b.String()
}

// natsConfig is an alarmd consuming the cluster's MQTT stream in parts
// partitions, on PostgreSQL (pgURL "": testConfig's SQLite file) with the
// households file given ("": testConfig's).
func natsConfig(t *testing.T, c *testenv.NATSCluster, pgURL, instance, households string, parts int) *Config {
	t.Helper()
	cfg := testConfig(t)
	if pgURL != "" {
		cfg.Store.URL = Secret(pgURL)
	}
	if households != "" {
		cfg.HouseholdsFile = households
	}
	cfg.NATS.URLs = c.URLs()
	cfg.NATS.Partitions = parts
	cfg.Cluster.Instance = instance
	cfg.Cluster.Lease = 3 * time.Second
	cfg.Cluster.Poll = 300 * time.Millisecond
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// gatewayClient is a gateway's MQTT 3.1.1 client that knows every node
// (paho moves to the next when its node dies).
func gatewayClient(t *testing.T, c *testenv.NATSCluster, first int, id string) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().SetClientID(id).SetCleanSession(true).SetAutoReconnect(true).
		SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).SetMaxReconnectInterval(time.Second).
		SetConnectTimeout(2 * time.Second).SetWriteTimeout(5 * time.Second)
	for i := range c.Len() {
		opts.AddBroker(c.MQTTURL((first + i) % c.Len()))
	}
	cl := paho.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("gateway connect: %v", tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(0) })
	return cl
}

// sendUntilAcked publishes at QoS 1 until the broker PUBACKs, as a gateway
// keeps a message in its spool until then (the same id every time).
func sendUntilAcked(ctx context.Context, cl paho.Client, topic string, payload []byte) bool {
	for ctx.Err() == nil {
		tok := cl.Publish(topic, 1, false, payload)
		if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
			return true
		}
	}
	return false
}

// alarmdProcess is alarmd run as its own process (cmd/alarmd).
type alarmdProcess struct {
	cmd  *exec.Cmd
	http string
	done chan struct{}
}

// startAlarmdProcess builds cmd/alarmd, starts it with the config and
// waits until /healthz says it consumes.
func startAlarmdProcess(t *testing.T, conf string) *alarmdProcess {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "alarmd")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/alarmd").CombinedOutput(); err != nil {
		t.Fatalf("build alarmd: %v\n%s", err, out)
	}
	cf := filepath.Join(dir, "alarmd.yaml")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var listen string // the config's first line: http: {listen: "host:port"}
	for _, l := range strings.Split(conf, "\n") {
		if v, ok := strings.CutPrefix(l, "http: {listen: "); ok {
			listen = strings.Trim(strings.TrimSuffix(v, "}"), `"`)
		}
	}
	logs := &testenv.SyncBuffer{}
	cmd := exec.Command(bin, "-config", cf)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &alarmdProcess{cmd: cmd, http: listen, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() || os.Getenv("ANXIN_DEBUG_LOG") != "" {
			t.Logf("alarmd process log:\n%s", logs.String())
		}
	})
	waitFor(t, "the alarmd process consuming", 60*time.Second, func() bool {
		resp, err := http.Get("http://" + p.http + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// kill SIGKILLs the process and waits for it.
func (p *alarmdProcess) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// metrics are the process's metric lines starting with prefix.
func (p *alarmdProcess) metrics(t *testing.T, prefix string) string {
	t.Helper()
	resp, err := http.Get("http://" + p.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			out = append(out, sc.Text())
		}
	}
	return strings.Join(out, "; ")
}

// received is the process's anxin_ingest_received_total.
func (p *alarmdProcess) received(t *testing.T) float64 {
	t.Helper()
	resp, err := http.Get("http://" + p.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "anxin_ingest_received_total "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// held is the partitions an alarmd consuming NATS holds.
func held(m *Main) []int { return m.ingest.(*ingestWiring).jetstream.Held() }

type exportedSeries struct {
	Metric     map[string]string `json:"metric"`
	Timestamps []int64           `json:"timestamps"`
}

// archivedTimes reads back the timestamps of every household's meter total.
func archivedTimes(t *testing.T, vm *testenv.VictoriaMetrics) map[string]map[int64]int {
	t.Helper()
	if err := vm.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(vm.URL + "/api/v1/export?match[]=" + url.QueryEscape(`{__name__="water_meter_total_m3"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]map[int64]int{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var e exportedSeries
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		hh := e.Metric["household"]
		if out[hh] == nil {
			out[hh] = map[int64]int{}
		}
		for _, ts := range e.Timestamps {
			out[hh][ts]++
		}
	}
	return out
}

// Three NATS nodes with JetStream and their MQTT listeners, two alarmd on
// one PostgreSQL consuming the cluster's MQTT stream in four partitions.
// Gateways publish presses and readings at QoS 1 to different nodes while
// one node is SIGKILLed and restarted and one alarmd (a process of its
// own) is SIGKILLed (its partitions move to the other once their leases
// run out; what it had not acknowledged is delivered again) and a third
// joins (they are shared again): every
// PUBACKed press is exactly one alarm (no repeat: a press redelivered to
// a new owner was not applied twice) and every PUBACKed reading is in the
// archive, except what b had acknowledged but not yet archived when it
// was killed (the archive queue; counted and logged). The gateways hold their last sixth until c shares the work.
func TestIntegrationNATSClusterLosesNothingAcknowledged(t *testing.T) {
	const parts, households, gateways, readingsPer = 4, 24, 6, 150
	c := testenv.StartNATSCluster(t, 3, natsMapping(parts))
	pg := testenv.StartPostgres(t)
	vm := testenv.StartVictoriaMetrics(t)
	hhFile := filepath.Join(t.TempDir(), "households.yaml")
	if err := os.WriteFile(hhFile, []byte(natsHouseholds(households)), 0o600); err != nil {
		t.Fatal(err)
	}
	// nats-server makes its MQTT streams at the first MQTT connection;
	// alarmd's consumers must exist before gateways publish (the stream
	// keeps a message only for the consumers interested in it then)
	gws := make([]paho.Client, gateways)
	for g := range gateways {
		gws[g] = gatewayClient(t, c, g%c.Len(), fmt.Sprintf("gw-%d", g))
	}
	start := func(name string) (*Main, *metrics.Registry, func()) {
		cfg := natsConfig(t, c, pg.URL("postgres"), name, hhFile, parts)
		cfg.Influx.URL = vm.URL
		reg := metrics.NewRegistry()
		logs := &testenv.SyncBuffer{}
		m := &Main{Config: cfg, Escalator: &recordingEscalator{}, Metrics: reg,
			Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}
		t.Cleanup(func() {
			if t.Failed() || testing.Verbose() {
				for _, l := range strings.Split(logs.String(), "\n") {
					if strings.Contains(l, "component=nats") || strings.Contains(l, "level=ERROR") {
						t.Logf("%s: %s", name, l)
					}
				}
			}
		})
		stop := startMain(t, m)
		waitFor(t, name+" consuming", 30*time.Second, func() bool { return m.ingest.Healthy() == nil })
		return m, reg, stop
	}
	a, regA, _ := start("a")
	// b is an alarmd process of its own, to be SIGKILLed
	b := startAlarmdProcess(t, fmt.Sprintf(`http: {listen: "127.0.0.1:%d"}
store: {url: %q}
households_file: %q
influx: {url: %q}
nats: {urls: [%s], partitions: %d, ack_wait: 5s}
cluster: {instance: b, lease: 3s, poll: 300ms}
notify: {ack_secret: "nats-test-ack-secret-0123456789"}
`, testenv.FreePort(t), pg.URL("postgres"), hhFile, vm.URL, strings.Join(c.URLs(), ", "), parts))
	waitFor(t, "a and b sharing the partitions", 30*time.Second, func() bool { return len(held(a)) == parts/2 })
	bParts := map[int]bool{}
	for k := range parts {
		bParts[k] = true
	}
	for _, k := range held(a) {
		delete(bParts, k)
	}

	// each gateway serves its households: one press each at a random
	// point among their readings
	type sent struct {
		presses  sync.Map // household → press id
		readings sync.Map // household → []int64 (ms) acknowledged
	}
	var s sent
	var acked atomic.Int64
	total := int64(households * (readingsPer + 1))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	gate := make(chan struct{})
	base := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	for g := range gateways {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []int
			for i := g; i < households; i += gateways {
				mine = append(mine, i)
			}
			for r := range readingsPer + 1 {
				if r == (readingsPer+1)*5/6 {
					select { // the last sixth once c shares the work
					case <-gate:
					case <-ctx.Done():
						return
					}
				}
				for _, i := range mine {
					hh := natsHH(i)
					var m anxin.Message
					if r == (i*7)%(readingsPer+1) {
						m = button(hh, base.Add(time.Duration(r)*time.Second))
					} else {
						m = anxin.Message{ID: anxin.NewID(time.Now()), TS: base.Add(time.Duration(r) * time.Second), Household: hh,
							Device: "wm1", Kind: anxin.KindWaterMeter,
							Fields: anxin.Fields{"total_m3": anxin.Num(100 + float64(r)/100), "flow_lpm": anxin.Num(0)}}
					}
					b, _ := json.Marshal(&m)
					if !sendUntilAcked(ctx, gws[g], m.Topic(), b) {
						return
					}
					acked.Add(1)
					if m.IsEvent() {
						s.presses.Store(hh, m.ID)
					} else {
						v, _ := s.readings.LoadOrStore(hh, &[]int64{})
						p := v.(*[]int64)
						*p = append(*p, m.TS.UnixMilli())
					}
				}
			}
		}()
	}
	// failures while the gateways publish
	waitFor(t, "a third acknowledged", 2*time.Minute, func() bool { return acked.Load() >= total/3 })
	c.Kill(1)
	t.Logf("NATS node %s SIGKILLed at %d/%d acknowledged", c.Name(1), acked.Load(), total)
	waitFor(t, "half acknowledged", 2*time.Minute, func() bool { return acked.Load() >= total/2 })
	recvB := b.received(t)
	t.Logf("b before its SIGKILL: %s", b.metrics(t, "anxin_archive_"))
	b.kill()
	t.Logf("alarmd b SIGKILLed at %d/%d (it had received %.0f)", acked.Load(), total, recvB)
	waitFor(t, "a holding every partition", 30*time.Second, func() bool { return len(held(a)) == parts })
	waitFor(t, "two thirds acknowledged", 2*time.Minute, func() bool { return acked.Load() >= 2*total/3 })
	c.Restart(1)
	t.Logf("NATS node %s back at %d/%d", c.Name(1), acked.Load(), total)
	cm, regC, _ := start("c")
	waitFor(t, "a and c sharing the partitions", 30*time.Second, func() bool {
		return len(held(a)) == parts/2 && len(held(cm)) == parts/2
	})
	t.Logf("alarmd c holds %v at %d/%d", held(cm), acked.Load(), total)
	close(gate)
	wg.Wait()
	if acked.Load() != total {
		t.Fatalf("gateways got %d of %d acknowledgements", acked.Load(), total)
	}

	// every press: one alarm, opened by it, no repeat
	waitFor(t, "an alarm for every press", time.Minute, func() bool {
		n := 0
		for _, al := range alarms(t, a, anxin.AlarmFilter{Limit: 10_000}) {
			if al.Device == "btn1" {
				n++
			}
		}
		return n >= households
	})
	byHH := map[string][]anxin.Alarm{}
	for _, al := range alarms(t, a, anxin.AlarmFilter{Limit: 10_000}) {
		if al.Device == "btn1" {
			byHH[al.Household] = append(byHH[al.Household], al)
		}
	}
	for i := range households {
		hh := natsHH(i)
		id, _ := s.presses.Load(hh)
		as := byHH[hh]
		if len(as) != 1 || as[0].MessageID != id || as[0].Repeats != 0 {
			t.Errorf("%s: press %v gave %d alarm(s): %+v", hh, id, len(as), as)
		}
	}
	// every acknowledged reading archived, those of b's households too: a
	// reading is acknowledged to JetStream only once archived (AckAfterArchive),
	// so what b's archive queue held at its SIGKILL came again to a and c
	// (nats.ack_wait) and was written then
	missing := func() (others, bs int) {
		got := archivedTimes(t, vm)
		s.readings.Range(func(k, v any) bool {
			hh := k.(string)
			for _, ts := range *v.(*[]int64) {
				if got[hh][ts] == 0 {
					if bParts[ingest.Partition(hh, parts)] {
						bs++
					} else {
						others++
					}
				}
			}
			return true
		})
		return others, bs
	}
	waitFor(t, "every acknowledged reading in the archive, b's households' too", time.Minute, func() bool {
		others, bs := missing()
		return others == 0 && bs == 0
	})
	recv := func(r *metrics.Registry) float64 { return counter(t, r, "anxin_ingest_received_total", "") }
	t.Logf("received: a %.0f, b %.0f (before its SIGKILL), c %.0f; handed back a %.0f, c %.0f (of %d published)",
		recv(regA), recvB, recv(regC),
		counter(t, regA, "anxin_ingest_handed_back_total", ""), counter(t, regC, "anxin_ingest_handed_back_total", ""), total)
	if recvB == 0 || recv(regC) == 0 {
		t.Errorf("the work did not split: b received %.0f, c %.0f", recvB, recv(regC))
	}
}

// /healthz says when alarmd cannot consume: before the first MQTT
// connection nats-server has not made its message stream, so alarmd's
// consumers cannot exist yet (503 naming the stream); once a gateway
// connected they are made and alarmd is healthy. The embedded broker is
// not started (gateways publish to the cluster).
func TestIntegrationNATSHealth(t *testing.T) {
	c := testenv.StartNATSCluster(t, 3, natsMapping(2))
	m := &Main{Config: natsConfig(t, c, "", "solo", "", 2), Escalator: &recordingEscalator{}}
	startMain(t, m)
	if m.broker != nil {
		t.Fatal("the embedded broker started although gateways publish to NATS")
	}
	health := func() (int, string) { return get(t, "http://"+m.HTTPAddr()+"/healthz") }
	waitFor(t, "healthz naming the missing stream", 10*time.Second, func() bool {
		code, body := health()
		return code == http.StatusServiceUnavailable && strings.Contains(body, "$MQTT_msgs")
	})
	gatewayClient(t, c, 0, "gw-health")
	waitFor(t, "healthz ok once the stream exists", 30*time.Second, func() bool {
		code, _ := health()
		return code == http.StatusOK
	})
	waitFor(t, "both partitions held", 10*time.Second, func() bool { return len(held(m)) == 2 })
}

// Readings/s and alarmd's CPU per reading through the NATS tier, for 1, 2
// and 3 alarmd (in this process) on one PostgreSQL; anxin-load publishes
// to one node's MQTT listener. A measurement, not a check:
// ANXIN_NATS_BENCH=live (alarmd consuming while the gateways publish) or
// drain (the readings published first, with alarmd's consumers made and
// alarmd stopped; then alarmd started and timed until it has them all);
// ANXIN_LOAD_N readings (default 30,000).
func TestIntegrationNATSThroughput(t *testing.T) {
	mode := os.Getenv("ANXIN_NATS_BENCH")
	if mode != "live" && mode != "drain" {
		t.Skip("measurement: set ANXIN_NATS_BENCH=live or drain")
	}
	n := envInt("ANXIN_LOAD_N", 30_000)
	hhs := 1000
	bin := filepath.Join(t.TempDir(), "anxin-load")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/anxin-load").CombinedOutput(); err != nil {
		t.Fatalf("build anxin-load: %v\n%s", err, out)
	}
	pg := testenv.StartPostgres(t)
	hhFile := filepath.Join(t.TempDir(), "households.yaml")
	if err := os.WriteFile(hhFile, []byte(loadHouseholds(hhs, 0)), 0o600); err != nil {
		t.Fatal(err)
	}
	// one alarmd on SQLite beside one, two and three on PostgreSQL, in one run
	for _, run := range []struct {
		store     string
		instances int
	}{{"sqlite", 1}, {"postgres", 1}, {"postgres", 2}, {"postgres", 3}} {
		instances := run.instances
		t.Run(fmt.Sprintf("%s/alarmd=%d", run.store, instances), func(t *testing.T) {
			c := testenv.StartNATSCluster(t, 3, natsMapping(6))
			gatewayClient(t, c, 0, "gw-bootstrap") // nats-server makes its MQTT streams
			consumer := fmt.Sprintf("bench-%s-%d", run.store, instances)
			startAll := func() ([]*metrics.Registry, []*Main, []func()) {
				var regs []*metrics.Registry
				var ms []*Main
				var stops []func()
				for i := range instances {
					cfg := natsConfig(t, c, pg.URL("postgres"), fmt.Sprintf("%s-%s-%d", mode, consumer, i), hhFile, 6)
					cfg.NATS.Consumer = consumer
					if run.store == "sqlite" {
						cfg.Store.URL, cfg.Store.Path = "", filepath.Join(t.TempDir(), "alarmd.db")
					}
					reg := metrics.NewRegistry()
					m := &Main{Config: cfg, Escalator: &recordingEscalator{}, Metrics: reg}
					stops = append(stops, startMain(t, m))
					regs, ms = append(regs, reg), append(ms, m)
				}
				waitFor(t, "the partitions shared", 60*time.Second, func() bool {
					sum := 0
					for _, m := range ms {
						if len(held(m)) == 0 {
							return false
						}
						sum += len(held(m))
					}
					return sum == 6
				})
				return regs, ms, stops
			}
			load := func() string {
				out, err := exec.Command(bin, "-broker", c.MQTTURL(0), "-n", strconv.Itoa(n), "-households", strconv.Itoa(hhs),
					"-events", "0", "-publishers", "8").Output()
				if err != nil {
					t.Fatalf("anxin-load: %v %s", err, out)
				}
				return strings.TrimSpace(string(out))
			}
			var pub string
			if mode == "drain" {
				_, _, stops := startAll() // the consumers exist: the stream keeps what follows for them
				for _, stop := range stops {
					stop()
				}
				pub = load()
			}
			cpu0, start := testenv.SelfCPU(), time.Now()
			regs, _, _ := startAll()
			if mode == "live" {
				cpu0, start = testenv.SelfCPU(), time.Now()
				pub = load()
			}
			received := func() float64 {
				s := 0.0
				for _, r := range regs {
					s += counter(t, r, "anxin_ingest_received_total", "")
				}
				return s
			}
			waitFor(t, "every reading received", 5*time.Minute, func() bool { return received() >= float64(n) })
			elapsed, cpu := time.Since(start), testenv.SelfCPU()-cpu0
			per := make([]string, len(regs))
			for i, r := range regs {
				per[i] = fmt.Sprintf("%.0f", counter(t, r, "anxin_ingest_received_total", ""))
			}
			t.Logf("NATS tier (%s), %d alarmd on %s: %d readings in %.2fs: %.0f readings/s; alarmd CPU %.1f µs/reading (all instances); per instance %s; publisher: %s",
				mode, instances, run.store, n, elapsed.Seconds(), float64(n)/elapsed.Seconds(), float64(cpu.Microseconds())/float64(n),
				strings.Join(per, "/"), pub)
		})
	}
}

// A PUBACK from the NATS tier means the message is stored in the
// replicated stream: with two of three nodes SIGKILLed the stream has no
// quorum, and a gateway's QoS 1 press gets no PUBACK (nats-server stores
// before it acknowledges; it closes the connection when the store fails).
// Once the nodes are back the gateway's resend is PUBACKed and becomes
// exactly one alarm.
func TestIntegrationNATSNoPubackWithoutQuorum(t *testing.T) {
	c := testenv.StartNATSCluster(t, 3, "")
	gw := gatewayClient(t, c, 0, "gw-quorum") // also makes the MQTT streams
	m := &Main{Config: natsConfig(t, c, "", "solo", "", 1), Escalator: &recordingEscalator{}}
	startMain(t, m)
	waitFor(t, "alarmd consuming", 30*time.Second, func() bool { return m.ingest.Healthy() == nil })
	// a first press goes through
	first := button("hh-0001", time.Now().UTC().Truncate(time.Millisecond))
	publishMsg(t, gw, first)
	waitFor(t, "the first alarm", 20*time.Second, func() bool { return len(alarms(t, m, anxin.AlarmFilter{Household: "hh-0001"})) == 1 })

	c.Kill(1)
	c.Kill(2)
	press := button("hh-0002", time.Now().UTC().Truncate(time.Millisecond))
	b, _ := json.Marshal(&press)
	tok := gw.Publish(press.Topic(), 1, false, b)
	if tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
		t.Fatal("a PUBACK while the stream had no quorum: the broker acknowledged what it had not stored")
	}
	t.Logf("without quorum: no PUBACK (%v)", tok.Error())
	c.Restart(1)
	c.Restart(2)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if !sendUntilAcked(ctx, gw, press.Topic(), b) {
		t.Fatal("the resend was never PUBACKed")
	}
	waitFor(t, "the press's alarm", 60*time.Second, func() bool {
		return len(alarms(t, m, anxin.AlarmFilter{Household: "hh-0002"})) == 1
	})
	as := alarms(t, m, anxin.AlarmFilter{Household: "hh-0002"})
	if len(as) != 1 || as[0].MessageID != press.ID || as[0].Repeats != 0 {
		t.Fatalf("the press gave %+v", as)
	}
}

// A graceful stop acknowledges the readings its archive still held
// (AckAfterArchive): they are sent before the NATS connection closes, so
// none is left unacknowledged, to reach a peer again ack_wait later and be
// processed a second time.
func TestIntegrationNATSStopAcknowledgesArchived(t *testing.T) {
	c := testenv.StartNATSCluster(t, 3, "")
	vm := testenv.StartVictoriaMetrics(t)
	gw := gatewayClient(t, c, 0, "gw-stop") // also makes the MQTT streams
	cfg := natsConfig(t, c, "", "solo", "", 1)
	cfg.Influx.URL = vm.URL
	cfg.Influx.FlushInterval = time.Hour // the readings wait in the archive's queue until the stop
	m := &Main{Config: cfg, Escalator: &recordingEscalator{}}
	stop := startMain(t, m)
	waitFor(t, "alarmd consuming", 30*time.Second, func() bool { return m.ingest.Healthy() == nil })
	const n = 5
	now := time.Now().UTC().Truncate(time.Millisecond)
	for i := range n {
		at := now.Add(time.Duration(i) * time.Second)
		publishMsg(t, gw, anxin.Message{ID: anxin.NewID(at), TS: at, Household: "hh-0002", Device: "wm1",
			Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(12.5 + float64(i)/100)}})
	}
	waitFor(t, "the readings committed and queued in the archive", 20*time.Second, func() bool {
		return m.ingest.(*ingestWiring).archive.Len() == n
	})
	stop()
	nc, err := nats.Connect(strings.Join(c.URLs(), ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	ci, err := js.ConsumerInfo(cfg.NATS.Stream, cfg.NATS.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	if ci.NumAckPending != 0 || ci.NumPending != 0 {
		t.Fatalf("after a graceful stop %d readings delivered and unacknowledged, %d not delivered; want none",
			ci.NumAckPending, ci.NumPending)
	}
}

// A household marked away through the alarmd that does not hold its
// partition (a load balancer picks either) is away on the one that does:
// both answer away, the owner's rules pause, and the mark stays when the
// owner stops and the other takes its partition over.
func TestIntegrationNATSAwayThroughEitherAlarmd(t *testing.T) {
	const parts = 2
	c := testenv.StartNATSCluster(t, 3, natsMapping(parts))
	pg := testenv.StartPostgres(t)
	hhFile := filepath.Join(t.TempDir(), "households.yaml")
	if err := os.WriteFile(hhFile, []byte(natsHouseholds(4)), 0o600); err != nil {
		t.Fatal(err)
	}
	gatewayClient(t, c, 0, "gw-away") // nats-server makes its MQTT stream at the first connection
	const token = "district-0123456789abcdef"
	start := func(name string) (*Main, func()) {
		cfg := natsConfig(t, c, pg.URL("postgres"), name, hhFile, parts)
		cfg.API.Tokens = []APIToken{{Name: "district", Token: token}}
		m := &Main{Config: cfg, Escalator: &recordingEscalator{}}
		stop := startMain(t, m)
		waitFor(t, name+" consuming", 30*time.Second, func() bool { return m.ingest.Healthy() == nil })
		return m, stop
	}
	a, stopA := start("a")
	b, _ := start("b")
	waitFor(t, "a and b sharing the partitions", 30*time.Second, func() bool { return len(held(a)) == 1 && len(held(b)) == 1 })
	hh := natsHH(0)
	for i := 0; ingest.Partition(hh, parts) != held(a)[0]; i++ {
		hh = natsHH(i + 1)
	}

	if code, body := apiCall(t, b, "PUT", "households/"+hh+"/away", token, `{"away": true}`); code != 200 || !strings.Contains(body, `"away":true`) {
		t.Fatalf("away through the alarmd that does not hold %s: %d %s", hh, code, body)
	}
	for name, m := range map[string]*Main{"a": a, "b": b} {
		if code, body := apiCall(t, m, "GET", "households/"+hh+"/away", token, ""); code != 200 || !strings.Contains(body, `"away":true`) {
			t.Fatalf("GET through %s: %d %s", name, code, body)
		}
	}
	waitFor(t, "the owner's rules pause", 10*time.Second, func() bool { return a.engine.Away(hh) })
	if b.engine.Away(hh) {
		t.Fatal("the alarmd that does not hold the household applied the mark to its rules")
	}

	stopA() // b takes a's partition over, with the mark in its stored rule state
	waitFor(t, "b holding both partitions", 30*time.Second, func() bool { return len(held(b)) == parts })
	waitFor(t, "the mark on the new owner", 10*time.Second, func() bool { return b.engine.Away(hh) })
}

// alarmd says when the node it consumes from runs a nats-server older
// than ingest.MinNATSServer (2.9.10 skips messages it PUBACKed when its
// nodes fail under load: docs/deployment.md): an error in the log and a
// note in /healthz, which stays 200 (alarmd consumes; it does not refuse).
func TestIntegrationNATSOldServerNoted(t *testing.T) {
	c := testenv.StartNATSCluster(t, 3, natsMapping(2))
	conn, err := nats.Connect(c.URLs()[0])
	if err != nil {
		t.Fatal(err)
	}
	version := conn.ConnectedServerVersion()
	conn.Close()
	logs := &testenv.SyncBuffer{}
	m := &Main{Config: natsConfig(t, c, "", "solo", "", 2), Escalator: &recordingEscalator{},
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	startMain(t, m)
	gatewayClient(t, c, 0, "gw-version")
	var body string
	waitFor(t, "healthz ok", 30*time.Second, func() bool {
		var code int
		code, body = get(t, "http://"+m.HTTPAddr()+"/healthz")
		return code == http.StatusOK
	})
	old := ingest.ServerOlder(version)
	t.Logf("nats-server %s (minimum %s): /healthz %q", version, ingest.MinNATSServer, body)
	if noted := strings.Contains(body, "nats-server "+version); noted != old {
		t.Errorf("nats-server %s, older than %s: %v; noted in /healthz: %v (%q)", version, ingest.MinNATSServer, old, noted, body)
	}
	if logged := strings.Contains(logs.String(), "is older than "+ingest.MinNATSServer); logged != old {
		t.Errorf("nats-server %s, older than %s: %v; logged: %v", version, ingest.MinNATSServer, old, logged)
	}
}
