package twilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/anxin-care/anxin"
)

// maxForm bounds a webhook's body: Twilio's are a few KiB.
const maxForm = 64 << 10

// Webhooks serves Twilio's callbacks. Each request must carry a valid
// X-Twilio-Signature for PublicURL (403 otherwise); a request replayed with
// the same signature and the same event is answered but has no second effect.
type Webhooks struct {
	authToken []byte
	publicURL string
	reports   anxin.DeliveryReports
	log       *slog.Logger

	mu     sync.Mutex
	seen   map[string]bool
	order  []string // FIFO eviction of seen
	maxLen int
}

// NewWebhooks builds the handlers. publicURL is http.public_url, the root
// Twilio was told to call.
func NewWebhooks(authToken, publicURL string, reports anxin.DeliveryReports, log *slog.Logger) *Webhooks {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Webhooks{
		authToken: []byte(authToken), publicURL: strings.TrimRight(publicURL, "/"), reports: reports, log: log,
		seen: map[string]bool{}, maxLen: 50000,
	}
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
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	full := w.publicURL + uri
	for _, u := range []string{full, withPortToggled(full)} {
		if hmac.Equal([]byte(got), []byte(Signature(w.authToken, u, r.PostForm))) {
			return true
		}
	}
	return false
}

type webhook func(rw http.ResponseWriter, r *http.Request, replay bool)

// signed parses the form, checks the signature and notes replays.
func (w *Webhooks) signed(h webhook) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(rw, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			http.Error(rw, "bad form", http.StatusBadRequest)
			return
		}
		if !w.Verify(r) {
			w.log.Warn("twilio webhook with a bad signature", "path", r.URL.Path, "remote", r.RemoteAddr)
			http.Error(rw, "forbidden", http.StatusForbidden)
			return
		}
		key := r.Header.Get("X-Twilio-Signature") + "|" + r.URL.Path + "|" + r.PostForm.Get("CallSid") +
			r.PostForm.Get("MessageSid") + "|" + r.PostForm.Get("CallStatus") + r.PostForm.Get("MessageStatus") +
			"|" + r.PostForm.Get("Digits")
		h(rw, r, w.note(key))
	})
}

// note records a request and reports whether it was seen before.
func (w *Webhooks) note(key string) (replay bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen[key] {
		return true
	}
	w.seen[key] = true
	w.order = append(w.order, key)
	if len(w.order) > w.maxLen {
		delete(w.seen, w.order[0])
		w.order = w.order[1:]
	}
	return false
}

func (w *Webhooks) status(rw http.ResponseWriter, r *http.Request, replay bool) {
	if replay {
		rw.WriteHeader(http.StatusNoContent)
		return
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
		return
	}
	if err := w.reports.Report(r.Context(), rep); err != nil {
		w.log.Error("status report not recorded", "attempt", rep.AttemptID, "err", err)
		http.Error(rw, "try again", http.StatusInternalServerError) // Twilio retries callbacks on 5xx
		return
	}
	rw.WriteHeader(http.StatusNoContent)
}

func twiml(rw http.ResponseWriter, body string) {
	rw.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = rw.Write([]byte(body))
}

func (w *Webhooks) gather(rw http.ResponseWriter, r *http.Request, replay bool) {
	q := r.URL.Query()
	attempt, digits := q.Get("attempt"), r.PostForm.Get("Digits")
	if replay {
		twiml(rw, replyTwiML("已收到，谢谢。再见。"))
		return
	}
	kp, err := w.reports.Press(r.Context(), attempt, r.PostForm.Get("CallSid"), digits)
	switch {
	case err != nil:
		w.log.Error("key press not recorded", "attempt", attempt, "err", err)
		twiml(rw, replyTwiML("系统繁忙，未能确认，请点击短信中的链接确认。再见。"))
	case kp.Accepted:
		w.log.Info("accepted by key press", "attempt", attempt)
		twiml(rw, replyTwiML("已确认由您处理，谢谢。其他联系人将收到通知。"))
	case kp.TakenBy != "":
		twiml(rw, replyTwiML("此告警已由"+kp.TakenBy+"接收处理，谢谢。"))
	case kp.Unknown:
		twiml(rw, replyTwiML("此告警已结束，谢谢。"))
	case q.Get("again") == "":
		// another key: say it once more
		twiml(rw, CallTwiML(kp.Prompt, w.publicURL+"/twilio/gather?attempt="+url.QueryEscape(attempt)+"&again=1", true))
	default:
		twiml(rw, replyTwiML("未能确认，稍后会再联系您。再见。"))
	}
}

func (w *Webhooks) sms(rw http.ResponseWriter, r *http.Request, replay bool) {
	if !replay {
		if err := w.reports.Reply(r.Context(), r.PostForm.Get("From"), r.PostForm.Get("Body")); err != nil {
			w.log.Error("inbound SMS not handled", "from", anxin.MaskPhone(r.PostForm.Get("From")), "err", err)
		}
	}
	twiml(rw, `<?xml version="1.0" encoding="UTF-8"?><Response/>`)
}
