package alarmd

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"net/http"
	"strings"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/api"
	"github.com/anxin-care/anxin/escalate"
	"github.com/anxin-care/anxin/influx"
	"github.com/anxin-care/anxin/web"
)

// mountWeb mounts the web app under /app/ (GET / goes there). It acts
// through the records API server, so area scope and audit are the API's.
// Cookies are Secure when http.public_url is https (TLS ends at a proxy).
func mountWeb(m *Main, mux *http.ServeMux, srv *api.Server) {
	if m.board == nil {
		m.board = web.NewBoard()
	}
	m.orders = newDispatcher(m)
	w := &web.Server{API: srv, Accounts: m.Store, Board: m.board, Orders: m.orders, Logger: m.Logger.With("component", "web"), Now: m.Now,
		Secure: strings.HasPrefix(strings.ToLower(m.Config.HTTP.PublicURL), "https://")}
	if secret, err := m.ackSecret(); err == nil {
		// the key of the browser marks, from the one secret every alarmd
		// sharing a store already has (a key of its own, not the links')
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte("anxin web browser marks v1"))
		w.MarkKey = mac.Sum(nil)
	}
	if q := m.Config.Influx.QueryURL; q != "" {
		series, err := influx.NewVictoriaMetrics(influx.QueryConfig{URL: q, Token: m.Config.Influx.Token.Reveal(),
			Timeout: m.Config.Influx.QueryTimeout})
		if err != nil { // checked with the config: not reached
			m.Logger.Error("influx.query_url not usable: the elder page shows no water use", "err", err)
		} else {
			w.Series = series
		}
	}
	mux.Handle(web.Prefix, w.Handler())
	mux.Handle("GET /{$}", http.RedirectHandler(web.Prefix, http.StatusSeeOther))
}

// boardEscalator tells the web app's alarm boards of every alarm escalated
// or resolved, after the escalator took it.
type boardEscalator struct {
	anxin.Escalator
	board *web.Board
}

func (b boardEscalator) Escalate(ctx context.Context, a anxin.Alarm) error {
	defer b.board.Poke()
	return b.Escalator.Escalate(ctx, a)
}

func (b boardEscalator) Resolve(ctx context.Context, alarmID, reason string) error {
	defer b.board.Poke()
	return b.Escalator.Resolve(ctx, alarmID, reason)
}

// Waiting is the escalator's count of alarms waiting for their chain (healthz).
func (b boardEscalator) Waiting() int {
	if w, ok := b.Escalator.(interface{ Waiting() int }); ok {
		return w.Waiting()
	}
	return 0
}

// ProvidersDown and ChannelsDown are the escalator's (healthz).
func (b boardEscalator) ProvidersDown() []escalate.ProviderDown {
	if e, ok := b.Escalator.(interface {
		ProvidersDown() []escalate.ProviderDown
	}); ok {
		return e.ProvidersDown()
	}
	return nil
}

func (b boardEscalator) ChannelsDown() []anxin.Channel {
	if e, ok := b.Escalator.(interface{ ChannelsDown() []anxin.Channel }); ok {
		return e.ChannelsDown()
	}
	return nil
}
