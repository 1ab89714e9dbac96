package escalate_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/postgres"
	"github.com/anxin-care/anxin/twilio"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// Cluster mode on a real PostgreSQL: three escalate.Service instances, each
// with its own connection pool and its own webhook mux, share one database
// and one fake Twilio (in process, real time: the leases and polls run on
// the wall clock). Each test has a database of its own.

const (
	clusterAck   = 3 * time.Second
	clusterLease = 2 * time.Second
	clusterPoll  = 150 * time.Millisecond
)

type cluster struct {
	t      *testing.T
	fake   *twiliotest.Server
	db     *postgres.DB // the first instance's store, for the test's reads
	alarms *alarms
	svcs   []*escalate.Service
	muxes  []*http.ServeMux
	logs   []*syncBuffer
	dead   []atomic.Bool
	// deliverTo: the instance the fake's callbacks (and the "load
	// balancer") go to; -1: round robin over the live ones
	deliverTo atomic.Int64
	next      atomic.Int64
	// lost: the status callbacks of this attempt never arrive
	lost atomic.Value
}

// newCluster makes a database of its own and three instances on it (not
// started: start them with c.start).
func newCluster(t *testing.T, pg *testenv.Postgres, hh anxin.Households, tweak ...func(i int, o *escalate.Options)) *cluster {
	t.Helper()
	admin, err := sql.Open("pgx", pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := fmt.Sprintf("chains_%d", time.Now().UnixNano())
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, fake: twiliotest.New(), dead: make([]atomic.Bool, 3)}
	c.deliverTo.Store(-1)
	for i := range 3 {
		db, err := postgres.Open(context.Background(), pg.URL(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if i == 0 {
			c.db = db
			c.alarms = &alarms{m: map[string]anxin.Alarm{}, chains: db}
		}
		tw, err := twilio.New(twilio.Config{
			AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, From: twiliotest.From,
			PublicURL: publicURL, CallEvents: true, DetectMachines: true, Transport: c.fake.Transport(),
		})
		if err != nil {
			t.Fatal(err)
		}
		logs := &syncBuffer{}
		log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o := escalate.Options{
			Config: escalate.Config{
				PublicURL: publicURL, AckTimeout: clusterAck, Rounds: 1, ElderFirst: true,
				AckSecret: ackSecret, AckLinkTTL: time.Hour, FollowUpAfter: 24 * time.Hour,
				Instance: fmt.Sprintf("alarmd-%c", 'a'+i), Lease: clusterLease, Poll: clusterPoll,
			},
			Store: db, Alarms: c.alarms, Households: hh, Visits: db, Notifier: tw, Provider: "twilio", Logger: log,
		}
		for _, f := range tweak {
			f(i, &o)
		}
		svc, err := escalate.New(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svc.Close() })
		mux := http.NewServeMux()
		twilio.NewWebhooks(twiliotest.AuthToken, publicURL, svc, log).Mount(mux)
		mux.Handle("/ack/", svc.AckHandler())
		c.svcs, c.muxes, c.logs = append(c.svcs, svc), append(c.muxes, mux), append(c.logs, logs)
	}
	c.lost.Store("")
	c.fake.Deliver = func(req *http.Request) *http.Response {
		rec := httptest.NewRecorder()
		if lost := c.lost.Load().(string); lost != "" && req.URL.Query().Get("attempt") == lost {
			return &http.Response{StatusCode: http.StatusBadGateway, Body: http.NoBody}
		}
		c.muxes[c.target()].ServeHTTP(rec, req)
		return rec.Result()
	}
	return c
}

// target is the instance a request from outside reaches.
func (c *cluster) target() int {
	if i := c.deliverTo.Load(); i >= 0 {
		return int(i)
	}
	for {
		i := int(c.next.Add(1) % 3)
		if !c.dead[i].Load() {
			return i
		}
	}
}

func (c *cluster) start(i int) {
	c.t.Helper()
	if err := c.svcs[i].Start(context.Background()); err != nil {
		c.t.Fatal(err)
	}
}

// kill stops instance i as SIGKILL would (its leases are kept until they
// run out) and returns when.
func (c *cluster) kill(i int) time.Time {
	c.dead[i].Store(true)
	c.svcs[i].Kill()
	return time.Now()
}

func (c *cluster) raise(id, hh string) anxin.Alarm {
	now := time.Now()
	a := anxin.Alarm{ID: id, Household: hh, Rule: "button", RuleKind: "event", Device: "btn1",
		Severity: anxin.SeverityCritical, Route: anxin.RouteFamily, State: anxin.AlarmOpen,
		Reason: "The call button was pressed", OpenedAt: now, UpdatedAt: now,
		Cause: anxin.Cause{Code: anxin.CauseButton, Device: anxin.KindCallButton, At: now}}
	c.alarms.put(a)
	return a
}

func (c *cluster) chain(id string) anxin.Chain {
	c.t.Helper()
	ch, err := c.db.Chain(context.Background(), id)
	if err != nil {
		c.t.Fatal(err)
	}
	return ch
}

// created are the requests the fake accepted (201) of a kind, by number.
func (c *cluster) created(kind string) map[string][]twiliotest.Event {
	out := map[string][]twiliotest.Event{}
	for _, ev := range c.fake.Events() {
		if ev.Kind == kind && ev.Status == 201 {
			out[ev.To] = append(out[ev.To], ev)
		}
	}
	return out
}

// sentTo is the first created request of a kind to a number (ok false: none).
func (c *cluster) sentTo(kind, to string) (twiliotest.Event, bool) {
	evs := c.created(kind)[to]
	if len(evs) == 0 {
		return twiliotest.Event{}, false
	}
	return evs[0], true
}

// noDuplicates fails when any SMS body or any call's number was sent twice
// (every number in these tests is rung once per chain).
func (c *cluster) noDuplicates() {
	c.t.Helper()
	bodies := map[string]int{}
	for _, evs := range c.created("sms") {
		for _, ev := range evs {
			if bodies[ev.Body]++; bodies[ev.Body] > 1 {
				c.t.Fatalf("SMS to %s sent twice: %q", ev.To, ev.Body)
			}
		}
	}
	for to, evs := range c.created("call") {
		if len(evs) > 1 {
			c.t.Fatalf("%d calls to %s, want 1", len(evs), to)
		}
	}
}

// logsOf is every instance's log lines about one alarm.
func (c *cluster) logsOf(id string) string {
	var b strings.Builder
	for i, l := range c.logs {
		for _, line := range strings.Split(l.String(), "\n") {
			if strings.Contains(line, id) {
				fmt.Fprintf(&b, "%c: %s\n", 'a'+i, line)
			}
		}
	}
	return b.String()
}

func (c *cluster) leaseOwner(id string) string {
	var owner string
	if err := c.db.SQL().QueryRow(`SELECT lease_owner FROM escalation_chains WHERE alarm_id = $1`, id).Scan(&owner); err != nil {
		c.t.Fatal(err)
	}
	return owner
}

// One PostgreSQL server for the cluster tests (initdb and start take
// seconds); each test makes a database of its own on it.
func TestClusterOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("PostgreSQL cluster test")
	}
	pg := testenv.StartPostgres(t)
	for _, c := range []struct {
		name string
		fn   func(*testing.T, *testenv.Postgres)
	}{
		{"EscalatedOnAllInstancesSendsEachStepOnce", clusterEscalateEverywhere},
		{"AckLinkOnAnotherInstance", clusterAckElsewhere},
		{"InstanceDiesMidWait", clusterDiesMidWait},
		{"InstanceDiesMidPass", clusterDiesMidPass},
		{"StaleHolderDoesNotSend", clusterStaleHolder},
		{"LeaseLostBeforeSendStillSends", clusterLeaseLostBeforeSend},
		{"SlowPassKeepsItsLease", clusterSlowPass},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, pg) })
	}
}

