// Package twilio is the Notifier over Twilio's REST API (github.com/twilio/twilio-go)
// and the handlers of Twilio's webhooks: call progress, message status, key
// presses and inbound SMS, each checked against X-Twilio-Signature.
package twilio

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/words"
	"github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"
)

// Config is a Twilio account and where its callbacks go.
type Config struct {
	AccountSID string // ^AC[0-9a-fA-F]{32}$
	AuthToken  string // secret: never logged
	From       string // E.164 number (or a messaging sender) calls and SMS come from
	PublicURL  string // http.public_url: callbacks are {PublicURL}/twilio/…
	APIBaseURL string // "" for https://api.twilio.com; a proxy or test server otherwise
	// CallEvents asks for every call progress event (initiated, ringing,
	// answered, completed) rather than only the final one.
	CallEvents bool
	// DetectMachines enables answering-machine detection so a voicemail is
	// reported (AnsweredBy=machine_…) and the chain moves on at once.
	DetectMachines bool
	RingTimeout    time.Duration // how long a call rings (default 40s)
	// TimeLimit is the longest an answered call lasts (the create
	// request's TimeLimit; default 4h, Twilio's own default).
	TimeLimit time.Duration
	Timeout   time.Duration     // per request (default 10s)
	Transport http.RoundTripper // nil: http.DefaultTransport (tests put an in-process fake here)
	Words     *words.Book       // what calls say around the prompt (nil: Mandarin)
}

var accountSID = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)

// Notifier sends SMS and calls through Twilio. It never retries by itself:
// it classifies failures (see anxin.Notifier) and escalation decides.
type Notifier struct {
	cfg Config
	api *api.ApiService
}

