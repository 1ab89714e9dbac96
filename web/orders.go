package web

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/dispatch"
	"github.com/anxin-care/anxin/words"
)

// Work orders (派单 → 化解 → 反馈), docs/web.md "Work orders": an operator
// hands an alarm or a follow-up to a worker; the worker sees it at the top
// of the due list, takes it, and closes it with the visit form, which
// records the visit (linked to the alarm) and the outcome. A worker sees
// only the orders assigned to them; an operator those of the area.

// orderRoutes are the work order pages, mounted by Handler.
var orderRoutes = []struct {
	pattern string
	desk    bool
	h       func(*Server, *request) error
}{
	{"GET " + Prefix + "orders", false, (*Server).ordersPage},
	{"GET " + Prefix + "orders/{id}", false, (*Server).orderPage},
	{"POST " + Prefix + "orders/{id}/accept", false, (*Server).acceptOrder},
	{"GET " + Prefix + "orders/{id}/visit", false, (*Server).orderVisitForm},
	{"POST " + Prefix + "orders/{id}/visit", false, (*Server).orderVisit},
	{"GET " + Prefix + "alarms/{id}/dispatch", true, (*Server).dispatchForm},
	{"POST " + Prefix + "alarms/{id}/dispatch", true, (*Server).dispatchAlarm},
	{"POST " + Prefix + "elders/{id}/dispatch", true, (*Server).dispatchFollowUp},
}

// orderRow is one work order as a page shows it.
type orderRow struct {
	anxin.WorkOrder
	ElderName string
	Masked    string // the name as the board shows it
	Address   string
	Tel       template.URL
	What      string // the alarm in words, or 告警后回访
	Kind      string
	Age       string // since it was dispatched
	Late      bool   // pending past half the timeout
}

var orderKinds = map[anxin.OrderKind]string{anxin.OrderAlarm: "告警派单", anxin.OrderFollowUp: "回访派单"}

var moveWhy = map[string]string{dispatch.WhyUnanswered: "告警无人接收，自动派单", dispatch.WhyNoAccept: "告警超时无人接收，自动派单",
	dispatch.WhyDispatched: "值班员派单", dispatch.WhyUntouched: "超时未接单，转派", dispatch.WhyResolvedBy: "由原处理人完成"}

var smsWords = map[string]string{dispatch.SMSSent: "已发短信", dispatch.SMSSending: "短信发送中", dispatch.SMSFailed: "短信发送失败",
	dispatch.SMSNone: "未发短信（无电话）", dispatch.SMSPending: "短信待发"}

// rows describes orders of the caller's area for the page (the callers
// checked the area). The elder is read through the records API: audited
// when full (the rows show name and phone); otherwise only the masked name
// is filled (the board).
func (s *Server) rows(req *request, os []anxin.WorkOrder, full bool) []orderRow {
	book := words.Default()
	now := s.Now()
	out := make([]orderRow, 0, len(os))
	var ids []string
	for _, o := range os {
		if o.Kind == anxin.OrderAlarm {
			ids = append(ids, o.Household)
		}
	}
	households, _ := req.api.HouseholdsByID(req.ctx, ids) // a row without its household names the alarm without the room
	for _, o := range os {
		r := orderRow{WorkOrder: o, Kind: orderKinds[o.Kind], Age: waited(now.Sub(o.CreatedAt)), What: "告警后回访"}
		if o.Status == anxin.OrderPending && s.Orders != nil && now.Sub(o.AssignedAt) > s.Orders.Timeout/2 {
			r.Late = true
		}
		switch {
		case o.Elder == "":
		case full:
			if e, err := req.api.Elder(req.ctx, o.Elder); err == nil {
				r.ElderName, r.Address, r.Tel = e.Name, e.Current.Township+e.Current.Village+e.Current.Detail, tel(e.Phone)
				r.Masked = anxin.MaskName(e.Name)
			}
		default: // the household's area was checked above
			if e, err := req.api.Store.Elder(req.ctx, o.Elder); err == nil {
				r.Masked = anxin.MaskName(e.Name)
			}
		}
		if o.Kind == anxin.OrderAlarm {
			if a, err := req.api.Store.Alarm(req.ctx, o.AlarmID); err == nil {
				h := households[o.Household]
				r.What = book.What(&a, &h)
			}
		}
		out = append(out, r)
	}
	return out
}