// 30 alarms, each handed to all three instances at once: every step's SMS
// and call go out exactly once, and every chain walks to its end
// (unanswered, the duty SMS, the outcome visit).
func clusterEscalateEverywhere(t *testing.T, pg *testenv.Postgres) {
	// 90 hand-overs at once on a loaded 2-core machine under -race take
	// more than 3 s (a step's deadline counts from its send, so a late first
	// pass delays the chain but skips nobody): this test waits 6 s per step
	c := newCluster(t, pg, testenv.ManyHouseholds{}, func(_ int, o *escalate.Options) { o.Config.AckTimeout = 2 * clusterAck })
	for i := range 3 {
		c.start(i)
	}
	const n = 30
	var wg sync.WaitGroup
	for k := range n {
		a := c.raise(fmt.Sprintf("01CLUSTER%02d", k), fmt.Sprintf("hh-%d", k))
		for _, svc := range c.svcs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := svc.Escalate(context.Background(), a); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	testenv.Eventually(t, "every chain finished", 60*time.Second, func() bool {
		for k := range n {
			if ch := c.chain(fmt.Sprintf("01CLUSTER%02d", k)); !ch.Finished {
				return false
			}
		}
		return true
	})
	c.noDuplicates()
	sms, calls := c.created("sms"), c.created("call")
	for k := range n {
		id := fmt.Sprintf("01CLUSTER%02d", k)
		if ch := c.chain(id); ch.State != anxin.ChainUnanswered || ch.Step != len(ch.Steps) || len(ch.Steps) != 2 {
			t.Fatalf("chain %s ended %s at step %d of %d", id, ch.State, ch.Step, len(ch.Steps))
		}
		child, worker := fmt.Sprintf("+86139%08d", k), fmt.Sprintf("+86137%08d", k)
		// child: step 0's SMS and call; worker: step 1's SMS and call, then the duty SMS
		if len(sms[child]) != 1 || len(calls[child]) != 1 || len(sms[worker]) != 2 || len(calls[worker]) != 1 {
			t.Fatalf("alarm %s: SMS %d/%d, calls %d/%d (child/worker), want 1/2 and 1/1\n%s",
				id, len(sms[child]), len(sms[worker]), len(calls[child]), len(calls[worker]), c.logsOf(id))
		}
		vs, err := c.db.Visits(context.Background(), anxin.VisitFilter{AlarmID: id})
		if err != nil || len(vs) != 1 {
			t.Fatalf("alarm %s: %d outcome visits, want 1 (%v)", id, len(vs), err)
		}
	}
	passes := make([]int, 3)
	for i, l := range c.logs {
		passes[i] = strings.Count(l.String(), `"msg":"sent"`)
	}
	t.Logf("requests sent by instance a, b, c: %v (of %d)", passes, 5*n)
}

// A chain started on instance A is accepted through an ack link that the
// load balancer hands to instance B: accepted, the chain finishes, and the
// contact reached before is told who took it, once.
func clusterAckElsewhere(t *testing.T, pg *testenv.Postgres) {
	c := newCluster(t, pg, households{household.ID: household})
	for i := range 3 {
		c.start(i)
	}
	c.deliverTo.Store(2) // Twilio's callbacks go to C
	a := c.raise("01ACKB", household.ID)
	if err := c.svcs[0].Escalate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	var sms twiliotest.Event
	testenv.Eventually(t, "step 1's SMS", 2*clusterAck+5*time.Second, func() bool {
		var ok bool
		sms, ok = c.sentTo("sms", phone2)
		return ok
	})
	m := ackLink.FindStringSubmatch(sms.Body)
	if m == nil {
		t.Fatalf("no ack link in %q", sms.Body)
	}
	rec := httptest.NewRecorder()
	c.muxes[1].ServeHTTP(rec, httptest.NewRequest(http.MethodPost, m[1], nil)) // instance B
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "已确认") {
		t.Fatalf("ack on B: %d %s", rec.Code, rec.Body)
	}
	testenv.Eventually(t, "the chain finished", 10*time.Second, func() bool { return c.chain(a.ID).Finished })
	ch := c.chain(a.ID)
	if ch.State != anxin.ChainAccepted || ch.AcceptedTarget != 1 || ch.AcceptedVia != escalate.ViaAckLink {
		t.Fatalf("chain %s accepted by %d via %s", ch.State, ch.AcceptedTarget, ch.AcceptedVia)
	}
	// contact 1 got step 0's SMS and one "taken" notice; nobody else was rung
	testenv.Eventually(t, "the taken notice", 5*time.Second, func() bool { return len(c.created("sms")[phone1]) == 2 })
	if got := c.created("sms"); len(got[phone1]) != 2 || len(got[phone2]) != 1 || len(got[phone3]) != 0 {
		t.Fatalf("SMS after the acceptance: %d to contact 1, %d to contact 2, %d to the worker", len(got[phone1]), len(got[phone2]), len(got[phone3]))
	}
	if al, _ := c.alarms.Alarm(context.Background(), a.ID); al.State != anxin.AlarmAccepted {
		t.Fatalf("alarm %s", al.State)
	}
	c.noDuplicates()
}

