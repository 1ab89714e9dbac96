package twilio

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/words"
)

// maxForm bounds a webhook's body: Twilio's are a few KiB.
const maxForm = 64 << 10

// DefaultReplayWindow is how long a handled webhook is remembered.
const DefaultReplayWindow = 24 * time.Hour

// ReplayStore remembers the webhooks already handled, by key (*sqlite.DB
// implements it, so the memory survives a restart).
type ReplayStore interface {
	// NoteWebhook records key as handled at at and reports whether it was
	// handled already within window.
	NoteWebhook(ctx context.Context, key string, at time.Time, window time.Duration) (replay bool, err error)
	// ForgetWebhook drops key: its handling failed and a retry must count.
	ForgetWebhook(ctx context.Context, key string) error
	// ForgetWebhooksBefore trims keys handled before t.
	ForgetWebhooksBefore(ctx context.Context, t time.Time) (int64, error)
}

// Webhooks serves Twilio's callbacks. Each request must carry a valid
// X-Twilio-Signature for PublicURL (403 otherwise). A request identical to
// one already handled (same signature, URL and body: Twilio retrying, or a
// captured request sent again) is a replay: it is answered as Twilio expects
// (204, or TwiML that ends the call) with no effect, counted and logged.
type Webhooks struct {
	authToken []byte
	publicURL string
	reports   anxin.DeliveryReports
	log       *slog.Logger
	now       func() time.Time
	replays   ReplayStore
	window    time.Duration
	words     *words.Book // what calls say
	call      words.CallWords

	replayed *metrics.CounterVec // route
	forged   *metrics.CounterVec // route

	trimMu   sync.Mutex
	lastTrim time.Time

	flightMu sync.Mutex
	inflight map[string]chan struct{} // replay keys being handled: closed when done

	answers smsAnswers
}

// smsAnswers remembers the answers to inbound SMS by replay key, so that
// a retry of a handled one (its answer lost on the way back) is answered
// the same. In memory, at most maxAnswers for an hour (Twilio retries
// within minutes): after a restart, or on another alarmd, such a retry is
// answered empty.
type smsAnswers struct {
	mu   sync.Mutex
	byID map[string]smsAnswer
}

type smsAnswer struct {
	text  string
	until time.Time
}

const maxAnswers = 10000

func (a *smsAnswers) put(key, text string, now time.Time, window time.Duration) {
	if text == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.byID == nil {
		a.byID = map[string]smsAnswer{}
	}
	if len(a.byID) >= maxAnswers {
		for k, v := range a.byID {
			if !v.until.After(now) {
				delete(a.byID, k)
			}
		}
		if len(a.byID) >= maxAnswers {
			return // a flood of answered replies: the newest are not kept
		}
	}
	a.byID[key] = smsAnswer{text: text, until: now.Add(window)}
}

func (a *smsAnswers) get(key string, now time.Time) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if v, ok := a.byID[key]; ok && v.until.After(now) {
		return v.text
	}
	return ""
}

// Option configures Webhooks.
type Option func(*Webhooks)

// WithReplayStore keeps the replay memory in s for window (0: 24 h) instead
// of in memory, where a restart would lose it.
func WithReplayStore(s ReplayStore, window time.Duration) Option {
	return func(w *Webhooks) {
		w.replays = s
		if window > 0 {
			w.window = window
		}
	}
}

// WithClock sets the clock of the replay window (default time.Now).
func WithClock(now func() time.Time) Option { return func(w *Webhooks) { w.now = now } }

// WithWords sets the language of what calls say (default Mandarin).
func WithWords(b *words.Book) Option {
	return func(w *Webhooks) {
		if b != nil {
			w.words, w.call = b, b.Call()
		}
	}
}