// myOrders are the caller's open orders, oldest first (the due list's top).
func (s *Server) myOrders(req *request) []orderRow {
	if s.Orders == nil {
		return nil
	}
	os, err := req.api.Store.WorkOrders(req.ctx, anxin.WorkOrderFilter{Assignee: req.account.Login, Open: true})
	if err != nil {
		s.Logger.Error("work orders not read", "err", err)
		return nil
	}
	// an order of a worker since moved to another area (or of an elder who
	// moved away) is left out: its household is no longer the caller's
	os = slices.DeleteFunc(os, func(o anxin.WorkOrder) bool {
		ok, err := s.inArea(req, o)
		if err != nil {
			s.Logger.Error("work order not shown: area not read", "order", o.ID, "err", err)
		}
		return !ok
	})
	return s.rows(req, os, true)
}

// areaOrders are the open orders of the caller's area, oldest first; full:
// with names and phones (an audited read), else the masked name only.
func (s *Server) areaOrders(req *request, full bool) ([]orderRow, error) {
	if s.Orders == nil {
		return nil, nil
	}
	area, err := anxin.ParseArea(req.account.Area)
	if err != nil {
		return nil, err
	}
	os, err := req.api.Store.WorkOrders(req.ctx, anxin.WorkOrderFilter{Area: area, Open: true})
	if err != nil {
		return nil, err
	}
	return s.rows(req, os, full), nil
}

func (s *Server) desk(req *request) bool {
	return req.account.Role == RoleOperator || req.account.Role == RoleAdmin
}

// inArea reports whether the order's household lies in the caller's area.
func (s *Server) inArea(req *request, o anxin.WorkOrder) (bool, error) {
	area, err := anxin.ParseArea(req.account.Area)
	if err != nil {
		return false, err
	}
	return req.api.Store.HouseholdInArea(req.ctx, o.Household, area)
}

// order reads an order the caller may see: a worker their own, an
// operator any of the area; both only while its household lies in the
// caller's area (a worker moved to another area no longer reads the old
// one's elders through an order). Anything else is not found.
func (s *Server) order(req *request) (anxin.WorkOrder, error) {
	if s.Orders == nil {
		return anxin.WorkOrder{}, anxin.Errorf(anxin.ENOTFOUND, "no work orders")
	}
	o, err := req.api.Store.WorkOrder(req.ctx, req.r.PathValue("id"))
	if err != nil {
		return o, err
	}
	if o.Assignee == req.account.Login || hadIt(o, req.account.Login) || s.desk(req) {
		if ok, err := s.inArea(req, o); err != nil || ok {
			return o, err
		}
	}
	return anxin.WorkOrder{}, anxin.Errorf(anxin.ENOTFOUND, "no such work order")
}

// hadIt reports whether login was assigned the order before it moved on:
// they may still read it and close it with the visit they made (the
// order then records who closed it), but not take it.
func hadIt(o anxin.WorkOrder, login string) bool {
	for _, m := range o.History {
		if m.To == login {
			return true
		}
	}
	return false
}

// followUpRow is an open follow-up an operator may hand on.
type followUpRow struct {
	anxin.Scheduled
	Workers []dispatch.Person
}

