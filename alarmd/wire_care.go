package alarmd

import (
	"net/http"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/api"
)

// mountCare mounts the records API (care register, visits, reports, alarms)
// under /api/v1/. With no api.tokens configured the API answers every
// request 401: nothing is readable without a token.
func mountCare(m *Main, mux *http.ServeMux) error {
	plan, err := m.Config.Care.Plan()
	if err != nil {
		return err
	}
	srv := &api.Server{
		Store:      m.Store,
		Tokens:     m.Config.API.APITokens(),
		Plan:       plan,
		Now:        m.Now,
		Logger:     m.Logger.With("component", "api"),
		Alarms:     m.Store,
		Escalation: m.Store,
	}
	if m.households != nil {
		srv.Households = func() []anxin.Household { return m.households.All() }
	}
	if len(srv.Tokens) == 0 {
		m.Logger.Warn("records API has no tokens (api.tokens): every request will be refused")
	}
	mux.Handle(api.Prefix, srv.Handler())
	return nil
}
