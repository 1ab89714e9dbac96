// Package web is alarmd's web app in Mandarin under /app/: community
// workers sign in on a phone to see whom to visit today and record visits;
// operators watch open alarms live and close them, and read the monthly
// visit rate. Pages are server-rendered html/template, embedded, and work
// without JavaScript; the board's live list is a small external script over
// server-sent events under a strict Content-Security-Policy. The web app acts
// as the signed-in person through the records API's own checks, area scope
// and audit (api.Server.As). docs/web.md is its reference.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/api"
	"github.com/anxin-care/anxin/dispatch"
	"github.com/anxin-care/anxin/influx"
	"github.com/anxin-care/anxin/words"
)

// Prefix is where the web app is mounted.
const Prefix = "/app/"

// Roles of an account.
const (
	RoleWorker   = "worker"   // community worker: due list, elders, visits
	RoleOperator = "operator" // alarm board, report, elders
	RoleAdmin    = "admin"    // everything
)

// ValidRole reports whether r is a role.
func ValidRole(r string) bool { return r == RoleWorker || r == RoleOperator || r == RoleAdmin }

// Lock-out: after maxFailures failed sign-ins in a row an account is locked
// for lockFor, whatever password comes next.
const (
	maxFailures = 5
	lockFor     = 15 * time.Minute
	sessionFor  = 12 * time.Hour
)

// Accounts is the store of accounts and sessions (anxin.AccountStore).
type Accounts interface {
	Account(ctx context.Context, login string) (anxin.Account, error)
	SignInFailed(ctx context.Context, login string, limit int, lockUntil time.Time) (int, error)
	SignedIn(ctx context.Context, login string) error
	CreateSession(ctx context.Context, digest []byte, s anxin.Session) error
	Session(ctx context.Context, digest []byte, now time.Time) (anxin.Session, anxin.Account, error)
	DeleteSession(ctx context.Context, digest []byte, now time.Time) error
	ClaimFormKey(ctx context.Context, key, login string, now time.Time) (visitID string, claimed bool, err error)
	FinishFormKey(ctx context.Context, key, visitID string) error
	ReleaseFormKey(ctx context.Context, key string) error
	EnteredVisit(ctx context.Context, login, visitID string) (bool, error)
}

// Server serves the web app. Set the fields, then use Handler.
type Server struct {
	API      *api.Server
	Accounts Accounts
	Board    *Board // nil: a board that updates only on its own changes
	// Series reads the time-series store (the elder page's water chart,
	// devices' last readings and battery); nil: not shown.
	Series influx.Series
	// Orders runs work orders (派单 → 化解 → 反馈); nil: none (orders.go).
	Orders *dispatch.Dispatcher
	// Secure marks cookies Secure: alarmd sets it when served over TLS or
	// when http.public_url is https.
	Secure bool
	Logger *slog.Logger
	Now    func() time.Time
	// MarkKey signs the marks of browsers a person signed in on
	// (browsermarks.go); every alarmd sharing a store needs the same key.
	// Empty: a random key, the marks good until a restart.
	MarkKey []byte

	hashing chan struct{} // password checks running: each holds 19 MiB (argon2id)
	marks   deviceMarks
}

// maxHashing bounds the password checks run at once: sign-ins need no
// account, so without a bound anyone reaching /app/login holds 19 MiB of
// alarmd's memory per concurrent request. The others wait their turn.
const maxHashing = 2

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are parsed on the first page served, not at start: a deployment
// whose people never open the web app (or not yet) keeps neither the parsed
// trees (~1 MB of heap) nor the parser's code in memory. TestPagesParse
// parses them all, so a broken template still fails the build's tests.
var pages = sync.OnceValue(parsePages)

// parsePages parses each page with the layout into its own template.
func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"day":    func(t time.Time) string { return dayOf(t) },
		"when":   func(t time.Time) string { return whenOf(t) },
		"mul100": func(f float64) float64 { return f * 100 },
		"tier":   func(t any) string { return words.Tier(fmt.Sprint(t)) },
	}
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html"))
	out := map[string]*template.Template{}
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, n := range names {
		n = strings.TrimPrefix(n, "templates/")
		if n == "layout.html" || n == "parts.html" {
			continue
		}
		out[n] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/"+n))
	}
	return out
}

// china is where dates are shown.
var china = time.FixedZone("CST", 8*3600)

func dayOf(t time.Time) string {
	if t.IsZero() {
		return "从未"
	}
	return t.In(china).Format("2006-01-02")
}

func whenOf(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(china).Format("01-02 15:04:05")
}

