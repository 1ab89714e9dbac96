// Package twiliotest is an in-process fake of the parts of Twilio's REST API
// alarmd uses (Messages.json, Calls.json: create, list, update). It plays call
// progress on the clock it runs under (time.AfterFunc: fake time inside a
// testing/synctest bubble), posts signed status callbacks and <Gather>
// results to the application, and records a timeline for assertions.
package twiliotest

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/anxin-care/anxin/twilio"
)

// Test credentials (letters and digits only, as twilio-go requires).
const (
	AccountSID = "AC0123456789abcdef0123456789abcdef"
	AuthToken  = "fakeauthtoken0123456789abcdef0123"
	From       = "+15005550006"
)

// Call outcomes a script can play.
const (
	Press     = "press"     // answers, presses Digits (default "1")
	Voicemail = "voicemail" // answered by a machine, no key
	Silent    = "silent"    // a person answers and hangs up without a key
	Busy      = "busy"
	NoAnswer  = "no-answer"
	Failed    = "failed"
	Ring      = "ring" // rings until canceled (or 10 min)
)

// Script is what happens to messages and calls to one number.
type Script struct {
	Call     string        // one of the outcomes above; "" = NoAnswer
	After    time.Duration // when the call's outcome happens after it is created (default 20s)
	Digits   string        // for Press (default "1")
	APIError int           // answer create requests to this number with this Twilio error code (HTTP 400)
}

// Fault is injected into the next create request of a kind.
type Fault struct {
	Status int  // answer with this HTTP status (429, 500, …) and a JSON error
	Drop   bool // do the work, then fail the request as a lost response (timeout/reset)
	Hang   bool // do the work, then never answer (until the client goes away)
	Unsent bool // fail as a lost response without doing the work (the request never arrived)
}

// Event is one line of the timeline.
type Event struct {
	At     time.Time
	Kind   string // sms, call, list-sms, list-call, cancel, callback, gather, reply-twiml, rejected
	To     string
	Sid    string
	Body   string // SMS body, call TwiML, callback status, gather reply
	Status int    // HTTP status answered or received
}

type call struct {
	sid, to, twiml, status, statusURL string
	created                           time.Time
	timers                            []*time.Timer
}

type message struct {
	sid, to, body, status string
	created               time.Time
}

// Server is the fake. Deliver must be set to post callbacks to the application.
type Server struct {
	// Deliver posts a callback request (built with a path-only target) to
	// the application and returns its response.
	Deliver func(*http.Request) *http.Response

	mu       sync.Mutex
	scripts  map[string]Script
	faults   map[string][]Fault // "sms" or "call"
	listFail int                // answer list requests with this HTTP status (0: list)
	// cancelFail answers call updates with this HTTP status (0: update)
	cancelFail int
	messages   []*message
	calls      map[string]*call
	order      []string
	events     []Event
	seq        int
	start      time.Time
}

// New makes a fake.
func New() *Server {
	return &Server{scripts: map[string]Script{}, faults: map[string][]Fault{}, calls: map[string]*call{}, start: time.Now()}
}

// Script sets what happens to a number.
func (s *Server) Script(to string, sc Script) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[to] = sc
}

// ListFails makes every list request (a lookup) answer status with a JSON
// error until it is called with 0.
func (s *Server) ListFails(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listFail = status
}

// CancelFails makes every call update (cancel, hang up) answer status
// with a JSON error, ending nothing, until it is called with 0: Twilio
// down (503) or refusing the account (401).
func (s *Server) CancelFails(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancelFail = status
}

// Fault queues a fault for the next create request of kind "sms" or "call".
func (s *Server) Fault(kind string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[kind] = append(s.faults[kind], f)
}

// Events is the timeline so far.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Start is when the fake was made (t=0 of the timeline).
func (s *Server) Start() time.Time { return s.start }

func (s *Server) record(e Event) {
	e.At = time.Now()
	s.events = append(s.events, e)
}

var (
	messagesPath = regexp.MustCompile(`^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Messages\.json$`)
	callsPath    = regexp.MustCompile(`^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Calls\.json$`)
	callPath     = regexp.MustCompile(`^/2010-04-01/Accounts/(AC[0-9a-f]{32})/Calls/(CA[0-9a-f]{32})\.json$`)
)

func apiError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg, "status": status,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// errDropped is what a client sees when the response was lost.
var errDropped = errors.New("read tcp 127.0.0.1:1->127.0.0.1:2: read: connection reset by peer")

