package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/storetest"
)

// A work order round-trips through a store file, its key admits one order
// ever (also after the store is reopened), and a save from an older read is
// refused: two writers never both assign it.
func TestWorkOrderStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alarmd.db")
	d, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	o := anxin.WorkOrder{Key: "alarm:01A", Kind: anxin.OrderAlarm, AlarmID: "01A", Household: "hh-1", Elder: "e1",
		Assignee: "wang", AssigneeName: "王芳", AssigneeRole: "worker", DispatchedBy: "auto", Status: anxin.OrderPending,
		CreatedAt: t0, AssignedAt: t0, History: []anxin.OrderMove{{At: t0, To: "wang", ToName: "王芳", By: "auto", Why: "unanswered"}}}
	if created, err := d.CreateWorkOrder(ctx, &o); err != nil || !created || o.ID == "" {
		t.Fatalf("create: %v %v %+v", created, err, o)
	}
	twice := anxin.WorkOrder{Key: "alarm:01A", Kind: anxin.OrderAlarm, Household: "hh-1", Assignee: "li", DispatchedBy: "ops",
		Status: anxin.OrderPending, CreatedAt: t0.Add(time.Minute), AssignedAt: t0.Add(time.Minute)}
	if created, err := d.CreateWorkOrder(ctx, &twice); err != nil || created || twice.ID != o.ID || twice.Assignee != "wang" {
		t.Fatalf("second order for the same alarm: %v %v %+v", created, err, twice)
	}
	if _, err := d.CreateWorkOrder(ctx, &anxin.WorkOrder{Key: "x", Household: "bad id", Assignee: "a", CreatedAt: t0}); anxin.ErrorCode(err) != anxin.EINVALID {
		t.Errorf("bad household: %v", err)
	}

	// two writers from the same read: the second is refused
	a, err := d.WorkOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	b := a
	b.History = append([]anxin.OrderMove(nil), a.History...)
	a.Status, a.AcceptedAt = anxin.OrderWorking, t0.Add(5*time.Minute)
	if err := d.SaveWorkOrder(ctx, &a); err != nil {
		t.Fatal(err)
	}
	b.Assignee, b.History = "li", append(b.History, anxin.OrderMove{At: t0.Add(30 * time.Minute), To: "li", By: "auto", Why: "untouched"})
	if err := d.SaveWorkOrder(ctx, &b); anxin.ErrorCode(err) != anxin.ECONFLICT {
		t.Fatalf("save from an older read: %v", err)
	}
	if err := d.SaveWorkOrder(ctx, &anxin.WorkOrder{ID: "nope"}); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("save of an unknown order: %v", err)
	}
	d.Close()

	// after a restart: the same order, the same key answer
	d, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := d.WorkOrderByKey(ctx, "alarm:01A")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("read back:\n%+v\nwant\n%+v", got, a)
	}
	again := anxin.WorkOrder{Key: "alarm:01A", Household: "hh-1", Assignee: "li", CreatedAt: t0, Status: anxin.OrderPending}
	if created, err := d.CreateWorkOrder(ctx, &again); err != nil || created {
		t.Fatalf("order again after a restart: %v %v", created, err)
	}
	if _, err := d.WorkOrder(ctx, "nope"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Errorf("unknown order: %v", err)
	}

	// listing: by assignee, open, pending, area, oldest first
	f := anxin.WorkOrder{Key: "follow_up:hh-2:1", Kind: anxin.OrderFollowUp, Household: "hh-2", Assignee: "li", DispatchedBy: "ops",
		Status: anxin.OrderPending, CreatedAt: t0.Add(time.Hour), AssignedAt: t0.Add(time.Hour)}
	if _, err := d.CreateWorkOrder(ctx, &f); err != nil {
		t.Fatal(err)
	}
	for _, e := range []anxin.ElderRecord{elderIn("e1", "hh-1", "善广村", 1), elderIn("e2", "hh-2", "龙井村", 2)} {
		if err := d.PutElder(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}
	for name, c := range map[string]struct {
		f    WorkOrderFilter
		want []string
	}{
		"all":        {WorkOrderFilter{}, []string{a.ID, f.ID}},
		"pending":    {WorkOrderFilter{Pending: true}, []string{f.ID}},
		"li's open":  {WorkOrderFilter{Assignee: "li", Open: true}, []string{f.ID}},
		"wang's":     {WorkOrderFilter{Assignee: "wang"}, []string{a.ID}},
		"善广村":        {WorkOrderFilter{Area: anxin.Area{Village: "善广村"}}, []string{a.ID}},
		"other area": {WorkOrderFilter{Area: anxin.Area{Village: "别的村"}}, nil},
	} {
		os, err := d.WorkOrders(ctx, c.f)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, o := range os {
			ids = append(ids, o.ID)
		}
		if !reflect.DeepEqual(ids, c.want) {
			t.Errorf("%s: %v, want %v", name, ids, c.want)
		}
	}
	a.Status, a.ResolvedAt, a.VisitID, a.Outcome = anxin.OrderResolved, t0.Add(time.Hour), "01V", "已上门，老人安好"
	if err := d.SaveWorkOrder(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if os, _ := d.WorkOrders(ctx, WorkOrderFilter{Open: true}); len(os) != 1 || os[0].ID != f.ID {
		t.Errorf("open after one resolved: %+v", os)
	}
}

// elderIn is a register record of household living in village.
func elderIn(id, household, village string, seq int) anxin.ElderRecord {
	e := storetest.Elder(id, fmt.Sprintf("11010119400506%03d1", seq), village)
	e.Household = household
	return e
}
