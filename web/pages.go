package web

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/api"
)

// maxDueShown bounds the due list on one page; the rest are counted.
const maxDueShown = 50

// dueRow is one elder on the due list as the page shows it.
type dueRow struct {
	api.DueItem
	Address string
	Tel     template.URL
}

// duePage is 今日待访. A worker sees "my elders" (those whose grid worker,
// as registered, is the account's name) unless ?all=1 asks for the whole
// area; operators and admins see their area.
func (s *Server) duePage(req *request) error {
	mine := req.account.Role == RoleWorker && req.r.URL.Query().Get("all") != "1"
	visitor := ""
	if mine {
		visitor = req.account.Name
	}
	items, today, err := req.api.DueTodayFor(req.ctx, visitor)
	if err != nil {
		return err
	}
	shown := items[:min(len(items), maxDueShown)]
	rows := make([]dueRow, len(shown))
	for i, it := range shown {
		// the schedule row carries the current address: no read per elder
		rows[i] = dueRow{DueItem: it, Tel: tel(it.Phone), Address: it.Township + it.Village + it.Scheduled.Address}
	}
	s.render(req, http.StatusOK, "due.html", map[string]any{"Title": "今日待访", "Today": today.Format("2006-01-02"), "Rows": rows,
		"More": len(items) - len(shown), "Total": len(items),
		"Mine": mine, "Worker": req.account.Role == RoleWorker, "Orders": s.myOrders(req), "Saved": s.savedNote(req)})
	return nil
}

// savedNote is the due list's line after a visit form was saved
// (?saved=<visit id>, &again=1 when the form had been sent before): the
// method and time of the visit, so that the worker knows it is recorded
// (the elder may well stay on the list: a phone call does not replace a
// key elder's home visit). Only for a visit this account entered within
// the hour (its form key was this login's); any other id shows nothing.
func (s *Server) savedNote(req *request) string {
	q := req.r.URL.Query()
	id := q.Get("saved")
	if id == "" || len(id) > 64 {
		return ""
	}
	v, err := req.api.Store.Visit(req.ctx, id)
	if err != nil {
		if anxin.ErrorCode(err) != anxin.ENOTFOUND {
			s.Logger.Warn("saved visit not read", "err", err)
		}
		return ""
	}
	if s.Now().Sub(v.Date) > time.Hour {
		return ""
	}
	// by login: the visit records its 录入人 by display name, which two
	// workers may share
	if mine, err := s.Accounts.EnteredVisit(req.ctx, req.account.Login, v.ID); err != nil || !mine {
		if err != nil {
			s.Logger.Warn("saved visit's form not read", "err", err)
		}
		return ""
	}
	what := methodName(v.Method) + " · " + v.Date.In(china).Format("15:04")
	if q.Get("again") == "1" {
		return "这份探访记录此前已保存（" + what + "），没有重复记录。"
	}
	return "探访记录已保存（" + what + "）。"
}

// savedURL is where a saved visit form goes: the due list saying so.
func savedURL(id string, already bool) string {
	u := Prefix + "due?saved=" + url.QueryEscape(id)
	if already {
		u += "&again=1"
	}
	return u
}

