package dispatch_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/dispatch"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/twilio"
	"github.com/anxin-care/anxin/twilio/twiliotest"
)

// sent records what the notifier was asked to send.
type sent struct {
	mu    sync.Mutex
	ns    []anxin.Notification
	fail  int // the next this many sends fail
	tried int
}

func (s *sent) Send(_ context.Context, n anxin.Notification) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tried++
	if s.fail > 0 {
		s.fail--
		return "", true, errors.New("provider unreachable") // certainly not sent: retryable
	}
	s.ns = append(s.ns, n)
	return fmt.Sprintf("SM%d", len(s.ns)), false, nil
}
func (s *sent) Lookup(context.Context, anxin.Notification, time.Time) ([]string, error) {
	return nil, nil
}
func (s *sent) Cancel(context.Context, string, bool) error { return nil }
func (s *sent) all() []anxin.Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]anxin.Notification(nil), s.ns...)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func idNumber(seq int) string {
	s := "530128" + "19400506" + fmt.Sprintf("%03d", seq)
	return s + string(care.CheckDigit(s))
}

// world is a store file with one elder (grid worker 王芳, responders 王芳
// and 刘军), accounts for both and an operator, and an alarm.
type world struct {
	path  string
	db    *sqlite.DB
	clock *clock
	sms   *sent
	logs  *bytes.Buffer
	alarm anxin.Alarm
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{path: filepath.Join(t.TempDir(), "alarmd.db"), clock: &clock{t: time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)},
		sms: &sent{}, logs: &bytes.Buffer{}}
	w.open(t)
	e := anxin.ElderRecord{ID: "e1", Household: "hh-1", Name: "张桂兰", Gender: anxin.Female, IDNumber: idNumber(1),
		Current:    anxin.Address{County: "禄劝县", Township: "屏山街道", Village: "善广村", Detail: "幸福路8号"},
		Categories: []anxin.Category{anxin.CategoryAlone}, Consent: true, GridWorker: "王芳",
		Responders: []anxin.Contact{{Name: "王芳", Role: "grid_worker", Phone: "+8613700000002"},
			{Name: "刘军", Role: "community_head", Phone: "+8613700000003"}},
		Assessment: anxin.Assessment{Guardianship: anxin.GuardianAlone, SelfCare: anxin.SelfCareIntact, Health: anxin.HealthNormal,
			AssessedOn: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}}
	if err := w.db.PutElder(ctx, &e); err != nil {
		t.Fatal(err)
	}
	for _, a := range []sqlite.Account{{Login: "wang", Name: "王芳", Area: "善广村", Role: "worker"},
		{Login: "wang2", Name: "王芳", Area: "龙井村", Role: "worker"}, // the same name elsewhere: not her
		{Login: "liu", Name: "刘军", Area: "屏山街道/*", Role: "worker"},
		{Login: "ops", Name: "值班员", Area: "", Role: "operator"}} {
		a.Hash = "x"
		if err := w.db.PutAccount(ctx, a, w.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	res, err := w.db.ApplyIngest(ctx, &sqlite.IngestBatch{At: w.clock.Now(), Changes: []sqlite.AlarmChange{{Op: sqlite.AlarmOpOpen,
		Household: "hh-1", Rule: "button", RuleKind: "event", Device: "btn1", Severity: anxin.SeverityCritical,
		Route: anxin.RouteFamily, At: w.clock.Now(), Reason: "button pressed", Cause: anxin.Cause{Code: anxin.CauseButton, Device: anxin.KindCallButton}}}})
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("open alarm: %+v %v", res, err)
	}
	w.alarm = res.Opened[0]
	return w
}

func (w *world) open(t *testing.T) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), w.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w.db = db
}

// households is alarmd's households file as the dispatcher reads it.
type households map[string]anxin.Household

func (h households) Household(_ context.Context, id string) (anxin.Household, error) {
	if x, ok := h[id]; ok {
		return x, nil
	}
	return anxin.Household{}, anxin.Errorf(anxin.ENOTFOUND, "no household %s", id)
}

var kits = households{"hh-1": {ID: "hh-1", Elder: anxin.Elder{Name: "张桂兰"},
	Devices: []anxin.Device{{ID: "btn1", Kind: anxin.KindCallButton}}}}