// Instance A sends step 0 and waits; it dies (SIGKILL-like) mid-wait. B or
// C sends step 1 at the wake time A stored (the step's deadline), within
// the ack timeout + lease + poll; nothing is sent twice.
func clusterDiesMidWait(t *testing.T, pg *testenv.Postgres) {
	c := newCluster(t, pg, households{household.ID: household})
	c.start(0)
	a := c.raise("01WAIT", household.ID)
	if err := c.svcs[0].Escalate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "A sent step 0 and released the chain", 10*time.Second, func() bool {
		_, sms := c.sentTo("sms", phone1)
		_, call := c.sentTo("call", phone1)
		return sms && call && c.leaseOwner(a.ID) == ""
	})
	c.start(1)
	c.start(2)
	deadline := c.chain(a.ID).Deadline
	died := c.kill(0)
	var next twiliotest.Event
	testenv.Eventually(t, "step 1 sent by another instance", clusterAck+clusterLease+clusterPoll+10*time.Second, func() bool {
		var ok bool
		next, ok = c.sentTo("call", phone2)
		return ok
	})
	t.Logf("A died mid-wait %v before step 0's deadline; step 1's call went out %v after the death, %v after the deadline",
		deadline.Sub(died).Round(time.Millisecond), next.At.Sub(died).Round(time.Millisecond), next.At.Sub(deadline).Round(time.Millisecond))
	if next.At.Before(deadline) {
		t.Fatalf("step 1 went out %v before step 0's deadline", deadline.Sub(next.At))
	}
	testenv.Eventually(t, "the chain walked to its end", 3*clusterAck+10*time.Second, func() bool { return c.chain(a.ID).Finished })
	c.noDuplicates()
	if ch := c.chain(a.ID); ch.State != anxin.ChainUnanswered {
		t.Fatalf("chain ended %s", ch.State)
	}
}