func (s *Server) ordersPage(req *request) error {
	if s.Orders == nil {
		return anxin.Errorf(anxin.ENOTFOUND, "no work orders")
	}
	data := map[string]any{"Title": "派单"}
	if !s.desk(req) {
		data["Orders"] = s.myOrders(req)
		s.render(req, http.StatusOK, "orders.html", data)
		return nil
	}
	orders, err := s.areaOrders(req, true)
	if err != nil {
		return err
	}
	data["Orders"] = orders
	area, err := anxin.ParseArea(req.account.Area)
	if err != nil {
		return err
	}
	fs, err := req.api.Store.Schedules(req.ctx, anxin.ScheduleFilter{ElderFilter: anxin.ElderFilter{Area: area}, FollowUpOnly: true})
	if err != nil {
		return err
	}
	var rows []followUpRow
	var workersOf func(anxin.ElderRecord) []dispatch.Person // the accounts read once for the page
	for _, f := range fs {
		if _, err := req.api.Store.WorkOrderByKey(req.ctx, dispatch.FollowUpKey(f.Household, f.FollowUpDue)); err == nil {
			continue // handed on already
		}
		if f.FollowUpAlarm != "" {
			if _, err := req.api.Store.WorkOrderByKey(req.ctx, dispatch.AlarmKey(f.FollowUpAlarm)); err == nil {
				continue // its alarm's order is the follow-up: its visit closes both
			}
		}
		e, err := req.api.Store.Elder(req.ctx, f.ID)
		if err != nil {
			return err
		}
		if workersOf == nil {
			if workersOf, err = s.Orders.WorkersOf(req.ctx); err != nil {
				return err
			}
		}
		rows = append(rows, followUpRow{Scheduled: f, Workers: workersOf(e)})
		if len(rows) == maxDueShown {
			break
		}
	}
	data["FollowUps"] = rows
	s.render(req, http.StatusOK, "orders.html", data)
	return nil
}

func (s *Server) orderPage(req *request) error {
	o, err := s.order(req)
	if err != nil {
		return err
	}
	rows := s.rows(req, []anxin.WorkOrder{o}, true) // order checked the area
	s.render(req, http.StatusOK, "order.html", map[string]any{"Title": "派单详情", "O": rows[0],
		"Mine": o.Assignee == req.account.Login || hadIt(o, req.account.Login), "Current": o.Assignee == req.account.Login,
		"Why": moveWhy, "SMS": smsWords})
	return nil
}

func (s *Server) acceptOrder(req *request) error {
	if _, err := s.order(req); err != nil {
		return err
	}
	o, err := s.Orders.Accept(req.ctx, req.r.PathValue("id"), req.account.Login)
	if err != nil {
		return err
	}
	s.Board.Poke()
	http.Redirect(req.w, req.r, Prefix+"orders/"+url.PathEscape(o.ID), http.StatusSeeOther)
	return nil
}

// mine reads an open order of the caller's with its elder (area-checked).
func (s *Server) mine(req *request) (anxin.WorkOrder, anxin.ElderRecord, error) {
	o, err := s.order(req)
	if err != nil {
		return o, anxin.ElderRecord{}, err
	}
	if o.Assignee != req.account.Login && !hadIt(o, req.account.Login) {
		return o, anxin.ElderRecord{}, anxin.Errorf(anxin.EFORBID, "此派单不是派给您的")
	}
	if o.Status == anxin.OrderWithdrawn {
		return o, anxin.ElderRecord{}, anxin.Errorf(anxin.ECONFLICT, "此派单已撤销（告警已关闭）；如已上门，请在老人页面登记探访")
	}
	if !o.Open() {
		return o, anxin.ElderRecord{}, anxin.Errorf(anxin.ECONFLICT, "此派单已化解")
	}
	e, err := req.api.Elder(req.ctx, o.Elder)
	return o, e, err
}

// orderVisitForm is the visit form (附件2) with the order's outcome.
func (s *Server) orderVisitForm(req *request) error {
	o, e, err := s.mine(req)
	if err != nil {
		return err
	}
	s.showOrderVisit(req, http.StatusOK, o, e, url.Values{}, nil)
	return nil
}

func (s *Server) showOrderVisit(req *request, status int, o anxin.WorkOrder, e anxin.ElderRecord, f url.Values, bad map[string]string) {
	if f.Get("method") == "" {
		f.Set("method", string(anxin.VisitHome))
	}
	if len(f.Get("key")) != 43 {
		f.Set("key", newToken())
	}
	rows := s.rows(req, []anxin.WorkOrder{o}, true) // order checked the area
	s.render(req, status, "visit.html", map[string]any{"Title": "处理结果", "E": e, "Items": formItems, "Methods": methods,
		"Satisfactions": satisfactions, "Form": f, "Bad": bad, "Order": rows[0], "Action": Prefix + "orders/" + o.ID + "/visit"})
}

