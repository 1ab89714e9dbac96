package api

import (
	"context"
	"net/http"

	"github.com/anxin-care/anxin"
)

// AwayMarks marks households away (visiting family, in hospital: the
// no-use rules pause and their open alarms close) or back; alarmd's ingest
// pipeline implements it.
type AwayMarks interface {
	SetAway(ctx context.Context, household string, away bool) error
	Away(household string) bool
}

type awayBody struct {
	Household string `json:"household"`
	Away      *bool  `json:"away"`
}

// visibleHousehold is a household of this alarmd the caller's area may
// see; anything else is "not found" (never "forbidden": that would say it
// exists).
func (s *Server) visibleHousehold(ctx context.Context, id string) error {
	if s.Households != nil {
		if ok, err := s.Store.HouseholdInArea(ctx, id, caller(ctx).Area); err != nil {
			return err
		} else if ok {
			for _, h := range s.Households() {
				if h.ID == id {
					return nil
				}
			}
		}
	}
	return anxin.Errorf(anxin.ENOTFOUND, "no household %q", clip(id))
}

func (s *Server) getAway(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.visibleHousehold(r.Context(), id); err != nil {
		return err
	}
	if s.Away == nil {
		return anxin.Errorf(anxin.ENOTFOUND, "away marks are not kept by this server")
	}
	away := s.Away.Away(id)
	writeJSON(w, http.StatusOK, awayBody{Household: id, Away: &away})
	return nil
}

func (s *Server) putAway(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := s.visibleHousehold(r.Context(), id); err != nil {
		return err
	}
	if s.Away == nil {
		return anxin.Errorf(anxin.ENOTFOUND, "away marks are not kept by this server")
	}
	var b awayBody
	if err := decodeJSON(w, r, &b); err != nil {
		return err
	}
	if b.Away == nil {
		return anxin.Errorf(anxin.EINVALID, `"away" (true or false) is required`)
	}
	if err := s.Away.SetAway(r.Context(), id, *b.Away); err != nil {
		return err // an internal error: logged, answered 500
	}
	s.Logger.Info("household marked", "household", id, "away", *b.Away, "by", caller(r.Context()).Name)
	writeJSON(w, http.StatusOK, awayBody{Household: id, Away: b.Away})
	return nil
}
