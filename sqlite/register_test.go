package sqlite

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
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
	if len(got) != 1 || !reflect.DeepEqual(got[0], v) {
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
	// the same outcome recorded again (a restart of the escalation) is the same visit
	again := anxin.Visit{Household: "hh-0001", Date: at, Method: anxin.VisitRemoteMonitoring, AlarmID: v.AlarmID,
		FollowUpDue: at.Add(24 * time.Hour)}
	if err := db.CreateVisit(ctx, &again); err != nil || again.ID != v.ID {
		t.Fatalf("second outcome: %v, id %q want %q", err, again.ID, v.ID)
	}
	if n, _ := db.Visits(ctx, VisitFilter{AlarmID: v.AlarmID}); len(n) != 1 {
		t.Fatalf("%d visits for one alarm outcome", len(n))
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

func testElder(id, idNumber, village string) anxin.ElderRecord {
	return anxin.ElderRecord{ID: id, Household: "hh-" + id, Name: "张桂兰", Gender: anxin.Female, IDNumber: idNumber,
		Phone:      "+8613800001234",
		Registered: anxin.Address{County: "禄劝县", Township: "屏山街道", Village: "善广村", Detail: "3组12号"},
		Current:    anxin.Address{County: "禄劝县", Township: "屏山街道", Village: village, Detail: "3组12号"},
		Ability:    "轻度失能", Illness: "高血压", Economic: "低保",
		Categories: []anxin.Category{anxin.CategoryAlone, anxin.CategoryLeftBehind},
		Assessment: anxin.Assessment{Guardianship: anxin.GuardianAlone, SelfCare: anxin.SelfCareMild,
			Health: anxin.HealthChronic, Age: 82, AssessedOn: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
		Score: 10, Tier: anxin.TierKey,
		Contacts:   []anxin.Contact{{Name: "李明", Relation: "child", Phone: "+8613900000001"}},
		Responders: []anxin.Contact{{Name: "王芳", Role: "grid_worker", Phone: "+8613700000002"}},
		GridWorker: "王芳", Consent: true,
		CreatedAt: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC), UpdatedAt: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
}

func TestElderPutGetList(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	e := testElder("e1", "11010519491231002X", "善广村")
	if err := db.PutElder(ctx, &e); err != nil {
		t.Fatal(err)
	}
	got, err := db.Elder(ctx, "e1")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(e) {
		t.Fatalf("got  %+v\nwant %+v", got, e)
	}
	if _, err := db.Elder(ctx, "nobody"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("unknown elder: %v", err)
	}
	// update keeps created_at
	e.Name, e.CreatedAt, e.UpdatedAt = "张桂英", time.Time{}, e.UpdatedAt.Add(time.Hour)
	if err := db.PutElder(ctx, &e); err != nil {
		t.Fatal(err)
	}
	got, _ = db.Elder(ctx, "e1")
	if got.Name != "张桂英" || !got.CreatedAt.Equal(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)) || !got.UpdatedAt.Equal(e.UpdatedAt) {
		t.Fatalf("update: %+v", got)
	}
	e2 := testElder("e2", "440304196508123214", "东村")
	if err := db.PutElder(ctx, &e2); err != nil {
		t.Fatal(err)
	}
	// an area matches exactly: 屏山街道 alone is a village name, 屏山街道/* the township
	for s, want := range map[string]int{"": 2, "善广村": 1, "东村": 1, "屏山街道": 0, "屏山街道/*": 2, "屏山街道/东村": 1, "西村": 0} {
		area, err := anxin.ParseArea(s)
		if err != nil {
			t.Fatal(err)
		}
		list, err := db.Elders(ctx, ElderFilter{Area: area})
		if err != nil || len(list) != want {
			t.Errorf("area %q: %d elders, want %d (%v)", area, len(list), want, err)
		}
		if n, err := db.CountElders(ctx, ElderFilter{Area: area}); err != nil || n != want {
			t.Errorf("count area %q: %d %v", area, n, err)
		}
	}
}

func TestImportEldersAllOrNothing(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	held := testElder("e1", "11010519491231002X", "善广村")
	if err := db.PutElder(ctx, &held); err != nil {
		t.Fatal(err)
	}
	batch := []anxin.ElderRecord{
		testElder("e2", "440304196508123214", "东村"),
		testElder("e3", "11010519491231002X", "东村"), // held by e1
		testElder("e4", "440304196508123214", "东村"), // same as e2 in this import
	}
	err := db.ImportElders(ctx, batch, time.Time{})
	var ce *ConflictError
	if !errors.As(err, &ce) || len(ce.Conflicts) != 2 || ce.Conflicts[0].Index != 1 || ce.Conflicts[1].Index != 2 {
		t.Fatalf("conflicts: %v", err)
	}
	if n, _ := db.CountElders(ctx, ElderFilter{}); n != 1 {
		t.Fatalf("%d elders after a failed import, want 1", n)
	}
	// two records swapping ID numbers (a typo fixed) is not a conflict
	other := testElder("e2", "440304196508123214", "东村")
	if err := db.PutElder(ctx, &other); err != nil {
		t.Fatal(err)
	}
	a, b := testElder("e1", "440304196508123214", "善广村"), testElder("e2", "11010519491231002X", "东村")
	if err := db.ImportElders(ctx, []anxin.ElderRecord{a, b}, time.Time{}); err != nil {
		t.Fatalf("swap: %v", err)
	}
	if got, _ := db.Elder(ctx, "e2"); got.IDNumber != "11010519491231002X" {
		t.Fatalf("swap: %+v", got)
	}
}

func TestSchedulesAndVisitCounts(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	for i, v := range []string{"善广村", "善广村", "东村"} {
		e := testElder(fmt.Sprintf("e%d", i), fmt.Sprintf("id%d", i), v)
		e.Consent = i != 1
		if err := db.PutElder(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}
	nov := time.Date(2026, 11, 5, 2, 0, 0, 0, time.UTC)
	for _, v := range []anxin.Visit{
		{Household: "hh-e0", Date: nov, Method: anxin.VisitHome, Visitor: "王芳"},
		{Household: "hh-e0", Date: nov.Add(48 * time.Hour), Method: anxin.VisitPhone, Visitor: "王芳"},
		{Household: "hh-e2", Date: nov.AddDate(0, -1, 0), Method: anxin.VisitPhone, Visitor: "王芳"},
		{Household: "hh-e2", Date: nov, Method: anxin.VisitRemoteMonitoring, AlarmID: "A1", FollowUpDue: nov.Add(24 * time.Hour)},
	} {
		if err := db.CreateVisit(ctx, &v); err != nil {
			t.Fatal(err)
		}
	}
	s, err := db.Schedules(ctx, ScheduleFilter{})
	if err != nil || len(s) != 3 {
		t.Fatal(s, err)
	}
	if !s[0].LastHome.Equal(nov) || !s[0].LastContact.Equal(nov.Add(48*time.Hour)) || !s[1].LastContact.IsZero() ||
		!s[2].LastContact.Equal(nov.AddDate(0, -1, 0)) || s[2].FollowUpAlarm != "A1" || s[1].Consent {
		t.Fatalf("%+v", s)
	}
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	counts, err := db.VisitCounts(ctx, anxin.Area{}, from, from.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(counts)
	// e2 (东村) had only an alarm outcome in November: remote monitoring, not a visit
	want := "[{屏山街道 东村 key true 1 0} {屏山街道 善广村 key false 1 0} {屏山街道 善广村 key true 1 1}]"
	if got != want {
		t.Fatalf("counts %s, want %s", got, want)
	}
	// the monthly report's rows: records by method, and the last visit before the month's end for e2
	more := anxin.Visit{Household: "hh-e0", Date: nov.Add(time.Hour), Method: anxin.VisitOther, Visitor: "王芳"}
	if err := db.CreateVisit(ctx, &more); err != nil {
		t.Fatal(err)
	}
	months, err := db.MonthVisits(ctx, anxin.Area{}, from, from.AddDate(0, 1, 0))
	if err != nil || len(months) != 3 {
		t.Fatal(months, err)
	}
	for _, m := range months {
		c := [5]int{m.Home, m.PhoneCalls, m.AudioVideo, m.Other, m.Remote}
		switch m.ID {
		case "e0":
			if c != [5]int{1, 1, 0, 1, 0} || !m.LastContact.IsZero() {
				t.Errorf("e0 %+v", m)
			}
		case "e2":
			if c != [5]int{0, 0, 0, 0, 1} || !m.LastContact.Equal(nov.AddDate(0, -1, 0)) {
				t.Errorf("e2 %+v", m)
			}
		}
	}
	if c, _ := db.VisitCounts(ctx, anxin.Area{Village: "东村"}, from, from.AddDate(0, 1, 0)); len(c) != 1 {
		t.Fatalf("area: %v", c)
	}
}

func TestAlarmsOpened(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i, hh := range []string{"hh-1", "hh-2", "hh-1", "hh-3"} {
		at := t0.Add(time.Duration(i) * 24 * time.Hour)
		if _, err := db.SQL().ExecContext(ctx, `INSERT INTO alarms (id, household, rule, rule_kind, severity, route, state, opened_at, updated_at)
			VALUES (?, ?, 'button', 'event', 'critical', 'family', 'accepted', ?, ?)`, fmt.Sprintf("A%d", i), hh, alarmTime(at), alarmTime(at)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		since, until time.Time
		hh           map[string]bool
		limit        int
		want         string
	}{
		{time.Time{}, time.Time{}, nil, 0, "A3 A2 A1 A0"},
		{t0.Add(24 * time.Hour), t0.Add(72 * time.Hour), nil, 0, "A2 A1"},
		{time.Time{}, time.Time{}, map[string]bool{"hh-1": true}, 0, "A2 A0"},
		{time.Time{}, time.Time{}, map[string]bool{"hh-1": true, "hh-3": true}, 2, "A3 A2"},
		{time.Time{}, time.Time{}, map[string]bool{}, 0, ""},
	} {
		as, err := db.AlarmsOpened(ctx, c.since, c.until, c.hh, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range as {
			ids = append(ids, a.ID)
		}
		if got := strings.Join(ids, " "); got != c.want {
			t.Errorf("%+v: %q, want %q", c, got, c.want)
		}
	}
}

func TestElderPlacesInChunks(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	var es []anxin.ElderRecord
	var ids []string
	for i := range 1203 {
		e := testElder(fmt.Sprintf("e%04d", i), fmt.Sprintf("id%04d", i), fmt.Sprintf("村%d", i%3))
		es = append(es, e)
		ids = append(ids, e.ID)
	}
	if err := db.ImportElders(ctx, es, time.Time{}); err != nil {
		t.Fatal(err)
	}
	got, err := db.ElderPlaces(ctx, append(ids, "nobody"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1203 || got["e1202"].Village != "村2" || got["e0001"].Township != "屏山街道" || !got["e0000"].CreatedAt.Equal(es[0].CreatedAt) {
		t.Fatalf("%d places, e1202 %+v", len(got), got["e1202"])
	}
}

func TestHouseholdTiers(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	for i, c := range []struct {
		hh   string
		tier anxin.Tier
	}{{"hh-a", anxin.TierGeneral}, {"hh-a", anxin.TierHigh}, {"hh-b", anxin.TierIrregular}, {"hh-c", anxin.TierKey}} {
		e := testElder(fmt.Sprintf("e%d", i), fmt.Sprintf("id%d", i), "善广村")
		e.Household, e.Tier = c.hh, c.tier
		if err := db.PutElder(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.HouseholdTiers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "map[hh-a:high hh-b:irregular hh-c:key]" {
		t.Fatalf("%v", got)
	}
}

func TestEachAlarmOutcome(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i, a := range []struct{ hh, route, state, by string }{
		{"hh-1", "family", "accepted", "李明"},
		{"hh-2", "family", "unanswered", ""},
		{"hh-1", "installer", "resolved", ""}, // maintenance: not counted
		{"hh-3", "family", "accepted", "王芳"},
		{"hh-1", "family", "open", ""}, // opened at t0+4d: outside [t0, t0+4d)
	} {
		at := t0.Add(time.Duration(i) * 24 * time.Hour)
		if _, err := db.SQL().ExecContext(ctx, `INSERT INTO alarms (id, household, rule, rule_kind, severity, route, state, opened_at, updated_at, accepted_by)
			VALUES (?, ?, 'button', 'event', 'critical', ?, ?, ?, ?, ?)`, fmt.Sprintf("A%d", i), a.hh, a.route, a.state,
			alarmTime(at), alarmTime(at.Add(time.Minute)), a.by); err != nil {
			t.Fatal(err)
		}
	}
	chain := anxin.Chain{AlarmID: "A0", Household: "hh-1", Severity: anxin.SeverityCritical, State: "accepted",
		Targets: []anxin.ChainTarget{{Name: "李明", Phone: "+8613900000001"}}, Steps: []int{0}, StartedAt: t0,
		UpdatedAt: t0.Add(45 * time.Second), Deadline: t0.Add(3 * time.Minute), AcceptedBy: "李明", AcceptedAt: t0.Add(45 * time.Second)}
	if _, err := db.CreateChain(ctx, &chain); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		hh   map[string]bool
		want string
	}{
		{nil, "A0/hh-1/accepted/45s A1/hh-2/unanswered/- A3/hh-3/accepted/-"},
		{map[string]bool{"hh-1": true}, "A0/hh-1/accepted/45s"},
		{map[string]bool{"hh-2": true, "hh-3": true}, "A1/hh-2/unanswered/- A3/hh-3/accepted/-"},
		{map[string]bool{}, ""},
	} {
		var got []string
		err := db.EachAlarmOutcome(ctx, t0, t0.Add(4*24*time.Hour), c.hh, func(o AlarmOutcome) error {
			w := "-"
			if !o.ChainAcceptedAt.IsZero() {
				w = o.ChainAcceptedAt.Sub(o.OpenedAt).String()
			}
			if o.UpdatedAt.Sub(o.OpenedAt) != time.Minute {
				t.Errorf("%s: opened %v updated %v", o.ID, o.OpenedAt, o.UpdatedAt)
			}
			got = append(got, fmt.Sprintf("%s/%s/%s/%s", o.ID, o.Household, o.State, w))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.Join(got, " "); s != c.want {
			t.Errorf("households %v: %q, want %q", c.hh, s, c.want)
		}
	}
}