// orderVisit records the visit of an order (linked to its alarm) and
// closes the order with the outcome (化解 → 反馈). The form key makes a
// resend record one visit and close the order once.
func (s *Server) orderVisit(req *request) error {
	o, e, err := s.mine(req)
	if anxin.ErrorCode(err) == anxin.ECONFLICT && o.VisitID != "" && s.recordedBy(req, o.VisitID) {
		// closed by this very form sent before (a double tap): done
		http.Redirect(req.w, req.r, savedURL(o.VisitID, true), http.StatusSeeOther)
		return nil
	}
	if anxin.ErrorCode(err) == anxin.ECONFLICT && o.Status == anxin.OrderResolved {
		return anxin.Errorf(anxin.ECONFLICT, "此派单已化解（已有处理结果），您这份处理结果没有保存；如已上门，请在老人页面登记探访")
	}
	if err != nil {
		return err
	}
	f := req.r.PostForm
	v, bad, outcome := decodeOrderVisit(f)
	if len(bad) > 0 {
		s.showOrderVisit(req, http.StatusBadRequest, o, e, f, bad)
		return nil
	}
	lead := "回访结果："
	if o.Kind == anxin.OrderAlarm {
		lead = "告警处理："
	}
	v.Health = joinNonEmpty(lead+outcome, v.Health)
	v.Elder, v.Household, v.AlarmID, v.Visitor, v.EnteredBy, v.Date = e.ID, e.Household, o.AlarmID, req.account.Name, req.account.Name, s.Now()
	id, already, err := s.saveVisitOnce(req, &v, "记录处理结果")
	if err != nil {
		return err
	}
	if _, err := s.Orders.Resolve(req.ctx, o.ID, req.account.Login, id, outcome); err != nil {
		return err
	}
	if !already {
		s.Board.Poke()
	}
	http.Redirect(req.w, req.r, savedURL(id, already), http.StatusSeeOther)
	return nil
}

// recordedBy: this form's key is the one that recorded visit (by this
// account). An order closed by another worker's visit was not closed by
// this form: its visit was not recorded and the answer must not say it was.
func (s *Server) recordedBy(req *request, visit string) bool {
	key := req.r.PostForm.Get("key")
	if len(key) != 43 {
		return false
	}
	done, claimed, err := s.Accounts.ClaimFormKey(req.ctx, key, req.account.Login, s.Now())
	if err != nil {
		s.Logger.Warn("form key not read", "err", err)
		return false
	}
	if claimed { // never sent before: give it back
		if err := s.Accounts.ReleaseFormKey(req.ctx, key); err != nil {
			s.Logger.Error("form key not released", "err", err)
		}
		return false
	}
	return done == visit
}

// decodeOrderVisit reads an order's visit form: the visit form (附件2) and
// the required outcome, valid UTF-8 of at most 500 characters, cleaned.
func decodeOrderVisit(f url.Values) (anxin.Visit, map[string]string, string) {
	v, bad := decodeVisit(f)
	raw := f.Get("outcome")
	outcome := text(raw)
	switch {
	case !utf8.ValidString(raw) || utf8.RuneCountInString(raw) > maxText:
		bad["outcome"] = "「处理结果」不能超过500字"
	case outcome == "":
		bad["outcome"] = "请填写处理结果（做了什么、老人现在怎样）"
	}
	return v, bad, outcome
}

// alarmElder is the visible alarm and the register's elder of its household.
func (s *Server) alarmElder(req *request) (anxin.Alarm, anxin.ElderRecord, error) {
	if s.Orders == nil {
		return anxin.Alarm{}, anxin.ElderRecord{}, anxin.Errorf(anxin.ENOTFOUND, "no work orders")
	}
	a, _, err := req.api.AlarmTimeline(req.ctx, req.r.PathValue("id"))
	if err != nil {
		return a, anxin.ElderRecord{}, err
	}
	es, err := req.api.Store.Elders(req.ctx, anxin.ElderFilter{Household: a.Household, Limit: 10})
	if err != nil {
		return a, anxin.ElderRecord{}, err
	}
	for _, e := range es {
		if e.GridWorker != "" || len(es) == 1 {
			return a, e, nil
		}
	}
	return a, anxin.ElderRecord{}, anxin.Errorf(anxin.ENOTFOUND, "no elder of household %s in the register", a.Household)
}

