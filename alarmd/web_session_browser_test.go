package alarmd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/anxin-care/anxin"
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
	p := newWorkerPhone(t, [4]string{"wang", "王芳", "善广村", web.RoleWorker})
	m, base, bctx, run, text, shot := p.m, p.base, p.bctx, p.run, p.text, p.shot
	p.signIn("wang")
	p.keepVisit("夜里摔倒，已扶起，明早送医")
	if got := text("main"); !strings.Contains(got, "登录已过期") || !strings.Contains(got, "1 份探访记录保存在手机上，重新登录后自动提交") {
		t.Fatalf("the page after saving without a session: %s", got)
	}
	shot("visit-session-ended-360x740.png")
	if vs := p.visits(t); len(vs) != 0 {
		t.Fatalf("a visit without a session was stored: %+v", vs)
	}
	run("to the sign-in", chromedp.Click(chromedp.CSS("a#signin")))
	p.signIn("wang")
	var vs []anxin.Visit
	var err error
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