// ServeHTTP is the fake API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != AccountSID || pass != AuthToken {
		apiError(w, 401, 20003, "Authenticate")
		return
	}
	if err := r.ParseForm(); err != nil {
		apiError(w, 400, 20001, "bad form")
		return
	}
	p := r.URL.Path
	switch {
	case messagesPath.MatchString(p) && r.Method == http.MethodPost:
		s.createMessage(w, r)
	case messagesPath.MatchString(p) && r.Method == http.MethodGet:
		s.listMessages(w, r)
	case callsPath.MatchString(p) && r.Method == http.MethodPost:
		s.createCall(w, r)
	case callsPath.MatchString(p) && r.Method == http.MethodGet:
		s.listCalls(w, r)
	case callPath.MatchString(p) && r.Method == http.MethodPost:
		s.updateCall(w, r, callPath.FindStringSubmatch(p)[2])
	default:
		apiError(w, 404, 20404, "not found")
	}
}

func (s *Server) fault(kind string) (Fault, bool) {
	if q := s.faults[kind]; len(q) > 0 {
		s.faults[kind] = q[1:]
		return q[0], true
	}
	return Fault{}, false
}

func (s *Server) sid(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%032x", prefix, s.seq)
}

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	to, body, cb := f.Get("To"), f.Get("Body"), f.Get("StatusCallback")
	s.mu.Lock()
	ft, faulted := s.fault("sms")
	if faulted && ft.Status != 0 {
		s.record(Event{Kind: "sms", To: to, Body: body, Status: ft.Status})
		s.mu.Unlock()
		apiError(w, ft.Status, 20429, "Too Many Requests")
		return
	}
	if sc := s.scripts[to]; sc.APIError != 0 {
		s.record(Event{Kind: "sms", To: to, Body: body, Status: 400})
		s.mu.Unlock()
		apiError(w, 400, sc.APIError, "The 'To' number "+to+" is not a valid phone number.")
		return
	}
	m := &message{sid: s.sid("SM"), to: to, body: body, status: "queued", created: time.Now()}
	s.messages = append(s.messages, m)
	s.record(Event{Kind: "sms", To: to, Body: body, Sid: m.sid, Status: 201})
	s.mu.Unlock()
	if cb != "" {
		s.after(time.Second, func() { s.callback(cb, url.Values{"MessageSid": {m.sid}, "MessageStatus": {"sent"}, "To": {to}}) })
		s.after(2*time.Second, func() {
			s.callback(cb, url.Values{"MessageSid": {m.sid}, "MessageStatus": {"delivered"}, "To": {to}})
		})
	}
	if faulted {
		s.lose(w, r, ft)
		return
	}
	writeJSON(w, 201, s.messageJSON(m))
}

// lose fails a request whose work was done.
func (s *Server) lose(w http.ResponseWriter, r *http.Request, f Fault) {
	if f.Hang {
		<-r.Context().Done()
		return
	}
	if d, ok := w.(interface{ drop() }); ok {
		d.drop()
		return
	}
	// over a real socket: cut the connection
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			_ = c.Close()
		}
	}
}

func (s *Server) messageJSON(m *message) map[string]any {
	return map[string]any{"sid": m.sid, "account_sid": AccountSID, "to": m.to, "from": From, "body": m.body,
		"status": m.status, "date_created": m.created.UTC().Format(time.RFC1123Z)}
}

func (s *Server) callJSON(c *call) map[string]any {
	return map[string]any{"sid": c.sid, "account_sid": AccountSID, "to": c.to, "from": From, "status": c.status,
		"date_created": c.created.UTC().Format(time.RFC1123Z)}
}

func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("To")
	s.mu.Lock()
	if st := s.listFail; st != 0 {
		s.record(Event{Kind: "list-sms", To: to, Status: st})
		s.mu.Unlock()
		apiError(w, st, 20500, "Service Unavailable")
		return
	}
	s.record(Event{Kind: "list-sms", To: to, Status: 200})
	var out []map[string]any
	for i := len(s.messages) - 1; i >= 0; i-- {
		if m := s.messages[i]; to == "" || m.to == to {
			out = append(out, s.messageJSON(m))
		}
	}
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"messages": out, "page": 0, "page_size": 50})
}