// csp allows only this origin's files: no inline script, no inline style.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Handler is the web app with every route under Prefix.
func (s *Server) Handler() http.Handler {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Board == nil {
		s.Board = NewBoard()
	}
	s.hashing = make(chan struct{}, maxHashing)
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET "+Prefix+"static/", http.StripPrefix(Prefix+"static/", cacheFor(http.FileServerFS(static))))
	mux.HandleFunc("GET "+Prefix+"login", s.loginPage)
	mux.HandleFunc("POST "+Prefix+"login", s.login)
	page := func(pattern string, roles []string, h func(*Server, *request) error) {
		mux.Handle(pattern, s.signedIn(roles, h))
	}
	anyone := []string{RoleWorker, RoleOperator, RoleAdmin}
	desk := []string{RoleOperator, RoleAdmin}
	page("GET "+Prefix+"{$}", anyone, (*Server).home)
	page("POST "+Prefix+"logout", anyone, (*Server).logout)
	page("GET "+Prefix+"due", anyone, (*Server).duePage)
	page("GET "+Prefix+"elders/{id}", anyone, (*Server).elderPage)
	page("GET "+Prefix+"elders/{id}/visit", anyone, (*Server).visitForm)
	page("POST "+Prefix+"elders/{id}/visit", anyone, (*Server).recordVisit)
	page("GET "+Prefix+"board", desk, (*Server).boardPage)
	page("GET "+Prefix+"board/events", desk, (*Server).boardEvents)
	page("POST "+Prefix+"alarms/{id}/close", desk, (*Server).closeAlarm)
	page("GET "+Prefix+"devices", desk, (*Server).devicesPage)
	page("GET "+Prefix+"report", desk, (*Server).reportPage)
	page("GET "+Prefix+"report.xlsx", desk, (*Server).reportXLSX)
	for _, o := range orderRoutes {
		page(o.pattern, map[bool][]string{false: anyone, true: desk}[o.desk], o.h)
	}
	// any other path or method under /app/: in Mandarin, with the way back
	page(Prefix, anyone, (*Server).noPage)
	return headers(s.Secure, compress(mux))
}

// noPage answers a path (or method) under /app/ that no page has: a link
// cut short by an SMS client, an old bookmark.
func (s *Server) noPage(req *request) error {
	s.render(req, http.StatusNotFound, "error.html", map[string]any{"Title": "出错了", "Message": "没有这个页面，请从首页进入"})
	return nil
}

// headers sets the security headers of every answer.
func headers(secure bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if secure {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

func cacheFor(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// request is one signed-in request: the person, their session, the API
// acting as them.
type request struct {
	w       http.ResponseWriter
	r       *http.Request
	ctx     context.Context
	account anxin.Account
	session anxin.Session
	digest  []byte // of the session token
	api     *api.Server
}

const (
	sessionCookie = "anxin_session"
	loginCookie   = "anxin_login" // the sign-in form's CSRF token, before a session exists
)

func (s *Server) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: Prefix, HttpOnly: true, Secure: s.Secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(maxAge.Seconds())}
	if maxAge < 0 {
		c.MaxAge = -1
	}
	return c
}

// signedIn runs h for a signed-in person of one of roles. A page asked
// without a session goes to the sign-in page; every POST must carry the
// session's CSRF token.
func (s *Server) signedIn(roles []string, h func(*Server, *request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.Now()
		req := &request{w: w, r: r}
		err := s.authorize(req, roles)
		if err == nil {
			err = h(s, req)
		}
		if err != nil {
			s.fail(req, err)
		}
		s.Logger.LogAttrs(r.Context(), slog.LevelInfo, "web request", slog.String("method", r.Method),
			slog.String("path", r.Pattern), slog.String("account", req.account.Login), slog.Duration("took", s.Now().Sub(start)))
	})
}

// noArea is a worker account without an area (written before one was
// required): it would see the whole district.
func noArea(acc anxin.Account) bool {
	return acc.Role == RoleWorker && strings.TrimSpace(acc.Area) == ""
}

// errSignIn sends the browser to the sign-in page.
var errSignIn = errors.New("not signed in")

