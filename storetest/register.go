package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// An alarm's outcome recorded as a visit opens a follow-up; the same
// outcome again is the same visit; a later contact closes the follow-up.
func visitFromAlarmOutcome(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	e := Elder("e1", "11010519491231002X", "善广村")
	e.Household = "hh-0001"
	if err := s.PutElder(ctx, &e); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 3, 12, 0, 0, time.UTC)
	v := anxin.Visit{Household: "hh-0001", Date: at, Method: anxin.VisitRemoteMonitoring,
		Health: "fell in the bathroom, conscious", Visitor: "李明", AlarmID: "01JDX3ABCDEFGHJKMNPQRSTVWX",
		FollowUpDue: at.Add(24 * time.Hour)}
	if err := s.CreateVisit(ctx, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.ID) != 26 {
		t.Fatalf("id %q is not a ULID", v.ID)
	}
	got, err := s.Visits(ctx, anxin.VisitFilter{AlarmID: v.AlarmID})
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], v) {
		t.Fatalf("got %+v %v, want %+v", got, err, v)
	}
	sched, err := s.Schedules(ctx, anxin.ScheduleFilter{FollowUpOnly: true})
	if err != nil || len(sched) != 1 || !sched[0].FollowUpDue.Equal(v.FollowUpDue) || sched[0].FollowUpAlarm != v.AlarmID ||
		!sched[0].LastContact.IsZero() {
		t.Fatalf("follow-up not scheduled: %+v %v", sched, err)
	}
	again := anxin.Visit{Household: "hh-0001", Date: at, Method: anxin.VisitRemoteMonitoring, AlarmID: v.AlarmID,
		FollowUpDue: at.Add(24 * time.Hour)}
	if err := s.CreateVisit(ctx, &again); err != nil || again.ID != v.ID {
		t.Fatalf("second outcome: %v, id %q want %q", err, again.ID, v.ID)
	}
	if n, _ := s.Visits(ctx, anxin.VisitFilter{AlarmID: v.AlarmID}); len(n) != 1 {
		t.Fatalf("%d visits for one alarm outcome", len(n))
	}
	call := anxin.Visit{Household: "hh-0001", Date: at.Add(5 * time.Hour), Method: anxin.VisitPhone, Visitor: "王芳"}
	if err := s.CreateVisit(ctx, &call); err != nil {
		t.Fatal(err)
	}
	if sched, _ := s.Schedules(ctx, anxin.ScheduleFilter{FollowUpOnly: true}); len(sched) != 0 {
		t.Fatalf("follow-up still open after a phone call: %+v", sched)
	}
	all, err := s.Visits(ctx, anxin.VisitFilter{Household: "hh-0001"})
	if err != nil || len(all) != 2 || all[0].ID != call.ID {
		t.Fatalf("visits newest first: %v %+v", err, all)
	}
	for f, want := range map[*anxin.VisitFilter]int{
		{Visitor: "王芳"}: 1, {Since: at.Add(time.Hour)}: 1, {Until: at.Add(time.Hour)}: 1, {Limit: 1}: 1, {Offset: 1}: 1,
		{Area: anxin.Area{Village: "善广村"}}: 2, {Area: anxin.Area{Village: "东村"}}: 0,
	} {
		if got, err := s.Visits(ctx, *f); err != nil || len(got) != want {
			t.Errorf("filter %+v: %d visits %v, want %d", *f, len(got), err, want)
		}
	}
}

func visitRejectsBadRecords(t *testing.T, s anxin.Store) {
	for _, v := range []anxin.Visit{
		{Household: "", Date: time.Now(), Method: anxin.VisitPhone},
		{Household: "hh-1", Method: anxin.VisitPhone},
		{Household: "hh-1", Date: time.Now(), Method: "fax"},
		{Household: "hh-1", Date: time.Now(), Method: anxin.VisitPhone, AlarmID: "bad id"},
	} {
		if err := s.CreateVisit(context.Background(), &v); anxin.ErrorCode(err) != anxin.EINVALID {
			t.Errorf("%+v: got %v, want invalid", v, err)
		}
	}
}

