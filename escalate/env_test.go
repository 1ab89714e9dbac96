package escalate_test

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/twilio"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

const publicURL = "https://alarm.example.org"

var ackSecret = []byte("0123456789abcdef0123456789abcdef")

// The household of every test: two children, then the grid worker.
var household = anxin.Household{
	ID:    "hh-0001",
	Elder: anxin.Elder{Name: "张桂兰", Phone: "+8613800000000", Address: "善广乡幸福村3组", Tier: anxin.TierHigh},
	Contacts: []anxin.Contact{
		{Name: "李明", Relation: "child", Phone: "+8613900000001"},
		{Name: "李华", Relation: "child", Phone: "+8613900000002"},
	},
	Community: []anxin.Contact{{Name: "王芳", Role: "grid_worker", Phone: "+8613700000003"}},
	Devices:   []anxin.Device{{ID: "wm1", Kind: anxin.KindWaterMeter}, {ID: "btn1", Kind: anxin.KindCallButton}},
}

// abroad is a household whose contacts live where SMS replies reach us.
var abroad = anxin.Household{
	ID:       "hh-0002",
	Elder:    anxin.Elder{Name: "陈秀英", Address: "幸福村5组"},
	Contacts: []anxin.Contact{{Name: "陈刚", Relation: "child", Phone: "+14155550101"}},
}

var (
	phoneElder = household.Elder.Phone
	phone1     = household.Contacts[0].Phone
	phone2     = household.Contacts[1].Phone
	phone3     = household.Community[0].Phone
)

type households map[string]anxin.Household

func (h households) Household(_ context.Context, id string) (anxin.Household, error) {
	if x, ok := h[id]; ok {
		return x, nil
	}
	return anxin.Household{}, anxin.Errorf(anxin.ENOTFOUND, "no household %s", id)
}

// alarms is an in-memory alarm store (the real one is alarmd's); its
// outbox asks the chain store which alarms have a chain.
type alarms struct {
	mu sync.Mutex
	m  map[string]anxin.Alarm
	// onSetState, when set, runs (unlocked) before SetAlarmState writes:
	// a test holds a pass there, between its read of the attempts and
	// its save of the finished chain
	onSetState func()
	chains     interface {
		Chain(ctx context.Context, alarmID string) (anxin.Chain, error)
	}
}

func (a *alarms) AlarmsAwaitingChain(ctx context.Context, n int, installers bool) ([]anxin.Alarm, error) {
	a.mu.Lock()
	var open []anxin.Alarm
	for _, x := range a.m {
		if x.State == anxin.AlarmOpen && ((x.Route == anxin.RouteFamily && x.Severity != anxin.SeverityInfo) ||
			(installers && x.Route == anxin.RouteInstaller)) {
			open = append(open, x)
		}
	}
	a.mu.Unlock()
	slices.SortFunc(open, func(x, y anxin.Alarm) int { return x.OpenedAt.Compare(y.OpenedAt) })
	var out []anxin.Alarm
	for _, x := range open {
		if _, err := a.chains.Chain(ctx, x.ID); anxin.ErrorCode(err) == anxin.ENOTFOUND && len(out) < n {
			out = append(out, x)
		}
	}
	return out, nil
}

func (a *alarms) put(x anxin.Alarm) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m[x.ID] = x
}

func (a *alarms) Alarm(_ context.Context, id string) (anxin.Alarm, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	x, ok := a.m[id]
	if !ok {
		return x, anxin.Errorf(anxin.ENOTFOUND, "no alarm %s", id)
	}
	return x, nil
}