func (s *Server) authorize(req *request, roles []string) error {
	r := req.r
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return errSignIn
	}
	req.digest = digest(c.Value)
	ses, acc, err := s.Accounts.Session(r.Context(), req.digest, s.Now())
	if anxin.ErrorCode(err) == anxin.ENOTFOUND {
		return errSignIn
	} else if err != nil {
		return err
	}
	if noArea(acc) {
		return errSignIn // an older account: refused until it has an area (login)
	}
	req.session, req.account = ses, acc
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(req.w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			return anxin.Errorf(anxin.EINVALID, "表单无法读取")
		}
		if !sameToken(ses.CSRF, r.PostForm.Get("csrf")) {
			return anxin.Errorf(anxin.EFORBID, "表单已过期或来源不明，请返回后重新提交")
		}
	}
	allowed := false
	for _, role := range roles {
		allowed = allowed || role == acc.Role
	}
	if !allowed {
		return anxin.Errorf(anxin.EFORBID, "您的账号没有查看此页面的权限")
	}
	req.api, req.ctx, err = s.API.As(r.Context(), "web:"+acc.Login, acc.Area)
	return err
}

// statuses maps error codes to HTTP statuses.
var statuses = map[string]int{
	anxin.EINVALID:  http.StatusBadRequest,
	anxin.ENOTFOUND: http.StatusNotFound,
	anxin.ECONFLICT: http.StatusConflict,
	anxin.EFORBID:   http.StatusForbidden,
}

var asciiWord = regexp.MustCompile(`[A-Za-z]{3,}`)

var failWords = map[int]string{
	http.StatusBadRequest: "填写的内容有误，请检查后再提交", http.StatusForbidden: "没有权限进行此操作",
	http.StatusConflict: "此记录已被更改或已结束，请刷新页面后再试", http.StatusRequestEntityTooLarge: "提交的内容太大",
	http.StatusTooManyRequests: "尝试次数过多，请稍后再试",
}

