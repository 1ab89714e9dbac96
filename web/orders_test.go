package web_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/api"
	"github.com/anxin-care/anxin/dispatch"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/web"
)

// smsLog records the work order SMS.
type smsLog struct {
	mu sync.Mutex
	ns []anxin.Notification
}

func (s *smsLog) Send(_ context.Context, n anxin.Notification) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ns = append(s.ns, n)
	return "SM1", false, nil
}
func (s *smsLog) Lookup(context.Context, anxin.Notification, time.Time) ([]string, error) {
	return nil, nil
}
func (s *smsLog) Cancel(context.Context, string, bool) error { return nil }
func (s *smsLog) count() int                                 { s.mu.Lock(); defer s.mu.Unlock(); return len(s.ns) }

// newOrdersEnv is newEnv with work orders: the web app with a dispatcher
// over the same store, an SMS log, and an open alarm of hh-a1 (善广村).
func newOrdersEnv(t *testing.T) (*env, *smsLog, anxin.Alarm) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "alarmd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	households := []anxin.Household{
		{ID: "hh-a1", Elder: anxin.Elder{Name: "张桂兰"}, Devices: []anxin.Device{{ID: "btn1", Kind: anxin.KindCallButton}},
			Community: []anxin.Contact{{Name: "王芳", Role: "grid_worker", Phone: "+8613700000002"}}},
		{ID: "hh-b1", Elder: anxin.Elder{Name: "赵国强"}},
	}
	kits := map[string]anxin.Household{}
	for _, h := range households {
		kits[h.ID] = h
	}
	a := &api.Server{Store: db, Tokens: []api.Token{{Name: "district", Token: districtToken}}, Logger: logger,
		Alarms: db, Escalation: db, Closer: storeCloser{db}, Households: api.HouseholdList(households)}
	sms := &smsLog{}
	d := &dispatch.Dispatcher{Store: db, Households: householdMap(kits), Notifier: sms, PublicURL: "http://127.0.0.1", Logger: logger}
	w := &web.Server{API: a, Accounts: db, Logger: logger, Orders: d}
	mux := http.NewServeMux()
	mux.Handle(api.Prefix, a.Handler())
	mux.Handle(web.Prefix, w.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, db: db, logs: logs}
	e.elder("a1", "张桂兰", "善广村", 1)
	e.elder("b1", "赵国强", "龙井村", 2)
	for _, acc := range [][4]string{{"wang", "王芳", "善广村", web.RoleWorker}, {"li", "李强", "龙井村", web.RoleWorker},
		{"ops", "值班员", "", web.RoleOperator}, {"ops-b", "龙井值班", "龙井村", web.RoleOperator}} {
		if err := web.PutAccount(context.Background(), db, acc[0], acc[1], acc[2], acc[3], "correct-horse-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	res, err := db.ApplyIngest(context.Background(), &sqlite.IngestBatch{At: now, Changes: []sqlite.AlarmChange{{Op: sqlite.AlarmOpOpen,
		Household: "hh-a1", Rule: "button", RuleKind: "event", Device: "btn1", Severity: anxin.SeverityCritical,
		Route: anxin.RouteFamily, At: now, Reason: "button pressed", Cause: anxin.Cause{Code: anxin.CauseButton, Device: anxin.KindCallButton}}}})
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("open: %+v %v", res, err)
	}
	return e, sms, res.Opened[0]
}

type householdMap map[string]anxin.Household

func (h householdMap) Household(_ context.Context, id string) (anxin.Household, error) {
	if x, ok := h[id]; ok {
		return x, nil
	}
	return anxin.Household{}, anxin.Errorf(anxin.ENOTFOUND, "no household")
}

var orderLink = regexp.MustCompile(`href="/app/orders/([0-9A-Z]{26})/visit"`)

