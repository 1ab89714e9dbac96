package alarmd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/dispatch"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/web"
)

// TestWorkOrderE2E drives 派单 → 化解 → 反馈 in headless Chromium against a
// whole alarmd: a button press over the embedded broker whose chain ends
// unanswered is dispatched to the grid worker; the operator's board lists
// the open order; the worker, on a 360 px phone, sees it at the top of the
// due list, records the outcome with the visit form, and the board no
// longer lists it; another area's order is not found by URL. Screenshots
// go to artifacts/web.
func TestWorkOrderE2E(t *testing.T) {
	chromium := testenv.Need(t, "chromium", "apt-get install -y chromium")
	const token = "district-0123456789abcdef"
	ctx := context.Background()
	cfg := testConfig(t)
	cfg.API.Tokens = []APIToken{{Name: "district", Token: token}}
	sms := &smsRecorder{}
	m := &Main{Config: cfg, Escalator: &recordingEscalator{}, OrderNotifier: sms}
	startMain(t, m)
	for i, el := range []struct{ id, hh, name, village string }{
		{"e1", "hh-0001", "张桂兰", "善广村"}, {"e2", "hh-0002", "赵国强", "龙井村"}, {"e3", "hh-0003", "李秀英", "善广村"}} {
		if code, body := apiCall(t, m, "POST", "elders", token, elderBody(el.id, el.hh, el.name, el.village, i+1)); code != 201 {
			t.Fatalf("elder %s: %d %s", el.id, code, body)
		}
	}
	putAccounts(t, m, [][4]string{{"wang", "王芳", "善广村", web.RoleWorker}, {"li", "李强", "龙井村", web.RoleWorker}, {"ops", "值班员", "", web.RoleOperator}}...)
	// the button press, its chain unanswered, the dispatcher's pass
	alarm := pressAndWait(t, m, "hh-0001")
	if err := m.Store.SetAlarmState(ctx, alarm.ID, anxin.AlarmUnanswered, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := m.orders.Pass(ctx); err != nil {
		t.Fatal(err)
	}
	os1 := orders(t, m)
	if len(os1) != 1 || os1[0].Assignee != "wang" || len(sms.sent()) != 1 {
		t.Fatalf("orders %+v, SMS %d", os1, len(sms.sent()))
	}
	order := os1[0]
	// another area's order, handed to 李强 by hand
	other := anxin.WorkOrder{Key: "manual:e2", Kind: anxin.OrderFollowUp, Household: "hh-0002", Elder: "e2"}
	if _, err := m.orders.Dispatch(ctx, &other, dispatch.Person{Login: "li", Name: "李强", Role: "worker"}, "ops", dispatch.WhyDispatched); err != nil {
		t.Fatal(err)
	}

	base := "http://" + m.HTTPAddr()
	bctx, run, text, shot := browserSession(t, chromium, 1366, 768)
	signIn := func(login string) {
		t.Helper()
		run("sign in as "+login, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#login")),
			chromedp.SendKeys(chromedp.CSS("#login"), login), chromedp.SendKeys(chromedp.CSS("#password"), "correct-horse-1"),
			// the sign-in page has a main h1 too: wait for it to be gone first
			chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitNotPresent(chromedp.CSS("#login")),
			chromedp.WaitVisible(chromedp.CSS("main h1")))
	}
	signOut := func() {
		t.Helper()
		run("sign out", chromedp.Click(chromedp.CSS("header form button")), chromedp.WaitVisible(chromedp.CSS("#login")))
	}

	// the operator's board lists the open order
	run("desktop viewport", chromedp.EmulateViewport(1366, 768))
	signIn("ops")
	run("board", chromedp.WaitVisible(chromedp.CSS(`#open-orders li[data-order="`+order.ID+`"]`)))
	if got := text("#open-orders"); !strings.Contains(got, "王芳") || !strings.Contains(got, "待处理") {
		t.Fatalf("open orders on the board: %s", got)
	}
	shot("board-orders-1366x768.png")
	signOut()

	// the worker, on a phone: the order first
	run("phone viewport", chromedp.EmulateViewport(360, 740))
	signIn("wang")
	run("the due list", chromedp.WaitVisible(chromedp.CSS("#my-orders"))) // not the sign-in page's h1
	first, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector("main ul").id`))
	if err != nil || first != "my-orders" {
		t.Fatalf("the first list of the due page: %q %v", first, err)
	}
	if got := text("#my-orders"); !strings.Contains(got, "张桂兰") || !strings.Contains(got, "按下了呼叫按钮") {
		t.Fatalf("the order on the due list: %s", got)
	}
	shot("due-order-360x740.png")
	run("another area's order by URL", chromedp.Navigate(base+"/app/orders/"+other.ID), chromedp.WaitVisible(chromedp.CSS("#error")))
	if got := text("main"); strings.Contains(got, "赵国强") || !strings.Contains(got, "没有找到") {
		t.Fatalf("another area's order: %s", got)
	}
	run("open the order's form", chromedp.Navigate(base+"/app/due"),
		chromedp.Click(chromedp.CSS(`#my-orders a[href="/app/orders/`+order.ID+`/visit"]`)), chromedp.WaitVisible(chromedp.CSS("#outcome")),
		chromedp.Click(chromedp.CSS(`input[name=mobility][value="较差"]`)),
		chromedp.SendKeys(chromedp.CSS("#outcome"), "上门查看，老人起身时滑倒，无外伤，已联系女儿"))
	shot("order-visit-360x740.png")
	run("save the outcome", chromedp.Click(chromedp.CSS("#save")), chromedp.WaitVisible(chromedp.CSS(`a[href="/app/elders/e3/visit"]`)))
	if n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#my-orders").length`)); err != nil || n != 0 {
		t.Fatalf("the resolved order is still on the due list: %d %v", n, err)
	}
	o, err := m.Store.WorkOrder(ctx, order.ID)
	if err != nil || o.Status != anxin.OrderResolved || o.VisitID == "" {
		t.Fatalf("order after the outcome: %v %+v", err, o)
	}
	vs, err := m.Store.Visits(ctx, sqlite.VisitFilter{AlarmID: alarm.ID})
	if err != nil || len(vs) != 1 || vs[0].ID != o.VisitID || vs[0].Visitor != "王芳" || !strings.Contains(vs[0].Health, "无外伤") ||
		!strings.Contains(vs[0].Health, "行动能力：较差") {
		t.Fatalf("the visit of the order: %v %+v", err, vs)
	}
	signOut()

	// the board no longer lists it
	run("desktop viewport", chromedp.EmulateViewport(1366, 768))
	signIn("ops")
	run("board after", chromedp.WaitVisible(chromedp.CSS("#open-orders")))
	if got := text("#open-orders"); strings.Contains(got, "张**") {
		t.Fatalf("the board still lists the resolved order: %s", got)
	}
}
