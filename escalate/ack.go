package escalate

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/words"
)

// An ack token is base64url(claims) "." base64url(HMAC-SHA256(secret, claims)[:16]).
// claims: version (1) | expiry, unix seconds (8, big endian) | chain step (2,
// big endian; it names the contact) | phone tag (4: HMAC of the phone, so a
// link dies when the chain's number changes) | alarm id (1–64 bytes of
// [A-Za-z0-9_-]). Expiry counts from the chain's start, so a step's link (and
// with it its SMS) is the same however often it is built: Lookup can match it.
const (
	tokenVersion = 1
	tokenMACLen  = 16
	claimsHead   = 1 + 8 + 2 + 4
)

// AckClaims are what an ack token says.
type AckClaims struct {
	AlarmID  string
	Step     int // the chain step whose SMS carried the link
	PhoneTag [4]byte
	Expires  time.Time // whole seconds
}

// Errors of ParseAckToken.
var (
	ErrTokenInvalid = errors.New("ack token invalid")
	ErrTokenExpired = errors.New("ack token expired")
)

func mac(secret, msg []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(msg)
	return m.Sum(nil)
}

func phoneTag(secret []byte, phone string) (t [4]byte) {
	copy(t[:], mac(secret, []byte("phone:"+phone)))
	return t
}

// NewAckToken signs claims.
func NewAckToken(secret []byte, c AckClaims) (string, error) {
	if !anxin.ValidID(c.AlarmID) || c.Step < 0 || c.Step > 65535 {
		return "", ErrTokenInvalid
	}
	b := make([]byte, claimsHead, claimsHead+len(c.AlarmID))
	b[0] = tokenVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(c.Expires.Unix()))
	binary.BigEndian.PutUint16(b[9:11], uint16(c.Step))
	copy(b[11:15], c.PhoneTag[:])
	b = append(b, c.AlarmID...)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(b) + "." + enc.EncodeToString(mac(secret, b)[:tokenMACLen]), nil
}

// ParseAckToken checks a token's MAC (in constant time) and expiry.
func ParseAckToken(secret []byte, token string, now time.Time) (AckClaims, error) {
	var c AckClaims
	body, sig, ok := strings.Cut(token, ".")
	if !ok || len(body) > 200 || len(sig) > 40 {
		return c, ErrTokenInvalid
	}
	enc := base64.RawURLEncoding.Strict() // one spelling per token
	b, err1 := enc.DecodeString(body)
	m, err2 := enc.DecodeString(sig)
	if err1 != nil || err2 != nil || len(b) <= claimsHead || b[0] != tokenVersion {
		return c, ErrTokenInvalid
	}
	if !hmac.Equal(m, mac(secret, b)[:tokenMACLen]) {
		return c, ErrTokenInvalid
	}
	c.Expires = time.Unix(int64(binary.BigEndian.Uint64(b[1:9])), 0).UTC()
	c.Step = int(binary.BigEndian.Uint16(b[9:11]))
	copy(c.PhoneTag[:], b[11:15])
	c.AlarmID = string(b[claimsHead:])
	if !anxin.ValidID(c.AlarmID) {
		return c, ErrTokenInvalid
	}
	if !now.Before(c.Expires) {
		return c, ErrTokenExpired
	}
	return c, nil
}

// Short ack tokens: shortTokenLen characters of an alphabet without look-alikes
// (no 0/O, 1/l/I), URL-safe and whole when a phone turns the link into a
// tap target. About 58 bits, taken from an HMAC under the ack secret: as
// unguessable as random, and the same every time a step's SMS is built, which
// Lookup needs to match a send that may have gone through.
const (
	shortTokenLen      = 10
	shortTokenAlphabet = "23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
)

func shortToken(secret []byte, alarmID string, step int, phone string) string {
	v := binary.BigEndian.Uint64(mac(secret, []byte("short:"+alarmID+":"+strconv.Itoa(step)+":"+phone)))
	b := make([]byte, shortTokenLen)
	for i := range b {
		b[i] = shortTokenAlphabet[v%uint64(len(shortTokenAlphabet))]
		v /= uint64(len(shortTokenAlphabet))
	}
	return string(b)
}