// An operator dispatches an alarm from the board to a worker (with the
// CSRF token; without it nothing happens; twice is refused); the worker
// gets one SMS and sees it at the top of the due list; another area's
// worker and operator cannot open it by URL; the worker records the
// outcome with the visit form: the visit is linked to the alarm, the
// order is 已化解 and the board no longer lists it.
func TestDispatchByHandToResolved(t *testing.T) {
	e, sms, alarm := newOrdersEnv(t)
	ctx := context.Background()
	ops := e.browser()
	opsCSRF := ops.mustSignIn("ops")
	if _, page, _ := ops.do("GET", "/app/board", nil); !strings.Contains(page, `href="/app/alarms/`+alarm.ID+`/dispatch"`) ||
		!strings.Contains(page, `id="no-orders"`) {
		t.Fatalf("board: %s", page)
	}
	code, page, _ := ops.do("GET", "/app/alarms/"+alarm.ID+"/dispatch", nil)
	if code != 200 || !strings.Contains(page, `<option value="wang">王芳</option>`) || strings.Contains(page, `value="li"`) {
		t.Fatalf("dispatch form: %d %s", code, page)
	}
	if code, _, _ := ops.do("POST", "/app/alarms/"+alarm.ID+"/dispatch", url.Values{"to": {"wang"}}); code != 403 {
		t.Fatalf("dispatch without the CSRF token: %d", code)
	}
	if code, _, _ := ops.do("POST", "/app/alarms/"+alarm.ID+"/dispatch", url.Values{"csrf": {opsCSRF}, "to": {"li"}}); code != 400 {
		t.Fatalf("dispatch to another area's worker: %d", code)
	}
	if os, _ := e.db.WorkOrders(ctx, sqlite.WorkOrderFilter{}); len(os) != 0 {
		t.Fatalf("refused dispatches stored orders: %+v", os)
	}
	code, _, h := ops.do("POST", "/app/alarms/"+alarm.ID+"/dispatch", url.Values{"csrf": {opsCSRF}, "to": {"wang"}, "note": {"老人独居，请上门"}})
	if code != 303 || h.Get("Location") != "/app/orders" {
		t.Fatalf("dispatch: %d %s", code, h.Get("Location"))
	}
	if code, _, _ := ops.do("POST", "/app/alarms/"+alarm.ID+"/dispatch", url.Values{"csrf": {opsCSRF}, "to": {"wang"}}); code != 409 {
		t.Fatalf("second dispatch: %d", code)
	}
	if sms.count() != 1 || sms.ns[0].To != "+8613700000002" || !strings.Contains(sms.ns[0].Body, "派单") {
		t.Fatalf("SMS: %+v", sms.ns)
	}
	if _, page, _ := ops.do("GET", "/app/board", nil); !strings.Contains(page, `id="open-orders"`) || !strings.Contains(page, "王芳") ||
		strings.Contains(page, `id="no-orders"`) {
		t.Fatalf("board with the order: %s", page)
	}

	// the worker: the order first on the due list
	wang := e.browser()
	csrf := wang.mustSignIn("wang")
	_, page, _ = wang.do("GET", "/app/due", nil)
	m := orderLink.FindStringSubmatch(page)
	if m == nil || strings.Index(page, `id="my-orders"`) > strings.Index(page, `href="/app/elders/a1/visit"`) ||
		!strings.Contains(page, "老人独居，请上门") || !strings.Contains(page, "按下了呼叫按钮") {
		t.Fatalf("due list with the order: %s", page)
	}
	id := m[1]
	t.Logf("due list with one order: %d bytes of HTML", len(page))

	// other areas by URL
	li := e.browser()
	liCSRF := li.mustSignIn("li")
	for _, p := range []string{"/app/orders/" + id, "/app/orders/" + id + "/visit"} {
		if code, page, _ := li.do("GET", p, nil); code != 404 || strings.Contains(page, "张桂兰") {
			t.Errorf("another area's worker GET %s: %d", p, code)
		}
	}
	if code, _, _ := li.do("POST", "/app/orders/"+id+"/accept", url.Values{"csrf": {liCSRF}}); code != 404 {
		t.Errorf("another area's worker takes it: %d", code)
	}
	if code, _, _ := li.do("POST", "/app/orders/"+id+"/visit", url.Values{"csrf": {liCSRF}, "method": {"home"}, "outcome": {"x"}}); code != 404 {
		t.Errorf("another area's worker closes it: %d", code)
	}
	if _, page, _ := li.do("GET", "/app/due", nil); strings.Contains(page, id) {
		t.Errorf("another worker's due list shows the order")
	}
	opsB := e.browser()
	opsB.mustSignIn("ops-b")
	if code, _, _ := opsB.do("GET", "/app/orders/"+id, nil); code != 404 {
		t.Errorf("another area's operator: %d", code)
	}
	if _, page, _ := opsB.do("GET", "/app/board", nil); strings.Contains(page, id) {
		t.Errorf("another area's board shows the order")
	}

	// take it, then record the outcome
	if code, _, _ := wang.do("POST", "/app/orders/"+id+"/accept", url.Values{"csrf": {csrf}}); code != 303 {
		t.Fatalf("accept: %d", code)
	}
	_, page, _ = wang.do("GET", "/app/orders/"+id+"/visit", nil)
	key := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(page)
	if key == nil || !strings.Contains(page, `action="/app/orders/`+id+`/visit"`) || !strings.Contains(page, `name="outcome"`) {
		t.Fatalf("order visit form: %s", page)
	}
	form := url.Values{"csrf": {csrf}, "key": {key[1]}, "method": {"home"}, "mobility": {"较差"}}
	if code, page, _ := wang.do("POST", "/app/orders/"+id+"/visit", form); code != 400 || !strings.Contains(page, "请填写处理结果") {
		t.Fatalf("without an outcome: %d %s", code, page)
	}
	form.Set("outcome", "上门查看，老人起身时滑倒，无外伤，已联系女儿")
	code, _, h = wang.do("POST", "/app/orders/"+id+"/visit", form)
	if code != 303 || !strings.HasPrefix(h.Get("Location"), "/app/due?saved=") {
		t.Fatalf("record: %d %s", code, h.Get("Location"))
	}
	if code, _, h2 := wang.do("POST", "/app/orders/"+id+"/visit", form); code != 303 || h2.Get("Location") != h.Get("Location")+"&again=1" {
		t.Fatalf("sent again: %d %s", code, h2.Get("Location"))
	}
	vs, err := e.db.Visits(ctx, sqlite.VisitFilter{AlarmID: alarm.ID})
	if err != nil || len(vs) != 1 || vs[0].Visitor != "王芳" || vs[0].Method != anxin.VisitHome ||
		!strings.Contains(vs[0].Health, "告警处理：上门查看") || !strings.Contains(vs[0].Health, "行动能力：较差") {
		t.Fatalf("visit: %v %+v", err, vs)
	}
	o, err := e.db.WorkOrder(ctx, id)
	if err != nil || o.Status != anxin.OrderResolved || o.VisitID != vs[0].ID || !strings.Contains(o.Outcome, "无外伤") || o.AcceptedAt.IsZero() {
		t.Fatalf("order: %v %+v", err, o)
	}
	if _, page, _ := ops.do("GET", "/app/board", nil); strings.Contains(page, id) || !strings.Contains(page, `id="no-orders"`) {
		t.Errorf("the board still lists the order: %s", page)
	}
	if _, page, _ := wang.do("GET", "/app/due", nil); strings.Contains(page, `id="my-orders"`) {
		t.Errorf("the due list still shows the order")
	}
	if strings.Contains(e.logs.String(), "13700000002") {
		t.Error("a phone number reached the log")
	}
}

