// Package dispatch runs work orders (派单 → 化解 → 反馈): an alarm nobody
// took is handed to the household's grid worker automatically, once, even
// across restarts; an operator hands on an alarm or a follow-up by hand;
// the assignee is told by SMS and sees the order at the top of the due
// list; an order nobody took within the timeout moves to the next person
// (the elder's responders in order, then an operator). The web app closes
// an order with the visit that records what was done. docs/web.md
// ("Work orders") is the reference.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/words"
)

// Defaults of the configuration keys (web.work_order_timeout, web.dispatch_after).
const (
	DefaultTimeout       = 30 * time.Minute
	DefaultDispatchAfter = 15 * time.Minute
	DefaultEvery         = 30 * time.Second
)

// Auto is the DispatchedBy and By of what alarmd does itself.
const Auto = "auto"

// Why an order moved, as recorded in its history.
const (
	WhyUnanswered = "unanswered"  // the chain ended without anyone taking the alarm
	WhyNoAccept   = "no_accept"   // nobody took the alarm within DispatchAfter
	WhyDispatched = "dispatched"  // an operator handed it on
	WhyUntouched  = "untouched"   // the assignee did not take it within Timeout
	WhyResolvedBy = "resolved_by" // an earlier assignee closed it with their visit
	WhyWithdrawn  = "withdrawn"   // the alarm was closed before anyone visited
)

// SMS states of a move.
const (
	SMSPending = ""
	SMSSending = "sending" // written before the send: a crash here is not sent twice
	SMSSent    = "sent"
	SMSFailed  = "failed"
	SMSNone    = "none" // no phone known for the person
)

// Dispatcher makes and moves work orders. Set the fields, then call Pass
// (or Run, which calls it every Every and when poked).
type Dispatcher struct {
	Store      anxin.Store
	Households anxin.Households // alarmd's households (community contacts' phones); nil: none
	Notifier   anxin.Notifier   // nil: nobody is told by SMS (logged)
	Words      *words.Book      // nil: words.Default()
	PublicURL  string           // links in the SMS: PublicURL + /app/orders/<id>
	Now        func() time.Time
	Logger     *slog.Logger
	// Timeout moves a pending order to the next person; DispatchAfter
	// dispatches an alarm still open (nobody took it) this long after it
	// opened, before its chain ends.
	Timeout, DispatchAfter, Every time.Duration

	mu      sync.Mutex // one pass at a time
	pokes   chan struct{}
	initErr sync.Once
	warnMu  sync.Mutex
	warned  map[string]bool // problems logged once per process, not every pass
}

// once reports whether key is new (its problem is logged the first time only).
func (d *Dispatcher) once(key string) bool {
	d.warnMu.Lock()
	defer d.warnMu.Unlock()
	if d.warned == nil {
		d.warned = map[string]bool{}
	}
	if d.warned[key] {
		return false
	}
	d.warned[key] = true
	return true
}

func (d *Dispatcher) init() {
	d.initErr.Do(func() {
		if d.Now == nil {
			d.Now = time.Now
		}
		if d.Logger == nil {
			d.Logger = slog.New(slog.DiscardHandler)
		}
		if d.Words == nil {
			d.Words = words.Default()
		}
		if d.Timeout <= 0 {
			d.Timeout = DefaultTimeout
		}
		if d.DispatchAfter <= 0 {
			d.DispatchAfter = DefaultDispatchAfter
		}
		if d.Every <= 0 {
			d.Every = DefaultEvery
		}
		d.pokes = make(chan struct{}, 1)
	})
}

// Poke asks Run for a pass soon (an alarm changed).
func (d *Dispatcher) Poke() {
	d.init()
	select {
	case d.pokes <- struct{}{}:
	default:
	}
}

// Run passes every Every and when poked until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) error {
	d.init()
	t := time.NewTicker(d.Every)
	defer t.Stop()
	for {
		if err := d.Pass(ctx); err != nil && ctx.Err() == nil {
			d.Logger.Error("work order pass failed; next pass retries", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-d.pokes:
		}
	}
}

