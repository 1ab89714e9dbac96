package alarmd

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/dispatch"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/web"
)

// smsRecorder is a notifier that records what it is asked to send.
type smsRecorder struct {
	mu sync.Mutex
	ns []anxin.Notification
}

func (s *smsRecorder) Send(_ context.Context, n anxin.Notification) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ns = append(s.ns, n)
	return "SM" + n.AttemptID, false, nil
}
func (s *smsRecorder) Lookup(context.Context, anxin.Notification, time.Time) ([]string, error) {
	return nil, nil
}
func (s *smsRecorder) Cancel(context.Context, string, bool) error { return nil }
func (s *smsRecorder) sent() []anxin.Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]anxin.Notification(nil), s.ns...)
}

// A button press over the embedded broker whose chain ends unanswered
// becomes one work order for the household's grid worker (the register's
// 王芳 → the worker account named 王芳 of 善广村) with one SMS to her phone
// from the household's community contacts; a restart dispatches nothing
// again; left untouched past web.work_order_timeout it goes to the next in
// line (here the operator), once. The clock is alarmd's injected clock.
func TestUnansweredAlarmBecomesWorkOrder(t *testing.T) {
	const token = "district-0123456789abcdef"
	ctx := context.Background()
	cfg := testConfig(t)
	cfg.API.Tokens = []APIToken{{Name: "district", Token: token}}
	if cfg.Web.WorkOrderTimeout != 30*time.Minute || cfg.Web.DispatchAfter != 15*time.Minute {
		t.Fatalf("defaults: %+v", cfg.Web)
	}
	clock := &fakeClock{t: time.Now()}
	sms := &smsRecorder{}
	m := &Main{Config: cfg, Escalator: &recordingEscalator{}, Now: clock.Now, OrderNotifier: sms}
	stop := startMain(t, m)
	if code, body := apiCall(t, m, "POST", "elders", token, elderBody("e1", "hh-0001", "张桂兰", "善广村", 1)); code != 201 {
		t.Fatalf("elder: %d %s", code, body)
	}
	putAccounts(t, m, [][4]string{{"wang", "王芳", "善广村", web.RoleWorker}, {"ops", "值班员", "", web.RoleOperator}}...)
	alarm := pressAndWait(t, m, "hh-0001")
	// still walking, nobody took it, within dispatch_after: no order
	if err := m.orders.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if os := orders(t, m); len(os) != 0 {
		t.Fatalf("dispatched while the chain walks: %+v", os)
	}
	// the chain ends unanswered (what escalate's finish writes)
	if err := m.Store.SetAlarmState(ctx, alarm.ID, anxin.AlarmUnanswered, "", clock.Now()); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := m.orders.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	os := orders(t, m)
	if len(os) != 1 || os[0].Assignee != "wang" || os[0].AlarmID != alarm.ID || os[0].DispatchedBy != dispatch.Auto ||
		os[0].History[0].Why != dispatch.WhyUnanswered {
		t.Fatalf("orders: %+v", os)
	}
	if ns := sms.sent(); len(ns) != 1 || ns[0].To != "+8613700000002" || ns[0].Channel != anxin.ChannelSMS {
		t.Fatalf("SMS: %+v", ns)
	}

	// a restart on the same store
	stop()
	m = &Main{Config: cfg, Escalator: &recordingEscalator{}, Now: clock.Now, OrderNotifier: sms}
	startMain(t, m)
	if err := m.orders.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	if os := orders(t, m); len(os) != 1 || len(sms.sent()) != 1 {
		t.Fatalf("after a restart: %d orders, %d SMS", len(os), len(sms.sent()))
	}

	// untouched past the timeout: to the next in line, once
	clock.Set(clock.Now().Add(cfg.Web.WorkOrderTimeout))
	for range 3 {
		if err := m.orders.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	o := orders(t, m)[0]
	if o.Assignee != "ops" || len(o.History) != 2 || o.History[1].Why != dispatch.WhyUntouched || o.History[1].By != dispatch.Auto {
		t.Fatalf("after the timeout: %+v", o)
	}
}

func orders(t *testing.T, m *Main) []anxin.WorkOrder {
	t.Helper()
	os, err := m.Store.WorkOrders(context.Background(), sqlite.WorkOrderFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return os
}

// putAccounts makes web accounts (login, name, area, role), all with the
// password "correct-horse-1".
func putAccounts(t *testing.T, m *Main, accounts ...[4]string) {
	t.Helper()
	for _, a := range accounts {
		if err := web.PutAccount(context.Background(), m.Store, a[0], a[1], a[2], a[3], "correct-horse-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// pressAndWait publishes a button press of household and waits for its one alarm.
func pressAndWait(t *testing.T, m *Main, household string) anxin.Alarm {
	t.Helper()
	pub := publisher(t, m.BrokerURL().Dial())
	publishMsg(t, pub, button(household, time.Now().UTC().Truncate(time.Millisecond)))
	var alarm anxin.Alarm
	waitFor(t, "the alarm", 10*time.Second, func() bool {
		as := alarms(t, m, sqlite.AlarmFilter{Household: household})
		if len(as) == 1 {
			alarm = as[0]
		}
		return len(as) == 1
	})
	return alarm
}
