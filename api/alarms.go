package api

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
)

// AlarmSource reads alarmd's alarms (the ingest store). households nil: all.
type AlarmSource interface {
	Alarm(ctx context.Context, id string) (anxin.Alarm, error)
	AlarmsOpened(ctx context.Context, since, until time.Time, households map[string]bool, limit int) ([]anxin.Alarm, error)
}

// EscalationSource reads the contact-chain walker's records of an alarm.
// Either may be missing for an alarm (ENOTFOUND / empty).
type EscalationSource interface {
	Chain(ctx context.Context, alarmID string) (anxin.Chain, error)
	Attempts(ctx context.Context, alarmID string) ([]anxin.Attempt, error)
}

// areaHouseholds is the set of households the caller may see (nil: all).
func (s *Server) areaHouseholds(ctx context.Context) (map[string]bool, error) {
	area := scope(ctx)
	if area.All() {
		return nil, nil
	}
	return s.Store.AreaHouseholds(ctx, area)
}

// noAlarmsKept answers the alarm endpoints of a server that keeps no alarms
// (anxinctl -db): a server property, it says nothing of any alarm.
const noAlarmsKept = "这台服务器不保存告警记录，请连接正在运行的报警服务查看"

// noAlarm is the answer for an alarm the caller may not see or that does not exist.
func noAlarm(id string) error {
	return anxin.Errorf(anxin.ENOTFOUND, "没有编号为「%s」的告警（或不在您的辖区）", clip(id))
}

