package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/api"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/web"
)

const districtToken = "district-0123456789abcdef"

// env is the web app and the records API on one real HTTP server on
// 127.0.0.1 over a real SQLite store, with two villages' elders.
type env struct {
	t    *testing.T
	srv  *httptest.Server
	db   *sqlite.DB
	logs *bytes.Buffer
	web  *web.Server
	hh   *[]anxin.Household // alarmd's households, changed by a test before its requests
}

// storeCloser closes alarms in the store (alarmd also stops the chain).
type storeCloser struct{ db *sqlite.DB }

func (c storeCloser) CloseAlarm(ctx context.Context, id, by, reason string) error {
	return c.db.CloseAlarm(ctx, id, by, reason, time.Now())
}

func newEnv(t *testing.T, secure bool) *env {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "alarmd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	households := []anxin.Household{
		{ID: "hh-a1", Elder: anxin.Elder{Name: "张桂兰"}, Devices: []anxin.Device{{ID: "btn1", Kind: anxin.KindCallButton}}},
		{ID: "hh-b1", Elder: anxin.Elder{Name: "赵国强"}},
	}
	a := &api.Server{Store: db, Tokens: []api.Token{{Name: "district", Token: districtToken}}, Logger: logger,
		Alarms: db, Escalation: db, Closer: storeCloser{db}, Households: api.HouseholdList(households)}
	w := &web.Server{API: a, Accounts: db, Logger: logger, Secure: secure}
	mux := http.NewServeMux()
	mux.Handle(api.Prefix, a.Handler())
	mux.Handle(web.Prefix, w.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, db: db, logs: logs, web: w, hh: &households}
	e.elder("a1", "张桂兰", "善广村", 1)
	e.elder("b1", "赵国强", "龙井村", 2)
	for _, acc := range [][4]string{{"wang", "王芳", "善广村", web.RoleWorker}, {"li", "李强", "龙井村", web.RoleWorker},
		{"ops", "值班员", "", web.RoleOperator}} {
		if err := web.PutAccount(context.Background(), db, acc[0], acc[1], acc[2], acc[3], "correct-horse-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func idNumber(birth string, seq int) string {
	s := "530128" + birth + fmt.Sprintf("%03d", seq)
	return s + string(care.CheckDigit(s))
}

// elder registers an elder of household hh-<id> through the records API.
func (e *env) elder(id, name, village string, seq int) {
	e.t.Helper()
	e.elderOf(id, name, village, seq, "王芳")
}

// elderOf registers an elder with grid worker grid.
func (e *env) elderOf(id, name, village string, seq int, grid string) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{
		"id": id, "household": "hh-" + id, "name": name, "id_number": idNumber("19400506", seq), "phone": "13800001234",
		"current_address": map[string]any{"county": "禄劝县", "township": "屏山街道", "village": village, "detail": "幸福路8号"},
		"categories":      []string{"独居"},
		"assessment":      map[string]any{"guardianship": "独居", "self_care": "中度失能", "health": "正常", "assessed_on": "2026-03-01T00:00:00Z"},
		"contacts":        []map[string]any{{"name": "李明", "relation": "child", "phone": "13900000001"}},
		"grid_worker":     grid, "consent": true,
	})
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/elders", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+districtToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 {
		e.t.Fatalf("elder %s: %d %s", id, res.StatusCode, b)
	}
}

// browser is one person's cookie jar.
type browser struct {
	e   *env
	c   *http.Client
	jar *cookiejar.Jar
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// do sends a request; a 303 is followed once for GETs by the caller.
func (b *browser) do(method, path string, form url.Values) (int, string, http.Header) {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.e.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data), res.Header
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf token in %s", page)
	}
	return m[1]
}

// signIn signs in and answers the session's CSRF token.
func (b *browser) signIn(login, password string) (int, string) {
	b.e.t.Helper()
	_, page, _ := b.do("GET", "/app/login", nil)
	code, _, h := b.do("POST", "/app/login", url.Values{"csrf": {csrfOf(b.e.t, page)}, "login": {login}, "password": {password}})
	return code, h.Get("Location")
}

func (b *browser) mustSignIn(login string) string {
	b.e.t.Helper()
	if code, loc := b.signIn(login, "correct-horse-1"); code != 303 || loc != "/app/" {
		b.e.t.Fatalf("sign-in %s: %d %s", login, code, loc)
	}
	_, page, _ := b.do("GET", "/app/due", nil)
	return csrfOf(b.e.t, page)
}