// An operator hands an open follow-up to a worker from the orders page.
func TestDispatchFollowUp(t *testing.T) {
	e, sms, alarm := newOrdersEnv(t)
	ctx := context.Background()
	v := anxin.Visit{Household: "hh-a1", Date: time.Now().Add(-time.Hour), Method: anxin.VisitRemoteMonitoring, AlarmID: alarm.ID,
		FollowUpDue: time.Now().Add(24 * time.Hour)}
	if err := e.db.CreateVisit(ctx, &v); err != nil {
		t.Fatal(err)
	}
	ops := e.browser()
	csrf := ops.mustSignIn("ops")
	_, page, _ := ops.do("GET", "/app/orders", nil)
	if !strings.Contains(page, `action="/app/elders/a1/dispatch"`) {
		t.Fatalf("orders page: %s", page)
	}
	if code, _, _ := ops.do("POST", "/app/elders/a1/dispatch", url.Values{"csrf": {csrf}, "to": {"wang"}}); code != 303 {
		t.Fatalf("dispatch follow-up: %d", code)
	}
	if code, _, _ := ops.do("POST", "/app/elders/b1/dispatch", url.Values{"csrf": {csrf}, "to": {"li"}}); code != 409 {
		t.Fatalf("dispatch without a follow-up: %d", code)
	}
	os, _ := e.db.WorkOrders(ctx, sqlite.WorkOrderFilter{})
	if len(os) != 1 || os[0].Kind != anxin.OrderFollowUp || os[0].Assignee != "wang" || os[0].AlarmID != alarm.ID || sms.count() != 1 ||
		!strings.Contains(sms.ns[0].Body, "请回访张桂兰") {
		t.Fatalf("orders: %+v %+v", os, sms.ns)
	}
	if _, page, _ := ops.do("GET", "/app/orders", nil); strings.Contains(page, `action="/app/elders/a1/dispatch"`) {
		t.Errorf("a dispatched follow-up is still offered")
	}
}