// Elder is a complete elder record for store tests: household "hh-"+id,
// current address in village.
func Elder(id, idNumber, village string) anxin.ElderRecord {
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

func elderPutGetList(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	e := Elder("e1", "11010519491231002X", "善广村")
	if err := s.PutElder(ctx, &e); err != nil {
		t.Fatal(err)
	}
	got, err := s.Elder(ctx, "e1")
	if err != nil || fmt.Sprint(got) != fmt.Sprint(e) {
		t.Fatalf("got  %+v\nwant %+v (%v)", got, e, err)
	}
	if _, err := s.Elder(ctx, "nobody"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("unknown elder: %v", err)
	}
	e.Name, e.CreatedAt, e.UpdatedAt = "张桂英", time.Time{}, e.UpdatedAt.Add(time.Hour)
	if err := s.PutElder(ctx, &e); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Elder(ctx, "e1")
	if got.Name != "张桂英" || !got.CreatedAt.Equal(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)) || !got.UpdatedAt.Equal(e.UpdatedAt) {
		t.Fatalf("update: %+v", got)
	}
	e2 := Elder("e2", "440304196508123214", "东村")
	e2.Tier, e2.GridWorker = anxin.TierGeneral, "赵六"
	if err := s.PutElder(ctx, &e2); err != nil {
		t.Fatal(err)
	}
	dup := Elder("e3", "440304196508123214", "东村")
	if err := s.PutElder(ctx, &dup); err == nil {
		t.Fatal("a second elder took e2's resident ID number")
	}
	if ids, err := s.ElderIDsByIDNumber(ctx, []string{"440304196508123214", "000"}); err != nil || len(ids) != 1 || ids["440304196508123214"] != "e2" {
		t.Fatalf("by id number (an unknown one absent): %v %v", ids, err)
	}
	for spec, want := range map[string]int{"": 2, "善广村": 1, "东村": 1, "屏山街道": 0, "屏山街道/*": 2, "屏山街道/东村": 1, "西村": 0} {
		area, err := anxin.ParseArea(spec)
		if err != nil {
			t.Fatal(err)
		}
		list, err := s.Elders(ctx, anxin.ElderFilter{Area: area})
		if err != nil || len(list) != want {
			t.Errorf("area %q: %d elders, want %d (%v)", spec, len(list), want, err)
		}
		if n, err := s.CountElders(ctx, anxin.ElderFilter{Area: area}); err != nil || n != want {
			t.Errorf("count area %q: %d %v", spec, n, err)
		}
	}
	for _, c := range []struct {
		f    anxin.ElderFilter
		want string
	}{
		{anxin.ElderFilter{Tier: anxin.TierGeneral}, "e2"},
		{anxin.ElderFilter{GridWorker: "王芳"}, "e1"},
		{anxin.ElderFilter{Household: "hh-e2"}, "e2"},
		{anxin.ElderFilter{Village: "善广村"}, "e1"},
		{anxin.ElderFilter{Limit: 1, Offset: 1}, "e2"},
		{anxin.ElderFilter{Limit: -1}, "e1 e2"},
	} {
		list, err := s.Elders(ctx, c.f)
		var ids []string
		for _, e := range list {
			ids = append(ids, e.ID)
		}
		if err != nil || strings.Join(ids, " ") != c.want {
			t.Errorf("%+v: %v %v, want %s", c.f, ids, err, c.want)
		}
	}
}

func importEldersAllOrNothing(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	held := Elder("e1", "11010519491231002X", "善广村")
	if err := s.PutElder(ctx, &held); err != nil {
		t.Fatal(err)
	}
	batch := []anxin.ElderRecord{
		Elder("e2", "440304196508123214", "东村"),
		Elder("e3", "11010519491231002X", "东村"), // held by e1
		Elder("e4", "440304196508123214", "东村"), // same as e2 in this import
	}
	err := s.ImportElders(ctx, batch, time.Time{})
	var ce *anxin.ConflictError
	if !errors.As(err, &ce) || len(ce.Conflicts) != 2 || ce.Conflicts[0].Index != 1 || ce.Conflicts[1].Index != 2 ||
		ce.Conflicts[0].Holder != "e1" || ce.Conflicts[1].Holder != "" {
		t.Fatalf("conflicts: %v", err)
	}
	if n, _ := s.CountElders(ctx, anxin.ElderFilter{}); n != 1 {
		t.Fatalf("%d elders after a failed import, want 1", n)
	}
	other := Elder("e2", "440304196508123214", "东村")
	if err := s.PutElder(ctx, &other); err != nil {
		t.Fatal(err)
	}
	a, b := Elder("e1", "440304196508123214", "善广村"), Elder("e2", "11010519491231002X", "东村")
	if err := s.ImportElders(ctx, []anxin.ElderRecord{a, b}, time.Time{}); err != nil {
		t.Fatalf("swap: %v", err)
	}
	if got, _ := s.Elder(ctx, "e2"); got.IDNumber != "11010519491231002X" {
		t.Fatalf("swap: %+v", got)
	}
}