// Person is someone an order can be assigned to: an account, and the phone
// the register or the household file gives that name ("" when none).
type Person struct {
	Login, Name, Role, Phone string
}

// Pass dispatches the alarms nobody took, moves the orders nobody took in
// time, and sends the notices not sent yet. Each step is idempotent.
func (d *Dispatcher) Pass(ctx context.Context) error {
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	live, err := d.liveAlarms(ctx)
	errs := []error{err}
	errs = append(errs, d.withdrawClosed(ctx, live))
	if err == nil {
		errs = append(errs, d.dispatchUnanswered(ctx, live))
	}
	errs = append(errs, d.moveUntouched(ctx))
	errs = append(errs, d.sendNotices(ctx))
	return errors.Join(errs...)
}

// AlarmKey is the idempotency key of an alarm's order.
func AlarmKey(alarmID string) string { return "alarm:" + alarmID }

// FollowUpKey is the key of a household's follow-up due at due.
func FollowUpKey(household string, due time.Time) string {
	return fmt.Sprintf("follow_up:%s:%d", household, due.UnixMilli())
}

// liveAlarms are the alarms of the last week nobody closed: unanswered,
// open and accepted, in that order, newest first within each. One read
// per state serves the whole pass.
func (d *Dispatcher) liveAlarms(ctx context.Context) ([]anxin.Alarm, error) {
	since := d.Now().AddDate(0, 0, -7)
	var live []anxin.Alarm
	for _, st := range []anxin.AlarmState{anxin.AlarmUnanswered, anxin.AlarmOpen, anxin.AlarmAccepted} {
		as, err := d.Store.Alarms(ctx, anxin.AlarmFilter{State: st, Since: since, Limit: 10000})
		if err != nil {
			return nil, err
		}
		live = append(live, as...)
	}
	return live, nil
}