// Instance A dies in the middle of a pass: step 1's SMS request has reached
// Twilio (which created the message) but not answered, A holds the lease.
// When the lease runs out B or C takes the chain, looks the "sending" row
// up at Twilio (found: not sent again) and places step 1's call.
func clusterDiesMidPass(t *testing.T, pg *testenv.Postgres) {
	c := newCluster(t, pg, households{household.ID: household})
	c.start(0)
	a := c.raise("01PASS", household.ID)
	if err := c.svcs[0].Escalate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "A sent step 0", 10*time.Second, func() bool {
		_, sms := c.sentTo("sms", phone1)
		_, call := c.sentTo("call", phone1)
		return sms && call
	})
	c.fake.Fault("sms", twiliotest.Fault{Hang: true}) // step 1's SMS: made, never answered
	c.lost.Store(a.ID + "/s1/sms")                    // nor reported: only a lookup can find it
	testenv.Eventually(t, "A's step 1 SMS request hangs", clusterAck+5*time.Second, func() bool {
		_, ok := c.sentTo("sms", phone2)
		return ok
	})
	if owner := c.leaseOwner(a.ID); owner != "alarmd-a" {
		t.Fatalf("lease held by %q during A's pass", owner)
	}
	c.start(1)
	c.start(2)
	died := c.kill(0)
	var call twiliotest.Event
	testenv.Eventually(t, "step 1's call by another instance", clusterAck+clusterLease+clusterPoll+10*time.Second, func() bool {
		var ok bool
		call, ok = c.sentTo("call", phone2)
		return ok
	})
	t.Logf("A died mid-pass holding the lease; step 1's call went out %v after the death", call.At.Sub(died).Round(time.Millisecond))
	testenv.Eventually(t, "the chain walked to its end", 3*clusterAck+10*time.Second, func() bool { return c.chain(a.ID).Finished })
	c.noDuplicates()
	at, err := c.db.Attempt(context.Background(), a.ID+"/s1/sms")
	if err != nil || at.ProviderID == "" || at.Status == anxin.AttemptSending {
		t.Fatalf("step 1's SMS attempt after the takeover: %+v %v", at, err)
	}
	found := 0
	for _, l := range c.logs[1:] {
		found += strings.Count(l.String(), "send had gone through; not sending again")
	}
	if found != 1 {
		t.Fatalf("the SMS A left in flight was looked up and adopted %d times, want 1", found)
	}
}