func (s *Server) dispatchForm(req *request) error {
	a, e, err := s.alarmElder(req)
	if err != nil {
		return err
	}
	ws, err := s.Orders.Workers(req.ctx, e)
	if err != nil {
		return err
	}
	data := map[string]any{"Title": "告警派单", "A": a, "E": e, "Workers": ws, "What": words.Default().What(&a, &anxin.Household{})}
	if o, err := req.api.Store.WorkOrderByKey(req.ctx, dispatch.AlarmKey(a.ID)); err == nil {
		data["Existing"] = o
	}
	if h, ok, _ := req.api.Household(req.ctx, a.Household); ok {
		data["What"] = words.Default().What(&a, &h)
	}
	s.render(req, http.StatusOK, "dispatch.html", data)
	return nil
}

// chosen is the worker the form names, among those of the elder's area.
func (s *Server) chosen(req *request, e anxin.ElderRecord) (dispatch.Person, string, error) {
	ws, err := s.Orders.Workers(req.ctx, e)
	if err != nil {
		return dispatch.Person{}, "", err
	}
	to := req.r.PostForm.Get("to")
	note := text(req.r.PostForm.Get("note"))
	if utf8.RuneCountInString(note) > maxText {
		return dispatch.Person{}, "", anxin.Errorf(anxin.EINVALID, "「派单说明」不能超过500字")
	}
	for _, w := range ws {
		if w.Login == to {
			return w, note, nil
		}
	}
	return dispatch.Person{}, "", anxin.Errorf(anxin.EINVALID, "请选择老人所在辖区的一位社区工作人员")
}

func (s *Server) dispatchAlarm(req *request) error {
	a, e, err := s.alarmElder(req)
	if err != nil {
		return err
	}
	p, note, err := s.chosen(req, e)
	if err != nil {
		return err
	}
	o := anxin.WorkOrder{Key: dispatch.AlarmKey(a.ID), Kind: anxin.OrderAlarm, AlarmID: a.ID, Household: a.Household, Elder: e.ID, Note: note}
	return s.dispatched(req, &o, p)
}

func (s *Server) dispatchFollowUp(req *request) error {
	if s.Orders == nil {
		return anxin.Errorf(anxin.ENOTFOUND, "no work orders")
	}
	e, err := req.api.Elder(req.ctx, req.r.PathValue("id"))
	if err != nil {
		return err
	}
	fs, err := req.api.Store.Schedules(req.ctx, anxin.ScheduleFilter{ElderFilter: anxin.ElderFilter{Household: e.Household}, FollowUpOnly: true})
	if err != nil {
		return err
	}
	var due time.Time
	var alarm string
	for _, f := range fs {
		if f.ID == e.ID {
			due, alarm = f.FollowUpDue, f.FollowUpAlarm
		}
	}
	if due.IsZero() {
		return anxin.Errorf(anxin.ECONFLICT, "这位老人没有待回访的告警")
	}
	p, note, err := s.chosen(req, e)
	if err != nil {
		return err
	}
	o := anxin.WorkOrder{Key: dispatch.FollowUpKey(e.Household, due), Kind: anxin.OrderFollowUp, AlarmID: alarm,
		Household: e.Household, Elder: e.ID, Note: note}
	return s.dispatched(req, &o, p)
}

func (s *Server) dispatched(req *request, o *anxin.WorkOrder, p dispatch.Person) error {
	created, err := s.Orders.Dispatch(req.ctx, o, p, req.account.Login, dispatch.WhyDispatched)
	if err != nil {
		return err
	}
	if !created {
		return anxin.Errorf(anxin.ECONFLICT, "已经派单给%s，不能重复派单", o.AssigneeName)
	}
	s.Board.Poke()
	http.Redirect(req.w, req.r, Prefix+"orders", http.StatusSeeOther)
	return nil
}
