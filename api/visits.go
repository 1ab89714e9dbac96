package api

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/care"
)

// dayParam reads a YYYY-MM-DD (a day in the plan's location) or RFC 3339 parameter.
func (s *Server) dayParam(r *http.Request, name string) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, s.Plan.Location); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, anxin.Errorf(anxin.EINVALID, "%s 须为 YYYY-MM-DD 格式的日期（如 2026-11-23）或 RFC 3339 时间", name)
}

// pageParams reads the since, until, limit (default 100) and offset of a listing.
func (s *Server) pageParams(r *http.Request) (since, until time.Time, limit, offset int, err error) {
	if since, err = s.dayParam(r, "since"); err != nil {
		return
	}
	if until, err = s.dayParam(r, "until"); err != nil {
		return
	}
	if limit, err = intParam(r, "limit", 100, 1, 10000); err != nil {
		return
	}
	offset, err = intParam(r, "offset", 0, 0, 1<<30)
	return
}

func (s *Server) listVisits(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := anxin.VisitFilter{Household: q.Get("household"), Elder: q.Get("elder"), Visitor: q.Get("visitor"),
		AlarmID: q.Get("alarm_id"), Area: scope(r.Context())}
	if item := q.Get("item"); item != "" {
		it, ok := anxin.VisitItemByName(item)
		if !ok {
			return anxin.Errorf(anxin.EINVALID, "item 须为附件2 的探访项目之一，如 用电安全")
		}
		f.Item, f.ItemValue = it.Key, q.Get("value")
	}
	var err error
	if f.Since, f.Until, f.Limit, f.Offset, err = s.pageParams(r); err != nil {
		return err
	}
	vs, err := s.Store.Visits(r.Context(), f)
	if err != nil {
		return err
	}
	if vs == nil {
		vs = []anxin.Visit{}
	}
	withLabels(vs)
	writeJSON(w, http.StatusOK, map[string]any{"visits": vs, "limit": f.Limit, "offset": f.Offset})
	return nil
}

