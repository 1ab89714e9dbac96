package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

func openTest(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestCreateVisitFromAlarmOutcome(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	at := time.Date(2026, 11, 23, 3, 12, 0, 0, time.UTC)
	v := anxin.Visit{Household: "hh-0001", Date: at, Method: anxin.VisitRemoteMonitoring,
		Health: "fell in the bathroom, conscious", Visitor: "李明", AlarmID: "01JDX3ABCDEFGHJKMNPQRSTVWX",
		FollowUpDue: at.Add(24 * time.Hour)}
	if err := db.CreateVisit(ctx, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.ID) != 26 {
		t.Fatalf("id %q is not a ULID", v.ID)
	}
	got, err := db.Visits(ctx, VisitFilter{AlarmID: v.AlarmID})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != v {
		t.Fatalf("got %+v, want %+v", got, v)
	}
	var due int64
	var alarm string
	if err := db.SQL().QueryRowContext(ctx, `SELECT follow_up_due, follow_up_alarm FROM visit_schedule WHERE household = ?`, "hh-0001").Scan(&due, &alarm); err != nil {
		t.Fatal(err)
	}
	if due != v.FollowUpDue.UnixMilli() || alarm != v.AlarmID {
		t.Fatalf("follow-up %d %q not scheduled", due, alarm)
	}
	// a later phone call closes the follow-up
	call := anxin.Visit{Household: "hh-0001", Date: at.Add(5 * time.Hour), Method: anxin.VisitPhone, Visitor: "王芳"}
	if err := db.CreateVisit(ctx, &call); err != nil {
		t.Fatal(err)
	}
	if err := db.SQL().QueryRowContext(ctx, `SELECT follow_up_due FROM visit_schedule WHERE household = ?`, "hh-0001").Scan(&due); err != nil {
		t.Fatal(err)
	}
	if due != 0 {
		t.Fatalf("follow-up still open after a phone call")
	}
	all, err := db.Visits(ctx, VisitFilter{Household: "hh-0001"})
	if err != nil || len(all) != 2 || all[0].ID != call.ID {
		t.Fatalf("visits newest first: %v %+v", err, all)
	}
}

func TestCreateVisitRejectsBadRecords(t *testing.T) {
	db := openTest(t)
	for _, v := range []anxin.Visit{
		{Household: "", Date: time.Now(), Method: anxin.VisitPhone},
		{Household: "hh-1", Method: anxin.VisitPhone},
		{Household: "hh-1", Date: time.Now(), Method: "fax"},
		{Household: "hh-1", Date: time.Now(), Method: anxin.VisitPhone, AlarmID: "bad id"},
	} {
		if err := db.CreateVisit(context.Background(), &v); anxin.ErrorCode(err) != anxin.EINVALID {
			t.Errorf("%+v: got %v, want invalid", v, err)
		}
	}
}
