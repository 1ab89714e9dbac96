package web_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/anxin-care/anxin/sqlite"
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
	o := moveOrderToZhou(t, e, alarm, "王芳")
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
