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
	"log/slog"
	"net/http"
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

// Server serves the records API. Set the fields, then use Handler.
type Server struct {
	Store  Store
	Tokens []Token
	Plan   care.Plan
	Now    func() time.Time
	Logger *slog.Logger
	// Households lists alarmd's households (nil: none).
	Households func() []anxin.Household
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

// statuses maps error codes to HTTP statuses: the one table.
var statuses = map[string]int{
	anxin.EINVALID:   http.StatusBadRequest,
	anxin.ENOTFOUND:  http.StatusNotFound,
	anxin.ECONFLICT:  http.StatusConflict,
	anxin.EFORBID:    http.StatusForbidden,
	anxin.EINTERNAL:  http.StatusInternalServerError,
	eUnauthorized:    http.StatusUnauthorized,
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
	mux.Handle(Prefix, s.serve(func(*Server, http.ResponseWriter, *http.Request) error {
		return anxin.Errorf(anxin.ENOTFOUND, "no such endpoint")
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
				err = anxin.Errorf(anxin.EFORBID, "the token's area is not valid: ask the district office")
			}
		}
		switch {
		case err != nil:
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="anxin"`)
			err = &anxin.Error{Code: eUnauthorized, Message: "a valid bearer token is required"}
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
		body = apiError{Code: anxin.EINVALID, Message: fe.msg, Fields: fe.fields}
	case errors.As(err, &re):
		body = apiError{Code: re.code, Message: re.msg, Rows: re.rows}
	case body.Code == anxin.EINTERNAL:
		// only internal errors are logged as errors; the client learns nothing of them
		s.Logger.Error("api request failed", "method", r.Method, "path", logPath(r), "err", err)
	}
	status, ok := statuses[body.Code]
	if !ok {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, map[string]apiError{"error": body})
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
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return anxin.Errorf(anxin.EINVALID, "request body is larger than %d bytes", maxJSON)
		}
		return anxin.Errorf(anxin.EINVALID, "request body is not the expected JSON: %s", clip(err.Error()))
	}
	if dec.More() {
		return anxin.Errorf(anxin.EINVALID, "request body has more than one JSON value")
	}
	return nil
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
