// Package api is the records API of alarmd under /api/v1/: the care
// register, visits, due lists, reports, alarms with their attempts and
// households, as JSON (and XLSX/CSV for the ledger), behind bearer tokens
// scoped to an area. docs/care.md is its reference.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
	"github.com/anxin-care/anxin/ledger"
)

// Token is one bearer token. Area "" sees the whole district; otherwise
// only the elders (and households wholly) in the area anxin.ParseArea reads:
// 善广村, 屏山街道/善广村 or 屏山街道/*.
type Token struct {
	Name  string // who holds it, for logs
	Token string // the secret
	Area  string
	scope anxin.Area // Area parsed, set by serve
}

// Store is the part of alarmd's store the records API uses: the register
// and visits, the audit log, and the notes people left on alarms.
type Store interface {
	anxin.RegisterStore
	anxin.AuditStore
	anxin.WorkOrderStore
	PutKit(ctx context.Context, h *anxin.Household, now time.Time) error
	Alarm(ctx context.Context, id string) (anxin.Alarm, error) // ENOTFOUND when unknown
	AlarmNotes(ctx context.Context, id string) ([]anxin.AlarmNote, error)
}

// HouseholdSource is alarmd's households (sensor kits) as the API reads them.
type HouseholdSource interface {
	Household(ctx context.Context, id string) (anxin.Household, error) // ENOTFOUND when unknown
	AllHouseholds(ctx context.Context) ([]anxin.Household, error)      // in id order
	// HouseholdsOf reads the given households only (unknown ids are left
	// out): an area's listing reads its own, not a district's.
	HouseholdsOf(ctx context.Context, ids []string) ([]anxin.Household, error)
}

// HouseholdList is a fixed list of households as a HouseholdSource.
type HouseholdList []anxin.Household

// Household finds id in the list.
func (l HouseholdList) Household(_ context.Context, id string) (anxin.Household, error) {
	for _, h := range l {
		if h.ID == id {
			return h, nil
		}
	}
	return anxin.Household{}, anxin.Errorf(anxin.ENOTFOUND, "household %s is not registered", id)
}

// AllHouseholds is a copy of the list.
func (l HouseholdList) AllHouseholds(context.Context) ([]anxin.Household, error) {
	return slices.Clone(l), nil
}

// HouseholdsOf is the list's households among ids.
func (l HouseholdList) HouseholdsOf(_ context.Context, ids []string) ([]anxin.Household, error) {
	var out []anxin.Household
	for _, h := range l {
		if slices.Contains(ids, h.ID) {
			out = append(out, h)
		}
	}
	return out, nil
}

// Server serves the records API. Set the fields, then use Handler.
type Server struct {
	Store  Store
	Tokens []Token
	Plan   care.Plan
	Now    func() time.Time
	Logger *slog.Logger
	// Households are alarmd's households (nil: none).
	Households HouseholdSource
	// Alarms and Escalation are read for the alarm endpoints and the
	// report's alarm statistics; nil: not kept by this alarmd.
	Alarms     AlarmSource
	Escalation EscalationSource
	// Away marks households away or back (nil: not offered).
	Away AwayMarks
	// Closer closes alarms by hand (nil: not offered).
	Closer AlarmCloser
	// Settings, when set, supplies the tokens and the plan for each request
	// instead of Tokens and Plan, so that a config reload revokes a token
	// or moves a surge at once.
	Settings func() ([]Token, care.Plan)
}

// Prefix is where the API is mounted.
const Prefix = "/api/v1/"

// eUnauthorized is the code of a missing or wrong token (no domain code: it
// never leaves this package).
const eUnauthorized = "unauthorized"

// eMethod is the code of a known path asked with a method it does not take.
const eMethod = "method_not_allowed"

// statuses maps error codes to HTTP statuses: the one table.
var statuses = map[string]int{
	anxin.EINVALID:   http.StatusBadRequest,
	anxin.ENOTFOUND:  http.StatusNotFound,
	anxin.ECONFLICT:  http.StatusConflict,
	anxin.EFORBID:    http.StatusForbidden,
	anxin.EINTERNAL:  http.StatusInternalServerError,
	eUnauthorized:    http.StatusUnauthorized,
	eMethod:          http.StatusMethodNotAllowed,
	ledger.ETOOLARGE: http.StatusRequestEntityTooLarge,
}

type ctxKey struct{}

// caller is the token a request came with.
func caller(ctx context.Context) Token {
	t, _ := ctx.Value(ctxKey{}).(Token)
	return t
}

// scope is the area of the request's token.
func scope(ctx context.Context) anxin.Area { return caller(ctx).scope }