func (a *alarms) SetAlarmState(_ context.Context, id string, st anxin.AlarmState, by string, at time.Time) error {
	a.mu.Lock()
	hook := a.onSetState
	a.mu.Unlock()
	if hook != nil {
		hook()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	x, ok := a.m[id]
	if !ok {
		return anxin.Errorf(anxin.ENOTFOUND, "no alarm %s", id)
	}
	x.State, x.AcceptedBy, x.UpdatedAt = st, by, at
	a.m[id] = x
	return nil
}

// syncBuffer collects log output from many goroutines.
type syncBuffer = testenv.SyncBuffer

type env struct {
	t      *testing.T
	svc    *escalate.Service
	fake   *twiliotest.Server
	db     *sqlite.DB
	alarms *alarms
	mux    *http.ServeMux
	logs   *syncBuffer
	t0     time.Time
	hh     anxin.Households
	cfg    escalate.Config
	// clock, when set, is the service's clock from its next start
	clock escalate.Clock
	// conflicts, while above 0, is how many more SaveChain calls the
	// service's store refuses as ECONFLICT (a write conflict that
	// outlasts its tries)
	conflicts atomic.Int32
	// lostCommits, while above 0, is how many more SaveChain calls commit
	// and then report an error (a connection lost during COMMIT)
	lostCommits atomic.Int32
	// unreadable, while set, makes the service's store refuse to list
	// unfinished chains (a busy or broken store)
	unreadable atomic.Bool
}

// conflictingStore is the env's store whose SaveChain fails as a lost
// write race while env.conflicts lasts.
type conflictingStore struct {
	*sqlite.DB
	e *env
}

func (s conflictingStore) SaveChain(ctx context.Context, c *anxin.Chain) error {
	for n := s.e.conflicts.Load(); n > 0; n = s.e.conflicts.Load() {
		if s.e.conflicts.CompareAndSwap(n, n-1) {
			return anxin.Errorf(anxin.ECONFLICT, "chain %s: injected write conflict", c.AlarmID)
		}
	}
	err := s.DB.SaveChain(ctx, c)
	for n := s.e.lostCommits.Load(); err == nil && n > 0; n = s.e.lostCommits.Load() {
		if s.e.lostCommits.CompareAndSwap(n, n-1) {
			return anxin.Errorf(anxin.EINTERNAL, "chain %s: injected: connection lost during COMMIT", c.AlarmID)
		}
	}
	return err
}

func (s conflictingStore) UnfinishedChains(ctx context.Context) ([]anxin.Chain, error) {
	if s.e.unreadable.Load() {
		return nil, anxin.Errorf(anxin.EINTERNAL, "injected: database is locked")
	}
	return s.DB.UnfinishedChains(ctx)
}

type option func(*escalate.Config)

// newEnv wires the service to the fake Twilio in process: the notifier's
// HTTP client goes through the fake's RoundTripper and the fake's callbacks
// go straight into the mux. No sockets, so it runs inside a synctest bubble.
func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	return newEnvWith(t, households{household.ID: household, abroad.ID: abroad}, opts...)
}

// newEnvWith is newEnv with the households the service reads.
func newEnvWith(t *testing.T, hh anxin.Households, opts ...option) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	cfg := escalate.Config{
		PublicURL: publicURL, AckTimeout: 3 * time.Minute, Rounds: 2, ElderFirst: true,
		AckSecret: ackSecret, AckLinkTTL: 24 * time.Hour, FollowUpAfter: 24 * time.Hour, SMSReplies: true,
	}
	for _, o := range opts {
		o(&cfg)
	}
	e := &env{t: t, fake: twiliotest.New(), db: db, alarms: &alarms{m: map[string]anxin.Alarm{}, chains: db},
		logs: &syncBuffer{}, t0: time.Now(), hh: hh, cfg: cfg}
	e.start()
	return e
}