func schedulesAndVisitCounts(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	for i, v := range []string{"善广村", "善广村", "东村"} {
		e := Elder(fmt.Sprintf("e%d", i), fmt.Sprintf("id%d", i), v)
		e.Consent = i != 1
		if err := s.PutElder(ctx, &e); err != nil {
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
		if err := s.CreateVisit(ctx, &v); err != nil {
			t.Fatal(err)
		}
	}
	sc, err := s.Schedules(ctx, anxin.ScheduleFilter{})
	if err != nil || len(sc) != 3 {
		t.Fatal(sc, err)
	}
	if sc[0].ID != "e0" || !sc[0].LastHome.Equal(nov) || !sc[0].LastContact.Equal(nov.Add(48*time.Hour)) || !sc[1].LastContact.IsZero() ||
		!sc[2].LastContact.Equal(nov.AddDate(0, -1, 0)) || sc[2].FollowUpAlarm != "A1" || sc[1].Consent ||
		sc[0].Name != "张桂兰" || sc[0].Tier != anxin.TierKey || !sc[0].Registered.Equal(time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("%+v", sc)
	}
	if c, _ := s.Schedules(ctx, anxin.ScheduleFilter{ConsentOnly: true}); len(c) != 2 {
		t.Fatalf("consent only: %+v", c)
	}
	// due cut: key-tier elders whose last contact is before Nov 6 (e1 never, e2 in October)
	cut := &anxin.DueCut{Tiers: map[anxin.Tier]anxin.Cut{anxin.TierKey: {Contact: nov.Add(24 * time.Hour), Home: time.Time{}}}}
	due, err := s.Schedules(ctx, anxin.ScheduleFilter{Due: cut})
	if err != nil || len(due) != 2 || due[0].ID != "e1" || due[1].ID != "e2" {
		t.Fatalf("due cut: %+v %v", due, err)
	}
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	months, err := s.MonthVisits(ctx, anxin.Area{}, from, from.AddDate(0, 1, 0))
	if err != nil {
		t.Fatal(err)
	}
	// e2 (东村) had only an alarm outcome in November: remote monitoring, not a visit
	var got []string
	for _, m := range months {
		got = append(got, fmt.Sprintf("{%s %s %s %v %v}", m.Township, m.Village, m.Tier, m.Consent, m.Home+m.PhoneCalls+m.AudioVideo+m.Other > 0))
	}
	slices.Sort(got)
	want := "[{屏山街道 东村 key true false} {屏山街道 善广村 key false false} {屏山街道 善广村 key true true}]"
	if fmt.Sprint(got) != want {
		t.Fatalf("months %s, want %s", got, want)
	}
	if c, _ := s.MonthVisits(ctx, anxin.Area{Village: "东村"}, from, from.AddDate(0, 1, 0)); len(c) != 1 {
		t.Fatalf("area: %v", c)
	}
}

// A household is in an area when an elder of it lives there and none elsewhere.
func householdAreas(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	for i, c := range []struct{ hh, village string }{{"hh-a", "善广村"}, {"hh-a", "善广村"}, {"hh-b", "善广村"}, {"hh-b", "东村"}, {"hh-c", "东村"}} {
		e := Elder(fmt.Sprintf("e%d", i), fmt.Sprintf("id%d", i), c.village)
		e.Household = c.hh
		if err := s.PutElder(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}
	shanguang := anxin.Area{Township: "屏山街道", Village: "善广村"}
	for hh, want := range map[string]bool{"hh-a": true, "hh-b": false, "hh-c": false, "hh-none": false} {
		if in, err := s.HouseholdInArea(ctx, hh, shanguang); err != nil || in != want {
			t.Errorf("%s in 善广村: %v %v", hh, in, err)
		}
	}
	if in, err := s.HouseholdInArea(ctx, "hh-none", anxin.Area{}); err != nil || !in {
		t.Errorf("the whole district: %v %v", in, err)
	}
	places, err := s.HouseholdPlaces(ctx, shanguang, []string{"hh-a", "hh-b", "hh-c", "hh-none"})
	if err != nil || fmt.Sprint(places) != "map[hh-a:{2 0} hh-b:{1 1} hh-c:{0 1}]" {
		t.Fatalf("places %v %v", places, err)
	}
	if all, err := s.HouseholdPlaces(ctx, anxin.Area{}, []string{"hh-b"}); err != nil || fmt.Sprint(all) != "map[hh-b:{2 0}]" {
		t.Fatalf("places in the district %v %v", all, err)
	}
	hhs, err := s.AreaHouseholds(ctx, shanguang)
	if err != nil || fmt.Sprint(hhs) != "map[hh-a:true]" {
		t.Fatalf("area households %v %v", hhs, err)
	}
}

// opened opens one alarm per household, a day apart from t, and moves it
// to state a minute after it opened.
func opened(t *testing.T, s anxin.Store, at time.Time, alarms []struct{ hh, route, state, by string }) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i, a := range alarms {
		when := at.Add(time.Duration(i) * 24 * time.Hour)
		res := apply(t, s, &anxin.IngestBatch{At: when, Changes: []anxin.AlarmChange{{Op: anxin.AlarmOpOpen, Household: a.hh,
			Rule: fmt.Sprintf("button%d", i), RuleKind: "event", Severity: anxin.SeverityCritical, Route: anxin.Route(a.route), At: when}}})
		id := res.Opened[0].ID
		if a.state != string(anxin.AlarmOpen) {
			if err := s.SetAlarmState(ctx, id, anxin.AlarmState(a.state), a.by, when.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, id)
	}
	return ids
}

func alarmsOpened(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	ids := opened(t, s, at, []struct{ hh, route, state, by string }{
		{"hh-1", "family", "accepted", "x"}, {"hh-2", "family", "accepted", "x"}, {"hh-1", "family", "accepted", "x"}, {"hh-3", "family", "accepted", "x"}})
	name := map[string]string{}
	for i, id := range ids {
		name[id] = fmt.Sprintf("A%d", i)
	}
	for _, c := range []struct {
		since, until time.Time
		hh           map[string]bool
		limit        int
		want         string
	}{
		{time.Time{}, time.Time{}, nil, 0, "A3 A2 A1 A0"},
		{at.Add(24 * time.Hour), at.Add(72 * time.Hour), nil, 0, "A2 A1"},
		{time.Time{}, time.Time{}, map[string]bool{"hh-1": true}, 0, "A2 A0"},
		{time.Time{}, time.Time{}, map[string]bool{"hh-1": true, "hh-3": true}, 2, "A3 A2"},
		{time.Time{}, time.Time{}, map[string]bool{}, 0, ""},
	} {
		as, err := s.AlarmsOpened(ctx, c.since, c.until, c.hh, c.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, a := range as {
			got = append(got, name[a.ID])
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("%+v: %q, want %q", c, g, c.want)
		}
	}
}

func eldersByIDInChunks(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	var es []anxin.ElderRecord
	var ids []string
	for i := range 1203 {
		e := Elder(fmt.Sprintf("e%04d", i), fmt.Sprintf("id%04d", i), fmt.Sprintf("村%d", i%3))
		es = append(es, e)
		ids = append(ids, e.ID)
	}
	if err := s.ImportElders(ctx, es, time.Time{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.EldersByID(ctx, append(ids, "nobody"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1203 || got["e1202"].Current.Village != "村2" || got["e0001"].Current.Township != "屏山街道" || !got["e0000"].CreatedAt.Equal(es[0].CreatedAt) {
		t.Fatalf("%d records, e1202 %+v", len(got), got["e1202"].Current)
	}
}

func eachAlarmOutcome(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	ids := opened(t, s, at, []struct{ hh, route, state, by string }{
		{"hh-1", "family", "accepted", "李明"},
		{"hh-2", "family", "unanswered", ""},
		{"hh-1", "installer", "resolved", ""}, // maintenance: not counted
		{"hh-3", "family", "accepted", "王芳"},
		{"hh-1", "family", "open", ""}, // opened at +4d: outside [at, at+4d)
	})
	name := map[string]string{}
	for i, id := range ids {
		name[id] = fmt.Sprintf("A%d", i)
	}
	chain := anxin.Chain{AlarmID: ids[0], Household: "hh-1", Severity: anxin.SeverityCritical, State: "accepted",
		Targets: []anxin.ChainTarget{{Name: "李明", Phone: "+8613900000001"}}, Steps: []int{0}, StartedAt: at,
		UpdatedAt: at.Add(45 * time.Second), Deadline: at.Add(3 * time.Minute), AcceptedBy: "李明", AcceptedAt: at.Add(45 * time.Second)}
	if _, err := s.CreateChain(ctx, &chain); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		hh   map[string]bool
		want string
	}{
		{nil, "A0/hh-1/accepted/李明/45s A1/hh-2/unanswered//- A3/hh-3/accepted/王芳/-"},
		{map[string]bool{"hh-1": true}, "A0/hh-1/accepted/李明/45s"},
		{map[string]bool{"hh-2": true, "hh-3": true}, "A1/hh-2/unanswered//- A3/hh-3/accepted/王芳/-"},
		{map[string]bool{}, ""},
	} {
		var got []string
		err := s.EachAlarmOutcome(ctx, at, at.Add(4*24*time.Hour), c.hh, func(o anxin.AlarmOutcome) error {
			w := "-"
			if !o.ChainAcceptedAt.IsZero() {
				w = o.ChainAcceptedAt.Sub(o.OpenedAt).String()
			}
			if o.UpdatedAt.Sub(o.OpenedAt) != time.Minute {
				t.Errorf("%s: opened %v updated %v", o.ID, o.OpenedAt, o.UpdatedAt)
			}
			got = append(got, fmt.Sprintf("%s/%s/%s/%s/%s", name[o.ID], o.Household, o.State, o.AcceptedBy, w))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("households %v: %q, want %q", c.hh, g, c.want)
		}
	}
}