// Handler is the API with every route under Prefix.
func (s *Server) Handler() http.Handler {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Plan.Cadence == nil {
		s.Plan = care.DefaultPlan()
	}
	mux := http.NewServeMux()
	route := func(pattern string, h func(s *Server, w http.ResponseWriter, r *http.Request) error) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.Handle(method+" "+Prefix+path, s.serve(h))
	}
	route("GET elders", (*Server).listElders)
	route("POST elders", (*Server).createElder)
	route("GET elders/{id}", (*Server).getElder)
	route("PUT elders/{id}", (*Server).putElder)
	route("POST elders/import", (*Server).importElders)
	route("GET elders/export", (*Server).exportElders)
	route("GET visits", (*Server).listVisits)
	route("POST visits", (*Server).createVisit)
	route("GET visits/{id}", (*Server).getVisit)
	route("GET visits/{id}/form.xlsx", (*Server).visitForm)
	route("GET reports/visit-items", (*Server).visitItemCounts)
	route("PUT households/{id}", (*Server).putHousehold)
	route("GET due", (*Server).dueList)
	route("GET overdue", (*Server).overdueList)
	route("GET follow-ups", (*Server).followUpList)
	route("GET reports/visit-rate", (*Server).visitRate)
	route("GET reports/alarms", (*Server).alarmReport)
	route("GET alarms", (*Server).listAlarms)
	route("GET alarms/{id}", (*Server).getAlarm)
	route("POST alarms/{id}/close", (*Server).closeAlarm)
	route("GET households", (*Server).listHouseholds)
	route("GET households/export", (*Server).exportHouseholds)
	route("GET households/{id}", (*Server).getHousehold)
	route("GET households/{id}/away", (*Server).getAway)
	route("GET audit", (*Server).listAudit)
	route("PUT households/{id}/away", (*Server).putAway)
	mux.Handle(Prefix, s.serve(func(_ *Server, w http.ResponseWriter, r *http.Request) error {
		// a known path asked with another method: 405 with the methods it takes
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != Prefix {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return anxin.Errorf(eMethod, "此地址不接受 %s 请求（可用：%s）", clip(r.Method), strings.Join(allow, "、"))
		}
		return anxin.Errorf(anxin.ENOTFOUND, "没有这个接口，请核对地址")
	}))
	return mux
}

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// serve authenticates, runs h, writes its error and logs one line (never
// the token, never a query string: it may hold names; path values masked).
func (s *Server) serve(h func(s *Server, w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := s.Now()
		w := &statusWriter{ResponseWriter: rw}
		srv := s.view()
		tok, ok := srv.authenticate(r)
		var err error
		if ok {
			if tok.scope, err = anxin.ParseArea(tok.Area); err != nil {
				// a token whose area cannot be read sees nothing rather than everything
				err = anxin.Errorf(anxin.EFORBID, "此令牌的辖区设置有误，请联系区民政办")
			}
		}
		switch {
		case err != nil:
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="anxin"`)
			err = &anxin.Error{Code: eUnauthorized, Message: "请提供有效的访问令牌（令牌缺失、有误或已停用）"}
		default:
			err = h(srv, w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, tok)))
		}
		if err != nil {
			s.writeError(w, r, err)
		}
		s.Logger.LogAttrs(r.Context(), slog.LevelInfo, "api request", slog.String("method", r.Method),
			slog.String("path", logPath(r)), slog.Int("status", w.status), slog.String("token", tok.Name),
			slog.Duration("took", s.Now().Sub(start)))
	})
}

// view is this request's view of a reloadable config (Settings): a
// shallow copy, never shared.
func (s *Server) view() *Server {
	if s.Settings == nil {
		return s
	}
	cp := *s
	cp.Tokens, cp.Plan = s.Settings()
	if cp.Plan.Cadence == nil {
		cp.Plan = care.DefaultPlan()
	}
	return &cp
}

// authenticate finds the token of the Authorization header. Every
// configured token is compared, in constant time, on SHA-256 digests (so
// neither the content nor the length of a token leaks through timing).
func (s *Server) authenticate(r *http.Request) (Token, bool) {
	h := r.Header.Get("Authorization")
	scheme, given, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || given == "" {
		return Token{}, false
	}
	gd := sha256.Sum256([]byte(strings.TrimSpace(given)))
	var found Token
	match := 0
	for _, t := range s.Tokens {
		if t.Token == "" {
			continue
		}
		td := sha256.Sum256([]byte(t.Token))
		if subtle.ConstantTimeCompare(gd[:], td[:]) == 1 {
			found, match = t, 1
		}
	}
	return found, match == 1
}

// apiError is the JSON body of every error.
type apiError struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  []care.FieldError `json:"fields,omitempty"`
	Rows    []rowError        `json:"rows,omitempty"`
}

type rowError struct {
	Row     int    `json:"row"`
	Column  string `json:"column"`
	Message string `json:"message"`
}

// fieldsError is an invalid record with every field's problem.
type fieldsError struct {
	msg    string
	fields []care.FieldError
}

func (e *fieldsError) Error() string { return anxin.EINVALID + ": " + e.msg }

// rowsError is a rejected import with every bad cell.
type rowsError struct {
	code string
	msg  string
	rows []rowError
}

func (e *rowsError) Error() string { return e.code + ": " + e.msg }

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	body := apiError{Code: anxin.ErrorCode(err), Message: anxin.ErrorMessage(err)}
	var fe *fieldsError
	var re *rowsError
	switch {
	case errors.As(err, &fe):
		body = apiError{Code: anxin.EINVALID, Message: fe.msg, Fields: fieldsZh(fe.fields)}
	case errors.As(err, &re):
		body = apiError{Code: re.code, Message: re.msg, Rows: re.rows}
	case body.Code == anxin.EINTERNAL:
		// only internal errors are logged as errors; the client learns nothing of them
		s.Logger.Error("api request failed", "method", r.Method, "path", logPath(r), "err", err)
		body.Message = internalMessage
	}
	status, ok := statuses[body.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, map[string]apiError{"error": body})
}

// internalMessage answers every internal error (its cause is logged, never sent).
const internalMessage = "服务器内部出错，请稍后再试；仍不行请联系区民政办"

// fieldsZh is a copy of fields whose message is the Mandarin one where
// the field error has it (care.Normalize gives both): a worker reads it.
func fieldsZh(fields []care.FieldError) []care.FieldError {
	out := make([]care.FieldError, len(fields))
	for i, f := range fields {
		if f.Zh != "" {
			f.Message = f.Zh
		}
		out[i] = f
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away: nothing more to do
}

// maxJSON bounds a JSON request body.
const maxJSON = 1 << 20

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return anxin.Errorf(anxin.EINVALID, "请求内容只能是一个 JSON 对象，后面多了内容")
	}
	return nil
}

// jsonError says in Mandarin why a request body could not be read (the
// decoder's own words are English).
func jsonError(err error) error {
	var (
		mbe *http.MaxBytesError
		se  *json.SyntaxError
		te  *json.UnmarshalTypeError
		pe  *time.ParseError
		de  *anxin.Error
	)
	switch {
	case errors.As(err, &mbe):
		return anxin.Errorf(anxin.EINVALID, "请求内容太大，不能超过 %d MB", maxJSON>>20)
	case errors.As(err, &de):
		return err // a field's own check, already in the worker's words
	case errors.Is(err, io.EOF):
		return anxin.Errorf(anxin.EINVALID, "请求内容是空的：需要一个 JSON 对象")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return anxin.Errorf(anxin.EINVALID, "请求内容不完整：JSON 没有结束")
	case errors.As(err, &se):
		return anxin.Errorf(anxin.EINVALID, "请求内容不是有效的 JSON（第 %d 个字节附近有误）", se.Offset)
	case errors.As(err, &te):
		if te.Field == "" {
			return anxin.Errorf(anxin.EINVALID, "请求内容须为一个 JSON 对象")
		}
		return anxin.Errorf(anxin.EINVALID, "字段 %s 的值类型不对（收到的是%s）", clip(jsonField(te.Field)), jsonKind(te.Value))
	case errors.As(err, &pe):
		return anxin.Errorf(anxin.EINVALID, "日期时间格式不对：须为 RFC 3339，如 2026-11-23T10:00:00+08:00")
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if u, err := strconv.Unquote(f); err == nil {
			f = u
		}
		return anxin.Errorf(anxin.EINVALID, "请求内容中有不认识的字段「%s」，请删去或核对拼写", clip(f))
	}
	return anxin.Errorf(anxin.EINVALID, "请求内容的格式不对，请核对后重新提交")
}

// jsonField is a json.UnmarshalTypeError.Field without the Go names of
// embedded structs ("ElderRecord.id" is "id").
func jsonField(f string) string {
	parts := strings.Split(f, ".")
	out := parts[:0]
	for _, p := range parts {
		if p != "" && (p[0] < 'A' || p[0] > 'Z') {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

// jsonKind names a JSON value kind of json.UnmarshalTypeError.Value
// ("string", "number", "number 1e999", "bool", "array", "object").
func jsonKind(v string) string {
	kind, _, _ := strings.Cut(v, " ")
	switch kind {
	case "string":
		return "文字"
	case "number":
		return "数字"
	case "bool":
		return "真假值"
	case "array":
		return "列表"
	case "object":
		return "对象"
	}
	return "其他值"
}

// idMismatch refuses a body whose id is not the path's.
func idMismatch(id string) error {
	return anxin.Errorf(anxin.EINVALID, "请求内容中的编号「%s」与地址中的编号不一致", clip(id))
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
