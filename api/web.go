package api

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
)

// This file is the API as alarmd's web app (package web) uses it: the web
// app signs people in with accounts and sessions, then acts as the signed-in
// person through the same checks, area scope and audit as a bearer token.

// As is the server (with the settings of this moment, see Settings) and a
// context acting as the caller name of area (as anxin.ParseArea reads it).
func (s *Server) As(ctx context.Context, name, area string) (*Server, context.Context, error) {
	cp := *s.view() // defaults as Handler sets them, for a server whose Handler was not made
	if cp.Plan.Cadence == nil {
		cp.Plan = care.DefaultPlan()
	}
	if cp.Now == nil {
		cp.Now = time.Now
	}
	if cp.Logger == nil {
		cp.Logger = slog.New(slog.DiscardHandler)
	}
	srv := &cp
	tok := Token{Name: name, Area: area}
	var err error
	if tok.scope, err = anxin.ParseArea(area); err != nil {
		return nil, ctx, anxin.Errorf(anxin.EFORBID, "此账号的辖区设置有误，请联系区民政办")
	}
	return srv, context.WithValue(ctx, ctxKey{}, tok), nil
}

// request is a GET with query q in ctx, for handlers that read their
// parameters from a request.
func request(ctx context.Context, q url.Values) *http.Request {
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/?"+q.Encode(), nil)
	return r
}

// DueToday lists the caller's elders with a contact due today or overdue,
// most overdue first, then by name; names and phone numbers in full (the
// read is audited, as ?unmasked=1 is).
func (s *Server) DueToday(ctx context.Context) ([]DueItem, time.Time, error) {
	return s.DueTodayFor(ctx, "")
}

// DueTodayFor is DueToday for the elders whose grid worker is visitor
// (all of the caller's when visitor is "").
func (s *Server) DueTodayFor(ctx context.Context, visitor string) ([]DueItem, time.Time, error) {
	q := url.Values{"unmasked": {"1"}}
	if visitor != "" {
		q.Set("visitor", visitor)
	}
	r := request(ctx, q)
	today := s.Plan.Day(s.Now())
	items, _, err := s.schedule(r, today, false)
	if err != nil {
		return nil, today, err
	}
	slices.SortStableFunc(items, func(a, b DueItem) int {
		if a.DaysOverdue != b.DaysOverdue {
			return b.DaysOverdue - a.DaysOverdue
		}
		return 0
	})
	return items, today, s.maskDue(r, auditDueList, items)
}

// Elder reads one elder of the caller's area in full (audited).
func (s *Server) Elder(ctx context.Context, id string) (anxin.ElderRecord, error) {
	e, err := s.elder(ctx, id)
	if err != nil {
		return e, err
	}
	return e, s.audit(ctx, auditElderRead, "", e.ID)
}

// HouseholdVisits lists the visits to a household of the caller's area, newest first.
func (s *Server) HouseholdVisits(ctx context.Context, household string, limit int) ([]anxin.Visit, error) {
	return s.Store.Visits(ctx, anxin.VisitFilter{Household: household, Area: scope(ctx), Limit: limit})
}

// Household is alarmd's household (devices, contact chain) if the caller may see it.
func (s *Server) Household(ctx context.Context, id string) (anxin.Household, bool, error) {
	h, err := s.visibleHousehold(ctx, id)
	if anxin.ErrorCode(err) == anxin.ENOTFOUND {
		return h, false, nil
	}
	return h, err == nil, err
}

// HouseholdsByID reads the households among ids that the caller's area may
// see, by id (those it may not, or unknown, are absent): one read for a
// page's rows, where Household per row cost a read of the area and two of
// the register each.
func (s *Server) HouseholdsByID(ctx context.Context, ids []string) (map[string]anxin.Household, error) {
	out := map[string]anxin.Household{}
	if s.Households == nil || len(ids) == 0 {
		return out, nil
	}
	hh, err := s.areaHouseholds(ctx)
	if err != nil {
		return nil, err
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	if hh != nil {
		ids = slices.DeleteFunc(ids, func(id string) bool { return !hh[id] })
	}
	if len(ids) == 0 {
		return out, nil
	}
	list, err := s.Households.HouseholdsOf(ctx, ids)
	for _, h := range list {
		out[h.ID] = h
	}
	return out, err
}

// Alarms30 lists the alarms of the caller's area opened in the last 30
// days, of one household when household is not "".
func (s *Server) Alarms30(ctx context.Context, household string) ([]anxin.Alarm, error) {
	if s.AlarmSource() == nil {
		return nil, nil
	}
	var hh map[string]bool
	if household != "" {
		// one household: ask about it, not for the area's whole list
		if ok, err := s.Store.HouseholdInArea(ctx, household, scope(ctx)); err != nil || !ok {
			return nil, err
		}
		hh = map[string]bool{household: true}
	} else {
		var err error
		if hh, err = s.areaHouseholds(ctx); err != nil {
			return nil, err
		}
	}
	since := care.AddDays(s.Plan.Day(s.Now()), -30)
	return s.Alarms.AlarmsOpened(ctx, since, s.Now().Add(time.Minute), hh, 1000)
}

// AlarmSource is the server's alarm source (nil: this alarmd keeps none).
func (s *Server) AlarmSource() AlarmSource { return s.Alarms }

// ServeVisitRate serves GET reports/visit-rate for the caller in r's
// context (?month=, ?format=xlsx), errors as the API writes them.
func (s *Server) ServeVisitRate(w http.ResponseWriter, r *http.Request) {
	if err := s.visitRate(w, r); err != nil {
		s.writeError(w, r, err)
	}
}

// VisitRate is the monthly visit-rate report of the caller's area; month
// "" is the current month. Its 本月未探访名单 holds the first maxListed
// (NotVisitedCount says how many there are), names and phones masked.
func (s *Server) VisitRate(ctx context.Context, month string, maxListed int) (VisitRateReport, error) {
	q := url.Values{}
	if month != "" {
		q.Set("month", month)
	}
	r := request(ctx, q)
	m, from, to, err := s.month(r)
	if err != nil {
		return VisitRateReport{}, err
	}
	rep, err := s.visitRateReport(ctx, scope(ctx), m, from, to)
	if err != nil {
		return rep, err
	}
	rep.NotVisited, err = s.maskNotVisited(r, rep.NotVisited, maxListed)
	return rep, err
}

// AreaHouseholds lists alarmd's households (sensor kits) the caller may
// see, phone numbers masked.
func (s *Server) AreaHouseholds(ctx context.Context) ([]anxin.Household, error) {
	if s.Households == nil {
		return nil, nil
	}
	list, err := s.visibleHouseholds(ctx)
	if err != nil {
		return nil, err
	}
	for i := range list {
		list[i] = maskHousehold(list[i])
	}
	return list, nil
}

// visibleHouseholds reads the households (kits) the caller may see, in id
// order: an area's only, never the whole district's to filter.
func (s *Server) visibleHouseholds(ctx context.Context) ([]anxin.Household, error) {
	hh, err := s.areaHouseholds(ctx)
	switch {
	case err != nil:
		return nil, err
	case hh == nil: // the whole district
		return s.Households.AllHouseholds(ctx)
	case len(hh) == 0:
		return nil, nil
	}
	list, err := s.Households.HouseholdsOf(ctx, slices.Sorted(maps.Keys(hh)))
	slices.SortFunc(list, func(a, b anxin.Household) int { return strings.Compare(a.ID, b.ID) })
	return list, err
}
