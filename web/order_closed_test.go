package web_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/dispatch"
	"github.com/anxin-care/anxin/sqlite"
	"github.com/anxin-care/anxin/web"
)

// An order closed by another worker while this one filled in its form:
// her form is not the one that closed it, so it was not recorded, and the
// answer must say so. It said "already recorded" (a redirect to the due
// list with &again=1, the other worker's visit id), and with a colleague of
// the same name the due list even read 这份探访记录此前已保存.
func TestOrderClosedByAnotherIsNotSaidSaved(t *testing.T) {
	e, _, alarm := newOrdersEnv(t)
	ctx := context.Background()
	// a colleague of the same name (two 王芳 in one township are common)
	if err := web.PutAccount(ctx, e.db, "zhou", "王芳", "善广村", web.RoleWorker, "correct-horse-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	d := &dispatch.Dispatcher{Store: e.db}
	o := anxin.WorkOrder{Key: dispatch.AlarmKey(alarm.ID), Kind: anxin.OrderAlarm, AlarmID: alarm.ID, Household: "hh-a1", Elder: "a1"}
	if _, err := d.Dispatch(ctx, &o, dispatch.Person{Login: "wang", Name: "王芳", Role: "worker"}, dispatch.Auto, dispatch.WhyUnanswered); err != nil {
		t.Fatal(err)
	}
	o, _ = e.db.WorkOrder(ctx, o.ID)
	o.Assignee, o.AssigneeName = "zhou", "王芳"
	o.History = append(o.History, anxin.OrderMove{At: time.Now(), To: "zhou", ToName: "王芳", By: dispatch.Auto, Why: dispatch.WhyUntouched})
	if err := e.db.SaveWorkOrder(ctx, &o); err != nil {
		t.Fatal(err)
	}
	form := func(b *browser, csrf string) url.Values {
		_, page, _ := b.do("GET", "/app/orders/"+o.ID+"/visit", nil)
		key := regexp.MustCompile(`name="key" value="([^"]+)"`).FindStringSubmatch(page)
		if key == nil {
			t.Fatalf("form: %s", page)
		}
		return url.Values{"csrf": {csrf}, "key": {key[1]}, "method": {"home"}, "outcome": {"上门查看，老人安好"}}
	}
	zhou := e.browser()
	zhouForm := form(zhou, zhou.mustSignIn("zhou"))
	wang := e.browser()
	if code, _, _ := wang.do("POST", "/app/orders/"+o.ID+"/visit", form(wang, wang.mustSignIn("wang"))); code != 303 {
		t.Fatalf("wang closes it: %d", code)
	}
	code, page, h := zhou.do("POST", "/app/orders/"+o.ID+"/visit", zhouForm)
	if code == 303 {
		_, page, _ = zhou.do("GET", h.Get("Location"), nil)
	}
	if strings.Contains(h.Get("Location"), "again=1") || strings.Contains(page, "此前已保存") || !strings.Contains(page, "没有保存") {
		t.Errorf("zhou's form, not recorded, answered: %d %s\n%s", code, h.Get("Location"), page)
	}
	if vs, _ := e.db.Visits(ctx, sqlite.VisitFilter{AlarmID: alarm.ID}); len(vs) != 1 {
		t.Errorf("%d visits, want wang's one", len(vs))
	}
}