// An order moved on while its first assignee was at the elder's home: the
// first assignee can still close it with the visit they made (the history
// says who closed it), but not take it; the new assignee sees it closed.
func TestMovedOrderClosedByFirstAssignee(t *testing.T) {
	e, _, alarm := newOrdersEnv(t)
	ctx := context.Background()
	o := moveOrderToZhou(t, e, alarm, "周敏")
	wang := e.browser()
	csrf := wang.mustSignIn("wang")
	if code, page, _ := wang.do("GET", "/app/orders/"+o.ID, nil); code != 200 || strings.Contains(page, `id="accept"`) || !strings.Contains(page, `id="record"`) {
		t.Fatalf("the first assignee's view: %d %s", code, page)
	}
	if code, _, _ := wang.do("POST", "/app/orders/"+o.ID+"/accept", url.Values{"csrf": {csrf}}); code != 404 {
		t.Fatalf("the first assignee takes it back: %d", code)
	}
	_, page, _ := wang.do("GET", "/app/orders/"+o.ID+"/visit", nil)
	key := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(page)
	if key == nil {
		t.Fatalf("form: %s", page)
	}
	if code, _, _ := wang.do("POST", "/app/orders/"+o.ID+"/visit", url.Values{"csrf": {csrf}, "key": {key[1]}, "method": {"phone"},
		"outcome": {"电话确认老人安全"}}); code != 303 {
		t.Fatalf("close: %d", code)
	}
	got, _ := e.db.WorkOrder(ctx, o.ID)
	if got.Status != anxin.OrderResolved || got.Assignee != "wang" || got.AssigneeName != "王芳" ||
		got.History[len(got.History)-1].Why != dispatch.WhyResolvedBy {
		t.Fatalf("order: %+v", got)
	}
	zhou := e.browser()
	zhou.mustSignIn("zhou")
	if _, page, _ := zhou.do("GET", "/app/due", nil); strings.Contains(page, `id="my-orders"`) {
		t.Errorf("the closed order is on the new assignee's list")
	}
}

// An order whose notice the provider refused for good says so on its
// page (the operator checks the number), as a failed notice says failed.
func TestRefusedNoticeShownOnOrderPage(t *testing.T) {
	e, _, alarm := newOrdersEnv(t)
	ctx := context.Background()
	ops := e.browser()
	csrf := ops.mustSignIn("ops")
	if code, _, _ := ops.do("POST", "/app/alarms/"+alarm.ID+"/dispatch", url.Values{"csrf": {csrf}, "to": {"wang"}}); code != 303 {
		t.Fatalf("dispatch: %d", code)
	}
	os, err := e.db.WorkOrders(ctx, sqlite.WorkOrderFilter{})
	if err != nil || len(os) != 1 {
		t.Fatalf("orders: %+v %v", os, err)
	}
	o := os[0]
	o.History[0].SMS, o.History[0].SMSRefused, o.History[0].SMSError = dispatch.SMSFailed, true, "twilio create message: HTTP 400, error 21211 (invalid phone number)"
	if err := e.db.SaveWorkOrder(ctx, &o); err != nil {
		t.Fatal(err)
	}
	if code, page, _ := ops.do("GET", "/app/orders/"+o.ID, nil); code != 200 || !strings.Contains(page, "短信发送失败（不再自动重发，请电话通知）") {
		t.Fatalf("order page: %d %s", code, page)
	}
	// refused for the account's sake: it goes again once the account is mended
	if o, err = e.db.WorkOrder(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	o.History[0].SMSRefused, o.History[0].SMSAccount, o.History[0].SMSError = false, true, "twilio create message: HTTP 401, error 20003 (authentication failed)"
	if err := e.db.SaveWorkOrder(ctx, &o); err != nil {
		t.Fatal(err)
	}
	if code, page, _ := ops.do("GET", "/app/orders/"+o.ID, nil); code != 200 || !strings.Contains(page, "短信发送失败（短信账户异常，修复后自动重发；请先电话通知）") ||
		strings.Contains(page, "不再自动重发") {
		t.Fatalf("order page of a notice refused for the account: %d %s", code, page)
	}
}

// moveOrderToZhou dispatches alarm's order to 王芳 (wang) and moves it on
// to a second worker of 善广村, zhou, named name, as the dispatcher does
// with an order untouched: the order as stored.
func moveOrderToZhou(t *testing.T, e *env, alarm anxin.Alarm, name string) anxin.WorkOrder {
	t.Helper()
	ctx := context.Background()
	if err := web.PutAccount(ctx, e.db, "zhou", name, "善广村", web.RoleWorker, "correct-horse-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	d := &dispatch.Dispatcher{Store: e.db}
	o := anxin.WorkOrder{Key: dispatch.AlarmKey(alarm.ID), Kind: anxin.OrderAlarm, AlarmID: alarm.ID, Household: "hh-a1", Elder: "a1"}
	if _, err := d.Dispatch(ctx, &o, dispatch.Person{Login: "wang", Name: "王芳", Role: "worker"}, dispatch.Auto, dispatch.WhyUnanswered); err != nil {
		t.Fatal(err)
	}
	o, _ = e.db.WorkOrder(ctx, o.ID)
	o.Assignee, o.AssigneeName = "zhou", name
	o.History = append(o.History, anxin.OrderMove{At: time.Now(), To: "zhou", ToName: name, By: dispatch.Auto, Why: dispatch.WhyUntouched})
	if err := e.db.SaveWorkOrder(ctx, &o); err != nil {
		t.Fatal(err)
	}
	return o
}