// New checks cfg (without touching the network) and builds a Notifier.
func New(cfg Config) (*Notifier, error) {
	if !accountSID.MatchString(cfg.AccountSID) {
		return nil, errors.New("twilio: account SID must be AC followed by 32 hex digits")
	}
	if cfg.AuthToken == "" || cfg.From == "" {
		return nil, errors.New("twilio: auth token and from are required")
	}
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" {
		return nil, errors.New("twilio: public URL must be an absolute http(s) URL")
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.RingTimeout <= 0 {
		cfg.RingTimeout = 40 * time.Second
	}
	if cfg.TimeLimit <= 0 {
		cfg.TimeLimit = 4 * time.Hour
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	rt := cfg.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	if cfg.APIBaseURL != "" {
		base, err := url.Parse(cfg.APIBaseURL)
		if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
			return nil, errors.New("twilio: api_base_url must be an absolute http(s) URL")
		}
		rt = rebase{base: base, next: rt}
	}
	c := &client.Client{
		Credentials: client.NewCredentials(cfg.AccountSID, cfg.AuthToken),
		HTTPClient: &http.Client{
			Transport:     rt,
			Timeout:       cfg.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(cfg.AccountSID)
	return &Notifier{cfg: cfg, api: api.NewApiServiceWithClient(c)}, nil
}

// rebase sends requests for *.twilio.com to the configured base URL instead:
// twilio-go has no base-URL option, so its HTTP client is wrapped.
type rebase struct {
	base *url.URL
	next http.RoundTripper
}

func (r rebase) RoundTrip(req *http.Request) (*http.Response, error) {
	if h := req.URL.Hostname(); h == "twilio.com" || strings.HasSuffix(h, ".twilio.com") {
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host = r.base.Scheme, r.base.Host
		req.URL.Path = strings.TrimRight(r.base.Path, "/") + req.URL.Path
		req.Host = r.base.Host
	}
	return r.next.RoundTrip(req)
}

func (n *Notifier) callbackURL(path, attemptID string) string {
	return n.cfg.PublicURL + path + "?attempt=" + url.QueryEscape(attemptID)
}

// Send creates a message or a call.
func (n *Notifier) Send(_ context.Context, no anxin.Notification) (string, bool, error) {
	switch no.Channel {
	case anxin.ChannelSMS:
		p := &api.CreateMessageParams{}
		p.SetTo(no.To).SetFrom(n.cfg.From).SetBody(no.Body).SetStatusCallback(n.callbackURL("/twilio/status", no.AttemptID))
		m, err := n.api.CreateMessage(p)
		if err != nil {
			retry, err := classify("create message", err)
			return "", retry, err
		}
		return deref(m.Sid), false, nil
	case anxin.ChannelVoice:
		p := &api.CreateCallParams{}
		p.SetTo(no.To).SetFrom(n.cfg.From).SetTwiml(callTwiML(n.callWords(), no.Body, n.gatherURL(no), false)).
			SetStatusCallback(n.callbackURL("/twilio/status", no.AttemptID)).SetStatusCallbackMethod("POST").
			SetTimeout(int(n.cfg.RingTimeout / time.Second)).SetTimeLimit(int(n.cfg.TimeLimit / time.Second))
		if n.cfg.CallEvents {
			p.SetStatusCallbackEvent([]string{"initiated", "ringing", "answered", "completed"})
		}
		if n.cfg.DetectMachines {
			p.SetMachineDetection("Enable")
		}
		c, err := n.api.CreateCall(p)
		if err != nil {
			retry, err := classify("create call", err)
			return "", retry, err
		}
		return deref(c.Sid), false, nil
	}
	return "", false, fmt.Errorf("twilio: unknown channel %q", no.Channel)
}

func (n *Notifier) gatherURL(no anxin.Notification) string {
	if !no.AskKey {
		return ""
	}
	return n.callbackURL("/twilio/gather", no.AttemptID)
}

// lookupSkew allows for the clocks of Twilio and alarmd disagreeing a little.
const lookupSkew = 5 * time.Second

// Lookup lists the recent messages or calls to the number and returns
// those created since the attempt, oldest first: for SMS those with the very
// same body (it carries the per-contact ack link), for calls every one (a
// call carries nothing of ours that the list shows, so the caller skips the
// calls other attempts hold).
func (n *Notifier) Lookup(_ context.Context, no anxin.Notification, since time.Time) ([]string, error) {
	after := since.Add(-lookupSkew)
	var out []string // newest first, as Twilio lists them
	switch no.Channel {
	case anxin.ChannelSMS:
		p := &api.ListMessageParams{}
		p.SetTo(no.To).SetPageSize(50)
		page, err := n.api.PageMessage(p, "", "")
		if err != nil {
			_, err := classify("list messages", err)
			return nil, err
		}
		for _, m := range page.Messages {
			if deref(m.Body) == no.Body && createdSince(m.DateCreated, after) {
				out = append(out, deref(m.Sid))
			}
		}
	case anxin.ChannelVoice:
		p := &api.ListCallParams{}
		p.SetTo(no.To).SetPageSize(20)
		page, err := n.api.PageCall(p, "", "")
		if err != nil {
			_, err := classify("list calls", err)
			return nil, err
		}
		for _, c := range page.Calls {
			if createdSince(c.DateCreated, after) {
				out = append(out, deref(c.Sid))
			}
		}
	default:
		return nil, fmt.Errorf("twilio: unknown channel %q", no.Channel)
	}
	slices.Reverse(out)
	return out, nil
}

func createdSince(s *string, after time.Time) bool {
	if s == nil {
		return false
	}
	t, err := time.Parse(time.RFC1123Z, *s)
	return err == nil && !t.Before(after)
}

// Cancel ends a call: canceled while it rings, completed once answered.
// A call that already ended (a 4xx: 400 not in a state to change, 404
// gone) is not an error; a refused account (401, 403) ended nothing and is.
func (n *Notifier) Cancel(_ context.Context, callSID string, answered bool) error {
	status := "canceled"
	if answered {
		status = "completed"
	}
	p := &api.UpdateCallParams{}
	p.SetStatus(status)
	if _, err := n.api.UpdateCall(callSID, p); err != nil {
		var re *client.TwilioRestError
		if errors.As(err, &re) && re.Status >= 400 && re.Status < 500 && re.Status != 429 &&
			re.Status != http.StatusUnauthorized && re.Status != http.StatusForbidden {
			return nil
		}
		_, err := classify("update call", err)
		return err
	}
	return nil
}

// ringBuffer is what Twilio may add to a call's Timeout ("for some call
// flows, we will add a 5-second buffer to the timeout value you provide").
const ringBuffer = 5 * time.Second

// CallLimits are the call's own bounds as the create request set them: a
// call not answered rings at most its Timeout (plus Twilio's buffer), an
// answered one lasts at most its TimeLimit.
func (n *Notifier) CallLimits() (ring, answered time.Duration) {
	return n.cfg.RingTimeout + ringBuffer, n.cfg.TimeLimit
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

var statusInText = regexp.MustCompile(`HTTP error code: (\d{3})`)

// classify is the one place that maps a Twilio failure onto the Notifier
// contract. Errors carry the status and Twilio's error code only: Twilio's
// messages quote the phone number, which must not reach a log.
func classify(op string, err error) (retry bool, _ error) {
	var re *client.TwilioRestError
	if errors.As(err, &re) {
		if re.Status == 0 { // twilio-go's own credential checks
			return false, fmt.Errorf("twilio %s: error %d: %w", op, re.Code, anxin.ErrAccount)
		}
		return anxin.RetryableStatus(re.Status),
			refusal(fmt.Errorf("twilio %s: HTTP %d, error %d%s", op, re.Status, re.Code, hint(re.Code)), re.Status, re.Code)
	}
	if m := statusInText.FindStringSubmatch(err.Error()); m != nil { // an error body that was not JSON
		st, _ := strconv.Atoi(m[1])
		return anxin.RetryableStatus(st), refusal(fmt.Errorf("twilio %s: HTTP %d", op, st), st, 0)
	}
	var op2 *net.OpError
	if errors.As(err, &op2) && op2.Op == "dial" {
		return true, fmt.Errorf("twilio %s: cannot connect: %w", op, scrub(err))
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true, fmt.Errorf("twilio %s: %w", op, scrub(err))
	}
	// a timeout, a reset or EOF after the request was written: it may have gone through
	return true, fmt.Errorf("twilio %s: %w: %v", op, anxin.ErrMaybeSent, scrub(err))
}

// scrub drops the request URL (it may hold query parameters such as To) from
// an HTTP client error.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// refusal is the error of a refused request, marked ErrAccount when the
// account is refused, not the number: credentials (401, 20003), a
// suspended account (20005), a sender the account may not use, a country
// its geographic permissions leave out; marked ErrNumber when the
// recipient's number is refused: invalid (21211, 21217, 13223, 13224),
// not a mobile number (21614), a landline where Twilio does not try SMS
// to landlines, as in China (21635), not reachable from this sender
// (21612), unsubscribed (21610).
func refusal(err error, status, code int) error {
	switch {
	case status == 401, status == 403:
	case code == 20003, code == 20005, code == 21212, code == 21606, code == 21659, code == 21408, code == 21215, code == 13227:
	case code == 21211, code == 21217, code == 13223, code == 13224, code == 21614, code == 21635, code == 21612, code == 21610:
		return fmt.Errorf("%w: %w", err, anxin.ErrNumber)
	default:
		return err
	}
	return fmt.Errorf("%w: %w", err, anxin.ErrAccount)
}

// hint names the well-known permanent Twilio errors.
func hint(code int) string {
	switch code {
	case 21211, 21217, 13223, 13224:
		return " (invalid phone number)"
	case 21612:
		return " (number cannot be reached from this sender)"
	case 21212, 21606, 21659:
		return " (invalid sender)"
	case 21614:
		return " (not a mobile number)"
	case 21635:
		return " (landline)"
	case 21408, 21215, 13227:
		return " (country not enabled)"
	case 21610:
		return " (recipient unsubscribed)"
	case 20003:
		return " (authentication failed)"
	case 20005:
		return " (account not active)"
	case 20429:
		return " (too many requests)"
	}
	return ""
}

func (n *Notifier) callWords() words.CallWords {
	if n.cfg.Words != nil {
		return n.cfg.Words.Call()
	}
	return mandarin.Call()
}

// mandarin writes what calls say unless told otherwise (words are immutable).
var mandarin = words.Default()

// CallTwiML is the inline TwiML of a step's call: the words in Mandarin,
// twice, inside a one-digit Gather whose action is gatherURL. With an empty
// gatherURL the call only speaks. again marks a repeated prompt.
func CallTwiML(prompt, gatherURL string, again bool) string {
	return callTwiML(mandarin.Call(), prompt, gatherURL, again)
}

func callTwiML(cw words.CallWords, prompt, gatherURL string, again bool) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Response>`)
	if gatherURL == "" {
		say(&b, cw, prompt, 2)
		b.WriteString(`</Response>`)
		return b.String()
	}
	b.WriteString(`<Gather input="dtmf" numDigits="1" timeout="8" method="POST" action="`)
	escape(&b, gatherURL)
	b.WriteString(`">`)
	say(&b, cw, prompt, 2)
	b.WriteString(`</Gather>`)
	if again {
		say(&b, cw, cw.NoKeyAgain, 1)
	} else {
		say(&b, cw, cw.NoKey, 1)
	}
	b.WriteString(`</Response>`)
	return b.String()
}

// replyTwiML speaks one line in cw's voice and hangs up.
func replyTwiML(cw words.CallWords, line string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Response>`)
	say(&b, cw, line, 1)
	b.WriteString(`<Hangup/></Response>`)
	return b.String()
}

// say writes one <Say> in the voice and language of the catalogue the
// words come from (Polly.Zhiyu, cmn-CN for Mandarin).
func say(b *strings.Builder, cw words.CallWords, line string, loop int) {
	fmt.Fprintf(b, `<Say voice="%s" language="%s" loop="%d">`, cw.Voice, cw.Language, loop)
	escape(b, line)
	b.WriteString(`</Say>`)
}

func escape(b *strings.Builder, s string) {
	_ = xml.EscapeText(b, []byte(s)) // a strings.Builder never fails
}

var (
	_ anxin.Notifier    = (*Notifier)(nil)
	_ anxin.CallLimiter = (*Notifier)(nil)
)