func validShortToken(tok string) bool {
	if len(tok) != shortTokenLen {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if strings.IndexByte(shortTokenAlphabet, tok[i]) < 0 {
			return false
		}
	}
	return true
}

// ackLink is the link a step's SMS carries: {PublicURL}/ack/<short token>
// when the store keeps tokens (the SMS then fits two segments), else the
// self-contained HMAC token.
func (s *Service) ackLink(ctx context.Context, c *anxin.Chain, step int) (string, error) {
	phone := c.Targets[c.Steps[step]].Phone
	claims := AckClaims{AlarmID: c.AlarmID, Step: step, PhoneTag: phoneTag(s.cfg.AckSecret, phone),
		Expires: c.StartedAt.Add(s.cfg.AckLinkTTL)}
	if ts, ok := s.store.(anxin.AckTokens); ok {
		t := anxin.AckToken{Token: shortToken(s.cfg.AckSecret, c.AlarmID, step, phone), AlarmID: claims.AlarmID,
			Step: step, PhoneTag: claims.PhoneTag, Expires: claims.Expires.Truncate(time.Second)}
		// every pass over the step rebuilds its SMS: write the token once, and
		// spare the single writer when it is there already
		if old, err := ts.AckToken(ctx, t.Token); err != nil || old.AlarmID != t.AlarmID || old.Step != step {
			if err := ts.PutAckToken(ctx, t); err != nil {
				return "", err
			}
		}
		return s.cfg.PublicURL + "/ack/" + t.Token, nil
	}
	tok, err := NewAckToken(s.cfg.AckSecret, claims)
	if err != nil {
		return "", err
	}
	return s.cfg.PublicURL + "/ack/" + tok, nil
}

// ackClaims reads a link's token: a short one from the store, an HMAC one
// (links sent before short tokens, or by a store without them) by its MAC.
func (s *Service) ackClaims(ctx context.Context, tok string) (AckClaims, error) {
	ts, ok := s.store.(anxin.AckTokens)
	if strings.Contains(tok, ".") || !ok {
		return ParseAckToken(s.cfg.AckSecret, tok, s.clock.Now())
	}
	if !validShortToken(tok) {
		return AckClaims{}, ErrTokenInvalid
	}
	t, err := ts.AckToken(ctx, tok)
	switch {
	case anxin.ErrorCode(err) == anxin.ENOTFOUND:
		return AckClaims{}, ErrTokenInvalid
	case err != nil:
		return AckClaims{}, err
	}
	c := AckClaims{AlarmID: t.AlarmID, Step: t.Step, PhoneTag: t.PhoneTag, Expires: t.Expires}
	if !s.clock.Now().Before(c.Expires) {
		return c, ErrTokenExpired
	}
	return c, nil
}