func TestWorkerDueListVisitCounted(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser()
	if code, _, h := b.do("GET", "/app/due", nil); code != 303 || !strings.HasPrefix(h.Get("Location"), "/app/login") {
		t.Fatalf("due list without a session: %d %s", code, h.Get("Location"))
	}
	csrf := b.mustSignIn("wang")
	code, page, h := b.do("GET", "/app/due", nil)
	if code != 200 || !strings.Contains(page, "张桂兰") || strings.Contains(page, "赵国强") || !strings.Contains(page, `href="tel:&#43;8613800001234"`) ||
		!strings.Contains(page, "幸福路8号") {
		t.Fatalf("due list: %d %s", code, page)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP: %q", csp)
	}
	_, page, _ = b.do("GET", "/app/elders/a1/visit", nil)
	key := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(page)
	if key == nil {
		t.Fatalf("no form key: %s", page)
	}
	form := url.Values{"csrf": {csrf}, "key": {key[1]}, "method": {"home"}, "speech": {"较好"}, "gas": {"不安全"}, "needs": {"代购降压药"}}
	code, _, h = b.do("POST", "/app/elders/a1/visit", form)
	if code != 303 || !strings.HasPrefix(h.Get("Location"), "/app/due?saved=") {
		t.Fatalf("record visit: %d %s", code, h.Get("Location"))
	}
	// the same form sent again (a double tap, a resend after a dropped connection): one visit
	if code, _, h2 := b.do("POST", "/app/elders/a1/visit", form); code != 303 || h2.Get("Location") != h.Get("Location")+"&again=1" {
		t.Fatalf("form sent again: %d %s", code, h2.Get("Location"))
	}
	if code, _, _ := b.do("POST", "/app/elders/a1/visit", url.Values{"csrf": {csrf}, "method": {"home"}}); code != 400 {
		t.Fatalf("form without its key: %d", code)
	}
	vs, err := e.db.Visits(context.Background(), sqlite.VisitFilter{Household: "hh-a1"})
	if err != nil || len(vs) != 1 {
		t.Fatalf("visits: %v %+v", err, vs)
	}
	v := vs[0]
	if v.Method != anxin.VisitHome || v.Visitor != "王芳" || !strings.Contains(v.Health, "表达能力：较好") ||
		!strings.Contains(v.Safety, "燃气安全：不安全") || v.Needs != "代购降压药" {
		t.Errorf("visit: %+v", v)
	}
	if _, page, _ = b.do("GET", "/app/due", nil); strings.Contains(page, "张桂兰") {
		t.Errorf("visited elder still due: %s", page)
	}
	// the operator's report counts it
	ops := e.browser()
	ops.mustSignIn("ops")
	if _, page, _ = ops.do("GET", "/app/report", nil); !strings.Contains(page, `id="visited">1<`) || !strings.Contains(page, `id="in-scope">2<`) {
		t.Errorf("report: %s", page)
	}
	if code, body, h := ops.do("GET", "/app/report.xlsx", nil); code != 200 || !strings.Contains(h.Get("Content-Type"), "spreadsheetml") || len(body) < 100 {
		t.Errorf("report xlsx: %d %s", code, h.Get("Content-Type"))
	}
	if strings.Contains(e.logs.String(), "correct-horse") || strings.Contains(e.logs.String(), "13800001234") {
		t.Error("a password or phone number reached the log")
	}
}

func TestCSRFAndArea(t *testing.T) {
	e := newEnv(t, false)
	b := e.browser()
	csrf := b.mustSignIn("wang")
	for _, form := range []url.Values{{"method": {"home"}}, {"method": {"home"}, "csrf": {"forged"}}} {
		if code, _, _ := b.do("POST", "/app/elders/a1/visit", form); code != 403 {
			t.Errorf("visit with csrf %q: %d", form.Get("csrf"), code)
		}
	}
	// another area's elder by URL: not found, and no visit to it
	if code, page, _ := b.do("GET", "/app/elders/b1", nil); code != 404 || strings.Contains(page, "赵国强") {
		t.Errorf("other area's elder: %d %s", code, page)
	}
	if code, _, _ := b.do("POST", "/app/elders/b1/visit", url.Values{"csrf": {csrf}, "method": {"phone"}}); code != 404 {
		t.Errorf("visit to another area: %d", code)
	}
	if code, page, _ := b.do("GET", "/app/elders/a1", nil); code != 200 || !strings.Contains(page, `id="idnumber">`) ||
		strings.Contains(page, idNumber("19400506", 1)) {
		t.Errorf("own elder: %d", code)
	}
	// a worker has no board
	if code, _, _ := b.do("GET", "/app/board", nil); code != 403 {
		t.Errorf("worker's board: %d", code)
	}
	if vs, _ := e.db.Visits(context.Background(), sqlite.VisitFilter{}); len(vs) != 0 {
		t.Errorf("visits stored: %+v", vs)
	}
	// a login form without its token
	if code, _, _ := e.browser().do("POST", "/app/login", url.Values{"login": {"wang"}, "password": {"correct-horse-1"}}); code != 403 {
		t.Errorf("login without csrf: %d", code)
	}
}

