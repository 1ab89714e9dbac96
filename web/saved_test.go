package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/web"
)

// After 保存探访记录 the worker lands on the due list; it must say that the
// visit was saved (at 3 a.m. after an alarm, the same list with the same
// elder still due for a home visit reads as "nothing happened", and she
// taps save again), and a form sent twice must say it was recorded once.
// Another account opening the same link learns nothing.
func TestDueListSaysTheVisitWasSaved(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser()
	csrf := b.mustSignIn("wang")
	_, page, _ := b.do("GET", "/app/elders/a1/visit", nil)
	key := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(page)
	if key == nil {
		t.Fatalf("no form key: %s", page)
	}
	form := url.Values{"csrf": {csrf}, "key": {key[1]}, "method": {"phone"}}
	code, _, h := b.do("POST", "/app/elders/a1/visit", form)
	if code != 303 {
		t.Fatalf("record visit: %d", code)
	}
	saved := h.Get("Location")
	if _, page, _ = b.do("GET", saved, nil); !strings.Contains(page, `id="saved"`) || !strings.Contains(page, "探访记录已保存") ||
		!strings.Contains(page, "电话问候") {
		t.Fatalf("the due list after saving says nothing of it: %s", page)
	}
	_, _, h = b.do("POST", "/app/elders/a1/visit", form) // a double tap
	if _, page, _ = b.do("GET", h.Get("Location"), nil); !strings.Contains(page, "此前已保存") || strings.Contains(page, "探访记录已保存（") {
		t.Fatalf("the form sent again is not said to be recorded once: %s", page)
	}
	for _, who := range []string{"li", "ops"} {
		other := e.browser()
		other.mustSignIn(who)
		if _, page, _ = other.do("GET", saved, nil); strings.Contains(page, `id="saved"`) {
			t.Errorf("%s sees wang's saved visit: %s", who, page)
		}
	}
	if _, page, _ = b.do("GET", "/app/due?saved=no-such-visit", nil); strings.Contains(page, `id="saved"`) {
		t.Errorf("an unknown visit is said saved: %s", page)
	}
}

// A form refused for one field far down the page (part 二) comes back at
// its top: the top must say that nothing was saved and why, or on a phone
// it reads as the same form again and the worker taps save again.
// What was typed is kept.
func TestRefusedVisitSaysWhyAtTheTop(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser()
	csrf := b.mustSignIn("wang")
	_, page, _ := b.do("GET", "/app/elders/a1/visit", nil)
	key := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(page)
	form := url.Values{"csrf": {csrf}, "key": {key[1]}, "method": {"phone"}, "needs": {"夜里胸口闷，想让女儿回来住几天"},
		"service_provider": {"王芳"}}
	code, page, _ := b.do("POST", "/app/elders/a1/visit", form)
	if code != 400 {
		t.Fatalf("refused form: %d", code)
	}
	top, _, _ := strings.Cut(page, "一、探访情况")
	if !strings.Contains(top, `id="form-errors"`) || !strings.Contains(top, "没有保存") || !strings.Contains(top, "请填写关爱服务情况") {
		t.Fatalf("the top of the refused form does not say why: %s", top)
	}
	if !strings.Contains(page, "夜里胸口闷，想让女儿回来住几天</textarea>") || !strings.Contains(page, `value="王芳"`) {
		t.Errorf("what was typed is lost: %s", page)
	}
	// a form that is fine shows no such block
	if _, page, _ = b.do("GET", "/app/elders/a1/visit", nil); strings.Contains(page, `id="form-errors"`) {
		t.Errorf("a new form says it was refused: %s", page)
	}
}

// A mistyped or cut-off link under /app/ (an SMS client that breaks a long
// link, an old bookmark) answers in Mandarin with the way back, not Go's
// "404 page not found" or "Method Not Allowed".
func TestUnknownPageInMandarin(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser()
	if code, _, h := b.do("GET", "/app/ordrs", nil); code != 303 || !strings.HasPrefix(h.Get("Location"), "/app/login") {
		t.Fatalf("an unknown page before sign-in: %d %s", code, h.Get("Location"))
	}
	csrf := b.mustSignIn("wang")
	for _, c := range []struct {
		method, path string
		form         url.Values
	}{{"GET", "/app/ordrs", nil}, {"GET", "/app/elders/a1/visit/x", nil}, {"POST", "/app/due", url.Values{"csrf": {csrf}}}} {
		code, page, _ := b.do(c.method, c.path, c.form)
		if code != 404 || !strings.Contains(page, "没有这个页面") || !strings.Contains(page, `href="/app/"`) ||
			strings.Contains(page, "not found") || strings.Contains(page, "Not Allowed") {
			t.Errorf("%s %s: %d %s", c.method, c.path, code, page)
		}
	}
}

// A visit form sent after the session ended (12 hours after sign-in: the
// 3 a.m. alarm after a day shift) must not end on a bare "请先登录": the
// page says the save did not go through, leads to the sign-in, and runs
// the script that shows the copy kept on the phone (it is sent once the
// worker is signed in again).
func TestVisitAfterTheSessionEnded(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser()
	csrf := b.mustSignIn("wang")
	_, page, _ := b.do("GET", "/app/elders/a1/visit", nil)
	key := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(page)
	u, _ := url.Parse(e.srv.URL + "/app/")
	b.jar.SetCookies(u, []*http.Cookie{{Name: "anxin_session", Value: "", Path: "/app/", MaxAge: -1}})
	code, page, h := b.do("POST", "/app/elders/a1/visit", url.Values{"csrf": {csrf}, "key": {key[1]}, "method": {"home"}, "needs": {"摔倒已扶起"}})
	if code != 401 || !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(page, "登录已过期") ||
		!strings.Contains(page, `href="/app/login"`) || !strings.Contains(page, `/app/static/visit.js`) || !strings.Contains(page, `id="pending"`) {
		t.Fatalf("a visit sent after the session ended: %d %s %s", code, h.Get("Content-Type"), page)
	}
	if strings.Contains(page, "退出") {
		t.Errorf("the page offers to sign out of a session that has ended: %s", page)
	}
}

// Two workers may share a display name (two 王芳 in one township): the
// saved-visit line is for the account that saved the visit, matched by
// login, not by the name the visit records as its 录入人.
func TestSavedVisitIsTheLoginsNotTheNames(t *testing.T) {
	e := newEnv(t, false)
	if err := web.PutAccount(context.Background(), e.db, "wang2", "王芳", "善广村", web.RoleWorker, "correct-horse-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	csrf := b.mustSignIn("wang")
	_, page, _ := b.do("GET", "/app/elders/a1/visit", nil)
	key := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(page)
	if key == nil {
		t.Fatalf("no form key: %s", page)
	}
	code, _, h := b.do("POST", "/app/elders/a1/visit", url.Values{"csrf": {csrf}, "key": {key[1]}, "method": {"phone"}})
	if code != 303 {
		t.Fatalf("record visit: %d", code)
	}
	saved := h.Get("Location")
	if _, page, _ = b.do("GET", saved, nil); !strings.Contains(page, `id="saved"`) {
		t.Fatalf("wang is not told her visit was saved: %s", page)
	}
	other := e.browser()
	other.mustSignIn("wang2")
	if _, page, _ = other.do("GET", saved, nil); strings.Contains(page, `id="saved"`) {
		t.Errorf("wang2 (also 王芳) is told of wang's saved visit: %s", page)
	}
}
