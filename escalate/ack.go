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
	"strings"
	"time"

	"github.com/anxin-care/anxin"
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

func (s *Service) ackLink(c *anxin.Chain, step int) (string, error) {
	tok, err := NewAckToken(s.cfg.AckSecret, AckClaims{
		AlarmID: c.AlarmID, Step: step, PhoneTag: phoneTag(s.cfg.AckSecret, c.Targets[c.Steps[step]].Phone),
		Expires: c.StartedAt.Add(s.cfg.AckLinkTTL),
	})
	if err != nil {
		return "", err
	}
	return s.cfg.PublicURL + "/ack/" + tok, nil
}

var ackPage = template.Must(template.New("ack").Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>安心 · 告警确认</title>
<style>body{font-family:sans-serif;max-width:32em;margin:2em auto;padding:0 1em}button{font-size:1.4em;padding:.6em 1.2em}</style>
</head><body><h1>{{.Title}}</h1>{{if .Alarm}}<p>{{.Alarm}}</p>{{end}}<p>{{.Text}}</p>
{{if .Form}}<form method="post"><button type="submit">我来处理</button></form>{{end}}
</body></html>
`))

type ackView struct {
	Title, Alarm, Text string
	Form               bool
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
		tok := strings.TrimPrefix(r.URL.Path, "/ack/")
		claims, err := ParseAckToken(s.cfg.AckSecret, tok, s.clock.Now())
		switch {
		case errors.Is(err, ErrTokenExpired):
			s.page(w, http.StatusGone, ackView{Title: "链接已过期", Text: "此确认链接已过期。如仍需处理，请直接联系老人或社区。"})
			return
		case err != nil:
			s.page(w, http.StatusNotFound, ackView{Title: "链接无效", Text: "无法识别此确认链接。"})
			return
		}
		c, err := s.store.Chain(r.Context(), claims.AlarmID)
		if err != nil || claims.Step >= len(c.Steps) || phoneTag(s.cfg.AckSecret, c.Targets[c.Steps[claims.Step]].Phone) != claims.PhoneTag {
			if err != nil && anxin.ErrorCode(err) != anxin.ENOTFOUND {
				s.log.Error("ack link: cannot read chain", "alarm", claims.AlarmID, "err", err)
				s.page(w, http.StatusInternalServerError, ackView{Title: "暂时无法确认", Text: "请稍后再试，或直接联系老人。"})
				return
			}
			s.page(w, http.StatusNotFound, ackView{Title: "链接无效", Text: "无法识别此确认链接。"})
			return
		}
		summary := s.summary(r.Context(), &c)
		if r.Method == http.MethodGet {
			v := ackView{Title: "安心告警", Alarm: summary}
			switch c.State {
			case anxin.ChainWalking:
				v.Text, v.Form = "请确认由您来处理此告警。", true
			case anxin.ChainUnanswered:
				v.Text, v.Form = "此告警无人接收。请确认由您来处理。", true
			case anxin.ChainAccepted:
				v.Text = "此告警已由" + c.AcceptedBy + "接收处理。"
			default:
				v.Text = "此告警已结束。"
			}
			s.page(w, http.StatusOK, v)
			return
		}
		held, mine, err := s.accept(r.Context(), claims.AlarmID, c.Steps[claims.Step], ViaAckLink)
		switch {
		case err == nil && mine:
			s.page(w, http.StatusOK, ackView{Title: "已确认", Alarm: summary, Text: "谢谢，已确认由您处理。其他联系人将收到通知。"})
		case err == nil:
			s.page(w, http.StatusConflict, ackView{Title: "已有人处理", Alarm: summary, Text: "此告警已由" + held.AcceptedBy + "接收处理。"})
		case anxin.ErrorCode(err) == anxin.ECONFLICT:
			s.page(w, http.StatusConflict, ackView{Title: "告警已结束", Alarm: summary, Text: "此告警已结束，无需确认。"})
		default:
			s.log.Error("ack link: accept failed", "alarm", claims.AlarmID, "err", err)
			s.page(w, http.StatusInternalServerError, ackView{Title: "暂时无法确认", Text: "请稍后再试，或直接联系老人。"})
		}
	})
}

func (s *Service) summary(ctx context.Context, c *anxin.Chain) string {
	a, h, err := s.context(ctx, c)
	if err != nil {
		return ""
	}
	return elderName(&h) + where(&h) + "：" + what(&a) + "，" + when(a.OpenedAt, s.cfg.Location)
}

func (s *Service) page(w http.ResponseWriter, status int, v ackView) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := ackPage.Execute(w, v); err != nil {
		s.log.Debug("ack page not written", "err", err)
	}
}