// NewWebhooks builds the handlers. publicURL is http.public_url, the root
// Twilio was told to call. Without WithReplayStore replays are remembered
// in memory (at most 50,000, for the window).
func NewWebhooks(authToken, publicURL string, reports anxin.DeliveryReports, log *slog.Logger, opts ...Option) *Webhooks {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Webhooks{
		authToken: []byte(authToken), publicURL: strings.TrimRight(publicURL, "/"), reports: reports, log: log,
		now: time.Now, window: DefaultReplayWindow, inflight: map[string]chan struct{}{},
		words: mandarin, call: mandarin.Call(),
		replayed: metrics.NewCounterVec(metrics.CounterOpts{
			Name: "anxin_twilio_webhook_replays_total",
			Help: "Signed Twilio webhooks identical to one already handled, answered without effect, by route.",
		}, []string{"route"}),
		forged: metrics.NewCounterVec(metrics.CounterOpts{
			Name: "anxin_twilio_webhook_forged_total",
			Help: "Twilio webhooks rejected with 403 for a missing or bad signature, by route.",
		}, []string{"route"}),
	}
	for _, o := range opts {
		o(w)
	}
	if w.replays == nil {
		w.replays = &memReplays{seen: map[string]time.Time{}, maxLen: 50000}
	}
	return w
}