func (s *Server) listAlarms(w http.ResponseWriter, r *http.Request) error {
	if s.Alarms == nil {
		return anxin.Errorf(anxin.ENOTFOUND, noAlarmsKept)
	}
	since, err := s.dayParam(r, "since")
	if err != nil {
		return err
	}
	until, err := s.dayParam(r, "until")
	if err != nil {
		return err
	}
	if since.IsZero() {
		since = care.AddDays(s.Plan.Day(s.Now()), -30)
	}
	if until.IsZero() {
		until = s.Now().Add(time.Minute)
	}
	lim, err := intParam(r, "limit", 100, 1, 10000)
	if err != nil {
		return err
	}
	hh, err := s.areaHouseholds(r.Context())
	if err != nil {
		return err
	}
	if want := r.URL.Query().Get("household"); want != "" {
		if hh != nil && !hh[want] {
			hh = map[string]bool{}
		} else {
			hh = map[string]bool{want: true}
		}
	}
	as, err := s.Alarms.AlarmsOpened(r.Context(), since, until, hh, lim)
	if err != nil {
		return err
	}
	if st := r.URL.Query().Get("state"); st != "" {
		as = slices.DeleteFunc(as, func(a anxin.Alarm) bool { return string(a.State) != st })
	}
	if as == nil {
		as = []anxin.Alarm{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alarms": as})
	return nil
}

// TimelineEntry is one thing that happened to an alarm.
type TimelineEntry struct {
	At      time.Time `json:"at"`
	What    string    `json:"what"` // opened, attempt, accepted, closed
	Channel string    `json:"channel,omitempty"`
	To      string    `json:"to,omitempty"`    // name of the person
	Phone   string    `json:"phone,omitempty"` // masked
	Status  string    `json:"status,omitempty"`
	Detail  string    `json:"detail,omitempty"`
}

func (s *Server) getAlarm(w http.ResponseWriter, r *http.Request) error {
	if s.Alarms == nil {
		return anxin.Errorf(anxin.ENOTFOUND, noAlarmsKept)
	}
	ctx := r.Context()
	id := r.PathValue("id")
	a, timeline, err := s.AlarmTimeline(ctx, id)
	if err != nil {
		return err
	}
	visits, err := s.Store.Visits(ctx, visitFilterForAlarm(id))
	if err != nil {
		return err
	}
	if visits == nil {
		visits = []anxin.Visit{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alarm": a, "timeline": timeline, "visits": visits})
	return nil
}

// AlarmTimeline reads an alarm of the caller's area with what happened to
// it in order: opened, each attempt (person, masked phone, status),
// accepted, closed (the web app's board and GET alarms/{id} share it).
func (s *Server) AlarmTimeline(ctx context.Context, id string) (anxin.Alarm, []TimelineEntry, error) {
	a, err := s.visibleAlarm(ctx, id)
	if err != nil {
		return a, nil, err
	}
	timeline := []TimelineEntry{{At: a.OpenedAt, What: "opened", Detail: a.Reason}}
	var chain *anxin.Chain
	if s.Escalation != nil {
		// the escalation records are optional: an alarm routed to installers has none
		if c, err := s.Escalation.Chain(ctx, id); err == nil {
			chain = &c
		} else if anxin.ErrorCode(err) != anxin.ENOTFOUND {
			return a, nil, err
		}
		atts, err := s.Escalation.Attempts(ctx, id)
		if err != nil && anxin.ErrorCode(err) != anxin.ENOTFOUND {
			return a, nil, err
		}
		for _, at := range atts {
			e := TimelineEntry{At: at.CreatedAt, What: "attempt", Channel: string(at.Channel), Status: at.Status,
				Detail: string(at.Purpose)}
			if chain != nil && at.Target >= 0 && at.Target < len(chain.Targets) {
				e.To, e.Phone = chain.Targets[at.Target].Name, anxin.MaskPhone(chain.Targets[at.Target].Phone)
			}
			timeline = append(timeline, e)
		}
		if chain != nil && !chain.AcceptedAt.IsZero() {
			timeline = append(timeline, TimelineEntry{At: chain.AcceptedAt, What: "accepted", To: chain.AcceptedBy, Detail: chain.AcceptedVia})
		}
	}
	if !a.ClosedAt.IsZero() {
		closed := TimelineEntry{At: a.ClosedAt, What: "closed", Status: string(a.State)}
		notes, err := s.Store.AlarmNotes(ctx, id)
		if err != nil {
			return a, nil, err
		}
		for _, n := range notes {
			if n.What == "closed" { // by hand: who and why
				closed.To, closed.Detail = n.By, n.Text
			}
		}
		timeline = append(timeline, closed)
	}
	slices.SortStableFunc(timeline, func(x, y TimelineEntry) int { return x.At.Compare(y.At) })
	return a, timeline, nil
}

// AlarmOutcomeSource is an AlarmSource that also streams every alarm of a
// period with its escalation chain's acceptance time (anxin.AlarmStore does), so
// that the report's alarm statistics are exact, not limited.
type AlarmOutcomeSource interface {
	EachAlarmOutcome(ctx context.Context, since, until time.Time, households map[string]bool, fn func(anxin.AlarmOutcome) error) error
}

// acceptedAfter is how long an alarm took to be accepted: from opening to
// the chain's acceptance, or to the alarm's last update when no chain
// record is kept. ok is false for alarms nobody accepted.
func (s *Server) acceptedAfter(ctx context.Context, a anxin.Alarm) (time.Duration, bool, error) {
	if a.State != anxin.AlarmAccepted && a.AcceptedBy == "" {
		return 0, false, nil
	}
	var chainAt time.Time
	if s.Escalation != nil {
		c, err := s.Escalation.Chain(ctx, a.ID)
		switch {
		case err == nil:
			chainAt = c.AcceptedAt
		case anxin.ErrorCode(err) != anxin.ENOTFOUND:
			return 0, false, err
		}
	}
	d, ok := acceptWait(a.State, a.AcceptedBy, a.OpenedAt, a.UpdatedAt, chainAt)
	return d, ok, nil
}

// acceptWait is the time from opening to acceptance of an accepted alarm:
// to the chain's acceptance (chainAt, when not zero), else to its last
// update. ok is false for alarms nobody accepted.
func acceptWait(st anxin.AlarmState, acceptedBy string, opened, updated, chainAt time.Time) (time.Duration, bool) {
	if st != anxin.AlarmAccepted && acceptedBy == "" {
		return 0, false
	}
	at := updated
	if !chainAt.IsZero() {
		at = chainAt
	}
	if at.Before(opened) {
		return 0, false
	}
	return at.Sub(opened), true
}

// visibleAlarm reads an alarm of the caller's area; another area's alarm
// is answered as an unknown one.
func (s *Server) visibleAlarm(ctx context.Context, id string) (anxin.Alarm, error) {
	a, err := s.Alarms.Alarm(ctx, id)
	if anxin.ErrorCode(err) == anxin.ENOTFOUND {
		return a, noAlarm(id)
	} else if err != nil {
		return a, err
	}
	if ok, err := s.Store.HouseholdInArea(ctx, a.Household, scope(ctx)); err != nil {
		return a, err
	} else if !ok {
		return a, noAlarm(id)
	}
	return a, nil
}