func (s *Server) fail(req *request, err error) {
	if errors.Is(err, errSignIn) {
		if req.r.Method == http.MethodGet && req.r.Header.Get("Accept") != "text/event-stream" {
			http.Redirect(req.w, req.r, Prefix+"login?next="+url.QueryEscape(req.r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if req.r.Header.Get("Accept") == "text/event-stream" {
			http.Error(req.w, "请先登录", http.StatusUnauthorized)
			return
		}
		// a form sent after the session ended (a visit saved at 3 a.m., 12
		// hours after signing in): say so, lead to the sign-in, and run
		// visit.js, which shows the copy it kept and sends it once signed in
		s.render(req, http.StatusUnauthorized, "error.html", map[string]any{"Title": "请重新登录",
			"Message": "登录已过期，刚才的提交没有完成。", "SignIn": Prefix + "login", "Pending": true})
		return
	}
	status, ok := statuses[anxin.ErrorCode(err)]
	msg := anxin.ErrorMessage(err)
	if !ok {
		status, msg = http.StatusInternalServerError, "服务器出错，请稍后再试"
		s.Logger.Error("web request failed", "path", req.r.Pattern, "err", err)
	}
	if status == http.StatusNotFound {
		msg = "没有找到此记录（或不在您的辖区内）"
	} else if asciiWord.MatchString(msg) {
		// the records API's own messages are for machines (English, ids):
		// a worker reads one line in Mandarin per kind of refusal
		msg = failWords[status]
	}
	s.render(req, status, "error.html", map[string]any{"Title": "出错了", "Message": msg})
}

// render writes a page; data is a map the page reads, with the person and
// the CSRF token added.
func (s *Server) render(req *request, status int, page string, data map[string]any) {
	data["Account"] = req.account
	data["CSRF"] = req.session.CSRF
	data["Desk"] = req.account.Role == RoleOperator || req.account.Role == RoleAdmin
	h := req.w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	req.w.WriteHeader(status)
	if err := pages()[page].Execute(req.w, data); err != nil {
		s.Logger.Error("page not rendered", "page", page, "err", err)
	}
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	tok := newToken()
	http.SetCookie(w, s.cookie(loginCookie, tok, 30*time.Minute))
	s.render(&request{w: w, r: r}, http.StatusOK, "login.html", map[string]any{"Title": "登录", "LoginCSRF": tok,
		"Next": safeNext(r.URL.Query().Get("next")), "Problem": r.URL.Query().Get("problem")})
}

// safeNext keeps a return path inside the app.
func safeNext(p string) string {
	if !strings.HasPrefix(p, Prefix) || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return Prefix
	}
	return p
}

// login checks a name and password. The same answer and about the same
// time for an unknown name, a wrong password and a locked account.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "表单无法读取", http.StatusBadRequest)
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameToken(c.Value, r.PostForm.Get("csrf")) {
		s.render(&request{w: w, r: r}, http.StatusForbidden, "error.html", map[string]any{"Title": "出错了", "Message": "登录表单已过期，请刷新后重试"})
		return
	}
	login, password := strings.TrimSpace(r.PostForm.Get("login")), r.PostForm.Get("password")
	next := safeNext(r.PostForm.Get("next"))
	ctx := r.Context()
	// the account (its lock, its failures) is read once this request holds
	// a password check's place: read before the wait, a burst of guesses
	// queued behind the first would all be checked after the lock was set
	select {
	case s.hashing <- struct{}{}:
	case <-ctx.Done():
		return // the client gave up while waiting
	}
	now := s.Now()
	s.marks.init(s.MarkKey)
	acc, err := s.Accounts.Account(ctx, login)
	if err != nil && anxin.ErrorCode(err) != anxin.ENOTFOUND {
		<-s.hashing
		s.Logger.Error("sign-in failed", "err", err)
		http.Error(w, "服务器出错，请稍后再试", http.StatusInternalServerError)
		return
	}
	// a mark issued under the password of before a reset is no mark
	mark, marked := s.marks.of(r, login, acc.Hash, now)
	hash := acc.Hash
	if err != nil {
		hash = dummyHash()
	}
	good := checkPassword(hash, password) && err == nil
	<-s.hashing
	accountLocked := acc.LockedUntil.After(now)
	locked := accountLocked
	if marked {
		locked = s.marks.locked(mark, now) // the account's lock is for browsers it never signed in on
	}
	if good && noArea(acc) {
		// made before a worker needed an area (its area "" is the whole
		// district): refused until an admin gives it one
		s.Logger.Warn("sign-in refused: a worker account without an area; give it one with alarmd account -area", "account", login)
		http.Redirect(w, r, Prefix+"login?problem=area&next="+url.QueryEscape(next), http.StatusSeeOther)
		return
	}
	if good && !locked && !marked {
		// a burst's other guesses may have locked it since the read above:
		// the lock holds for whatever password comes, so look again
		if again, aerr := s.Accounts.Account(ctx, login); aerr != nil || again.LockedUntil.After(now) {
			locked = true
		}
	}
	if !good || locked {
		counted := false
		if marked && !locked {
			var markLocked bool
			if markLocked, counted = s.marks.failed(mark, now); markLocked {
				s.Logger.Warn("browser locked after failed sign-ins (the account stays open to the others it signed in on)", "account", login)
			}
		}
		if err == nil && !locked && !counted {
			if !acc.LockedUntil.IsZero() {
				// a lock that ended: the count starts again, or one typo (or one
				// stranger's request every 15 minutes) would lock it anew
				if rerr := s.Accounts.SignedIn(ctx, login); rerr != nil {
					s.Logger.Error("ended lock not cleared", "err", rerr)
				}
			}
			n, ferr := s.Accounts.SignInFailed(ctx, login, maxFailures, now.Add(lockFor))
			if ferr != nil {
				s.Logger.Error("sign-in failure not counted", "err", ferr)
			}
			if n >= maxFailures {
				s.Logger.Warn("account locked after failed sign-ins", "account", login, "failures", n)
			}
		}
		s.Logger.Info("sign-in refused", "locked", locked)
		http.Redirect(w, r, Prefix+"login?problem=1&next="+url.QueryEscape(next), http.StatusSeeOther)
		return
	}
	// a sign-in on a marked browser leaves a lock that others' guesses set
	if !accountLocked {
		if err := s.Accounts.SignedIn(ctx, login); err != nil {
			s.Logger.Error("sign-in not recorded", "err", err)
		}
	}
	if marked {
		s.marks.forget(mark)
	}
	tok := newToken()
	if err := s.Accounts.CreateSession(ctx, digest(tok), anxin.Session{Login: login, CSRF: newToken(), Expires: now.Add(sessionFor)}); err != nil {
		s.Logger.Error("session not stored", "err", err)
		http.Error(w, "服务器出错，请稍后再试", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, s.cookie(loginCookie, "", -1))
	http.SetCookie(w, s.cookie(sessionCookie, tok, sessionFor))
	http.SetCookie(w, s.cookie(deviceCookie, s.marks.issue(login, acc.Hash, now), deviceFor))
	s.Logger.Info("signed in", "account", login, "role", acc.Role, "marked_browser", marked)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(req *request) error {
	if err := s.Accounts.DeleteSession(req.r.Context(), req.digest, s.Now()); err != nil {
		return err
	}
	http.SetCookie(req.w, s.cookie(sessionCookie, "", -1))
	http.Redirect(req.w, req.r, Prefix+"login", http.StatusSeeOther)
	return nil
}

func (s *Server) home(req *request) error {
	to := Prefix + "due"
	if req.account.Role != RoleWorker {
		to = Prefix + "board"
	}
	http.Redirect(req.w, req.r, to, http.StatusSeeOther)
	return nil
}