func (d *Dispatcher) dispatchUnanswered(ctx context.Context, live []anxin.Alarm) error {
	now := d.Now()
	var due []anxin.Alarm
	for _, a := range live {
		if a.Route == anxin.RouteInstaller || a.State == anxin.AlarmAccepted ||
			a.State == anxin.AlarmOpen && now.Sub(a.OpenedAt) < d.DispatchAfter {
			continue
		}
		due = append(due, a)
	}
	if len(due) == 0 {
		return nil
	}
	ids := make([]string, len(due))
	for i, a := range due {
		ids[i] = a.ID
	}
	done, err := d.Store.DispatchedAlarms(ctx, ids)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range due {
		if done[a.ID] {
			continue // dispatched before (by alarmd or an operator); the key refuses a second anyway
		}
		why := WhyUnanswered
		if a.State == anxin.AlarmOpen {
			why = WhyNoAccept
		}
		e, _ := d.elderOf(ctx, a.Household)
		people, err := d.Candidates(ctx, e, a.Household)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(people) == 0 {
			if !d.once("nobody:" + a.ID) {
				continue
			}
			d.Logger.Error("alarm nobody took has nobody to dispatch to: add the grid worker's account (alarmd account) or an operator",
				"alarm", a.ID, "household", a.Household)
			continue
		}
		o := anxin.WorkOrder{Key: AlarmKey(a.ID), Kind: anxin.OrderAlarm, AlarmID: a.ID, Household: a.Household, Elder: e.ID}
		if _, err := d.Dispatch(ctx, &o, people[0], Auto, why); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Dispatch creates o (Key, Kind, Household, Elder and AlarmID set by the
// caller) assigned to p, unless an order with its key exists: created is
// false then and o is that order. The SMS goes on the next pass or at once.
func (d *Dispatcher) Dispatch(ctx context.Context, o *anxin.WorkOrder, p Person, by, why string) (bool, error) {
	d.init()
	now := d.Now()
	o.Assignee, o.AssigneeName, o.AssigneeRole, o.DispatchedBy = p.Login, p.Name, p.Role, by
	o.Status, o.CreatedAt, o.AssignedAt = anxin.OrderPending, now, now
	o.History = []anxin.OrderMove{{At: now, To: p.Login, ToName: p.Name, By: by, Why: why}}
	created, err := d.Store.CreateWorkOrder(ctx, o)
	if err != nil || !created {
		return created, err
	}
	d.Logger.Info("work order dispatched", "order", o.ID, "kind", o.Kind, "alarm", o.AlarmID, "household", o.Household,
		"to", o.Assignee, "by", by, "why", why)
	d.notify(ctx, o, p)
	return true, nil
}

// withdrawClosed withdraws the open orders of alarms that were closed
// (staff closed them, or the device cleared) before anyone recorded a
// visit, and tells the assignee so they do not go for nothing. The notice
// goes once, as every move's: marked before the send. A follow-up order
// stays: the visit after an alarm is due however it ended. An alarm
// among live (read once for the pass) is not closed; only the others are
// read, one by one: those closed, and those older than live reaches.
func (d *Dispatcher) withdrawClosed(ctx context.Context, live []anxin.Alarm) error {
	open, err := d.Store.WorkOrders(ctx, anxin.WorkOrderFilter{Open: true, Limit: 10000})
	if err != nil {
		return err
	}
	notClosed := make(map[string]bool, len(live))
	for _, a := range live {
		notClosed[a.ID] = true
	}
	var errs []error
	for _, o := range open {
		if o.Kind != anxin.OrderAlarm || o.AlarmID == "" || notClosed[o.AlarmID] {
			continue
		}
		a, err := d.Store.Alarm(ctx, o.AlarmID)
		if err != nil {
			if anxin.ErrorCode(err) != anxin.ENOTFOUND {
				errs = append(errs, err)
			}
			continue
		}
		if a.State != anxin.AlarmResolved {
			continue
		}
		now := d.Now()
		o.Status, o.ResolvedAt, o.Outcome = anxin.OrderWithdrawn, now, "告警已关闭，派单撤销"
		o.History = append(o.History, anxin.OrderMove{At: now, To: o.Assignee, ToName: o.AssigneeName, By: Auto, Why: WhyWithdrawn})
		// versioned: a visit recorded meanwhile wins (the order is resolved)
		if err := d.Store.SaveWorkOrder(ctx, &o); anxin.ErrorCode(err) == anxin.ECONFLICT {
			continue
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		d.Logger.Info("work order withdrawn: its alarm was closed", "order", o.ID, "alarm", o.AlarmID, "assignee", o.Assignee)
		d.notify(ctx, &o, Person{Login: o.Assignee, Name: o.AssigneeName, Role: o.AssigneeRole})
	}
	return errors.Join(errs...)
}

// moveUntouched hands each pending order past Timeout to the next person.
func (d *Dispatcher) moveUntouched(ctx context.Context) error {
	now := d.Now()
	open, err := d.Store.WorkOrders(ctx, anxin.WorkOrderFilter{Pending: true, Limit: 10000})
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range open {
		if now.Sub(o.AssignedAt) < d.Timeout {
			continue
		}
		e, _ := d.elderOf(ctx, o.Household)
		people, err := d.Candidates(ctx, e, o.Household)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		next, ok := nextPerson(people, &o)
		if !ok {
			continue // the last in line (an operator) keeps it; the board shows its age
		}
		from := o.Assignee
		o.Assignee, o.AssigneeName, o.AssigneeRole, o.AssignedAt = next.Login, next.Name, next.Role, now
		o.History = append(o.History, anxin.OrderMove{At: now, To: next.Login, ToName: next.Name, By: Auto, Why: WhyUntouched})
		// versioned: an assignee who took it meanwhile (or another pass)
		// wins, and the order never has two assignees
		if err := d.Store.SaveWorkOrder(ctx, &o); anxin.ErrorCode(err) == anxin.ECONFLICT {
			continue
		} else if err != nil {
			errs = append(errs, err)
			continue
		}
		d.Logger.Info("work order moved: nobody took it in time", "order", o.ID, "from", from, "to", next.Login,
			"after", d.Timeout)
		d.notify(ctx, &o, next)
	}
	return errors.Join(errs...)
}

// nextPerson is who an untouched order goes to: the next in line after
// the current assignee who never had it; then the last in line (an
// operator) if it is not the assignee already.
func nextPerson(people []Person, o *anxin.WorkOrder) (Person, bool) {
	had := map[string]bool{}
	for _, m := range o.History {
		had[m.To] = true
	}
	at := -1
	for i, p := range people {
		if p.Login == o.Assignee {
			at = i
		}
	}
	for i := at + 1; i < len(people); i++ {
		if !had[people[i].Login] {
			return people[i], true
		}
	}
	if at < 0 && len(people) > 0 {
		for _, p := range people {
			if !had[p.Login] {
				return p, true
			}
		}
	}
	return Person{}, false
}

// Notices that failed are tried again after 1, 2, 4 and 8 minutes; one the
// provider refused for good (Send's retry false) is not tried again. A
// withdrawal's notice is sent or retried within withdrawnNotice of it
// (the tries take 15 minutes); later it would only mislead.
const (
	noticeTries   = 5
	noticeBackoff = time.Minute
	// a notice refused for the account's sake (ErrAccount) is tried again
	// after 5, 10, 20, 40 min, then every hour, while its move is the
	// order's last: it goes once an operator mends the account
	accountBackoff    = 5 * time.Minute
	accountBackoffMax = time.Hour
	withdrawnNotice   = time.Hour
)

// sendNotices sends the SMS of orders (open, or withdrawn lately) whose
// last move was not told yet (alarmd stopped between writing the move and
// sending) or whose notice failed and is due for another try.
func (d *Dispatcher) sendNotices(ctx context.Context) error {
	now := d.Now()
	open, err := d.Store.WorkOrders(ctx, anxin.WorkOrderFilter{Open: true, Limit: 10000})
	if err != nil {
		return err
	}
	withdrawn, err := d.Store.WorkOrders(ctx, anxin.WorkOrderFilter{WithdrawnSince: now.Add(-withdrawnNotice), Limit: 10000})
	if err != nil {
		return err
	}
	open = append(open, withdrawn...)
	for i := range open {
		o := &open[i]
		n := len(o.History)
		if n == 0 {
			continue
		}
		switch m := &o.History[n-1]; {
		case m.SMS == SMSPending:
		case m.SMS == SMSFailed && m.SMSAccount && !now.Before(m.SMSAt.Add(accountWait(m.SMSTries))):
			m.SMS = SMSPending
		case m.SMS == SMSFailed && !m.SMSRefused && !m.SMSAccount && m.SMSTries < noticeTries &&
			!now.Before(m.SMSAt.Add(noticeBackoff<<(max(m.SMSTries, 1)-1))):
			m.SMS = SMSPending // notify marks it sending (versioned) before the send
		default:
			continue
		}
		d.notify(ctx, o, Person{Login: o.Assignee, Name: o.AssigneeName, Role: o.AssigneeRole})
	}
	return nil
}

// accountWait is how long a notice refused for the account waits after
// its tries-th try.
func accountWait(tries int) time.Duration {
	if tries < 1 || tries > 4 {
		return accountBackoffMax
	}
	return min(accountBackoff<<(tries-1), accountBackoffMax)
}

// notify sends the SMS of o's last move to p, at most once: the move is
// marked sending before the send and sent or failed after it.
func (d *Dispatcher) notify(ctx context.Context, o *anxin.WorkOrder, p Person) {
	n := len(o.History) - 1
	if n < 0 || o.History[n].SMS != SMSPending {
		return
	}
	e, _ := d.elderOf(ctx, o.Household) // read once: the phone and the text (zero: none)
	if p.Phone == "" {
		p.Phone = d.phoneOf(ctx, e, o.Household, p.Name)
	}
	mark := func(st, msg string) bool {
		o.History[n].SMS = st
		if st == SMSSent {
			o.History[n].SMSAccount = false
		}
		if msg != "" {
			o.History[n].SMSError = msg
		}
		err := d.Store.SaveWorkOrder(ctx, o)
		for try := 0; anxin.ErrorCode(err) == anxin.ECONFLICT && st != SMSSending && try < 5; try++ {
			// the outcome of a send this writer made: another write (the
			// assignee took the order) must not leave it "sending"; moves
			// are only appended, so the move is still at n
			fresh, rerr := d.Store.WorkOrder(ctx, o.ID)
			if rerr != nil || len(fresh.History) <= n || fresh.History[n].SMS != SMSSending {
				break
			}
			fresh.History[n] = o.History[n]
			*o = fresh
			err = d.Store.SaveWorkOrder(ctx, o)
		}
		if err != nil {
			d.Logger.Warn("work order notice state not saved", "order", o.ID, "state", st, "err", err)
			return false
		}
		return true
	}
	if p.Phone == "" || d.Notifier == nil {
		why := "no phone for the assignee in the register (responders) or the household's community contacts"
		if d.Notifier == nil {
			why = "no notifier"
		}
		d.Logger.Warn("work order notice not sent: "+why, "order", o.ID, "to", o.Assignee)
		mark(SMSNone, why)
		return
	}
	body, masked := d.bodies(ctx, o, e, n > 0)
	notice := anxin.Notification{AttemptID: "order/" + o.ID + "/" + fmt.Sprint(n), AlarmID: o.AlarmID,
		To: p.Phone, Channel: anxin.ChannelSMS, Body: body, Masked: masked}
	if o.History[n].SMSMaybe {
		// the last try may have gone through: only the provider can tell
		ids, err := d.Notifier.Lookup(ctx, notice, o.History[n].At)
		if err != nil {
			d.Logger.Warn("work order notice: cannot tell whether the last try went through; asking again later", "order", o.ID, "err", err)
			return // stays failed: the next pass past the backoff asks again
		}
		o.History[n].SMSMaybe = false
		if len(ids) > 0 {
			d.Logger.Info("work order notice had gone through", "order", o.ID, "to", anxin.MaskPhone(p.Phone), "provider_id", ids[0])
			mark(SMSSent, "")
			return
		}
	}
	o.History[n].SMSTries++
	o.History[n].SMSAt = d.Now()
	if !mark(SMSSending, "") {
		return // another writer has the order now; its own pass tells
	}
	id, retry, err := d.Notifier.Send(ctx, notice)
	if err != nil {
		// a permanent refusal (invalid number, …) fails the same way the
		// next four times: it is given up at once, with its reason
		// an account refused (credentials, balance) is tried again slowly
		account := !retry && errors.Is(err, anxin.ErrAccount)
		if o.History[n].SMSAccount && !account {
			// the account's tries are not passing faults': a passing
			// fault after them gets the quick tries afresh, this its first
			o.History[n].SMSTries = 1
		}
		o.History[n].SMSMaybe = retry && errors.Is(err, anxin.ErrMaybeSent)
		o.History[n].SMSRefused = !retry && !account
		o.History[n].SMSAccount = account
		d.Logger.Warn("work order notice not sent", "order", o.ID, "to", anxin.MaskPhone(p.Phone), "err", err,
			"tries", o.History[n].SMSTries, "refused", !retry && !account, "account", account,
			"retry", account || retry && o.History[n].SMSTries < noticeTries)
		mark(SMSFailed, clip(err.Error()))
		return
	}
	d.Logger.Info("work order notice sent", "order", o.ID, "to", anxin.MaskPhone(p.Phone), "provider_id", id, "text", masked)
	mark(SMSSent, "")
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200]
	}
	return s
}

// bodies are the notice and its masked twin (for logs); e is the
// household's elder in the register (zero: none).
func (d *Dispatcher) bodies(ctx context.Context, o *anxin.WorkOrder, e anxin.ElderRecord, moved bool) (string, string) {
	h := anxin.Household{ID: o.Household}
	if d.Households != nil {
		if hh, err := d.Households.Household(ctx, o.Household); err == nil {
			h = hh
		}
	}
	if e.ID != "" {
		h.Elder.Name = e.Name
		h.Elder.Address = e.Current.Township + e.Current.Village + e.Current.Detail
	}
	var a *anxin.Alarm
	if o.Kind == anxin.OrderAlarm && o.AlarmID != "" {
		if al, err := d.Store.Alarm(ctx, o.AlarmID); err == nil {
			a = &al
		}
	}
	link := strings.TrimRight(d.PublicURL, "/") + "/app/orders/" + o.ID
	m := h
	m.Elder.Name, m.Elder.Address, m.Elder.Phone = anxin.MaskName(h.Elder.Name), "", ""
	if o.Status == anxin.OrderWithdrawn {
		return d.Words.OrderWithdrawn(&h), d.Words.OrderWithdrawn(&m)
	}
	return d.Words.Order(a, &h, link, moved), d.Words.Order(a, &m, link, moved)
}

// elderOf is the register's elder of a household: the one with a grid
// worker first.
func (d *Dispatcher) elderOf(ctx context.Context, household string) (anxin.ElderRecord, error) {
	es, err := d.Store.Elders(ctx, anxin.ElderFilter{Household: household, Limit: 10})
	if err != nil {
		return anxin.ElderRecord{}, err
	}
	for _, e := range es {
		if e.GridWorker != "" {
			return e, nil
		}
	}
	if len(es) > 0 {
		return es[0], nil
	}
	return anxin.ElderRecord{}, anxin.Errorf(anxin.ENOTFOUND, "household %s has no elder in the register", household)
}

// Candidates are the people an order of the household goes to, in order:
// the elder's grid worker, the elder's responders in their order, then
// an operator (or admin) whose area holds the elder. A name becomes a
// person only when exactly one worker account (login or name equal to it)
// has an area holding the elder's current address; a name matching none
// or several is skipped (logged). With no register record, only operators
// of the whole district.
func (d *Dispatcher) Candidates(ctx context.Context, e anxin.ElderRecord, household string) ([]Person, error) {
	var out []Person
	seen := map[string]bool{}
	add := func(p Person) {
		if !seen[p.Login] {
			seen[p.Login] = true
			out = append(out, p)
		}
	}
	if e.ID != "" {
		names := []string{e.GridWorker}
		for _, r := range e.Responders {
			names = append(names, r.Name)
		}
		for _, name := range names {
			if strings.TrimSpace(name) == "" {
				continue
			}
			accs, err := d.Store.AccountsNamed(ctx, name)
			if err != nil {
				return nil, err
			}
			var fit []anxin.Account
			for _, a := range accs {
				if a.Role == "worker" && holds(a.Area, e) {
					fit = append(fit, a)
				}
			}
			if len(fit) != 1 {
				if !d.once("name:" + e.ID + ":" + name) {
					continue
				}
				d.Logger.Warn("register name is not one worker account of the elder's area: skipped for work orders",
					"name", anxin.MaskName(name), "elder", anxin.MaskRecordID(e.ID), "accounts", len(fit))
				continue
			}
			add(Person{Login: fit[0].Login, Name: fit[0].Name, Role: fit[0].Role, Phone: d.phoneOf(ctx, e, household, fit[0].Name)})
		}
	}
	for _, role := range []string{"operator", "admin"} {
		accs, err := d.Store.AccountsWithRole(ctx, role)
		if err != nil {
			return nil, err
		}
		for _, a := range accs {
			if (e.ID == "" && a.Area == "") || (e.ID != "" && holds(a.Area, e)) {
				add(Person{Login: a.Login, Name: a.Name, Role: a.Role, Phone: d.phoneOf(ctx, e, household, a.Name)})
				return out, nil // one operator: the last in line
			}
		}
	}
	return out, nil
}

// Workers are the worker accounts whose area holds the elder (an
// operator's choice when dispatching by hand).
func (d *Dispatcher) Workers(ctx context.Context, e anxin.ElderRecord) ([]Person, error) {
	of, err := d.WorkersOf(ctx)
	if err != nil {
		return nil, err
	}
	return of(e), nil
}

// WorkersOf reads the worker accounts once and gives Workers of any elder
// from them (a page that lists many elders).
func (d *Dispatcher) WorkersOf(ctx context.Context) (func(anxin.ElderRecord) []Person, error) {
	accs, err := d.Store.AccountsWithRole(ctx, "worker")
	if err != nil {
		return nil, err
	}
	return func(e anxin.ElderRecord) []Person {
		var out []Person
		for _, a := range accs {
			if holds(a.Area, e) {
				out = append(out, Person{Login: a.Login, Name: a.Name, Role: a.Role, Phone: d.phoneOf(ctx, e, e.Household, a.Name)})
			}
		}
		return out
	}, nil
}

func holds(area string, e anxin.ElderRecord) bool {
	a, err := anxin.ParseArea(area)
	return err == nil && a.Contains(e.Current.Township, e.Current.Village)
}

// phoneOf is the phone of a person by name: the elder's responders first,
// then the household's community contacts in alarmd's households file.
func (d *Dispatcher) phoneOf(ctx context.Context, e anxin.ElderRecord, household, name string) string {
	for _, r := range e.Responders {
		if r.Name == name && anxin.ValidPhone(r.Phone) {
			return r.Phone
		}
	}
	if d.Households != nil {
		if h, err := d.Households.Household(ctx, household); err == nil {
			for _, c := range h.Community {
				if c.Name == name && anxin.ValidPhone(c.Phone) {
					return c.Phone
				}
			}
		}
	}
	return ""
}

// Accept records that the assignee login took the order (处理中). Taking
// an order someone else holds is ENOTFOUND; taking it again changes nothing.
func (d *Dispatcher) Accept(ctx context.Context, id, login string) (anxin.WorkOrder, error) {
	d.init()
	for try := 0; ; try++ {
		o, err := d.Store.WorkOrder(ctx, id)
		if err != nil {
			return o, err
		}
		if o.Assignee != login {
			return o, anxin.Errorf(anxin.ENOTFOUND, "no such work order")
		}
		if o.Status != anxin.OrderPending {
			return o, nil
		}
		o.Status, o.AcceptedAt = anxin.OrderWorking, d.Now()
		err = d.Store.SaveWorkOrder(ctx, &o)
		if anxin.ErrorCode(err) == anxin.ECONFLICT && try < 5 {
			continue
		}
		if err == nil {
			d.Logger.Info("work order taken", "order", o.ID, "by", login)
		}
		return o, err
	}
}

// Resolve closes the order with the visit that recorded what was done and
// the outcome in the worker's words (已化解). A resolved order stays so.
func (d *Dispatcher) Resolve(ctx context.Context, id, login, visitID, outcome string) (anxin.WorkOrder, error) {
	d.init()
	for try := 0; ; try++ {
		o, err := d.Store.WorkOrder(ctx, id)
		if err != nil || o.Status == anxin.OrderResolved {
			return o, err
		}
		now := d.Now()
		if o.AcceptedAt.IsZero() {
			o.AcceptedAt = now
		}
		if o.Assignee != login { // moved on while the visit was being written: the visit is theirs
			name, role := login, o.AssigneeRole
			for _, m := range o.History {
				if m.To == login && m.ToName != "" {
					name = m.ToName
				}
			}
			o.History = append(o.History, anxin.OrderMove{At: now, To: login, ToName: name, By: login, Why: WhyResolvedBy, SMS: SMSNone})
			o.Assignee, o.AssigneeName, o.AssigneeRole = login, name, role
		}
		o.Status, o.ResolvedAt, o.VisitID, o.Outcome = anxin.OrderResolved, now, visitID, outcome
		err = d.Store.SaveWorkOrder(ctx, &o)
		if anxin.ErrorCode(err) == anxin.ECONFLICT && try < 5 {
			continue
		}
		if err == nil {
			d.Logger.Info("work order resolved", "order", o.ID, "by", login, "visit", visitID)
		}
		return o, err
	}
}
