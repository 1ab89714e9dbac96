package alarmd

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/web"
)

// TestWebKeptVisitWaitsForItsWorker: a station's shared phone. 王芳's
// session ends before she saves a visit; the phone keeps it. The next to
// sign in on that phone is 赵敏: the kept visit must not be sent under her
// session (it would be recorded as 赵敏's visit, or refused and dropped if
// the elder is not hers). It waits, says so, and goes once 王芳 signs in.
func TestWebKeptVisitWaitsForItsWorker(t *testing.T) {
	p := newWorkerPhone(t, [4]string{"wang", "王芳", "善广村", web.RoleWorker}, [4]string{"zhao", "赵敏", "善广村", web.RoleWorker})
	p.signIn("wang")
	p.keepVisit("夜里摔倒，已扶起，明早送医")
	p.run("to the sign-in", chromedp.Click(chromedp.CSS("a#signin")))
	p.signIn("zhao")
	testenv.Eventually(t, "the kept visit sent, or said to wait for its worker", 30*time.Second, func() bool {
		return len(p.visits(t)) > 0 || strings.Contains(p.text("#pending"), "其他账号")
	})
	if vs := p.visits(t); len(vs) > 0 {
		t.Fatalf("王芳's kept visit was sent under 赵敏's session: %+v", vs)
	}
	p.run("赵敏 leaves", p.endSession(), chromedp.Navigate(p.base+"/app/"))
	p.signIn("wang")
	testenv.Eventually(t, "the kept visit sent once 王芳 signs in", 30*time.Second, func() bool { return len(p.visits(t)) > 0 })
	if vs := p.visits(t); len(vs) != 1 || vs[0].Visitor != "王芳" || vs[0].Needs != "夜里摔倒，已扶起，明早送医" {
		t.Fatalf("the visit after 王芳 signed in: %+v", vs)
	}
}

// TestWebKeptVisitRefusedIsShown: a visit kept on the phone that the
// server refuses for good once it is sent (here the elder moved to another
// village meanwhile: not hers any more) was dropped without a word, and
// the worker believed it recorded. It is shown to her, with what she wrote,
// until she has read it.
func TestWebKeptVisitRefusedIsShown(t *testing.T) {
	p := newWorkerPhone(t, [4]string{"wang", "王芳", "善广村", web.RoleWorker})
	p.signIn("wang")
	p.keepVisit("夜里摔倒，已扶起，明早送医")
	if code, body := apiCall(t, p.m, "PUT", "elders/e1", p.token, elderBody("e1", "hh-0001", "张桂兰", "大河村", 1)); code != 200 {
		t.Fatalf("move the elder: %d %s", code, body)
	}
	p.run("to the sign-in", chromedp.Click(chromedp.CSS("a#signin")))
	p.signIn("wang")
	testenv.Eventually(t, "the refused visit shown to the worker", 30*time.Second, func() bool {
		return strings.Contains(p.text("#pending"), "没有被接收")
	})
	if got := p.text("#pending"); !strings.Contains(got, "夜里摔倒，已扶起，明早送医") {
		t.Fatalf("the notice does not say which record: %q", got)
	}
	if vs := p.visits(t); len(vs) != 0 {
		t.Fatalf("visits %+v: want none (refused)", vs)
	}
	p.run("she has read it", chromedp.Click(chromedp.CSS("#refused-ok")), chromedp.WaitNotPresent(chromedp.CSS("#refused")))
}