// start builds the service (and its webhooks) on the env's store and fake
// Twilio, and starts it: the stored chains resume.
func (e *env) start() {
	t := e.t
	t.Helper()
	tw, err := twilio.New(twilio.Config{
		AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken, From: twiliotest.From,
		PublicURL: publicURL, CallEvents: true, DetectMachines: true, Transport: e.fake.Transport(),
	})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := escalate.New(escalate.Options{
		Config: e.cfg, Store: conflictingStore{e.db, e}, Alarms: e.alarms, Households: e.hh,
		Visits: e.db, Notifier: tw, Provider: "twilio", Clock: e.clock, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	twilio.NewWebhooks(twiliotest.AuthToken, publicURL, svc, log).Mount(mux)
	mux.Handle("/ack/", svc.AckHandler())
	e.fake.Deliver = twiliotest.Handler(mux)
	t.Cleanup(func() { _ = svc.Close() })
	e.svc, e.mux = svc, mux
	if err := svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// restart stops the service as SIGKILL would (nothing more is sent or
// written; a request under way is cut off from the store) and starts a
// new one on the same store, with the config changed by opts.
func (e *env) restart(opts ...option) {
	e.t.Helper()
	e.svc.Kill()
	for _, o := range opts {
		o(&e.cfg)
	}
	e.start()
}

func (e *env) raise(id string, sev anxin.Severity) anxin.Alarm {
	e.t.Helper()
	return e.raiseIn(household.ID, id, sev)
}

func (e *env) raiseIn(hh, id string, sev anxin.Severity) anxin.Alarm {
	e.t.Helper()
	a := anxin.Alarm{
		ID: id, Household: hh, Rule: "button", RuleKind: "event", Device: "btn1", Severity: sev,
		Route: anxin.RouteFamily, State: anxin.AlarmOpen, Reason: "The call button was pressed", OpenedAt: time.Now(), UpdatedAt: time.Now(),
		Cause: anxin.Cause{Code: anxin.CauseButton, Device: anxin.KindCallButton, At: time.Now()},
	}
	if sev == anxin.SeverityWarning {
		a.Rule, a.RuleKind, a.Reason = "no_water", "no_use", "no water used since 06:40 (24 h)"
		a.Cause = anxin.Cause{Code: anxin.CauseNoUse, Device: anxin.KindWaterMeter, Since: time.Now().Add(-24 * time.Hour), For: 24 * time.Hour}
	}
	e.alarms.put(a)
	if err := e.svc.Escalate(context.Background(), a); err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) chain(id string) anxin.Chain {
	e.t.Helper()
	c, err := e.db.Chain(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// line is one timeline entry as the tests read it: "3m0s sms +8613900000002".
type line struct {
	at   time.Duration
	kind string
	to   string
	ev   twiliotest.Event
}

// timeline is the fake's record of requests alarmd made (and callbacks posted).
func (e *env) timeline(kinds ...string) []line {
	want := map[string]bool{}
	for _, k := range kinds {
		want[k] = true
	}
	var out []line
	for _, ev := range e.fake.Events() {
		if len(kinds) > 0 && !want[ev.Kind] {
			continue
		}
		out = append(out, line{at: ev.At.Sub(e.t0), kind: ev.Kind, to: ev.To, ev: ev})
	}
	return out
}

func (e *env) dump() string {
	var b strings.Builder
	for _, l := range e.timeline() {
		b.WriteString(l.at.String() + " " + l.kind + " " + l.to + " " + l.ev.Body[:min(len(l.ev.Body), 40)] + "\n")
	}
	return b.String()
}

// expect checks the sent requests (sms, call, cancel) in order with their
// times (within tol).
func (e *env) expect(tol time.Duration, want ...line) {
	e.t.Helper()
	got := e.timeline("sms", "call", "cancel")
	if len(got) != len(want) {
		e.t.Fatalf("timeline has %d requests, want %d:\n%s", len(got), len(want), e.dump())
	}
	for i, w := range want {
		g := got[i]
		if g.kind != w.kind || g.to != w.to || g.at < w.at || g.at > w.at+tol {
			e.t.Fatalf("request %d is %v %s %s, want %v %s %s:\n%s", i, g.at, g.kind, g.to, w.at, w.kind, w.to, e.dump())
		}
	}
}

func at(d time.Duration, kind, to string) line { return line{at: d, kind: kind, to: to} }

func (e *env) visit(alarmID string) (needs, visitor string, date, due time.Time) {
	e.t.Helper()
	vs, err := e.db.Visits(context.Background(), sqlite.VisitFilter{AlarmID: alarmID})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(vs) != 1 {
		e.t.Fatalf("%d visits for alarm %s, want 1", len(vs), alarmID)
	}
	return vs[0].Needs, vs[0].Visitor, vs[0].Date, vs[0].FollowUpDue
}
