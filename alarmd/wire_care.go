package alarmd

import (
	"context"
	"net/http"
	"sync"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/api"
	"github.com/anxin-care/anxin/care"
)

// mountCare mounts the records API (care register, visits, reports, alarms)
// under /api/v1/. Tokens and the visit plan follow config reloads: a token
// removed from api.tokens is refused from the next request on. With no
// tokens every request is refused (401): nothing is readable without one.
func mountCare(m *Main, mux *http.ServeMux) error {
	plan, err := m.Config.Care.Plan()
	if err != nil {
		return err
	}
	live := &careSettings{m: m, cfg: m.Config, tokens: m.Config.API.APITokens(), plan: plan}
	srv := &api.Server{
		Store:      m.Store,
		Tokens:     live.tokens,
		Plan:       plan,
		Now:        m.Now,
		Logger:     m.Logger.With("component", "api"),
		Alarms:     m.Store,
		Escalation: m.Store,
		Settings:   live.current,
		Away:       awayMarks{m},
		Closer:     alarmCloser{m},
	}
	if m.register != nil {
		srv.Households = m.register
	}
	if len(live.tokens) == 0 {
		m.Logger.Warn("records API has no tokens (api.tokens): every request will be refused")
	}
	mux.Handle(api.Prefix, srv.Handler())
	mountWeb(m, mux, srv)
	return nil
}

// careSettings converts the running config's api and care sections once per
// config (Reload swaps m.Config whole).
type careSettings struct {
	m      *Main
	mu     sync.Mutex
	cfg    *Config
	tokens []api.Token
	plan   care.Plan
}

func (s *careSettings) current() ([]api.Token, care.Plan) {
	s.m.mu.Lock()
	cfg := s.m.Config
	s.m.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if cfg != s.cfg {
		// validated by Load before Reload applied it; keep the old plan if not
		if plan, err := cfg.Care.Plan(); err == nil {
			s.plan = plan
		}
		s.cfg, s.tokens = cfg, cfg.API.APITokens()
	}
	return s.tokens, s.plan
}

// awayMarks sets away marks through the running ingest pipeline (mounted
// before ingest opens, so it looks the pipeline up per call).
type awayMarks struct{ m *Main }

func (a awayMarks) SetAway(ctx context.Context, household string, away bool) error {
	if a.m.ingest == nil {
		return anxin.Errorf(anxin.EINTERNAL, "alarmd is not running its rules yet")
	}
	return a.m.ingest.SetAway(ctx, household, away)
}

func (a awayMarks) Away(ctx context.Context, household string) (bool, error) {
	if a.m.ingest == nil {
		return false, anxin.Errorf(anxin.EINTERNAL, "alarmd is not running its rules yet")
	}
	return a.m.ingest.Away(ctx, household)
}

// alarmCloser closes an alarm by hand: the chain stops first (calls end,
// no further step), then the alarm is resolved with the note; the ingest
// pipeline re-arms the rule from the store's state log. A close that fails
// between the two leaves the alarm open with its chain stopped, and the
// same request again finishes it.
type alarmCloser struct{ m *Main }

func (c alarmCloser) CloseAlarm(ctx context.Context, alarmID, by, reason string) error {
	if err := c.m.Escalator.Resolve(ctx, alarmID, "closed by hand by "+by); err != nil {
		return err
	}
	if err := c.m.Store.CloseAlarm(ctx, alarmID, by, reason, c.m.Now()); err != nil {
		return err
	}
	if c.m.board != nil {
		c.m.board.Poke() // after the commit: boards read the closed state
	}
	return nil
}
