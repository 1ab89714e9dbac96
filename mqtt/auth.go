package mqtt

import (
	"crypto/tls"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/anxin-care/anxin"
)

// gatewayAuth is the embedded broker's gateway identity, as mosquitto's
// password_file plus "pattern write anxin/v1/%u/#" does it: a client on
// the TCP listener logs in with its household id and the password from the
// password file (anonymous and wrong passwords are refused); a client on
// the TLS listener is the household named by its certificate's CN (the
// listener verified the chain to the local CA). Either may then publish,
// subscribe and receive only under anxin/v1/<household>/, and its will must
// be there too. With no password file, TCP clients are anonymous and
// unrestricted (loopback trials). mochi's own auth ledger compares
// plaintext and allows by default, so it is not used.
type gatewayAuth struct {
	mochi.HookBase
	srv       *mochi.Server
	passwords atomic.Pointer[Passwords] // nil: anonymous TCP clients
	tlsID     string                    // listener id of the certificate listener ("" none)
	log       *slog.Logger

	mu       sync.Mutex
	lastLog  time.Time
	held     int
	verified sync.Map // client id → household, for clients that logged in
}

func (h *gatewayAuth) ID() string { return "anxin-gateway-auth" }

func (h *gatewayAuth) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck || b == mochi.OnDisconnect
}

// household is who a connecting client is, or "" and why not.
func (h *gatewayAuth) household(cl *mochi.Client, pk packets.Packet) (string, string) {
	if h.tlsID != "" && cl.Net.Listener == h.tlsID {
		tc, ok := cl.Net.Conn.(*tls.Conn)
		if !ok {
			return "", "no TLS connection"
		}
		st := tc.ConnectionState()
		if len(st.PeerCertificates) == 0 {
			return "", "no client certificate"
		}
		cn := st.PeerCertificates[0].Subject.CommonName
		if !anxin.ValidID(cn) {
			return "", "certificate CN is not a household id"
		}
		return cn, ""
	}
	pw := h.passwords.Load()
	if pw == nil {
		return "", "" // anonymous allowed
	}
	user := string(pk.Connect.Username)
	if !pk.Connect.UsernameFlag || user == "" {
		return "", "anonymous"
	}
	if !pk.Connect.PasswordFlag || !pw.Check(user, pk.Connect.Password) {
		return loggedUser(pw, user), "wrong username or password"
	}
	return user, ""
}

func (h *gatewayAuth) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	if cl.Net.Inline {
		return true
	}
	hh, why := h.household(cl, pk)
	if why != "" {
		h.refuse(cl, why, hh)
		return false
	}
	if hh == "" {
		return true // anonymous TCP client, no password file
	}
	if pk.Connect.WillFlag && !under(hh, pk.Connect.WillTopic) {
		h.refuse(cl, "will outside its household's topics", hh)
		return false
	}
	// a client id is the client's choice: it must not take over another
	// household's session (and its queued messages)
	if old, ok := h.srv.Clients.Get(cl.ID); ok {
		if prev, _ := h.verified.Load(old.ID); prev != nil && prev.(string) != hh {
			h.refuse(cl, "client id in use by another household", hh)
			return false
		}
	}
	cl.Properties.Username = []byte(hh) // for a certificate: the CN, whatever the client sent
	h.verified.Store(cl.ID, hh)
	return true
}

func (h *gatewayAuth) OnDisconnect(cl *mochi.Client, _ error, expire bool) {
	if expire {
		h.verified.Delete(cl.ID)
	}
}

// OnACLCheck limits a logged-in gateway to anxin/v1/<household>/ for
// publishing, subscribing (topic is then a filter) and receiving.
func (h *gatewayAuth) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	v, ok := h.verified.Load(cl.ID)
	if !ok {
		// anonymous is allowed only with no password file, on TCP
		return h.passwords.Load() == nil && cl.Net.Listener != h.tlsID
	}
	return under(v.(string), topic)
}

// loggedUser is what a refused login's username may show in the log: a
// gateway that swapped its username and password must not log the password,
// so only a username the password file lists is shown.
func loggedUser(pw *Passwords, user string) string {
	if !pw.Has(user) {
		return "<not in the password file>"
	}
	return user
}

// under reports whether topic (or filter) lies under anxin/v1/<hh>/.
func under(hh, topic string) bool {
	rest, ok := strings.CutPrefix(topic, anxin.TopicPrefix)
	if !ok {
		return false
	}
	rest, ok = strings.CutPrefix(rest, hh)
	return ok && strings.HasPrefix(rest, "/")
}

// refuse logs a refused connection: at most one line a second, with how
// many were not logged (a password-guessing flood must not flood the log).
// The household id a client claimed is not personal data; its password
// is never logged.
func (h *gatewayAuth) refuse(cl *mochi.Client, why, hh string) {
	h.mu.Lock()
	now := time.Now()
	if now.Sub(h.lastLog) < time.Second {
		h.held++
		h.mu.Unlock()
		return
	}
	n := h.held
	h.lastLog, h.held = now, 0
	h.mu.Unlock()
	h.log.Warn("MQTT connection refused", "why", why, "remote", cl.Net.Remote, "listener", cl.Net.Listener,
		"household", hh, "refused_since_last", n)
}