func TestLockOutAndCookies(t *testing.T) {
	e := newEnv(t, true)
	b := e.browser()
	for i := range 5 {
		if code, loc := b.signIn("wang", "wrong-password"); code != 303 || !strings.Contains(loc, "problem=1") {
			t.Fatalf("wrong password %d: %d %s", i, code, loc)
		}
	}
	if code, loc := b.signIn("wang", "correct-horse-1"); !strings.Contains(loc, "problem=1") {
		t.Fatalf("locked account signed in: %d %s", code, loc)
	}
	if code, loc := b.signIn("nobody", "correct-horse-1"); !strings.Contains(loc, "problem=1") {
		t.Fatalf("unknown account: %d %s", code, loc)
	}
	// a reset (alarmd account) unlocks
	if err := web.PutAccount(context.Background(), e.db, "wang", "王芳", "善广村", web.RoleWorker, "correct-horse-2", time.Now()); err != nil {
		t.Fatal(err)
	}
	_, page, _ := b.do("GET", "/app/login", nil)
	req, _ := http.NewRequest("POST", e.srv.URL+"/app/login", strings.NewReader(url.Values{"csrf": {csrfOf(t, page)},
		"login": {"wang"}, "password": {"correct-horse-2"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var session *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "anxin_session" {
			session = c
		}
	}
	if res.StatusCode != 303 || session == nil || !session.HttpOnly || !session.Secure || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie: %d %+v", res.StatusCode, session)
	}
}

func TestDeviceHealth(t *testing.T) {
	e := newEnv(t, false)
	now := time.Now()
	res, err := e.db.ApplyIngest(context.Background(), &sqlite.IngestBatch{At: now, Changes: []sqlite.AlarmChange{{Op: sqlite.AlarmOpOpen,
		Household: "hh-a1", Rule: "device_silent", RuleKind: "offline", Device: "btn1", Severity: anxin.SeverityInfo,
		Route: anxin.RouteInstaller, At: now.Add(-time.Hour), Reason: "device silent"}}})
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("open: %+v %v", res, err)
	}
	ops := e.browser()
	ops.mustSignIn("ops")
	code, page, _ := ops.do("GET", "/app/devices?need=1", nil)
	if code != 200 || !strings.Contains(page, "hh-a1") || strings.Contains(page, "hh-b1") || !strings.Contains(page, "1 项需处理") {
		t.Fatalf("devices needing an installer: %d %s", code, page)
	}
	if _, page, _ = ops.do("GET", "/app/devices", nil); !strings.Contains(page, "hh-b1") {
		t.Errorf("all devices: %s", page)
	}
	if strings.Contains(page, "gateway") { // the pseudo-device's id is no word for a person
		t.Errorf("the gateway is named in English: %s", page)
	}
	w := e.browser()
	w.mustSignIn("wang")
	if code, _, _ := w.do("GET", "/app/devices", nil); code != 403 {
		t.Errorf("worker's device page: %d", code)
	}
}

// countingHouseholds counts how a page reads households.
type countingHouseholds struct {
	api.HouseholdList
	mu      sync.Mutex
	one, of int
}

func (c *countingHouseholds) Household(ctx context.Context, id string) (anxin.Household, error) {
	c.mu.Lock()
	c.one++
	c.mu.Unlock()
	return c.HouseholdList.Household(ctx, id)
}

func (c *countingHouseholds) HouseholdsOf(ctx context.Context, ids []string) ([]anxin.Household, error) {
	c.mu.Lock()
	c.of++
	c.mu.Unlock()
	return c.HouseholdList.HouseholdsOf(ctx, ids)
}

// The board reads the households of its rows at once, not one a row (each
// a read of the area and two of the register since alarmd keeps only the
// kits in memory), and still names each row's elder.
func TestBoardReadsHouseholdsOncePerPage(t *testing.T) {
	e := newEnv(t, false)
	now := time.Now()
	var changes []sqlite.AlarmChange
	for i, hh := range []string{"hh-a1", "hh-a1", "hh-b1"} {
		changes = append(changes, sqlite.AlarmChange{Op: sqlite.AlarmOpOpen, Household: hh, Rule: fmt.Sprintf("button_%d", i),
			RuleKind: "event", Device: "btn1", Severity: anxin.SeverityCritical, At: now.Add(-time.Minute), Reason: "button pressed"})
	}
	if res, err := e.db.ApplyIngest(context.Background(), &sqlite.IngestBatch{At: now, Changes: changes}); err != nil || len(res.Opened) != 3 {
		t.Fatalf("open: %+v %v", res, err)
	}
	src := &countingHouseholds{HouseholdList: api.HouseholdList(*e.hh)}
	e.web.API.Households = src
	ops := e.browser()
	ops.mustSignIn("ops")
	code, page, _ := ops.do("GET", "/app/board", nil)
	if code != 200 || !strings.Contains(page, anxin.MaskName("张桂兰")) || !strings.Contains(page, anxin.MaskName("赵国强")) {
		t.Fatalf("board: %d %s", code, page)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.one != 0 || src.of != 1 {
		t.Fatalf("the board read households one by one %d times and by the page %d times", src.one, src.of)
	}
}
