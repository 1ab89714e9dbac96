package alarmd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdpnet "github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/web"
)

// TestWebKeptVisitWaitsForItsWorker: a station's shared phone. 王芳's
// session ends before she saves a visit; the phone keeps it. The next to
// sign in on that phone is 赵敏: the kept visit must not be sent under her
// session (it would be recorded as 赵敏's visit, or refused and dropped if
// the elder is not hers). It waits, says so, and goes once 王芳 signs in.
func TestWebKeptVisitWaitsForItsWorker(t *testing.T) {
	chromium := testenv.Need(t, "chromium", "apt-get install -y chromium")
	const token = "district-0123456789abcdef"
	cfg := testConfig(t)
	cfg.API.Tokens = []APIToken{{Name: "district", Token: token}}
	m := &Main{Config: cfg}
	startMain(t, m)
	if code, body := apiCall(t, m, "POST", "elders", token, elderBody("e1", "hh-0001", "张桂兰", "善广村", 1)); code != 201 {
		t.Fatalf("elder: %d %s", code, body)
	}
	putAccounts(t, m, [4]string{"wang", "王芳", "善广村", web.RoleWorker}, [4]string{"zhao", "赵敏", "善广村", web.RoleWorker})
	base := "http://" + m.HTTPAddr()
	bctx, run, text, _ := browserSession(t, chromium, 360, 740)
	signIn := func(login string) {
		t.Helper()
		run("sign in as "+login, chromedp.WaitVisible(chromedp.CSS("#login")),
			chromedp.SendKeys(chromedp.CSS("#login"), login), chromedp.SendKeys(chromedp.CSS("#password"), "correct-horse-1"),
			chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitNotPresent(chromedp.CSS("#login")),
			chromedp.WaitVisible(chromedp.CSS("main h1")))
	}
	endSession := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdpnet.DeleteCookies, cdpnet.DeleteCookiesParams{Name: "anxin_session", URL: base + "/app/"})
		return err
	})
	visits := func() []anxin.Visit {
		vs, err := m.Store.Visits(context.Background(), sqlite.VisitFilter{Household: "hh-0001"})
		if err != nil {
			t.Fatal(err)
		}
		return vs
	}
	run("open the app", chromedp.EmulateViewport(360, 740), chromedp.Navigate(base+"/app/"))
	signIn("wang")
	run("fill the visit form", chromedp.Navigate(base+"/app/elders/e1/visit"), chromedp.WaitVisible(chromedp.CSS("#save")),
		chromedp.SendKeys(chromedp.CSS(`textarea[name=needs]`), "夜里摔倒，已扶起，明早送医"))
	run("the session ends", endSession)
	run("save", chromedp.Click(chromedp.CSS("#save")), chromedp.WaitVisible(chromedp.CSS("a#signin")), chromedp.WaitVisible(chromedp.CSS("#pending")))
	run("to the sign-in", chromedp.Click(chromedp.CSS("a#signin")))
	signIn("zhao")
	testenv.Eventually(t, "the kept visit sent, or said to wait for its worker", 30*time.Second, func() bool {
		return len(visits()) > 0 || strings.Contains(text("#pending"), "其他账号")
	})
	if vs := visits(); len(vs) > 0 {
		t.Fatalf("王芳's kept visit was sent under 赵敏's session: %+v", vs)
	}
	run("赵敏 leaves", endSession, chromedp.Navigate(base+"/app/"))
	signIn("wang")
	testenv.Eventually(t, "the kept visit sent once 王芳 signs in", 30*time.Second, func() bool { return len(visits()) > 0 })
	if vs := visits(); len(vs) != 1 || vs[0].Visitor != "王芳" || vs[0].Needs != "夜里摔倒，已扶起，明早送医" {
		t.Fatalf("the visit after 王芳 signed in: %+v", vs)
	}
	_ = bctx
}

// TestWebKeptVisitRefusedIsShown: a visit kept on the phone that the
// server refuses for good once it is sent (here the elder moved to another
// village meanwhile: not hers any more) was dropped without a word, and
// the worker believed it recorded. It is shown to her, with what she wrote,
// until she has read it.
func TestWebKeptVisitRefusedIsShown(t *testing.T) {
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
	_, run, text, _ := browserSession(t, chromium, 360, 740)
	signIn := chromedp.Steps(chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#login"), "wang"), chromedp.SendKeys(chromedp.CSS("#password"), "correct-horse-1"),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitNotPresent(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("main h1")))
	run("open the app", chromedp.EmulateViewport(360, 740), chromedp.Navigate(base+"/app/"))
	run("sign in", signIn)
	run("fill the visit form", chromedp.Navigate(base+"/app/elders/e1/visit"), chromedp.WaitVisible(chromedp.CSS("#save")),
		chromedp.SendKeys(chromedp.CSS(`textarea[name=needs]`), "夜里摔倒，已扶起，明早送医"))
	run("the session ends", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdpnet.DeleteCookies, cdpnet.DeleteCookiesParams{Name: "anxin_session", URL: base + "/app/"})
		return err
	}))
	run("save", chromedp.Click(chromedp.CSS("#save")), chromedp.WaitVisible(chromedp.CSS("a#signin")), chromedp.WaitVisible(chromedp.CSS("#pending")))
	if code, body := apiCall(t, m, "PUT", "elders/e1", token, elderBody("e1", "hh-0001", "张桂兰", "大河村", 1)); code != 200 {
		t.Fatalf("move the elder: %d %s", code, body)
	}
	run("to the sign-in", chromedp.Click(chromedp.CSS("a#signin")))
	run("sign in again", signIn)
	testenv.Eventually(t, "the refused visit shown to the worker", 30*time.Second, func() bool {
		return strings.Contains(text("#pending"), "没有被接收")
	})
	if got := text("#pending"); !strings.Contains(got, "夜里摔倒，已扶起，明早送医") {
		t.Fatalf("the notice does not say which record: %q", got)
	}
	vs, err := m.Store.Visits(context.Background(), sqlite.VisitFilter{Household: "hh-0001"})
	if err != nil || len(vs) != 0 {
		t.Fatalf("visits %+v, %v: want none (refused)", vs, err)
	}
	run("she has read it", chromedp.Click(chromedp.CSS("#refused-ok")), chromedp.WaitNotPresent(chromedp.CSS("#refused")))
}
