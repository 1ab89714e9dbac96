package web_test

import (
	"context"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/web"
)

// A password reset (alarmd account for the same login: what an
// administrator does when a phone is lost or a password leaked) must end
// the sessions signed in with the old password.
func TestPasswordResetEndsSessions(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser()
	b.mustSignIn("wang")
	if err := web.PutAccount(context.Background(), e.db, "wang", "王芳", "善广村", web.RoleWorker, "a-new-password-2", time.Now()); err != nil {
		t.Fatal(err)
	}
	if code, page, _ := b.do("GET", "/app/due", nil); code == 200 {
		t.Errorf("the session of before the reset still reads the due list (%d, 张桂兰 shown: %v)", code, strings.Contains(page, "张桂兰"))
	}
}

// dispatchToWang has the operator hand the alarm to wang and returns the order id.
func dispatchToWang(t *testing.T, e *env, alarm anxin.Alarm) string {
	t.Helper()
	ops := e.browser()
	csrf := ops.mustSignIn("ops")
	if code, _, _ := ops.do("POST", "/app/alarms/"+alarm.ID+"/dispatch", url.Values{"csrf": {csrf}, "to": {"wang"}}); code != 303 {
		t.Fatalf("dispatch: %d", code)
	}
	os, err := e.db.WorkOrders(context.Background(), sqlite.WorkOrderFilter{})
	if err != nil || len(os) != 1 {
		t.Fatalf("orders: %v %+v", err, os)
	}
	return os[0].ID
}

// A worker moved to another area (alarmd account -area) must not keep
// reading the old area's elder through an order: every page acts with the
// account's area ("another area's elder … is not found", docs/web.md), and
// rows() says orders outside the caller's area are left out.
func TestOrderOfAnotherAreaAfterAreaMove(t *testing.T) {
	e, _, alarm := newOrdersEnv(t)
	id := dispatchToWang(t, e, alarm)
	if err := web.PutAccount(context.Background(), e.db, "wang", "王芳", "龙井村", web.RoleWorker, "correct-horse-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	wang := e.browser()
	wang.mustSignIn("wang")
	if code, page, _ := wang.do("GET", "/app/orders/"+id, nil); code != 404 || strings.Contains(page, "张桂兰") || strings.Contains(page, "13800001234") {
		t.Errorf("order page of another area's elder: %d, name shown %v, phone shown %v", code,
			strings.Contains(page, "张桂兰"), strings.Contains(page, "13800001234"))
	}
	if _, page, _ := wang.do("GET", "/app/due", nil); strings.Contains(page, "张桂兰") {
		t.Errorf("due list of a worker now in 龙井村 shows 善广村's elder 张桂兰 (through the order)")
	}
}

// The order page shows the elder's full name and phone number; such a read
// is audited under web:<login> everywhere else (docs/web.md), but the order
// rows read the register through the raw store.
func TestOrderPageReadIsAudited(t *testing.T) {
	e, _, alarm := newOrdersEnv(t)
	id := dispatchToWang(t, e, alarm)
	wang := e.browser()
	wang.mustSignIn("wang")
	ctx := context.Background()
	before, _ := e.db.AuditLog(ctx, anxin.AuditFilter{Who: "web:wang", Record: "a1"})
	code, page, _ := wang.do("GET", "/app/orders/"+id, nil)
	if code != 200 || !strings.Contains(page, "张桂兰") || !strings.Contains(page, "tel:&#43;8613800001234") && !strings.Contains(page, "tel:13800001234") && !strings.Contains(page, "8613800001234") {
		t.Fatalf("order page: %d %s", code, page)
	}
	after, _ := e.db.AuditLog(ctx, anxin.AuditFilter{Who: "web:wang", Record: "a1"})
	if len(after) == len(before) {
		t.Errorf("the order page showed 张桂兰's name and phone in full with no audit entry (entries before %d, after %d)", len(before), len(after))
	}
}

// Sign-in runs argon2id with 19 MiB per attempt. Nothing bounds how many
// run at once, so anyone who can reach /app/login (no account needed: an
// unknown login is checked against a dummy hash) makes alarmd hold
// 19 MiB per concurrent POST — a hundred at once is about 2 GB, enough to
// have the alarm daemon killed for memory. The heap the runtime had to
// obtain while 16 sign-ins ran together shows whether they were bounded.
func TestConcurrentSignInsAreBounded(t *testing.T) {
	e := newEnv(t, false)
	const n = 16
	type attempt struct {
		b    *browser
		csrf string
	}
	var as []attempt
	for range n {
		b := e.browser()
		_, page, _ := b.do("GET", "/app/login", nil)
		as = append(as, attempt{b, csrfOf(t, page)})
	}
	// one sign-in first, so that the dummy hash and one argon2 block are counted before
	as[0].b.do("POST", "/app/login", url.Values{"csrf": {as[0].csrf}, "login": {"nobody"}, "password": {"wrong-password"}})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	for _, a := range as {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.b.do("POST", "/app/login", url.Values{"csrf": {a.csrf}, "login": {"nobody"}, "password": {"wrong-password"}})
		}()
	}
	wg.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapSys) - int64(before.HeapSys)
	t.Logf("heap obtained from the OS grew %d MiB during %d concurrent sign-ins", grown>>20, n)
	if grown > 8*19<<20 { // bounded: a few blocks and the garbage GOGC lets pile up; unbounded: ~n blocks
		t.Errorf("%d concurrent sign-ins grew the heap by %d MiB (19 MiB of argon2 each, unbounded): want a limit on concurrent password checks", n, grown>>20)
	}
}