// ackPage is parsed when the first acknowledgement page is served, not at
// start (html/template's parser and the tree stay out of memory until then).
var ackPage = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("ack").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{{.Title}}</title>
<style>body{font-family:sans-serif;max-width:32em;margin:2em auto;padding:0 1em}button,.call{font-size:1.4em;padding:.6em 1.2em;display:inline-block;margin:.3em 0}.sos{color:#b00;font-weight:bold}</style>
</head><body><h1>{{.Title}}</h1>{{if .Alarm}}<p>{{.Alarm}}</p>{{end}}<p>{{.Text}}</p>
{{if .Emergency}}<p class="sos">{{.Emergency}}{{if .EmergencyNumber}} <a href="tel:{{.EmergencyNumber}}">{{.EmergencyNumber}}</a>{{end}}</p>{{end}}
{{if .Button}}<form method="post"><button type="submit">{{.Button}}</button></form>{{end}}
{{if .TelURL}}<p><a class="call" href="{{.TelURL}}">{{.Call}}</a></p>{{end}}
</body></html>
`))
})

// ackView is a page's words with its tel: targets (html/template lets only
// http, https and mailto through as strings).
type ackView struct {
	words.AckPage
	TelURL          template.URL // the elder's number
	EmergencyNumber string       // 119, 120
}

// telURL is a tel: URL of a phone number, or "" when it is not one.
func telURL(tel string) template.URL {
	n := strings.TrimPrefix(tel, "tel:")
	if n == "" || strings.Trim(n, "+0123456789") != "" {
		return ""
	}
	return template.URL("tel:" + n)
}

// AckHandler serves /ack/<token>: GET shows the alarm and a button, POST
// accepts. An expired link answers 410, a bad one 404.
func (s *Service) AckHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Referrer-Policy", "no-referrer")
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		b := s.cfg.Words
		claims, err := s.ackClaims(r.Context(), strings.TrimPrefix(r.URL.Path, "/ack/"))
		switch {
		case errors.Is(err, ErrTokenExpired):
			s.page(w, http.StatusGone, b.Ack(words.AckExpired, nil, nil, ""), nil)
			return
		case errors.Is(err, ErrTokenInvalid):
			s.page(w, http.StatusNotFound, b.Ack(words.AckInvalid, nil, nil, ""), nil)
			return
		case err != nil:
			s.log.Error("ack link: cannot read token", "err", err)
			s.page(w, http.StatusInternalServerError, b.Ack(words.AckError, nil, nil, ""), nil)
			return
		}
		c, err := s.store.Chain(r.Context(), claims.AlarmID)
		if err != nil || claims.Step >= len(c.Steps) || phoneTag(s.cfg.AckSecret, c.Targets[c.Steps[claims.Step]].Phone) != claims.PhoneTag {
			if err != nil && anxin.ErrorCode(err) != anxin.ENOTFOUND {
				s.log.Error("ack link: cannot read chain", "alarm", claims.AlarmID, "err", err)
				s.page(w, http.StatusInternalServerError, b.Ack(words.AckError, nil, nil, ""), nil)
				return
			}
			s.page(w, http.StatusNotFound, b.Ack(words.AckInvalid, nil, nil, ""), nil)
			return
		}
		var a *anxin.Alarm
		var h *anxin.Household
		if al, hh, err := s.context(r.Context(), &c); err == nil {
			a, h = &al, &hh
		}
		if r.Method == http.MethodGet {
			st := words.AckEnded
			switch c.State {
			case anxin.ChainWalking:
				if a == nil || a.State != anxin.AlarmResolved { // closed, its chain not yet stopped: over
					st = words.AckOpen
				}
			case anxin.ChainUnanswered:
				if a == nil || a.State != anxin.AlarmResolved { // closed after it went unanswered: over
					st = words.AckUnanswered
				}
			case anxin.ChainAccepted:
				st = words.AckTakenBy
			}
			s.page(w, http.StatusOK, b.Ack(st, a, h, c.AcceptedBy), a)
			return
		}
		held, mine, err := s.accept(r.Context(), claims.AlarmID, c.Steps[claims.Step], ViaAckLink)
		switch {
		case err == nil && mine:
			s.page(w, http.StatusOK, b.Ack(words.AckMine, a, h, ""), a)
		case err == nil:
			s.page(w, http.StatusConflict, b.Ack(words.AckHeld, a, h, held.AcceptedBy), a)
		case errors.Is(err, errAlarmOver):
			s.page(w, http.StatusConflict, b.Ack(words.AckOver, a, h, ""), a)
		default:
			s.log.Error("ack link: accept failed", "alarm", claims.AlarmID, "err", err)
			s.page(w, http.StatusInternalServerError, b.Ack(words.AckError, nil, nil, ""), nil)
		}
	})
}

func (s *Service) page(w http.ResponseWriter, status int, p words.AckPage, a *anxin.Alarm) {
	v := ackView{AckPage: p, TelURL: telURL(p.Tel)}
	if p.Emergency != "" && a != nil {
		v.EmergencyNumber = words.EmergencyNumber(a.Cause.Code)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := ackPage().Execute(w, v); err != nil {
		s.log.Debug("ack page not written", "err", err)
	}
}
