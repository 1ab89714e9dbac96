package api

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/anxin-care/anxin"
)

// AlarmCloser closes an alarm by hand: its contact chain stops (ringing
// calls end) and the alarm is resolved with who closed it and why. alarmd
// implements it over escalation and the store.
type AlarmCloser interface {
	CloseAlarm(ctx context.Context, alarmID, by, reason string) error
}

// maxCloseReason bounds the reason kept with a closed alarm, in characters.
const maxCloseReason = 500

// noCloser answers a close on a server that cannot close alarms (anxinctl -db).
const noCloser = "这台服务器不能关闭告警，请连接正在运行的报警服务后再关闭"

type closeBody struct {
	Reason string `json:"reason"`
}

// CloseAlarm closes an alarm of the caller's area by hand with a reason
// (the web app's close form and POST alarms/{id}/close share it).
func (s *Server) CloseAlarm(ctx context.Context, id, reason string) (anxin.Alarm, error) {
	if s.Alarms == nil || s.Closer == nil { // a server property: says nothing of the alarm
		return anxin.Alarm{}, anxin.Errorf(anxin.ENOTFOUND, noCloser)
	}
	a, err := s.visibleAlarm(ctx, id)
	if err != nil {
		return a, err
	}
	reason = strings.TrimSpace(reason)
	switch {
	case reason == "":
		return a, anxin.Errorf(anxin.EINVALID, "请填写关闭原因（reason）：说明为什么关闭这条告警")
	case !utf8.ValidString(reason):
		return a, anxin.Errorf(anxin.EINVALID, "关闭原因含有无法识别的字符")
	case utf8.RuneCountInString(reason) > maxCloseReason:
		return a, anxin.Errorf(anxin.EINVALID, "关闭原因不能超过 %d 个字", maxCloseReason)
	}
	if a.State == anxin.AlarmResolved {
		return a, anxin.Errorf(anxin.ECONFLICT, "告警「%s」已经关闭", a.ID)
	}
	by := caller(ctx).Name
	if err := s.Closer.CloseAlarm(ctx, a.ID, by, reason); err != nil {
		switch anxin.ErrorCode(err) { // closed or gone meanwhile: the store's words are English
		case anxin.ECONFLICT:
			return a, anxin.Errorf(anxin.ECONFLICT, "告警「%s」已经关闭", a.ID)
		case anxin.ENOTFOUND:
			return a, noAlarm(a.ID)
		}
		return a, err
	}
	// the reason may name people: it is stored, never logged nor audited
	s.auditChange(ctx, auditAlarmClose, "", a.ID)
	s.Logger.Info("alarm closed by hand", "alarm", a.ID, "household", anxin.MaskRecordID(a.Household), "rule", a.Rule, "by", by)
	return s.Alarms.Alarm(ctx, a.ID)
}

// closeAlarm is POST alarms/{id}/close {"reason": "…"}: staff who found an
// alarm handled (or false: a detector tested, a device removed) close it.
// Every state but resolved may be closed; a resolved alarm is 409.
func (s *Server) closeAlarm(w http.ResponseWriter, r *http.Request) error {
	if s.Alarms == nil || s.Closer == nil { // a server property: says nothing of the alarm
		return anxin.Errorf(anxin.ENOTFOUND, noCloser)
	}
	var b closeBody
	if err := decodeJSON(w, r, &b); err != nil {
		return err
	}
	a, err := s.CloseAlarm(r.Context(), r.PathValue("id"), b.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"alarm": a})
	return nil
}