// Register adds the webhook metrics to reg.
func (w *Webhooks) Register(reg metrics.Registerer) error {
	for _, c := range []metrics.Collector{w.replayed, w.forged} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Mount registers /twilio/gather, /twilio/status and /twilio/sms on mux.
func (w *Webhooks) Mount(mux *http.ServeMux) {
	mux.Handle("POST /twilio/gather", w.signed(w.gather))
	mux.Handle("POST /twilio/status", w.signed(w.status))
	mux.Handle("POST /twilio/sms", w.signed(w.sms))
}

// Signature is Twilio's request signature: base64(HMAC-SHA1(token, url +
// each POST parameter's name and value, sorted by name, then value)).
func Signature(authToken []byte, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m := hmac.New(sha1.New, authToken)
	m.Write([]byte(fullURL))
	for _, k := range keys {
		vs := append([]string(nil), form[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			m.Write([]byte(k))
			m.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// withPortToggled is the URL with its default port added, or removed: Twilio
// may sign either form.
func withPortToggled(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	def := map[string]string{"http": "80", "https": "443"}[p.Scheme]
	if p.Port() == "" && def != "" {
		p.Host += ":" + def
	} else if p.Port() == def {
		p.Host = p.Hostname()
	}
	return p.String()
}

// Verify checks a request's signature in constant time. The form must be
// parsed already.
func (w *Webhooks) Verify(r *http.Request) bool {
	got := r.Header.Get("X-Twilio-Signature")
	if got == "" || len(got) > 64 {
		return false
	}
	full := w.publicURL + requestURI(r)
	for _, u := range []string{full, withPortToggled(full)} {
		if hmac.Equal([]byte(got), []byte(Signature(w.authToken, u, r.PostForm))) {
			return true
		}
	}
	return false
}

// webhook answers one verified request. It reports failed when the request
// was not handled (a status callback answered 5xx, an SMS reply asked to be
// sent again), so that the same request sent again is handled rather than
// taken for a replay.
type webhook func(rw http.ResponseWriter, r *http.Request, replay bool) (failed bool)

// replayKey identifies a verified request by its signature: the signature
// covers the URL and every POST parameter, so a request that verifies with
// a signature already handled is that request again — Twilio retrying, or a
// captured one sent again, however its body is encoded or its parameters
// ordered. The key is a hash: no secret, no number in it.
func replayKey(sig string) string {
	h := sha256.Sum256([]byte("twilio-webhook\x00" + sig))
	return hex.EncodeToString(h[:])
}

// signed parses the form, checks the signature and notes replays.
func (w *Webhooks) signed(h webhook) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		route := strings.TrimPrefix(r.URL.Path, "/twilio/")
		r.Body = http.MaxBytesReader(rw, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			http.Error(rw, "bad form", http.StatusBadRequest)
			return
		}
		if !w.Verify(r) {
			w.forged.WithLabelValues(route).Inc()
			w.log.Warn("twilio webhook with a bad signature", "path", r.URL.Path, "remote", r.RemoteAddr)
			http.Error(rw, "forbidden", http.StatusForbidden)
			return
		}
		key := replayKey(r.Header.Get("X-Twilio-Signature"))
		release, err := w.claim(r.Context(), key)
		if err != nil {
			http.Error(rw, "try again", http.StatusServiceUnavailable) // the caller is gone
			return
		}
		defer release()
		now := w.now()
		replay, err := w.replays.NoteWebhook(r.Context(), key, now, w.window)
		if err != nil {
			// the effects are idempotent: handling it again is safe
			w.log.Error("webhook replay memory unavailable; handling the request", "route", route, "err", err)
		}
		w.trim(r.Context(), now)
		if replay {
			w.replayed.WithLabelValues(route).Inc()
			w.log.Info("twilio webhook replayed: answered without effect", "route", route,
				"attempt", r.URL.Query().Get("attempt"), "key", key[:12])
			h(rw, r, true)
			return
		}
		if failed := h(rw, r, false); failed && err == nil {
			// not handled: Twilio's retry must be handled, not taken for a replay
			if err := w.replays.ForgetWebhook(context.WithoutCancel(r.Context()), key); err != nil {
				w.log.Error("webhook replay memory: cannot forget a failed request", "route", route, "err", err)
			}
		}
	})
}

// claim lets one request of a key be handled at a time. Twilio retries a
// webhook it gave up waiting for while the first may still be handled here;
// the retry waits for that outcome, so that it is taken for a replay only of
// a request that was handled, never of one about to fail and be forgotten.
func (w *Webhooks) claim(ctx context.Context, key string) (release func(), err error) {
	for {
		w.flightMu.Lock()
		busy, ok := w.inflight[key]
		if !ok {
			done := make(chan struct{})
			w.inflight[key] = done
			w.flightMu.Unlock()
			return func() {
				w.flightMu.Lock()
				delete(w.inflight, key)
				w.flightMu.Unlock()
				close(done)
			}, nil
		}
		w.flightMu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func requestURI(r *http.Request) string {
	if r.RequestURI != "" {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// trim drops keys older than the window, at most every ten minutes.
func (w *Webhooks) trim(ctx context.Context, now time.Time) {
	w.trimMu.Lock()
	due := now.Sub(w.lastTrim) >= 10*time.Minute
	if due {
		w.lastTrim = now
	}
	w.trimMu.Unlock()
	if !due {
		return
	}
	if _, err := w.replays.ForgetWebhooksBefore(ctx, now.Add(-w.window)); err != nil {
		w.log.Warn("webhook replay memory not trimmed", "err", err)
	}
}

// memReplays is the replay memory without a store: lost at restart.
type memReplays struct {
	mu     sync.Mutex
	seen   map[string]time.Time
	order  []noted // oldest first; an entry is stale when seen has another time for its key
	maxLen int
}

type noted struct {
	key string
	at  time.Time
}

func (m *memReplays) NoteWebhook(_ context.Context, key string, at time.Time, window time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.seen[key]; ok && t.After(at.Add(-window)) {
		return true, nil
	}
	m.seen[key] = at
	m.order = append(m.order, noted{key, at})
	for len(m.seen) > m.maxLen {
		m.pop()
	}
	return false, nil
}

// pop drops the oldest entry (m.mu held).
func (m *memReplays) pop() {
	e := m.order[0]
	m.order = m.order[1:]
	if t, ok := m.seen[e.key]; ok && t.Equal(e.at) {
		delete(m.seen, e.key)
	}
}

func (m *memReplays) ForgetWebhook(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.seen, key) // its entry in order is stale now
	return nil
}

func (m *memReplays) ForgetWebhooksBefore(_ context.Context, t time.Time) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := int64(len(m.seen))
	for len(m.order) > 0 && m.order[0].at.Before(t) {
		m.pop()
	}
	return n - int64(len(m.seen)), nil
}

func (w *Webhooks) status(rw http.ResponseWriter, r *http.Request, replay bool) (failed bool) {
	if replay {
		rw.WriteHeader(http.StatusNoContent)
		return false
	}
	f := r.PostForm
	rep := anxin.StatusReport{AttemptID: r.URL.Query().Get("attempt"), ErrorCode: f.Get("ErrorCode")}
	if sid := f.Get("CallSid"); sid != "" && f.Get("MessageSid") == "" {
		rep.Channel, rep.ProviderID, rep.Status, rep.AnsweredBy = anxin.ChannelVoice, sid, f.Get("CallStatus"), f.Get("AnsweredBy")
	} else {
		rep.Channel, rep.ProviderID = anxin.ChannelSMS, f.Get("MessageSid")
		rep.Status = f.Get("MessageStatus")
		if rep.Status == "" {
			rep.Status = f.Get("SmsStatus")
		}
	}
	if rep.AttemptID == "" || rep.ProviderID == "" {
		http.Error(rw, "missing attempt or sid", http.StatusBadRequest)
		return false
	}
	if err := w.reports.Report(r.Context(), rep); err != nil {
		w.log.Error("status report not recorded", "attempt", rep.AttemptID, "err", err)
		// a 5xx: Twilio logs it (error 11200); it sends the callback again only
		// if its connection settings ask for it. The status is not lost for
		// escalation: the attempt's later callbacks, its lookup and the
		// step's timeouts carry it
		http.Error(rw, "try again", http.StatusInternalServerError)
		return true
	}
	rw.WriteHeader(http.StatusNoContent)
	return false
}

func twiml(rw http.ResponseWriter, body string) {
	rw.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = rw.Write([]byte(body))
}

// gather always answers TwiML (200): a failure is spoken, never retried.
func (w *Webhooks) gather(rw http.ResponseWriter, r *http.Request, replay bool) (failed bool) {
	q := r.URL.Query()
	attempt, digits := q.Get("attempt"), r.PostForm.Get("Digits")
	if replay {
		twiml(rw, replyTwiML(w.call, w.call.Replayed))
		return false
	}
	kp, err := w.reports.Press(r.Context(), attempt, r.PostForm.Get("CallSid"), digits)
	switch {
	case err != nil:
		w.log.Error("key press not recorded", "attempt", attempt, "err", err)
		twiml(rw, replyTwiML(w.call, w.call.Busy))
	case kp.Accepted && kp.Elder:
		w.log.Info("the elder answered safe by key press", "attempt", attempt)
		twiml(rw, replyTwiML(w.call, w.call.ElderSafe))
	case kp.Accepted:
		w.log.Info("accepted by key press", "attempt", attempt)
		twiml(rw, replyTwiML(w.call, w.call.Accepted))
	case kp.TakenBy != "":
		twiml(rw, replyTwiML(w.call, w.words.CallTakenBy(kp.TakenBy)))
	case kp.Unknown:
		twiml(rw, replyTwiML(w.call, w.call.Over))
	case q.Get("again") == "":
		// another key: say it once more
		twiml(rw, callTwiML(w.call, kp.Prompt, w.publicURL+"/twilio/gather?attempt="+url.QueryEscape(attempt)+"&again=1", true))
	default:
		twiml(rw, replyTwiML(w.call, w.call.NotTaken))
	}
	return false
}

func (w *Webhooks) sms(rw http.ResponseWriter, r *http.Request, replay bool) (failed bool) {
	key := replayKey(r.Header.Get("X-Twilio-Signature"))
	var answer string
	if replay {
		// Twilio gave up waiting for the first answer and tries again:
		// the effect once, the answer again
		answer = w.answers.get(key, w.now())
	} else {
		var err error
		if answer, err = w.reports.Reply(r.Context(), r.PostForm.Get("From"), r.PostForm.Get("Body")); err != nil {
			// answered, not a 5xx: Twilio sends an inbound SMS again only
			// when it could not connect (its default connection
			// settings), so a 5xx lost the reply without a word. The
			// answer that comes with the error asks the sender to reply
			// again (once an hour per sender: escalate's Reply); failed,
			// so that a request sent again is handled, not taken for a
			// replay.
			w.log.Error("inbound SMS not handled", "from", anxin.MaskPhone(r.PostForm.Get("From")), "asked_again", answer != "", "err", err)
			writeMessage(rw, answer)
			return true
		}
		w.answers.put(key, answer, w.now(), min(w.window, time.Hour))
	}
	writeMessage(rw, answer)
	return false
}

// writeMessage answers an inbound SMS with answer as the reply to its
// sender; nothing when answer is empty.
func writeMessage(rw http.ResponseWriter, answer string) {
	if answer == "" {
		twiml(rw, `<?xml version="1.0" encoding="UTF-8"?><Response/>`)
		return
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Response><Message>`)
	_ = xml.EscapeText(&b, []byte(answer))
	b.WriteString(`</Message></Response>`)
	twiml(rw, b.String())
}