func (s *Server) listCalls(w http.ResponseWriter, r *http.Request) {
	to := r.URL.Query().Get("To")
	s.mu.Lock()
	if st := s.listFail; st != 0 {
		s.record(Event{Kind: "list-call", To: to, Status: st})
		s.mu.Unlock()
		apiError(w, st, 20500, "Service Unavailable")
		return
	}
	s.record(Event{Kind: "list-call", To: to, Status: 200})
	var out []map[string]any
	for i := len(s.order) - 1; i >= 0; i-- {
		if c := s.calls[s.order[i]]; to == "" || c.to == to {
			out = append(out, s.callJSON(c))
		}
	}
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"calls": out, "page": 0, "page_size": 20})
}

var gatherAction = regexp.MustCompile(`<Gather[^>]* action="([^"]*)"`)

func (s *Server) createCall(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	to, tw := f.Get("To"), f.Get("Twiml")
	s.mu.Lock()
	ft, faulted := s.fault("call")
	if faulted && ft.Unsent {
		s.record(Event{Kind: "call", To: to, Body: tw})
		s.mu.Unlock()
		s.lose(w, r, ft)
		return
	}
	if faulted && ft.Status != 0 {
		s.record(Event{Kind: "call", To: to, Body: tw, Status: ft.Status})
		s.mu.Unlock()
		apiError(w, ft.Status, 20500, "Internal Server Error")
		return
	}
	sc := s.scripts[to]
	if sc.APIError != 0 {
		s.record(Event{Kind: "call", To: to, Body: tw, Status: 400})
		s.mu.Unlock()
		apiError(w, 400, sc.APIError, "The phone number you are attempting to call, "+to+", is not valid.")
		return
	}
	c := &call{sid: s.sid("CA"), to: to, twiml: tw, status: "queued", statusURL: f.Get("StatusCallback"), created: time.Now()}
	s.calls[c.sid] = c
	s.order = append(s.order, c.sid)
	s.record(Event{Kind: "call", To: to, Body: tw, Sid: c.sid, Status: 201})
	events := map[string]bool{}
	for _, e := range f["StatusCallbackEvent"] {
		events[e] = true
	}
	s.play(c, sc, events)
	resp := s.callJSON(c)
	s.mu.Unlock()
	if faulted {
		s.lose(w, r, ft)
		return
	}
	writeJSON(w, 201, resp)
}

// play schedules a call's progress (s.mu held).
func (s *Server) play(c *call, sc Script, events map[string]bool) {
	after := sc.After
	if after == 0 {
		after = 20 * time.Second
	}
	progress := func(at time.Duration, status, answeredBy string) {
		c.timers = append(c.timers, time.AfterFunc(at, func() { s.progress(c, status, answeredBy, events) }))
	}
	progress(time.Second, "initiated", "")
	progress(2*time.Second, "ringing", "")
	switch sc.Call {
	case Press:
		progress(after, "in-progress", "human")
		digits := sc.Digits
		if digits == "" {
			digits = "1"
		}
		c.timers = append(c.timers, time.AfterFunc(after+5*time.Second, func() { s.gather(c, digits) }))
	case Voicemail:
		progress(after, "in-progress", "machine_start")
		progress(after+25*time.Second, "completed", "machine_start")
	case Silent:
		progress(after, "in-progress", "human")
		progress(after+20*time.Second, "completed", "human")
	case Busy, Failed:
		progress(after, sc.Call, "")
	case Ring:
		progress(10*time.Minute, "no-answer", "")
	default:
		progress(after, "no-answer", "")
	}
}

