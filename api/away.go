package api

import (
	"context"
	"net/http"

	"github.com/anxin-care/anxin"
)

// AwayMarks marks households away (visiting family, in hospital: the
// no-use rules pause and their open alarms close) or back; alarmd's ingest
// pipeline implements it. The mark is stored whichever alarmd takes it;
// the one holding the household applies it.
type AwayMarks interface {
	SetAway(ctx context.Context, household string, away bool) error
	Away(ctx context.Context, household string) (bool, error)
}

type awayBody struct {
	Household string `json:"household"`
	Away      *bool  `json:"away"`
}

func (s *Server) getAway(w http.ResponseWriter, r *http.Request) error {
	if s.Away == nil { // a server property: says nothing of the household
		return anxin.Errorf(anxin.ENOTFOUND, "这台服务器不提供外出登记，请连接正在运行的报警服务")
	}
	id := r.PathValue("id")
	if _, err := s.visibleHousehold(r.Context(), id); err != nil {
		return err
	}
	away, err := s.Away.Away(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, awayBody{Household: id, Away: &away})
	return nil
}

func (s *Server) putAway(w http.ResponseWriter, r *http.Request) error {
	if s.Away == nil { // a server property: says nothing of the household
		return anxin.Errorf(anxin.ENOTFOUND, "这台服务器不提供外出登记，请连接正在运行的报警服务")
	}
	id := r.PathValue("id")
	if _, err := s.visibleHousehold(r.Context(), id); err != nil {
		return err
	}
	var b awayBody
	if err := decodeJSON(w, r, &b); err != nil {
		return err
	}
	if b.Away == nil {
		return anxin.Errorf(anxin.EINVALID, "请填写 away：true（外出）或 false（已回家）")
	}
	if err := s.Away.SetAway(r.Context(), id, *b.Away); err != nil {
		return err // an internal error: logged, answered 500
	}
	s.auditChange(r.Context(), auditHouseholdAway, map[bool]string{true: "away", false: "back"}[*b.Away], id)
	s.Logger.Info("household marked", "household", anxin.MaskRecordID(id), "away", *b.Away, "by", caller(r.Context()).Name)
	writeJSON(w, http.StatusOK, awayBody{Household: id, Away: b.Away})
	return nil
}