func (w *world) dispatcher() *dispatch.Dispatcher {
	return &dispatch.Dispatcher{Store: w.db, Households: kits, Notifier: w.sms, PublicURL: "https://anxin.example.org", Now: w.clock.Now,
		Logger: slog.New(slog.NewTextHandler(w.logs, nil)), Timeout: 30 * time.Minute, DispatchAfter: 15 * time.Minute}
}

func (w *world) orders(t *testing.T) []anxin.WorkOrder {
	t.Helper()
	os, err := w.db.WorkOrders(context.Background(), sqlite.WorkOrderFilter{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	return os
}

// An alarm the chain left unanswered becomes one order for the elder's
// grid worker with one SMS; passes after it, and a restart, add nothing;
// untouched for the timeout it goes to the next responder (once, with an
// SMS), then to an operator, who keeps it.
func TestUnansweredAlarmDispatchedOnceAndMoved(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	d := w.dispatcher()
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if os := w.orders(t); len(os) != 0 {
		t.Fatalf("an alarm just opened was dispatched: %+v", os)
	}
	w.clock.add(2 * time.Minute)
	if err := w.db.SetAlarmState(ctx, w.alarm.ID, anxin.AlarmUnanswered, "", w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := d.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	os := w.orders(t)
	if len(os) != 1 {
		t.Fatalf("orders: %+v", os)
	}
	o := os[0]
	if o.Assignee != "wang" || o.Kind != anxin.OrderAlarm || o.AlarmID != w.alarm.ID || o.Elder != "e1" || o.Status != anxin.OrderPending ||
		o.DispatchedBy != dispatch.Auto || len(o.History) != 1 || o.History[0].Why != dispatch.WhyUnanswered || o.History[0].SMS != dispatch.SMSSent {
		t.Fatalf("order: %+v", o)
	}
	ns := w.sms.all()
	if len(ns) != 1 || ns[0].To != "+8613700000002" || ns[0].Channel != anxin.ChannelSMS ||
		!strings.Contains(ns[0].Body, "【安心】派单：张桂兰家") || !strings.Contains(ns[0].Body, "按下了呼叫按钮") ||
		!strings.Contains(ns[0].Body, "https://anxin.example.org/app/orders/"+o.ID) || strings.Contains(ns[0].Masked, "张桂兰") {
		t.Fatalf("SMS: %+v", ns)
	}

	// a restart: the same store, a new dispatcher
	w.db.Close()
	w.open(t)
	d = w.dispatcher()
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if os := w.orders(t); len(os) != 1 || len(w.sms.all()) != 1 {
		t.Fatalf("after a restart: %d orders, %d SMS", len(os), len(w.sms.all()))
	}

	// untouched for 29 minutes: stays; at 30: the next responder, once
	w.clock.add(29 * time.Minute)
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if o := w.orders(t)[0]; o.Assignee != "wang" {
		t.Fatalf("moved before the timeout: %+v", o)
	}
	w.clock.add(time.Minute)
	for range 2 {
		if err := d.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	o = w.orders(t)[0]
	if o.Assignee != "liu" || len(o.History) != 2 || o.History[1].Why != dispatch.WhyUntouched || o.History[1].SMS != dispatch.SMSSent {
		t.Fatalf("after the timeout: %+v", o)
	}
	if ns := w.sms.all(); len(ns) != 2 || ns[1].To != "+8613700000003" || !strings.Contains(ns[1].Body, "超时未接单") {
		t.Fatalf("SMS after the move: %+v", ns)
	}
	// another timeout: the operator (no phone: no SMS, the board shows it), who keeps it
	w.clock.add(30 * time.Minute)
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	w.clock.add(3 * time.Hour)
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	o = w.orders(t)[0]
	if o.Assignee != "ops" || len(o.History) != 3 || o.History[2].SMS != dispatch.SMSNone || len(w.sms.all()) != 2 {
		t.Fatalf("last in line: %+v, %d SMS", o, len(w.sms.all()))
	}
	if strings.Contains(w.logs.String(), "13700000002") || strings.Contains(w.logs.String(), "张桂兰") {
		t.Errorf("a phone number or a name reached the log:\n%s", w.logs)
	}
}

// Taken in time, an order stays with its assignee; a resolve closes it with
// its visit, and a second resolve changes nothing.
func TestAcceptedOrderStaysAndResolves(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	d := w.dispatcher()
	w.clock.add(15 * time.Minute) // nobody took the alarm within dispatch_after
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	os := w.orders(t)
	if len(os) != 1 || os[0].History[0].Why != dispatch.WhyNoAccept {
		t.Fatalf("orders: %+v", os)
	}
	if _, err := d.Accept(ctx, os[0].ID, "liu"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("someone else takes it: %v", err)
	}
	if o, err := d.Accept(ctx, os[0].ID, "wang"); err != nil || o.Status != anxin.OrderWorking {
		t.Fatalf("accept: %+v %v", o, err)
	}
	w.clock.add(2 * time.Hour)
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if o := w.orders(t)[0]; o.Assignee != "wang" || len(o.History) != 1 {
		t.Fatalf("a taken order moved: %+v", o)
	}
	o, err := d.Resolve(ctx, os[0].ID, "wang", "01VISIT", "已上门，老人摔倒无大碍")
	if err != nil || o.Status != anxin.OrderResolved || o.VisitID != "01VISIT" {
		t.Fatalf("resolve: %+v %v", o, err)
	}
	if o2, err := d.Resolve(ctx, os[0].ID, "wang", "02VISIT", "again"); err != nil || o2.VisitID != "01VISIT" {
		t.Fatalf("second resolve: %+v %v", o2, err)
	}
	if open, _ := w.db.WorkOrders(ctx, sqlite.WorkOrderFilter{Open: true}); len(open) != 0 {
		t.Fatalf("open after resolve: %+v", open)
	}
}

// Two dispatchers passing at once (two alarmd processes on one store, or a
// pass racing an operator) make one order and one SMS.
func TestConcurrentPassesDispatchOnce(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.clock.add(20 * time.Minute)
	var wg sync.WaitGroup
	for range 4 {
		d := w.dispatcher()
		wg.Go(func() {
			if err := d.Pass(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if os := w.orders(t); len(os) != 1 || len(w.sms.all()) != 1 {
		t.Fatalf("%d orders, %d SMS", len(os), len(w.sms.all()))
	}
}

// An operator closes an alarm whose order nobody has visited for yet: the
// order is withdrawn (no longer on anyone's list), its assignee is told
// once in Mandarin, and its follow-up stays. A resolved order stays
// resolved whatever happens to its alarm.
func TestClosedAlarmWithdrawsItsOrder(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	d := w.dispatcher()
	w.clock.add(15 * time.Minute)
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if os := w.orders(t); len(os) != 1 || os[0].Status != anxin.OrderPending {
		t.Fatalf("orders: %+v", os)
	}
	w.clock.add(time.Minute)
	if err := w.db.CloseAlarm(ctx, w.alarm.ID, "ops", "family on site", w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := d.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	o := w.orders(t)[0]
	if o.Status != anxin.OrderWithdrawn || o.Open() || len(o.History) != 2 || o.History[1].Why != dispatch.WhyWithdrawn ||
		o.History[1].SMS != dispatch.SMSSent || o.Assignee != "wang" {
		t.Fatalf("order after the close: %+v", o)
	}
	if open, _ := w.db.WorkOrders(ctx, sqlite.WorkOrderFilter{Open: true}); len(open) != 0 {
		t.Fatalf("still listed as open: %+v", open)
	}
	ns := w.sms.all()
	if len(ns) != 2 || ns[1].To != "+8613700000002" || !strings.Contains(ns[1].Body, "【安心】派单撤销：张桂兰家") ||
		!strings.Contains(ns[1].Body, "告警已关闭") || strings.Contains(ns[1].Masked, "张桂兰") {
		t.Fatalf("SMS: %+v", ns)
	}
	if strings.ContainsAny(strings.TrimPrefix(ns[1].Body, "【安心】"), "abcdefghijklmnopqrstuvwxyz") {
		t.Fatalf("English in the worker's SMS: %s", ns[1].Body)
	}
	// a visit recorded after it still resolves it
	if o, err := d.Resolve(ctx, o.ID, "wang", "01VISIT", "已上门，老人安好"); err != nil || o.Status != anxin.OrderResolved {
		t.Fatalf("resolve after withdrawal: %+v %v", o, err)
	}
}

// A notice the provider refused is tried again after 1, 2, 4 and 8
// minutes, not before, and goes once when it gets through; after five
// failed tries it is left failed (the board shows it).
func TestFailedOrderNoticeRetried(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	d := w.dispatcher()
	w.sms.fail = 2
	w.clock.add(15 * time.Minute)
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	last := func() anxin.OrderMove { h := w.orders(t)[0].History; return h[len(h)-1] }
	if m := last(); m.SMS != dispatch.SMSFailed || m.SMSTries != 1 || w.sms.tried != 1 {
		t.Fatalf("first try: %+v, %d sends", m, w.sms.tried)
	}
	w.clock.add(59 * time.Second)
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if w.sms.tried != 1 {
		t.Fatalf("tried again before a minute: %d sends", w.sms.tried)
	}
	w.clock.add(time.Second)
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if m := last(); m.SMS != dispatch.SMSFailed || m.SMSTries != 2 || w.sms.tried != 2 {
		t.Fatalf("second try: %+v, %d sends", m, w.sms.tried)
	}
	w.clock.add(2 * time.Minute)
	for range 3 {
		if err := d.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if m := last(); m.SMS != dispatch.SMSSent || m.SMSTries != 3 || w.sms.tried != 3 || len(w.sms.all()) != 1 {
		t.Fatalf("third try: %+v, %d sends, %d delivered", m, w.sms.tried, len(w.sms.all()))
	}

	// another order whose notices never get through: five tries in all
	w2 := newWorld(t)
	d2 := w2.dispatcher()
	w2.sms.fail = 100
	w2.clock.add(15 * time.Minute)
	for range 40 {
		if err := d2.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		w2.clock.add(time.Minute)
	}
	// (moved on at 30 minutes: the next person's notice has its own tries)
	h := w2.orders(t)[0].History
	tries := 0
	for _, m := range h {
		tries += m.SMSTries
	}
	if h[0].SMS != dispatch.SMSFailed || h[0].SMSTries != 5 || w2.sms.tried != tries {
		t.Fatalf("hopeless notice: %+v, %d sends", h, w2.sms.tried)
	}
}

// A notice the provider refuses for good (Twilio 21211: not a valid
// number) is tried once, not five times: it is left failed at once,
// marked refused with Twilio's reason, and logged once with the number
// masked, as a notice whose tries ran out is.
func TestRefusedOrderNoticeNotRetried(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	fake := twiliotest.New()
	fake.Deliver = func(*http.Request) *http.Response { return nil }
	fake.Script("+8613700000002", twiliotest.Script{APIError: 21211})
	tw, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: twiliotest.AuthToken,
		From: twiliotest.From, PublicURL: "https://anxin.example.org", Transport: fake.Transport()})
	if err != nil {
		t.Fatal(err)
	}
	d := w.dispatcher()
	d.Notifier = tw
	w.clock.add(15 * time.Minute)
	// the passes of the next 20 minutes: every backoff of a retry is past
	for range 21 {
		if err := d.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		w.clock.add(time.Minute)
	}
	sends := 0
	for _, e := range fake.Events() {
		if e.Kind == "sms" {
			sends++
		}
	}
	h := w.orders(t)[0].History
	if len(h) != 1 || h[0].SMS != dispatch.SMSFailed || !h[0].SMSRefused || h[0].SMSTries != 1 || sends != 1 ||
		!strings.Contains(h[0].SMSError, "21211") {
		t.Fatalf("refused notice: %+v, %d sends", h, sends)
	}
	logs := w.logs.String()
	if strings.Count(logs, "work order notice not sent") != 1 || !strings.Contains(logs, "retry=false") ||
		!strings.Contains(logs, "refused=true") || !strings.Contains(logs, "21211") {
		t.Fatalf("log of the refusal:\n%s", logs)
	}
	if strings.Contains(logs, "13700000002") {
		t.Fatalf("phone number in the log:\n%s", logs)
	}
}

// A notice the provider refuses for the account's sake (Twilio 20003:
// the credentials are wrong; a spent balance or a suspended account alike)
// would fail the same way for every number until an operator mends the
// account, and then go through: it is not given up as a refused number is,
// nor spent in five quick tries, but tried again slowly while the order is
// open, and sent once the account works. The token never reaches the log.
func TestAccountRefusedNoticeSentOnceMended(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	fake := twiliotest.New()
	fake.Deliver = func(*http.Request) *http.Response { return nil }
	notifier := func(token string) *twilio.Notifier { return twilioWithToken(t, fake, token) }
	const badToken = "0badc0ffee0badc0ffee0badc0ffee00"
	d := w.dispatcher()
	d.Notifier = notifier(badToken)
	w.clock.add(15 * time.Minute)
	// seven minutes of passes with the wrong token: tried at 0 and 5 min
	// (five quick tries would have been at 0, 1, 3 and 7)
	pass := func(minutes int) { passMinutes(ctx, t, d, w, minutes) }
	pass(8)
	h := w.orders(t)[0].History
	if len(h) != 1 || h[0].SMS != dispatch.SMSFailed || h[0].SMSRefused || !h[0].SMSAccount ||
		h[0].SMSTries != 2 || !strings.Contains(h[0].SMSError, "20003") {
		t.Fatalf("notice refused for the account: %+v", h)
	}
	// the operator mends the credentials (a reload gives the dispatcher
	// the new notifier); the next try, 10 min after the last, goes through
	d.Notifier = notifier(twiliotest.AuthToken)
	pass(8)
	h = w.orders(t)[0].History
	if h[0].SMS != dispatch.SMSSent || h[0].SMSAccount {
		t.Fatalf("notice after the account was mended: %+v", h)
	}
	sent := 0
	for _, e := range fake.Events() {
		if e.Kind == "sms" && e.Status < 300 {
			sent++
		}
	}
	logs := w.logs.String()
	if sent != 1 || !strings.Contains(logs, "account=true") {
		t.Fatalf("%d notices went through; log:\n%s", sent, logs)
	}
	if strings.Contains(logs, badToken) || strings.Contains(logs, "13700000002") {
		t.Fatalf("token or phone number in the log:\n%s", logs)
	}
}

// countingStore counts the store's one-by-one alarm reads and its reads
// of the worker accounts.
type countingStore struct {
	anxin.Store
	mu               sync.Mutex
	alarms, accounts int
}

func (s *countingStore) Alarm(ctx context.Context, id string) (anxin.Alarm, error) {
	s.mu.Lock()
	s.alarms++
	s.mu.Unlock()
	return s.Store.Alarm(ctx, id)
}

func (s *countingStore) AccountsWithRole(ctx context.Context, role string) ([]anxin.Account, error) {
	s.mu.Lock()
	s.accounts++
	s.mu.Unlock()
	return s.Store.AccountsWithRole(ctx, role)
}

// counts returns the reads so far and starts counting again from zero.
func (s *countingStore) counts() (alarms, accounts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	alarms, accounts, s.alarms, s.accounts = s.alarms, s.accounts, 0, 0
	return alarms, accounts
}

// dispatchedReads records how many alarm ids the store's
// DispatchedAlarms answered with.
type dispatchedReads struct {
	anxin.Store
	mu  sync.Mutex
	ids []int
}

func (s *dispatchedReads) DispatchedAlarms(ctx context.Context, ids []string) (map[string]bool, error) {
	m, err := s.Store.DispatchedAlarms(ctx, ids)
	s.mu.Lock()
	s.ids = append(s.ids, len(m))
	s.mu.Unlock()
	return m, err
}

// Which alarms of a pass have an order is asked about the pass's
// candidates only: the orders of years past are never read into memory.
func TestDispatchPassReadsOnlyItsCandidates(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	at := w.clock.Now().AddDate(-2, 0, 0)
	for i := range 300 { // orders of alarms long closed
		o := anxin.WorkOrder{Key: dispatch.AlarmKey(fmt.Sprintf("01OLD%04d", i)), Kind: anxin.OrderAlarm, Household: "hh-1",
			Assignee: "wang", DispatchedBy: dispatch.Auto, Status: anxin.OrderResolved, CreatedAt: at, AssignedAt: at}
		if _, err := w.db.CreateWorkOrder(ctx, &o); err != nil {
			t.Fatal(err)
		}
	}
	d := w.dispatcher()
	reads := &dispatchedReads{Store: w.db}
	d.Store = reads
	w.clock.add(15 * time.Minute)
	for range 2 { // the first dispatches the alarm, the second finds its order
		if err := d.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if os, err := w.db.WorkOrders(ctx, sqlite.WorkOrderFilter{Open: true}); err != nil || len(os) != 1 || os[0].AlarmID != w.alarm.ID {
		t.Fatalf("open orders: %+v %v", os, err)
	}
	if len(reads.ids) != 2 || reads.ids[0] != 0 || reads.ids[1] != 1 {
		t.Fatalf("ids read per pass: %v (one candidate a pass)", reads.ids)
	}
}

// A pass with open orders whose alarms nobody closed reads no alarm one
// by one: the alarms it lists once for the pass show they are not closed.
func TestQuietPassReadsNoAlarmPerOrder(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	d := w.dispatcher()
	reads := &countingStore{Store: w.db}
	d.Store = reads
	w.clock.add(15 * time.Minute)
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if os := w.orders(t); len(os) != 1 || !os[0].Open() || len(w.sms.all()) != 1 {
		t.Fatalf("orders: %+v, SMS %d", os, len(w.sms.all()))
	}
	reads.counts()
	w.clock.add(time.Minute)
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if n, _ := reads.counts(); n != 0 {
		t.Fatalf("%d alarms read one by one in a quiet pass", n)
	}
}

// WorkersOf reads the worker accounts once for any number of elders and
// gives each elder the workers of its area, as Workers does.
func TestWorkersOfReadsAccountsOnce(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	d := w.dispatcher()
	reads := &countingStore{Store: w.db}
	d.Store = reads
	e, err := w.db.Elder(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	far := e
	far.Current.Township, far.Current.Village = "别的街道", "别的村"
	of, err := d.WorkersOf(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var logins []string
	for _, p := range of(e) {
		logins = append(logins, p.Login+":"+p.Phone)
	}
	if _, n := reads.counts(); strings.Join(logins, ",") != "liu:+8613700000003,wang:+8613700000002" || len(of(far)) != 0 || n != 1 {
		t.Fatalf("workers %s, far %v, %d account reads", strings.Join(logins, ","), of(far), n)
	}
	if ws, err := d.Workers(ctx, e); err != nil || len(ws) != 2 {
		t.Fatalf("Workers: %+v %v", ws, err)
	}
}

// The withdrawal notice is retried like any other when the provider
// refused it: a withdrawn order is no longer open, but its notice is
// still due.
func TestFailedWithdrawalNoticeRetried(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	d := w.dispatcher()
	w.clock.add(15 * time.Minute)
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.db.CloseAlarm(ctx, w.alarm.ID, "ops", "family on site", w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	w.sms.fail = 1
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	last := func() anxin.OrderMove { h := w.orders(t)[0].History; return h[len(h)-1] }
	if m := last(); m.Why != dispatch.WhyWithdrawn || m.SMS != dispatch.SMSFailed || w.sms.tried != 2 {
		t.Fatalf("withdrawal notice: %+v, %d sends", m, w.sms.tried)
	}
	w.clock.add(time.Minute)
	for range 3 {
		if err := d.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if m := last(); m.SMS != dispatch.SMSSent || m.SMSTries != 2 || w.sms.tried != 3 || len(w.sms.all()) != 2 ||
		!strings.Contains(w.sms.all()[1].Body, "派单撤销") {
		t.Fatalf("withdrawal notice retried: %+v, %d sends, %+v", m, w.sms.tried, w.sms.all())
	}
}

// maybeSent is a provider whose first answer is lost after the message
// went out (ErrMaybeSent); its Lookup finds what went out.
type maybeSent struct{ sent }

func (m *maybeSent) Send(ctx context.Context, n anxin.Notification) (string, bool, error) {
	m.mu.Lock()
	first := m.tried == 0
	m.mu.Unlock()
	id, retry, err := m.sent.Send(ctx, n)
	if first {
		return "", true, fmt.Errorf("timeout after the request was written: %w", anxin.ErrMaybeSent)
	}
	return id, retry, err
}

func (m *maybeSent) Lookup(_ context.Context, n anxin.Notification, _ time.Time) ([]string, error) {
	var ids []string
	for i, x := range m.all() {
		if x.To == n.To && x.Body == n.Body {
			ids = append(ids, fmt.Sprintf("SM%d", i+1))
		}
	}
	return ids, nil
}

// A notice whose send may have gone through (the answer was lost) is
// looked up at the provider before another try: found, it is sent, and
// the assignee gets one SMS, not two.
func TestMaybeSentOrderNoticeNotSentTwice(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	d := w.dispatcher()
	p := &maybeSent{}
	d.Notifier = p
	w.clock.add(15 * time.Minute)
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	last := func() anxin.OrderMove { h := w.orders(t)[0].History; return h[len(h)-1] }
	if m := last(); m.SMS != dispatch.SMSFailed || !m.SMSMaybe {
		t.Fatalf("after the lost answer: %+v", m)
	}
	w.clock.add(time.Minute)
	for range 3 {
		if err := d.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if m := last(); m.SMS != dispatch.SMSSent || m.SMSMaybe || m.SMSTries != 1 || p.tried != 1 || len(p.all()) != 1 {
		t.Fatalf("after the look-up: %+v, %d sends, %d delivered", m, p.tried, len(p.all()))
	}
}

// takesWhileSending is a provider during whose send the assignee takes
// the order (another write comes between "sending" and the outcome).
type takesWhileSending struct {
	sent
	take func()
}

func (s *takesWhileSending) Send(ctx context.Context, n anxin.Notification) (string, bool, error) {
	s.take()
	return s.sent.Send(ctx, n)
}

// The outcome of a send is recorded even when the assignee took the order
// while it was being sent: the notice is "sent", not left "sending".
func TestNoticeOutcomeSavedOverAConcurrentTake(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	d := w.dispatcher()
	var taken anxin.WorkOrder
	p := &takesWhileSending{}
	p.take = func() {
		os := w.orders(t)
		var err error
		if taken, err = d.Accept(ctx, os[0].ID, "wang"); err != nil {
			t.Error(err)
		}
	}
	d.Notifier = p
	w.clock.add(15 * time.Minute)
	if err := d.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	o := w.orders(t)[0]
	if taken.Status != anxin.OrderWorking || o.Status != anxin.OrderWorking || o.History[0].SMS != dispatch.SMSSent || len(p.all()) != 1 {
		t.Fatalf("order %+v, %d SMS", o, len(p.all()))
	}
}

// An account refused for over an hour (five tries), then mended, and the
// first try after it meets a passing fault (503): the notice is tried
// again as any passing fault is, not given up because the account's
// tries used up the quick ones.
func TestAccountMendedThenPassingFaultStillRetried(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	fake := twiliotest.New()
	fake.Deliver = func(*http.Request) *http.Response { return nil }
	notifier := func(token string) *twilio.Notifier { return twilioWithToken(t, fake, token) }
	d := w.dispatcher()
	d.Timeout = 4 * time.Hour // the order stays with its first assignee
	d.Notifier = notifier("0badc0ffee0badc0ffee0badc0ffee00")
	w.clock.add(15 * time.Minute)
	pass := func(minutes int) { passMinutes(ctx, t, d, w, minutes) }
	pass(80) // tried at 0, 5, 15, 35 and 75 min
	if h := w.orders(t)[0].History; h[0].SMSTries != 5 || !h[0].SMSAccount {
		t.Fatalf("notice refused for the account: %+v", h)
	}
	d.Notifier = notifier(twiliotest.AuthToken)
	fake.Fault("sms", twiliotest.Fault{Status: 503})
	pass(70) // the hourly try meets the 503; the next goes through
	h := w.orders(t)[0].History
	if h[0].SMS != dispatch.SMSSent {
		t.Fatalf("notice after the account was mended and a passing fault: %+v", h)
	}
}

// twilioWithToken is a notifier on fake that authenticates with token.
func twilioWithToken(t *testing.T, fake *twiliotest.Server, token string) *twilio.Notifier {
	t.Helper()
	tw, err := twilio.New(twilio.Config{AccountSID: twiliotest.AccountSID, AuthToken: token,
		From: twiliotest.From, PublicURL: "https://anxin.example.org", Transport: fake.Transport()})
	if err != nil {
		t.Fatal(err)
	}
	return tw
}

// passMinutes runs a dispatch pass a minute for minutes.
func passMinutes(ctx context.Context, t *testing.T, d *dispatch.Dispatcher, w *world, minutes int) {
	t.Helper()
	for range minutes {
		if err := d.Pass(ctx); err != nil {
			t.Fatal(err)
		}
		w.clock.add(time.Minute)
	}
}