func (s *Server) progress(c *call, status, answeredBy string, events map[string]bool) {
	s.mu.Lock()
	switch c.status {
	case "completed", "busy", "no-answer", "failed", "canceled":
		s.mu.Unlock()
		return
	case "in-progress":
		if status == "initiated" || status == "ringing" { // never go back
			s.mu.Unlock()
			return
		}
	}
	c.status = status
	cb := c.statusURL
	s.mu.Unlock()
	event := map[string]string{"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}[status]
	if event == "" {
		event = "completed"
	}
	if cb == "" || (event != "completed" && !events[event]) {
		return
	}
	v := url.Values{"CallSid": {c.sid}, "CallStatus": {status}, "To": {c.to}, "AccountSid": {AccountSID}}
	if answeredBy != "" {
		v.Set("AnsweredBy", answeredBy)
	}
	s.callback(cb, v)
}

// gather posts the key press to the Gather action found in the call's TwiML.
func (s *Server) gather(c *call, digits string) {
	s.mu.Lock()
	m := gatherAction.FindStringSubmatch(c.twiml)
	live := c.status == "in-progress"
	s.mu.Unlock()
	if m == nil || !live {
		return
	}
	resp := s.post(html.UnescapeString(m[1]), url.Values{"CallSid": {c.sid}, "Digits": {digits}, "To": {c.to}, "AccountSid": {AccountSID}}, "gather")
	if resp == nil {
		return
	}
	b, _ := io.ReadAll(resp.Body)
	s.mu.Lock()
	s.record(Event{Kind: "reply-twiml", To: c.to, Sid: c.sid, Body: string(b), Status: resp.StatusCode})
	s.mu.Unlock()
	if strings.Contains(string(b), "<Hangup/>") {
		s.after(time.Second, func() { s.progress(c, "completed", "human", nil) })
	}
}

func (s *Server) updateCall(w http.ResponseWriter, r *http.Request, sid string) {
	status := r.PostForm.Get("Status")
	s.mu.Lock()
	c := s.calls[sid]
	if c == nil {
		s.mu.Unlock()
		apiError(w, 404, 20404, "The requested resource was not found")
		return
	}
	if s.cancelFail != 0 {
		st := s.cancelFail
		s.record(Event{Kind: "cancel", To: c.to, Sid: sid, Body: status, Status: st})
		s.mu.Unlock()
		apiError(w, st, 20500, "Service Unavailable")
		return
	}
	s.record(Event{Kind: "cancel", To: c.to, Sid: sid, Body: status, Status: 200})
	end := ""
	switch {
	case status == "canceled" && (c.status == "queued" || c.status == "initiated" || c.status == "ringing"):
		end = "canceled"
	case status == "completed" && c.status == "in-progress":
		end = "completed"
	}
	if end != "" {
		for _, t := range c.timers {
			t.Stop()
		}
	}
	resp := s.callJSON(c)
	s.mu.Unlock()
	if end != "" {
		// Twilio answers the update first and calls back later
		go s.progress(c, end, "", nil)
	}
	writeJSON(w, 200, resp)
}

func (s *Server) after(d time.Duration, f func()) { time.AfterFunc(d, f) }

// callback posts a signed status callback.
func (s *Server) callback(target string, v url.Values) {
	s.post(target, v, "callback")
}

// Post sends a signed request to the application (also used by tests to
// forge or replay one). sign false leaves the signature out.
func (s *Server) post(target string, v url.Values, kind string) *http.Response {
	req := SignedRequest(target, v, AuthToken)
	resp := s.Deliver(req)
	s.mu.Lock()
	body := v.Get("CallStatus") + v.Get("MessageStatus") + v.Get("Digits")
	st := 0
	if resp != nil {
		st = resp.StatusCode
	}
	s.record(Event{Kind: kind, To: v.Get("To"), Sid: v.Get("CallSid") + v.Get("MessageSid"), Body: body, Status: st})
	s.mu.Unlock()
	return resp
}

// SignedRequest builds a POST to target (an absolute URL under the
// application's public URL) signed the way Twilio signs it.
func SignedRequest(target string, v url.Values, token string) *http.Request {
	u, err := url.Parse(target)
	if err != nil {
		panic(err)
	}
	req := httptest.NewRequest(http.MethodPost, u.RequestURI(), strings.NewReader(v.Encode()))
	req.Host = u.Host
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilio.Signature([]byte(token), target, v))
	return req
}

// Transport runs requests through the fake in process, without sockets
// (so it works inside a synctest bubble).
func (s *Server) Transport() http.RoundTripper { return transport{s} }

type transport struct{ s *Server }

type recorder struct {
	*httptest.ResponseRecorder
	dropped bool
}

func (r *recorder) drop() { r.dropped = true }

func (t transport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := &recorder{ResponseRecorder: httptest.NewRecorder()}
	if req.Body != nil {
		defer req.Body.Close()
	}
	t.s.ServeHTTP(rec, req)
	if rec.dropped {
		return nil, errDropped
	}
	return rec.Result(), nil
}

// Handler delivers callbacks to h in process.
func Handler(h http.Handler) func(*http.Request) *http.Response {
	return func(req *http.Request) *http.Response {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result()
	}
}
