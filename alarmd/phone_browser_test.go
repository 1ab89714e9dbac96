package alarmd

import (
	"context"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	cdpnet "github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/sqlite"
)

// workerPhone is a whole alarmd whose register holds elder e1 (张桂兰,
// hh-0001, 善广村) and the given accounts (password correct-horse-1),
// and headless Chromium on a 360×740 phone at the app: the setup of the
// tests of visits kept on the phone.
type workerPhone struct {
	m     *Main
	token string // the district's API token
	base  string
	bctx  context.Context
	run   func(what string, steps ...chromedp.Action[chromedp.Void])
	text  func(sel string) string
	shot  func(name string)
}

func newWorkerPhone(t *testing.T, accounts ...[4]string) *workerPhone {
	t.Helper()
	chromium := testenv.Need(t, "chromium", "apt-get install -y chromium")
	p := &workerPhone{token: "district-0123456789abcdef"}
	cfg := testConfig(t)
	cfg.API.Tokens = []APIToken{{Name: "district", Token: Secret(p.token)}}
	p.m = &Main{Config: cfg}
	startMain(t, p.m)
	if code, body := apiCall(t, p.m, "POST", "elders", p.token, elderBody("e1", "hh-0001", "张桂兰", "善广村", 1)); code != 201 {
		t.Fatalf("elder: %d %s", code, body)
	}
	putAccounts(t, p.m, accounts...)
	p.base = "http://" + p.m.HTTPAddr()
	p.bctx, p.run, p.text, p.shot = browserSession(t, chromium, 360, 740)
	p.run("open the app", chromedp.EmulateViewport(360, 740), chromedp.Navigate(p.base+"/app/"))
	return p
}

// signIn signs login in on the sign-in page shown.
func (p *workerPhone) signIn(login string) {
	p.run("sign in as "+login, chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#login"), login), chromedp.SendKeys(chromedp.CSS("#password"), "correct-horse-1"),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitNotPresent(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("main h1")))
}

// endSession is what 12 hours do: the browser's session cookie goes.
func (p *workerPhone) endSession() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdpnet.DeleteCookies, cdpnet.DeleteCookiesParams{Name: "anxin_session", URL: p.base + "/app/"})
		return err
	})
}

// keepVisit fills e1's visit form with needs, lets the session end and
// saves: the phone keeps the visit and shows the sign-in link.
func (p *workerPhone) keepVisit(needs string) {
	p.run("fill the visit form", chromedp.Navigate(p.base+"/app/elders/e1/visit"), chromedp.WaitVisible(chromedp.CSS("#save")),
		chromedp.SendKeys(chromedp.CSS(`textarea[name=needs]`), needs))
	p.run("the session ends", p.endSession())
	p.run("save", chromedp.Click(chromedp.CSS("#save")), chromedp.WaitVisible(chromedp.CSS("a#signin")),
		chromedp.WaitVisible(chromedp.CSS("#pending")))
}

// visits are e1's household's visits in the store.
func (p *workerPhone) visits(t *testing.T) []anxin.Visit {
	t.Helper()
	vs, err := p.m.Store.Visits(context.Background(), sqlite.VisitFilter{Household: "hh-0001"})
	if err != nil {
		t.Fatal(err)
	}
	return vs
}