func (s *Server) createVisit(w http.ResponseWriter, r *http.Request) error {
	var b visitBody
	if err := decodeJSON(w, r, &b); err != nil {
		return err
	}
	v := b.Visit
	if b.Name != "" && v.Elder == "" {
		m, err := s.findElder(r.Context(), b.Name, b.Village)
		if err != nil {
			return err
		}
		v.Elder = m.ID
	}
	if err := s.RecordVisit(r.Context(), &v); err != nil {
		return err
	}
	v.MethodName = v.Method.Label()
	w.Header().Set("Location", Prefix+"visits/"+v.ID)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// RecordVisit stores a visit to an elder of the caller's area (the web
// app's visit form and POST visits share it); it sets v.ID. The elder is
// v.Elder (档案编号), else the one registered in v.Household; an unknown
// elder is refused. Items given by their printed labels are stored by key,
// and summarized into the free-text fields.
func (s *Server) RecordVisit(ctx context.Context, v *anxin.Visit) error {
	if v.ID != "" {
		return anxin.Errorf(anxin.EINVALID, "探访记录的编号由系统生成，请不要填写 id")
	}
	if v.Date.IsZero() {
		v.Date = s.Now()
	}
	if v.Date.After(s.Now().Add(time.Hour)) {
		return anxin.Errorf(anxin.EINVALID, "探访日期不能晚于现在")
	}
	if !v.Method.Valid() {
		return anxin.Errorf(anxin.EINVALID, "探访方式应为电话问候、上门探访、互联网音视频、其他之一（或 phone, home, audio_video, remote_monitoring, other）")
	}
	if err := s.resolveVisitElder(ctx, v); err != nil {
		return err
	}
	if err := v.NormalizeItems(); err != nil {
		return err
	}
	v.Summarize()
	for i := range v.Services {
		if v.Services[i].Date.IsZero() {
			v.Services[i].Date = v.Date
		}
	}
	if v.EnteredBy == "" {
		v.EnteredBy = caller(ctx).Name
	}
	if err := s.Store.CreateVisit(ctx, v); err != nil {
		return err
	}
	s.auditChange(ctx, auditVisitCreate, v.ID, v.Household)
	s.Logger.Info("visit recorded", "visit", v.ID, "household", anxin.MaskRecordID(v.Household), "method", v.Method, "token", caller(ctx).Name)
	return nil
}

// DueItem is one elder on a due, overdue or follow-up list.
type DueItem struct {
	anxin.Scheduled
	PhoneDue    string `json:"phone_due"` // YYYY-MM-DD
	HomeDue     string `json:"home_due"`
	Surge       string `json:"surge,omitempty"` // why the phone contact was brought forward
	Overdue     bool   `json:"overdue"`
	DaysOverdue int    `json:"days_overdue,omitempty"` // of the earliest overdue contact
}

// schedule lists the caller's consenting elders with their due days,
// filtered by ?visitor= (grid worker) and ?village=. dueBy (not zero) keeps
// only elders with a contact due on or before that day; followUps only
// those with an open follow-up.
func (s *Server) schedule(r *http.Request, dueBy time.Time, followUps bool) ([]DueItem, time.Time, error) {
	q := r.URL.Query()
	f := anxin.ScheduleFilter{ElderFilter: anxin.ElderFilter{Area: scope(r.Context()), Village: q.Get("village"),
		GridWorker: q.Get("visitor")}, ConsentOnly: true, FollowUpOnly: followUps}
	if !dueBy.IsZero() {
		f.Due = s.dueCut(dueBy)
	}
	rows, err := s.Store.Schedules(r.Context(), f)
	if err != nil {
		return nil, time.Time{}, err
	}
	today := s.Plan.Day(s.Now())
	out := make([]DueItem, 0, len(rows))
	for _, row := range rows {
		d := s.Plan.Due(row.Tier, row.LastContact, row.LastHome, row.Registered)
		it := DueItem{Scheduled: row, PhoneDue: d.Phone.Format(time.DateOnly), HomeDue: d.Home.Format(time.DateOnly),
			Surge: d.Surge}
		earliest := d.Phone
		if d.Home.Before(earliest) {
			earliest = d.Home
		}
		if earliest.Before(today) {
			it.Overdue = true
			it.DaysOverdue = int(today.Sub(earliest).Hours()/24 + 0.5)
		}
		if !dueBy.IsZero() && earliest.After(dueBy) {
			continue
		}
		out = append(out, it)
	}
	return out, today, nil
}

// dueCut is the store-side narrowing for "a contact due on or before day":
// a phone contact every p days is due by then only if the last contact was
// before day+1-p (a surge that has begun by then makes p 1); home visits alike.
func (s *Server) dueCut(day time.Time) *anxin.DueCut {
	surge := false
	for _, sg := range s.Plan.Surges {
		if !s.Plan.Day(sg.From).After(day) {
			surge = true
		}
	}
	cut := &anxin.DueCut{Tiers: map[anxin.Tier]anxin.Cut{}}
	for _, t := range []anxin.Tier{anxin.TierIrregular, anxin.TierGeneral, anxin.TierKey, anxin.TierHigh} {
		c, ok := s.Plan.Cadence[t]
		if !ok || c.PhoneDays < 1 || c.HomeDays < 1 {
			continue // Due falls back to defaults: do not narrow
		}
		phone := c.PhoneDays
		if surge {
			phone = 1
		}
		cut.Tiers[t] = anxin.Cut{Contact: care.AddDays(day, 1-phone), Home: care.AddDays(day, 1-c.HomeDays)}
	}
	return cut
}

// dueList: elders with a phone or home visit due from today to ?within= days
// ahead (default 0: today), overdue ones included.
func (s *Server) dueList(w http.ResponseWriter, r *http.Request) error {
	within, err := intParam(r, "within", 0, 0, 366)
	if err != nil {
		return err
	}
	today := s.Plan.Day(s.Now())
	out, _, err := s.schedule(r, care.AddDays(today, within), false)
	if err != nil {
		return err
	}
	return s.writeDue(w, r, today, out)
}

func (s *Server) overdueList(w http.ResponseWriter, r *http.Request) error {
	out, today, err := s.overdue(r)
	if err != nil {
		return err
	}
	return s.writeDue(w, r, today, out)
}

// followUpList: open follow-ups after alarms (跟踪回访), earliest due first.
func (s *Server) followUpList(w http.ResponseWriter, r *http.Request) error {
	out, today, err := s.schedule(r, time.Time{}, true)
	if err != nil {
		return err
	}
	for i := range out {
		out[i].Overdue = out[i].FollowUpDue.Before(s.Now())
	}
	slices.SortStableFunc(out, func(a, b DueItem) int { return a.FollowUpDue.Compare(b.FollowUpDue) })
	return s.writeDue(w, r, today, out)
}

// overdue lists the elders with a contact due before today, most overdue first.
func (s *Server) overdue(r *http.Request) ([]DueItem, time.Time, error) {
	today := s.Plan.Day(s.Now())
	out, _, err := s.schedule(r, care.AddDays(today, -1), false)
	if err != nil {
		return nil, today, err
	}
	slices.SortStableFunc(out, func(a, b DueItem) int { return b.DaysOverdue - a.DaysOverdue })
	return out, today, nil
}

// writeDue answers a due list: names and phone numbers masked unless the
// caller asks for them (?unmasked=1, audited).
func (s *Server) writeDue(w http.ResponseWriter, r *http.Request, today time.Time, items []DueItem) error {
	if items == nil {
		items = []DueItem{}
	}
	if err := s.maskDue(r, auditDueList, items); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"today": today.Format(time.DateOnly), "count": len(items), "elders": items})
	return nil
}

// maskDue masks the names and phone numbers of due items in place, or,
// with ?unmasked=1, audits their read under action.
func (s *Server) maskDue(r *http.Request, action string, items []DueItem) error {
	if unmasked(r) {
		ids := make([]string, len(items))
		for i := range items {
			ids[i] = items[i].ID
		}
		return s.audit(r.Context(), action, "", ids...)
	}
	for i := range items {
		items[i].Name, items[i].Phone = anxin.MaskName(items[i].Name), anxin.MaskPhone(items[i].Phone)
	}
	return nil
}