// frozenStore is instance A's store: after writing step 1's SMS attempt
// ("sending", before its request) A freezes (a long pause of the process)
// until the test lets it go.
type frozenStore struct {
	*postgres.DB
	gate     string // the attempt id whose creation freezes
	stuck    chan struct{}
	released chan struct{}
	once     sync.Once
}

// thaw lets the frozen pass go on (once; again is a no-op).
func (f *frozenStore) thaw() { f.once.Do(func() { close(f.released) }) }

// frozenAtStep1 starts instance A alone on alarm id and returns once A's pass
// has written step 1's SMS attempt and frozen (B and C are not started;
// Twilio's callbacks go to A, since a webhook kicks a pass even on an
// instance not started, which could take step 1 from A).
func frozenAtStep1(t *testing.T, pg *testenv.Postgres, id string) (*cluster, *frozenStore, anxin.Alarm) {
	t.Helper()
	fz := &frozenStore{gate: id + "/s1/sms", stuck: make(chan struct{}), released: make(chan struct{})}
	c := newCluster(t, pg, households{household.ID: household}, func(i int, o *escalate.Options) {
		if i == 0 {
			fz.DB = o.Store.(*postgres.DB)
			o.Store = fz
		}
	})
	t.Cleanup(fz.thaw) // before the services' Close (cleanups run last first)
	c.deliverTo.Store(0)
	c.start(0)
	a := c.raise(id, household.ID)
	if err := c.svcs[0].Escalate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fz.stuck:
	case <-time.After(2*clusterAck + 10*time.Second):
		t.Fatalf("A never reached step 1's SMS:\n%s", c.logsOf(a.ID))
	}
	return c, fz, a
}

// startOthers starts B and C; Twilio's callbacks go round robin again.
func (c *cluster) startOthers() {
	c.start(1)
	c.start(2)
	c.deliverTo.Store(-1)
}

// RenewChain waits while A is frozen: the whole process is paused, the
// renewals of its pass's lease too.
func (f *frozenStore) RenewChain(ctx context.Context, alarmID, owner string, epoch int64, until time.Time) (bool, error) {
	select {
	case <-f.stuck:
		<-f.released
	default:
	}
	return f.DB.RenewChain(ctx, alarmID, owner, epoch, until)
}

func (f *frozenStore) CreateAttempt(ctx context.Context, a *anxin.Attempt) (bool, error) {
	created, err := f.DB.CreateAttempt(ctx, a)
	if created && a.ID == f.gate {
		close(f.stuck)
		<-f.released // frozen: the lease runs out meanwhile
	}
	return created, err
}

// A pass that outlives its lease (the process froze between writing an
// attempt and making its request) must not send: B claims the chain when
// the lease runs out, looks the attempt up (not sent), sends step 1; when A
// wakes up its renew is refused (the epoch moved) and it stops before the
// request. Each request once.
func clusterStaleHolder(t *testing.T, pg *testenv.Postgres) {
	c, fz, a := frozenAtStep1(t, pg, "01STALE")
	c.startOthers()
	testenv.Eventually(t, "step 1's SMS and call by B or C", clusterLease+clusterPoll+10*time.Second, func() bool {
		_, sms := c.sentTo("sms", phone2)
		_, call := c.sentTo("call", phone2)
		return sms && call
	})
	fz.thaw() // A wakes up, still in its pass
	sentByA := func() string {
		for _, l := range strings.Split(c.logs[0].String(), "\n") {
			if strings.Contains(l, `"msg":"sent"`) && strings.Contains(l, `"attempt":"01STALE/s1/`) {
				return l
			}
		}
		return ""
	}
	testenv.Eventually(t, "A's pass ended", 5*time.Second, func() bool {
		return strings.Contains(c.logs[0].String(), "chain lease lost during a pass") || sentByA() != ""
	})
	if l := sentByA(); l != "" {
		t.Fatalf("A sent step 1 after its lease was taken: %s", l)
	}
	testenv.Eventually(t, "the chain walked to its end", 3*clusterAck+10*time.Second, func() bool { return c.chain(a.ID).Finished })
	c.noDuplicates()
}