// "5 failed sign-ins in a row lock the account for 15 minutes" (docs/web.md):
// once the 15 minutes are over, one more wrong password must not lock it
// again, or anyone who knows a login (wangfang, the duty operator's) keeps
// it locked for good with one request every 15 minutes.
func TestOneFailureAfterALockDoesNotLockAgain(t *testing.T) {
	e := newEnv(t, false)
	var now atomic.Int64 // the server's clock, read in its goroutines
	now.Store(time.Now().UnixNano())
	e.web.Now = func() time.Time { return time.Unix(0, now.Load()) }
	b := e.browser()
	for range 5 {
		b.signIn("wang", "wrong-password")
	}
	if _, loc := b.signIn("wang", "correct-horse-1"); !strings.Contains(loc, "problem=1") {
		t.Fatalf("not locked after 5 failures: %s", loc)
	}
	now.Add(int64(16 * time.Minute))
	b.signIn("wang", "wrong-password") // one typo after the lock ended
	if _, loc := b.signIn("wang", "correct-horse-1"); strings.Contains(loc, "problem=1") {
		t.Errorf("one failure after the lock ended locked the account again for 15 minutes")
	}
}

// Logins are written to every request's log line, the audit log (web:<login>)
// and the sign-in lines. A phone number as the login (common practice) puts
// a phone number in every one of them: such a login must be refused.
func TestPhoneNumberLoginIsRefused(t *testing.T) {
	e := newEnv(t, false)
	for _, login := range []string{"13800001234", "+8613800001234", idNumber("19700101", 7)} {
		if err := web.PutAccount(context.Background(), e.db, login, "孙丽", "善广村", web.RoleWorker, "correct-horse-1", time.Now()); err == nil {
			t.Errorf("login %s (a phone or ID number, logged on every request) was accepted", anxin.MaskPhone(login))
		}
	}
}

// Another area's operator cannot close, dispatch or read an alarm by URL.
func TestOtherAreaOperatorCannotTouchAlarm(t *testing.T) {
	e, _, alarm := newOrdersEnv(t)
	opsB := e.browser()
	csrf := opsB.mustSignIn("ops-b")
	for _, p := range []struct{ method, path string }{
		{"POST", "/app/alarms/" + alarm.ID + "/close"}, {"GET", "/app/alarms/" + alarm.ID + "/dispatch"},
		{"POST", "/app/alarms/" + alarm.ID + "/dispatch"}, {"POST", "/app/elders/a1/dispatch"},
	} {
		var form url.Values
		if p.method == "POST" {
			form = url.Values{"csrf": {csrf}, "reason": {"误报"}, "to": {"li"}}
		}
		if code, page, _ := opsB.do(p.method, p.path, form); code != 404 || strings.Contains(page, "张桂兰") {
			t.Errorf("%s %s by another area's operator: %d", p.method, p.path, code)
		}
	}
	if a, err := e.db.Alarm(context.Background(), alarm.ID); err != nil || a.State == anxin.AlarmResolved {
		t.Errorf("alarm closed by another area: %+v %v", a, err)
	}
	if _, page, _ := opsB.do("GET", "/app/board", nil); strings.Contains(page, alarm.ID) {
		t.Errorf("another area's board lists the alarm")
	}
}