// tel is a tel: link for a phone number (digits and + only: safe as a URL).
func tel(p string) template.URL {
	out := make([]rune, 0, len(p))
	for _, r := range p {
		if r == '+' || r >= '0' && r <= '9' {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return ""
	}
	return template.URL("tel:" + string(out))
}

func joinNonEmpty(parts ...string) string {
	out := ""
	for _, p := range parts {
		if p != "" {
			if out != "" {
				out += "；"
			}
			out += p
		}
	}
	return out
}

func methodName(m anxin.VisitMethod) string {
	for _, c := range methods {
		if c.Value == m {
			return c.Label
		}
	}
	if m == anxin.VisitRemoteMonitoring {
		return "远程监测"
	}
	return string(m)
}

func (s *Server) visitForm(req *request) error {
	e, err := req.api.Elder(req.ctx, req.r.PathValue("id"))
	if err != nil {
		return err
	}
	s.showVisitForm(req, http.StatusOK, e, url.Values{}, nil)
	return nil
}

func (s *Server) showVisitForm(req *request, status int, e anxin.ElderRecord, f url.Values, bad map[string]string) {
	if f.Get("method") == "" {
		f.Set("method", string(anxin.VisitHome))
	}
	if len(f.Get("key")) != 43 {
		f.Set("key", newToken())
	}
	s.render(req, status, "visit.html", map[string]any{"Title": "探访记录", "E": e, "Items": formItems, "Methods": methods,
		"Satisfactions": satisfactions, "Form": f, "Bad": bad})
}

func (s *Server) recordVisit(req *request) error {
	e, err := req.api.Elder(req.ctx, req.r.PathValue("id"))
	if err != nil {
		return err
	}
	v, bad := decodeVisit(req.r.PostForm)
	if len(bad) > 0 {
		s.showVisitForm(req, http.StatusBadRequest, e, req.r.PostForm, bad)
		return nil
	}
	v.Elder, v.Household, v.Visitor, v.EnteredBy, v.Date = e.ID, e.Household, req.account.Name, req.account.Name, s.Now()
	id, already, err := s.saveVisitOnce(req, &v, "记录探访")
	if err != nil {
		return err
	}
	http.Redirect(req.w, req.r, savedURL(id, already), http.StatusSeeOther)
	return nil
}

// saveVisitOnce records v under the form's key, so that the same form sent
// again (a double tap, a resend after a dropped connection, the phone's
// kept copy) records one visit: id is the visit recorded, by this call or
// (already) by an earlier send of the form. form names the form in the
// error of an expired key.
func (s *Server) saveVisitOnce(req *request, v *anxin.Visit, form string) (id string, already bool, err error) {
	key := req.r.PostForm.Get("key")
	if len(key) != 43 {
		return "", false, anxin.Errorf(anxin.EINVALID, "表单已过期，请重新打开「%s」", form)
	}
	done, claimed, err := s.Accounts.ClaimFormKey(req.ctx, key, req.account.Login, s.Now())
	switch {
	case err != nil:
		return "", false, err
	case !claimed && done != "": // sent again: it is already recorded
		return done, true, nil
	case !claimed:
		return "", false, anxin.Errorf(anxin.ECONFLICT, "这份探访记录正在保存，请稍后查看「今日待访」")
	}
	if err := req.api.RecordVisit(req.ctx, v); err != nil {
		if rerr := s.Accounts.ReleaseFormKey(req.ctx, key); rerr != nil {
			s.Logger.Error("form key not released", "err", rerr)
		}
		return "", false, err
	}
	if err := s.Accounts.FinishFormKey(req.ctx, key, v.ID); err != nil {
		s.Logger.Error("form key not finished: a resend of this form will be refused", "visit", v.ID, "err", err)
	}
	return v.ID, false, nil
}

// reportNotVisited is how many of 本月未探访名单 the page lists; the
// XLSX has them all.
const reportNotVisited = 100

func (s *Server) reportPage(req *request) error {
	q := req.r.URL.Query()
	rep, err := req.api.VisitRate(req.ctx, q.Get("month"), reportNotVisited)
	if err != nil {
		return err
	}
	rep.Filler, rep.Phone = clipText(q.Get("filler")), clipText(q.Get("phone"))
	x := url.Values{"month": {rep.Month}}
	for k, v := range map[string]string{"filler": rep.Filler, "phone": rep.Phone} {
		if v != "" {
			x.Set(k, v)
		}
	}
	s.render(req, http.StatusOK, "report.html", map[string]any{"Title": "月度探访率", "R": rep,
		"NotVisited": rep.NotVisited, "More": rep.NotVisitedCount - len(rep.NotVisited), "XLSX": Prefix + "report.xlsx?" + x.Encode()})
	return nil
}

// clipText keeps a header field of the report page printable and short
// (the XLSX download checks it again through the API).
func clipText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(strings.TrimSpace(s), ""))
	if r := []rune(s); len(r) > 64 {
		s = string(r[:64])
	}
	return s
}

func (s *Server) reportXLSX(req *request) error {
	q := url.Values{"format": {"xlsx"}}
	for _, k := range []string{"month", "filler", "phone"} {
		if v := req.r.URL.Query().Get(k); v != "" {
			q.Set(k, v)
		}
	}
	r := req.r.Clone(req.ctx)
	r.URL.RawQuery = q.Encode()
	req.api.ServeVisitRate(req.w, r)
	return nil
}
