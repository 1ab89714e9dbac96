package alarmd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdpnet "github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/web"
)

// TestWebVisitAfterTheSessionEnded: a worker signed in for a day shift
// fills the visit form at 3 a.m., after her session ended, and presses
// save. The phone says the save did not go through and that the record is
// kept on it, leads her to sign in, and the record is sent then, once;
// nothing typed is lost. Headless Chromium on a 360 px phone against a
// whole alarmd.
func TestWebVisitAfterTheSessionEnded(t *testing.T) {
	chromium := testenv.Need(t, "chromium", "apt-get install -y chromium")
	const token = "district-0123456789abcdef"
	cfg := testConfig(t)
	cfg.API.Tokens = []APIToken{{Name: "district", Token: token}}
	m := &Main{Config: cfg}
	startMain(t, m)
	if code, body := apiCall(t, m, "POST", "elders", token, elderBody("e1", "hh-0001", "张桂兰", "善广村", 1)); code != 201 {
		t.Fatalf("elder: %d %s", code, body)
	}
	putAccounts(t, m, [4]string{"wang", "王芳", "善广村", web.RoleWorker})
	base := "http://" + m.HTTPAddr()
	bctx, run, text, shot := browserSession(t, chromium, 360, 740)
	signIn := func() {
		t.Helper()
		run("sign in", chromedp.WaitVisible(chromedp.CSS("#login")),
			chromedp.SendKeys(chromedp.CSS("#login"), "wang"), chromedp.SendKeys(chromedp.CSS("#password"), "correct-horse-1"),
			chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitNotPresent(chromedp.CSS("#login")),
			chromedp.WaitVisible(chromedp.CSS("main h1")))
	}
	run("phone viewport", chromedp.EmulateViewport(360, 740))
	run("open the app", chromedp.Navigate(base+"/app/"))
	signIn()
	run("fill the visit form", chromedp.Navigate(base+"/app/elders/e1/visit"), chromedp.WaitVisible(chromedp.CSS("#save")),
		chromedp.SendKeys(chromedp.CSS(`textarea[name=needs]`), "夜里摔倒，已扶起，明早送医"))
	// the session ends (what 12 hours do): the browser's session cookie goes
	run("the session ends", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdpnet.DeleteCookies, cdpnet.DeleteCookiesParams{Name: "anxin_session", URL: base + "/app/"})
		return err
	}))
	run("save", chromedp.Click(chromedp.CSS("#save")), chromedp.WaitVisible(chromedp.CSS("a#signin")),
		chromedp.WaitVisible(chromedp.CSS("#pending")))
	if got := text("main"); !strings.Contains(got, "登录已过期") || !strings.Contains(got, "1 份探访记录保存在手机上，重新登录后自动提交") {
		t.Fatalf("the page after saving without a session: %s", got)
	}
	shot("visit-session-ended-360x740.png")
	vs, err := m.Store.Visits(context.Background(), sqlite.VisitFilter{Household: "hh-0001"})
	if err != nil || len(vs) != 0 {
		t.Fatalf("a visit without a session was stored: %v %+v", err, vs)
	}
	run("to the sign-in", chromedp.Click(chromedp.CSS("a#signin")))
	signIn()
	pending := func() int {
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`JSON.parse(localStorage.getItem("anxin-pending-visits") || "[]").length`))
		if err != nil {
			return -1 // between pages
		}
		return n
	}
	testenv.Eventually(t, "the kept visit sent after signing in", 30*time.Second, func() bool {
		vs, err = m.Store.Visits(context.Background(), sqlite.VisitFilter{Household: "hh-0001"})
		return err == nil && len(vs) > 0 && pending() == 0
	})
	if len(vs) != 1 || vs[0].Needs != "夜里摔倒，已扶起，明早送医" || vs[0].Visitor != "王芳" {
		t.Fatalf("the visit after signing in again: %+v", vs)
	}
	// the page drawn before the kept visit was sent says it went
	run("the page says the kept visit went", chromedp.WaitVisible(chromedp.CSS("#pending.ok")))
	if got := text("#pending"); got != "手机上保存的 1 份探访记录已提交" {
		t.Errorf("after the kept visit was sent: %q", got)
	}
	// a visit saved online says nothing of the kind: its spare copy is answered "already recorded"
	run("a visit saved online", chromedp.Navigate(base+"/app/elders/e1/visit"), chromedp.WaitVisible(chromedp.CSS("#save")),
		chromedp.Click(chromedp.CSS("#save")), chromedp.WaitVisible(chromedp.CSS("#saved")))
	testenv.Eventually(t, "the online visit's spare copy answered", 30*time.Second, func() bool { return pending() == 0 })
	if got := text("main"); strings.Contains(got, "手机上保存的") || !strings.Contains(got, "探访记录已保存") {
		t.Errorf("after a visit saved online: %s", got)
	}
}
