package sqlite

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// What only a file store can show: a work order and its last save outlive
// a restart, and its key still admits one order ever after it. The rest of
// the contract (one order per key, a save from an older read is ECONFLICT,
// listing) is storetest's WorkOrders, which runs on SQLite too.
func TestWorkOrderStoreRestart(t *testing.T) {
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
	a, err := d.WorkOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	a.Status, a.AcceptedAt = anxin.OrderWorking, t0.Add(5*time.Minute)
	if err := d.SaveWorkOrder(ctx, &a); err != nil {
		t.Fatal(err)
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
	if created, err := d.CreateWorkOrder(ctx, &again); err != nil || created || again.ID != o.ID {
		t.Fatalf("order again after a restart: %v %v %+v", created, err, again)
	}
}