// A pass that loses its lease between starting a step (its deadline
// written) and the step's requests: the instance that next takes the chain
// finds the deadline past. The step must still be sent, once, and its ack
// timeout counts from that send; closing it as "ack timeout" without a
// request walks an elder's press past people nobody rang (e2e
// TestClusterFailover under load: steps closed as timed out, no call).
func clusterLeaseLostBeforeSend(t *testing.T, pg *testenv.Postgres) {
	c, fz, a := frozenAtStep1(t, pg, "01LOSTSEND")
	// A stays frozen past its lease and past an ack timeout since it
	// started step 1 (the deadline a step used to get when it started)
	testenv.Eventually(t, "an ack timeout since step 1 started", 2*clusterAck, func() bool {
		ch := c.chain(a.ID)
		return ch.Step == 1 && time.Now().After(ch.UpdatedAt.Add(clusterAck))
	})
	c.startOthers()
	var sms, call twiliotest.Event
	testenv.Eventually(t, "step 1's SMS and call by B or C", clusterLease+clusterPoll+10*time.Second, func() bool {
		var ok1, ok2 bool
		sms, ok1 = c.sentTo("sms", phone2)
		call, ok2 = c.sentTo("call", phone2)
		return (ok1 && ok2) || c.chain(a.ID).Step > 1
	})
	if sms.To == "" || call.To == "" {
		t.Fatalf("step 1 closed without its SMS (%v) or call (%v) being sent:\n%s", sms.To != "", call.To != "", c.logsOf(a.ID))
	}
	fz.thaw()
	var next twiliotest.Event
	testenv.Eventually(t, "step 2's call", 2*clusterAck+10*time.Second, func() bool {
		var ok bool
		next, ok = c.sentTo("call", phone3)
		return ok
	})
	if waited := next.At.Sub(call.At); waited < clusterAck {
		t.Fatalf("step 2 went out %v after step 1's call, want at least the ack timeout %v", waited, clusterAck)
	}
	testenv.Eventually(t, "the chain walked to its end", 3*clusterAck+10*time.Second, func() bool { return c.chain(a.ID).Finished })
	c.noDuplicates()
}

// slowStore is a store on a loaded machine: each read of a chain or an
// attempt and each new attempt takes delay longer (an injected latency;
// the lease's own statements are not slowed, so only the pass is slow).
type slowStore struct {
	*postgres.DB
	delay time.Duration
}

func (s *slowStore) slow(ctx context.Context) error {
	select {
	case <-time.After(s.delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *slowStore) Chain(ctx context.Context, id string) (anxin.Chain, error) {
	if err := s.slow(ctx); err != nil {
		return anxin.Chain{}, err
	}
	return s.DB.Chain(ctx, id)
}

func (s *slowStore) Attempt(ctx context.Context, id string) (anxin.Attempt, error) {
	if err := s.slow(ctx); err != nil {
		return anxin.Attempt{}, err
	}
	return s.DB.Attempt(ctx, id)
}

func (s *slowStore) CreateAttempt(ctx context.Context, a *anxin.Attempt) (bool, error) {
	if err := s.slow(ctx); err != nil {
		return false, err
	}
	return s.DB.CreateAttempt(ctx, a)
}

// A pass that takes longer than the lease before its first request (every
// statement slow, as on a machine at load 20) must keep its lease while it
// runs: if another instance may claim the chain whenever a pass outlives
// the lease, each claimer's pass is taken from it the same way before it
// sends, and nobody is rung for as long as the machine stays slow (e2e
// TestClusterFailover under load: chains waiting 16–47 s between steps).
func clusterSlowPass(t *testing.T, pg *testenv.Postgres) {
	// about 4 slow statements from the claim to the first request: 2.8 s
	// against a 2 s lease
	const delay = 700 * time.Millisecond
	c := newCluster(t, pg, households{household.ID: household}, func(_ int, o *escalate.Options) {
		o.Store = &slowStore{DB: o.Store.(*postgres.DB), delay: delay}
	})
	for i := range 3 {
		c.start(i)
	}
	a := c.raise("01SLOW", household.ID)
	if err := c.svcs[0].Escalate(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if t.Failed() {
			t.Logf("the alarm in the instances' logs:\n%s", c.logsOf(a.ID))
		}
	}()
	// unhindered, step 0's SMS and call take about 6 slow statements
	testenv.Eventually(t, "step 0's SMS and call", 10*clusterLease+20*delay, func() bool {
		_, sms := c.sentTo("sms", phone1)
		_, call := c.sentTo("call", phone1)
		return sms && call
	})
	c.noDuplicates()
}
