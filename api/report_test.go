package api

import (
	"context"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// A family member accepting a smoke alarm is remote monitoring (远程监护),
// not a visit by a community worker: the elder is not "visited" for it.
func TestFamilyAcceptedAlarmIsNotAVisit(t *testing.T) {
	e := newEnv(t)
	if code := e.do("POST", "/api/v1/elders", districtToken, elderJSON("e0", "善广村", 0), nil); code != 201 {
		t.Fatal(code)
	}
	// as the escalation records an alarm the family accepted
	v := anxin.Visit{Household: "hh-e0", Date: now.Add(-time.Hour), Method: anxin.VisitRemoteMonitoring,
		Visitor: "李明", AlarmID: "01SMOKE", FollowUpDue: now.Add(23 * time.Hour)}
	if err := e.db.CreateVisit(context.Background(), &v); err != nil {
		t.Fatal(err)
	}
	var rep VisitRateReport
	if code := e.do("GET", "/api/v1/reports/visit-rate?month=2026-11", districtToken, nil, &rep); code != 200 {
		t.Fatalf("report: %d", code)
	}
	if rep.Total.InScope != 1 || rep.Total.Visited != 0 {
		t.Fatalf("an alarm accepted by family counted as a visit: %+v", rep.Total)
	}
}
