package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// The contract of the register's later features (elder forms, kits,
// structured visits, the monthly report, work orders), lifted from package
// sqlite's tests so that both databases are held to the same answers.

// The 附件1 form, form tier, note and extra attributes round-trip with the
// elder through Elder, Elders and EldersByID and are cleared when removed;
// ElderIDsByIDNumber maps ID numbers to elders; VisitsDone counts visits,
// not alarm outcomes.
func elderForms(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	yes := true
	e := Elder("e1", "11010519491231002X", "善广村")
	e.FormTier, e.Note = "重点", "耳背，需大声说话"
	e.Extra = []anxin.Attribute{{Name: "微信号", Value: "zgl"}, {Name: "身高", Value: "150"}}
	e.Form = &anxin.RegisterForm{FiledOn: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Poverty: "低保",
		Family:    []anxin.FamilyMember{{Name: "李明", Relation: "子", Phone: "+8613900000001", LivesWith: &yes}},
		WaterSafe: "是", PowerSafe: "否", HelpUnits: []string{"志愿者"}, HelpMeasures: "每周送餐"}
	plain := Elder("e2", "110105194912310029", "善广村")
	if err := s.ImportElders(ctx, []anxin.ElderRecord{e, plain}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Elder(ctx, "e1")
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("Elder: %v\n got %+v\nwant %+v", err, got, e)
	}
	list, err := s.Elders(ctx, anxin.ElderFilter{Limit: -1})
	if err != nil || len(list) != 2 || !reflect.DeepEqual(list[0], e) || list[1].Form != nil || list[1].Extra != nil {
		t.Fatalf("Elders: %v %+v", err, list)
	}
	byID, err := s.EldersByID(ctx, []string{"e1", "e2", "nobody"})
	if err != nil || len(byID) != 2 || !reflect.DeepEqual(byID["e1"], e) {
		t.Fatalf("EldersByID: %v %+v", err, byID)
	}
	ids, err := s.ElderIDsByIDNumber(ctx, []string{"110105194912310029", "11010519491231003X"})
	if err != nil || len(ids) != 1 || ids["110105194912310029"] != "e2" {
		t.Fatalf("ElderIDsByIDNumber: %v %v", err, ids)
	}
	at := time.Date(2026, 11, 5, 2, 0, 0, 0, time.UTC)
	for _, v := range []anxin.Visit{
		{Household: "hh-e1", Date: at, Method: anxin.VisitHome, Visitor: "王芳"},
		{Household: "hh-e1", Date: at.Add(time.Hour), Method: anxin.VisitPhone, Visitor: "王芳"},
		{Household: "hh-e1", Date: at, Method: anxin.VisitRemoteMonitoring, AlarmID: "01JDX3ABCDEFGHJKMNPQRSTVWX"},
	} {
		if err := s.CreateVisit(ctx, &v); err != nil {
			t.Fatal(err)
		}
	}
	done, err := s.VisitsDone(ctx, []string{"e1", "e2", "nobody"})
	if err != nil || done["e1"] != 2 || done["e2"] != 0 {
		t.Fatalf("VisitsDone: %v %v", done, err)
	}
	// removing the form part clears it
	e.FormTier, e.Note, e.Extra, e.Form = "", "", nil, nil
	if err := s.PutElder(ctx, &e); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Elder(ctx, "e1"); err != nil || got.Form != nil || got.Extra != nil || got.Note != "" || got.FormTier != "" {
		t.Fatalf("after removing the form: %+v %v", got, err)
	}
}

// Loading the households file replaces the file's kits (one removed from
// the file is gone), keeps kits set through the API, and an elder record
// naming a household gives its tier, name and chain; every committed write
// is announced.
func kits(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	var changes []anxin.RegisterChange
	s.OnRegisterChange(func(c anxin.RegisterChange) { changes = append(changes, c) })
	if h, err := s.HouseholdsFileHash(ctx); err != nil || h != "" {
		t.Fatalf("hash before any file: %q %v", h, err)
	}
	c := func(phone string) []anxin.Contact { return []anxin.Contact{{Name: "x", Phone: phone}} }
	file := []anxin.Household{{ID: "hh-1", Elder: anxin.Elder{Name: "甲", Tier: anxin.TierHigh}, Contacts: c("+8613900000001"),
		Devices: []anxin.Device{{ID: "btn1", Kind: anxin.KindCallButton}}}, {ID: "hh-2"}}
	now := t0
	if err := s.LoadHouseholdsFile(ctx, file, "h1", now); err != nil {
		t.Fatal(err)
	}
	v0 := s.RegisterVersion()
	if err := s.PutKit(ctx, &anxin.Household{ID: "hh-9", Devices: []anxin.Device{{ID: "wm1", Kind: anxin.KindWaterMeter}}}, now); err != nil {
		t.Fatal(err)
	}
	if s.RegisterVersion() == v0 {
		t.Error("RegisterVersion did not move on PutKit")
	}
	if err := s.LoadHouseholdsFile(ctx, file[:1], "h2", now); err != nil {
		t.Fatal(err)
	}
	e := anxin.ElderRecord{ID: "e-1", Household: "hh-1", Name: "甲老人", IDNumber: "11010519491231002X", Tier: anxin.TierKey,
		Contacts: c("+8613900000099"), Current: anxin.Address{Township: "善广乡", Village: "一村"}}
	if err := s.PutElder(ctx, &e); err != nil {
		t.Fatal(err)
	}
	hs, err := s.RegisterHouseholds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintln(len(hs), hs[0].ID, hs[0].Elder.Tier, hs[0].Elder.Name, hs[0].Contacts[0].Phone, len(hs[0].Devices), hs[1].ID); got != "2 hh-1 key 甲老人 +8613900000099 1 hh-9\n" {
		t.Fatalf("register households: %s", got)
	}
	if h, err := s.HouseholdsFileHash(ctx); err != nil || h != "h2" || len(changes) != 4 {
		t.Fatalf("hash %q %v, %d changes", h, err, len(changes))
	}
	of, from, err := s.RegisterHouseholdsOf(ctx, []string{"hh-9", "hh-1", "hh-2"})
	if err != nil || len(of) != 2 {
		t.Fatalf("RegisterHouseholdsOf: %+v %v", of, err)
	}
	byID := map[string]anxin.Household{}
	for _, h := range of {
		byID[h.ID] = h
	}
	if byID["hh-1"].Elder.Name != "甲老人" || byID["hh-9"].Devices[0].ID != "wm1" || from["hh-1"] != "e-1" || len(from) != 1 {
		t.Fatalf("RegisterHouseholdsOf: %+v, from %v", of, from)
	}
	if all, _, err := s.RegisterHouseholdsOf(ctx, nil); err != nil || len(all) != 2 {
		t.Fatalf("RegisterHouseholdsOf(nil): %d %v", len(all), err)
	}
	// the kits alone: RegisterHouseholdsOf's tier, devices and elder record, without the people
	for _, ids := range [][]string{nil, {"hh-9", "hh-1", "hh-2"}} {
		kits, err := s.RegisterKits(ctx, ids)
		all, from, err2 := s.RegisterHouseholdsOf(ctx, ids)
		if err != nil || err2 != nil || len(kits) != len(all) {
			t.Fatalf("RegisterKits(%v): %+v %v %v", ids, kits, err, err2)
		}
		for i, k := range kits {
			h := all[i]
			if k.Household != h.ID || k.Tier != h.Elder.Tier || !reflect.DeepEqual(k.Devices, h.Devices) || k.Elder != from[h.ID] {
				t.Fatalf("RegisterKits(%v)[%d] = %+v, the household is %+v from %q", ids, i, k, h, from[h.ID])
			}
		}
	}
}

// Visits keep 附件2's items (stored by key, given by key or label), are
// found by elder and by an item's answer, and counted per item by each
// household's latest visit; elders are found by name and by household.
func visitForms(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	for i, v := range []string{"善广村", "善广村", "东村"} {
		e := Elder(fmt.Sprintf("e%d", i), fmt.Sprintf("id%d", i), v)
		if i == 1 {
			e.Household = "hh-e0" // two elders in one household
		}
		if err := s.PutElder(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}
	if ids, err := s.HouseholdElders(ctx, "hh-e0"); err != nil || !reflect.DeepEqual(ids, []string{"e0", "e1"}) {
		t.Fatalf("HouseholdElders: %v %v", ids, err)
	}
	if ids, err := s.HouseholdElders(ctx, "hh-none"); err != nil || len(ids) != 0 {
		t.Fatalf("HouseholdElders of nobody: %v %v", ids, err)
	}
	if m, err := s.EldersByName(ctx, anxin.Area{}, "张桂兰", ""); err != nil || len(m) != 3 ||
		m[0] != (anxin.ElderMatch{ID: "e0", Household: "hh-e0", Village: "善广村"}) {
		t.Fatalf("EldersByName: %+v %v", m, err)
	}
	if m, err := s.EldersByName(ctx, anxin.Area{}, "张桂兰", "东村"); err != nil || len(m) != 1 || m[0].ID != "e2" {
		t.Fatalf("EldersByName in a village: %+v %v", m, err)
	}
	if m, err := s.EldersByName(ctx, anxin.Area{Village: "善广村"}, "张桂兰", ""); err != nil || len(m) != 2 {
		t.Fatalf("EldersByName in an area: %+v %v", m, err)
	}
	if m, err := s.EldersByName(ctx, anxin.Area{}, "李四", ""); err != nil || len(m) != 0 {
		t.Fatalf("EldersByName of nobody: %+v %v", m, err)
	}
	nov := time.Date(2026, 11, 5, 2, 0, 0, 0, time.UTC)
	first := anxin.Visit{Elder: "e0", Household: "hh-e0", Date: nov, Method: anxin.VisitHome, Visitor: "王芳",
		Items: map[string]string{"用电安全": "不安全", "gas": "安全"}}
	second := anxin.Visit{Elder: "e0", Household: "hh-e0", Date: nov.Add(48 * time.Hour), Method: anxin.VisitPhone, Visitor: "王芳",
		Items: map[string]string{"power": "较安全"}}
	other := anxin.Visit{Elder: "e2", Household: "hh-e2", Date: nov.Add(30 * time.Minute), Method: anxin.VisitHome, Visitor: "王芳",
		Items: map[string]string{"power": "不安全"}}
	plain := anxin.Visit{Household: "hh-e2", Date: nov.Add(time.Hour), Method: anxin.VisitPhone, Visitor: "王芳"}
	for _, v := range []*anxin.Visit{&first, &second, &other, &plain} {
		if err := s.CreateVisit(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Visit(ctx, second.ID)
	if err != nil || got.Items["power"] != "较安全" || got.Number != 2 || got.Elder != "e0" {
		t.Fatalf("Visit: %+v %v", got, err)
	}
	if got, err := s.Visit(ctx, first.ID); err != nil || got.Items["power"] != "不安全" || got.Items["gas"] != "安全" || got.Number != 1 {
		t.Fatalf("Visit with items by label: %+v %v", got, err)
	}
	if got, err := s.Visit(ctx, plain.ID); err != nil || got.Items != nil {
		t.Fatalf("Visit without items: %+v %v", got, err)
	}
	if _, err := s.Visit(ctx, "01JDX3ABCDEFGHJKMNPQRSTVWX"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("unknown visit: %v", err)
	}
	ids := func(vs []anxin.Visit) []string {
		var out []string
		for _, v := range vs {
			out = append(out, v.ID)
		}
		return out
	}
	for name, c := range map[string]struct {
		f    anxin.VisitFilter
		want []string
	}{
		"elder e0":         {anxin.VisitFilter{Elder: "e0"}, []string{second.ID, first.ID}},
		"elder e2":         {anxin.VisitFilter{Elder: "e2"}, []string{other.ID}},
		"power 不安全":        {anxin.VisitFilter{Item: "power", ItemValue: "不安全"}, []string{other.ID, first.ID}},
		"power 不安全 of e0":  {anxin.VisitFilter{Item: "power", ItemValue: "不安全", Elder: "e0"}, []string{first.ID}},
		"gas 不安全":          {anxin.VisitFilter{Item: "gas", ItemValue: "不安全"}, nil},
		"power 不安全 in 善广村": {anxin.VisitFilter{Item: "power", ItemValue: "不安全", Area: anxin.Area{Village: "善广村"}}, []string{first.ID}},
	} {
		vs, err := s.Visits(ctx, c.f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := ids(vs); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
	count := func(area anxin.Area, since, until time.Time) map[string]map[string]int {
		t.Helper()
		cs, err := s.VisitItemCounts(ctx, area, since, until)
		if err != nil || len(cs) != len(anxin.VisitItems) {
			t.Fatalf("VisitItemCounts: %d items %v", len(cs), err)
		}
		out := map[string]map[string]int{}
		for _, c := range cs {
			out[c.Key] = c.Counts
		}
		return out
	}
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// each household by its latest visit: hh-e0's power is 较安全 now, hh-e2's 不安全
	all := count(anxin.Area{}, from, from.AddDate(0, 1, 0))
	if p := all["power"]; p["不安全"] != 1 || p["较安全"] != 1 || p["安全"] != 0 || all["gas"]["安全"] != 1 || all["mood"]["较好"] != 0 {
		t.Fatalf("item counts: %v", all)
	}
	if p := count(anxin.Area{}, from, nov.Add(time.Hour))["power"]; p["不安全"] != 2 || p["较安全"] != 0 {
		t.Fatalf("item counts before the second visit: %v", p)
	}
	if p := count(anxin.Area{Village: "东村"}, from, from.AddDate(0, 1, 0))["power"]; p["不安全"] != 1 || p["较安全"] != 0 {
		t.Fatalf("item counts in 东村: %v", p)
	}
	if p := count(anxin.Area{}, time.Time{}, time.Time{})["power"]; p["不安全"] != 1 || p["较安全"] != 1 {
		t.Fatalf("item counts of all time: %v", p)
	}
}

// The monthly report's rows: each elder with the household's records of
// the month by method, and for a consenting elder with none that counts,
// the last one before; RecordsVersion moves on every elder or visit write.
func monthVisits(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	v0, err := s.RecordsVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{"善广村", "善广村", "东村"} {
		e := Elder(fmt.Sprintf("e%d", i), fmt.Sprintf("id%d", i), v)
		e.Consent = i != 1
		if err := s.PutElder(ctx, &e); err != nil {
			t.Fatal(err)
		}
	}
	v1, err := s.RecordsVersion(ctx)
	if err != nil || v1 == v0 {
		t.Fatalf("RecordsVersion after elder writes: %d (was %d) %v", v1, v0, err)
	}
	nov := time.Date(2026, 11, 5, 2, 0, 0, 0, time.UTC)
	for _, v := range []anxin.Visit{
		{Household: "hh-e0", Date: nov, Method: anxin.VisitHome, Visitor: "王芳"},
		{Household: "hh-e0", Date: nov.Add(48 * time.Hour), Method: anxin.VisitPhone, Visitor: "王芳"},
		{Household: "hh-e0", Date: nov.Add(time.Hour), Method: anxin.VisitOther, Visitor: "王芳"},
		{Household: "hh-e2", Date: nov.AddDate(0, -1, 0), Method: anxin.VisitPhone, Visitor: "王芳"},
		{Household: "hh-e2", Date: nov, Method: anxin.VisitRemoteMonitoring, AlarmID: "A1", FollowUpDue: nov.Add(24 * time.Hour)},
	} {
		if err := s.CreateVisit(ctx, &v); err != nil {
			t.Fatal(err)
		}
	}
	v2, err := s.RecordsVersion(ctx)
	if err != nil || v2 == v1 {
		t.Fatalf("RecordsVersion after visit writes: %d (was %d) %v", v2, v1, err)
	}
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	months, err := s.MonthVisits(ctx, anxin.Area{}, from, from.AddDate(0, 1, 0))
	if err != nil || len(months) != 3 {
		t.Fatal(months, err)
	}
	seen := map[string]bool{}
	for _, m := range months {
		seen[m.ID] = true
		c := [5]int{m.Home, m.PhoneCalls, m.AudioVideo, m.Other, m.Remote}
		switch m.ID {
		case "e0":
			if c != [5]int{1, 1, 0, 1, 0} || !m.LastContact.IsZero() || !m.Consent || m.Village != "善广村" || m.Tier != anxin.TierKey {
				t.Errorf("e0 %+v", m)
			}
		case "e1":
			if c != [5]int{} || m.Consent || !m.LastContact.IsZero() {
				t.Errorf("e1 %+v", m)
			}
		case "e2":
			if c != [5]int{0, 0, 0, 0, 1} || !m.LastContact.Equal(nov.AddDate(0, -1, 0)) {
				t.Errorf("e2 %+v", m)
			}
		}
	}
	if len(seen) != 3 {
		t.Fatalf("elders: %v", seen)
	}
	if m, err := s.MonthVisits(ctx, anxin.Area{Village: "东村"}, from, from.AddDate(0, 1, 0)); err != nil || len(m) != 1 || m[0].ID != "e2" {
		t.Fatalf("MonthVisits in 东村: %+v %v", m, err)
	}
	// registered after the month: not in it
	if m, err := s.MonthVisits(ctx, anxin.Area{}, from.AddDate(-1, 0, 0), from.AddDate(-1, 1, 0)); err != nil || len(m) != 0 {
		t.Fatalf("MonthVisits before anyone was registered: %+v %v", m, err)
	}
}

// A work order's key admits one order; a save from an older read is
// ECONFLICT; orders list by assignee, state and area, oldest first; the
// dispatched alarms are the alarm orders' ids.
func workOrders(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	o := anxin.WorkOrder{Key: "alarm:01A", Kind: anxin.OrderAlarm, AlarmID: "01A", Household: "hh-1", Elder: "e1",
		Assignee: "wang", AssigneeName: "王芳", AssigneeRole: "worker", DispatchedBy: "auto", Status: anxin.OrderPending,
		CreatedAt: at, AssignedAt: at, History: []anxin.OrderMove{{At: at, To: "wang", ToName: "王芳", By: "auto", Why: "unanswered"}}}
	if created, err := s.CreateWorkOrder(ctx, &o); err != nil || !created || o.ID == "" {
		t.Fatalf("create: %v %v %+v", created, err, o)
	}
	twice := anxin.WorkOrder{Key: "alarm:01A", Kind: anxin.OrderAlarm, Household: "hh-1", Assignee: "li", DispatchedBy: "ops",
		Status: anxin.OrderPending, CreatedAt: at.Add(time.Minute), AssignedAt: at.Add(time.Minute)}
	if created, err := s.CreateWorkOrder(ctx, &twice); err != nil || created || twice.ID != o.ID || twice.Assignee != "wang" {
		t.Fatalf("second order for the same alarm: %v %v %+v", created, err, twice)
	}
	if _, err := s.CreateWorkOrder(ctx, &anxin.WorkOrder{Key: "x", Household: "bad id", Assignee: "a", CreatedAt: at}); anxin.ErrorCode(err) != anxin.EINVALID {
		t.Errorf("bad household: %v", err)
	}
	a, err := s.WorkOrder(ctx, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	b := a
	b.History = append([]anxin.OrderMove(nil), a.History...)
	a.Status, a.AcceptedAt = anxin.OrderWorking, at.Add(5*time.Minute)
	if err := s.SaveWorkOrder(ctx, &a); err != nil {
		t.Fatal(err)
	}
	b.Assignee, b.History = "li", append(b.History, anxin.OrderMove{At: at.Add(30 * time.Minute), To: "li", By: "auto", Why: "untouched"})
	if err := s.SaveWorkOrder(ctx, &b); anxin.ErrorCode(err) != anxin.ECONFLICT {
		t.Fatalf("save from an older read: %v", err)
	}
	if err := s.SaveWorkOrder(ctx, &anxin.WorkOrder{ID: "nope"}); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("save of an unknown order: %v", err)
	}
	got, err := s.WorkOrderByKey(ctx, "alarm:01A")
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("read back: %v\n%+v\nwant\n%+v", err, got, a)
	}
	if _, err := s.WorkOrder(ctx, "nope"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Errorf("unknown order: %v", err)
	}
	if _, err := s.WorkOrderByKey(ctx, "alarm:nope"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Errorf("unknown key: %v", err)
	}
	f := anxin.WorkOrder{Key: "follow_up:hh-2:1", Kind: anxin.OrderFollowUp, Household: "hh-2", Assignee: "li", DispatchedBy: "ops",
		Status: anxin.OrderPending, CreatedAt: at.Add(time.Hour), AssignedAt: at.Add(time.Hour)}
	if _, err := s.CreateWorkOrder(ctx, &f); err != nil {
		t.Fatal(err)
	}
	// only the ids asked about, in chunks past the 500 of one query; a
	// follow-up's key is no alarm's
	asked := []string{"nope", "hh-2:1", "follow_up:hh-2:1"}
	for i := range 1000 {
		asked = append(asked, fmt.Sprintf("01Z%04d", i))
	}
	if d, err := s.DispatchedAlarms(ctx, append(asked, "01A")); err != nil || !reflect.DeepEqual(d, map[string]bool{"01A": true}) {
		t.Fatalf("DispatchedAlarms: %v %v", d, err)
	}
	if d, err := s.DispatchedAlarms(ctx, asked); err != nil || len(d) != 0 {
		t.Fatalf("DispatchedAlarms of alarms without orders: %v %v", d, err)
	}
	if d, err := s.DispatchedAlarms(ctx, nil); err != nil || len(d) != 0 {
		t.Fatalf("DispatchedAlarms of none: %v %v", d, err)
	}
	e1, e2 := Elder("e1", "110101194005060011", "善广村"), Elder("e2", "110101194005060021", "龙井村")
	e1.Household, e2.Household = "hh-1", "hh-2"
	for _, e := range []*anxin.ElderRecord{&e1, &e2} {
		if err := s.PutElder(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for name, c := range map[string]struct {
		f    anxin.WorkOrderFilter
		want []string
	}{
		"all":        {anxin.WorkOrderFilter{}, []string{a.ID, f.ID}},
		"pending":    {anxin.WorkOrderFilter{Pending: true}, []string{f.ID}},
		"li's open":  {anxin.WorkOrderFilter{Assignee: "li", Open: true}, []string{f.ID}},
		"wang's":     {anxin.WorkOrderFilter{Assignee: "wang"}, []string{a.ID}},
		"hh-2":       {anxin.WorkOrderFilter{Household: "hh-2"}, []string{f.ID}},
		"limit":      {anxin.WorkOrderFilter{Limit: 1}, []string{a.ID}},
		"善广村":        {anxin.WorkOrderFilter{Area: anxin.Area{Village: "善广村"}}, []string{a.ID}},
		"other area": {anxin.WorkOrderFilter{Area: anxin.Area{Village: "别的村"}}, nil},
	} {
		os, err := s.WorkOrders(ctx, c.f)
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
	a.Status, a.ResolvedAt, a.VisitID, a.Outcome = anxin.OrderResolved, at.Add(time.Hour), "01V", "已上门，老人安好"
	if err := s.SaveWorkOrder(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if os, err := s.WorkOrders(ctx, anxin.WorkOrderFilter{Open: true}); err != nil || len(os) != 1 || os[0].ID != f.ID {
		t.Errorf("open after one resolved: %+v %v", os, err)
	}
	f.Status, f.ResolvedAt, f.Outcome = anxin.OrderWithdrawn, at.Add(2*time.Hour), "告警已关闭，派单撤销"
	if err := s.SaveWorkOrder(ctx, &f); err != nil {
		t.Fatal(err)
	}
	if os, err := s.WorkOrders(ctx, anxin.WorkOrderFilter{Open: true}); err != nil || len(os) != 0 {
		t.Errorf("open after the other was withdrawn: %+v %v", os, err)
	}
	for since, want := range map[time.Duration]int{0: 1, 2 * time.Hour: 1, 2*time.Hour + time.Millisecond: 0} {
		if os, err := s.WorkOrders(ctx, anxin.WorkOrderFilter{WithdrawnSince: at.Add(since)}); err != nil || len(os) != want ||
			want == 1 && os[0].ID != f.ID {
			t.Errorf("withdrawn since %v: %+v %v", since, os, err)
		}
	}
}

// Accounts are found by login or name, and by role, by login.
func accountsNamedAndByRole(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	for _, a := range []anxin.Account{
		{Login: "wangfang", Name: "王芳", Area: "屏山街道/善广村", Role: "worker", Hash: "h"},
		{Login: "wang2", Name: "王芳", Area: "屏山街道/东村", Role: "worker", Hash: "h"},
		{Login: "ops", Name: "值班", Role: "operator", Hash: "h"},
	} {
		if err := s.PutAccount(ctx, a, t0); err != nil {
			t.Fatal(err)
		}
	}
	logins := func(as []anxin.Account, err error) string {
		if err != nil {
			return err.Error()
		}
		out := ""
		for _, a := range as {
			out += a.Login + "/" + a.Name + "/" + a.Area + "/" + a.Role + " "
		}
		return out
	}
	for who, want := range map[string]string{
		"王芳":       "wang2/王芳/屏山街道/东村/worker wangfang/王芳/屏山街道/善广村/worker ",
		"wangfang": "wangfang/王芳/屏山街道/善广村/worker ",
		"nobody":   "",
	} {
		if got := logins(s.AccountsNamed(ctx, who)); got != want {
			t.Errorf("AccountsNamed(%s): %q, want %q", who, got, want)
		}
	}
	for role, want := range map[string]string{
		"worker":   "wang2/王芳/屏山街道/东村/worker wangfang/王芳/屏山街道/善广村/worker ",
		"operator": "ops/值班//operator ",
		"admin":    "",
	} {
		if got := logins(s.AccountsWithRole(ctx, role)); got != want {
			t.Errorf("AccountsWithRole(%s): %q, want %q", role, got, want)
		}
	}
}

// Several writers at once (alarmd instances sharing a database, or one
// alarmd's goroutines): one order per key, every creator told the same
// order, and of saves from one read exactly one wins.
func workOrderConcurrentWrites(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	at := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	const n = 8
	type result struct {
		created bool
		id      string
		err     error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := anxin.WorkOrder{Key: "alarm:01B", Kind: anxin.OrderAlarm, AlarmID: "01B", Household: "hh-1",
				Assignee: fmt.Sprintf("w%d", i), DispatchedBy: "auto", Status: anxin.OrderPending,
				CreatedAt: at.Add(time.Duration(i) * time.Millisecond), AssignedAt: at}
			created, err := s.CreateWorkOrder(ctx, &o)
			results <- result{created, o.ID, err}
		}()
	}
	wg.Wait()
	close(results)
	created, ids := 0, map[string]bool{}
	for r := range results {
		if r.err != nil {
			t.Fatalf("concurrent create: %v", r.err)
		}
		if r.created {
			created++
		}
		ids[r.id] = true
	}
	if os, err := s.WorkOrders(ctx, anxin.WorkOrderFilter{}); created != 1 || len(ids) != 1 || err != nil || len(os) != 1 {
		t.Fatalf("%d created, ids %v; stored %d orders %v", created, ids, len(os), err)
	}
	o, err := s.WorkOrderByKey(ctx, "alarm:01B")
	if err != nil {
		t.Fatal(err)
	}
	saves := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := o
			w.Assignee, w.History = fmt.Sprintf("x%d", i), []anxin.OrderMove{{At: at.Add(time.Minute), To: fmt.Sprintf("x%d", i), By: "ops"}}
			saves <- s.SaveWorkOrder(ctx, &w)
		}()
	}
	wg.Wait()
	close(saves)
	won := 0
	for err := range saves {
		switch anxin.ErrorCode(err) {
		case "":
			won++
		case anxin.ECONFLICT:
		default:
			t.Fatalf("concurrent save: %v", err)
		}
	}
	got, err := s.WorkOrder(ctx, o.ID)
	if won != 1 || err != nil || got.Version != o.Version+1 || len(got.History) != 1 || got.History[0].To != got.Assignee {
		t.Fatalf("%d saves won; stored %+v %v", won, got, err)
	}
}

// The same alarm's outcome recorded at once by several writers (a chain
// finishing on two alarmd) is one visit, and every writer is told its id.
func visitConcurrentWrites(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 5, 2, 0, 0, 0, time.UTC)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	outcomes := make(chan string, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := anxin.Visit{Household: "hh-2", Date: at, Method: anxin.VisitRemoteMonitoring, AlarmID: "01JDX3ABCDEFGHJKMNPQRSTVWX",
				FollowUpDue: at.Add(24 * time.Hour)}
			err := s.CreateVisit(ctx, &v)
			errs <- err
			outcomes <- v.ID
		}()
	}
	wg.Wait()
	close(errs)
	close(outcomes)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent visit: %v", err)
		}
	}
	ids := map[string]bool{}
	for id := range outcomes {
		ids[id] = true
	}
	if vs, err := s.Visits(ctx, anxin.VisitFilter{Household: "hh-2"}); err != nil || len(vs) != 1 || len(ids) != 1 || !ids[vs[0].ID] {
		t.Fatalf("one alarm outcome recorded at once: %d visits %v, ids told %v", len(vs), err, ids)
	}
}

// Households files loaded at once (several alarmd starting together, one
// with an edited file) all load: the register ends as one of them left it.
func kitsConcurrentLoads(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	list := make([]anxin.Household, 40)
	for i := range list {
		list[i] = anxin.Household{ID: fmt.Sprintf("hh-%02d", i), Elder: anxin.Elder{Name: "某", Tier: anxin.TierGeneral},
			Devices: []anxin.Device{{ID: "btn1", Kind: anxin.KindCallButton}}}
	}
	reversed := make([]anxin.Household, 0, len(list)-1) // the edited file: one household fewer, in the other order
	for i := len(list) - 1; i > 0; i-- {
		reversed = append(reversed, list[i])
	}
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, h := list, "full"
			if i%2 == 1 {
				l, h = reversed, "edited"
			}
			errs <- s.LoadHouseholdsFile(ctx, l, h, t0)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent load: %v", err)
		}
	}
	hash, err := s.HouseholdsFileHash(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := s.RegisterHouseholds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"full": len(list), "edited": len(reversed)}[hash]
	if len(hs) != want || (hash == "edited" && hs[0].ID != "hh-01") || (hash == "full" && hs[0].ID != "hh-00") {
		t.Fatalf("after concurrent loads: hash %q, %d households (want %d)", hash, len(hs), want)
	}
}

// Register writes at once (imports and edits on several alarmd): elders
// claiming one resident ID number end with one holder and the others told
// a *ConflictError, and imports of overlapping sheets in different orders
// all store.
func eldersConcurrentWrites(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := Elder(fmt.Sprintf("c%d", i), "11010519491231002X", "善广村")
			errs <- s.PutElder(ctx, &e)
		}()
	}
	wg.Wait()
	close(errs)
	stored := 0
	for err := range errs {
		var ce *anxin.ConflictError
		switch {
		case err == nil:
			stored++
		case !errors.As(err, &ce):
			t.Fatalf("a clashing ID number: %v, want a *ConflictError", err)
		}
	}
	if stored != 1 {
		t.Fatalf("%d of %d elders with one ID number stored", stored, n)
	}
	sheet := make([]anxin.ElderRecord, 30)
	for i := range sheet {
		sheet[i] = Elder(fmt.Sprintf("s%02d", i), fmt.Sprintf("1101051949123%05d", i), "善广村")
	}
	other := make([]anxin.ElderRecord, 0, len(sheet))
	for i := len(sheet) - 1; i >= 0; i-- {
		e := sheet[i]
		e.Phone = "+8613800009999"
		other = append(other, e)
	}
	errs = make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			es := sheet
			if i%2 == 1 {
				es = other
			}
			errs <- s.ImportElders(ctx, es, t0)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent import: %v", err)
		}
	}
	if c, err := s.CountElders(ctx, anxin.ElderFilter{}); err != nil || c != len(sheet)+1 {
		t.Fatalf("%d elders after concurrent imports %v, want %d", c, err, len(sheet)+1)
	}
}

// awayMarks: a household's marks count up; the last is pending until its
// version (or a later one) is applied, and applying an older version
// leaves a newer mark pending.
func awayMarks(t *testing.T, s anxin.Store) {
	ctx := context.Background()
	at := time.Date(2026, 12, 7, 8, 0, 0, 0, time.UTC)
	if _, err := s.AwayMark(ctx, "hh-1"); anxin.ErrorCode(err) != anxin.ENOTFOUND {
		t.Fatalf("never marked: %v", err)
	}
	if _, err := s.PutAwayMark(ctx, "bad id", true, at); anxin.ErrorCode(err) != anxin.EINVALID {
		t.Fatalf("bad household: %v", err)
	}
	m1, err := s.PutAwayMark(ctx, "hh-1", true, at)
	if err != nil || m1.Version != 1 {
		t.Fatalf("first mark: %+v %v", m1, err)
	}
	if _, err := s.PutAwayMark(ctx, "hh-2", true, at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	m2, err := s.PutAwayMark(ctx, "hh-1", false, at.Add(2*time.Minute))
	if err != nil || m2.Version != 2 {
		t.Fatalf("second mark: %+v %v", m2, err)
	}
	pending := func() []string {
		t.Helper()
		ms, err := s.PendingAwayMarks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, fmt.Sprintf("%s:%v:%d", m.Household, m.Away, m.Version))
		}
		return out
	}
	if got := pending(); !reflect.DeepEqual(got, []string{"hh-2:true:1", "hh-1:false:2"}) {
		t.Fatalf("pending, oldest first: %v", got)
	}
	if err := s.AwayMarkApplied(ctx, "hh-1", 1); err != nil { // an older mark's apply
		t.Fatal(err)
	}
	if got := pending(); !reflect.DeepEqual(got, []string{"hh-2:true:1", "hh-1:false:2"}) {
		t.Fatalf("after applying an older version: %v", got)
	}
	if err := s.AwayMarkApplied(ctx, "hh-1", 2); err != nil {
		t.Fatal(err)
	}
	if err := s.AwayMarkApplied(ctx, "hh-1", 1); err != nil { // late: changes nothing
		t.Fatal(err)
	}
	if got := pending(); !reflect.DeepEqual(got, []string{"hh-2:true:1"}) {
		t.Fatalf("after applying hh-1: %v", got)
	}
	m, err := s.AwayMark(ctx, "hh-1")
	if err != nil || m.Away || m.Version != 2 || !m.Applied || !m.At.Equal(at.Add(2*time.Minute)) {
		t.Fatalf("last mark: %+v %v", m, err)
	}
	// adopting households the rules hold away: an existing mark wins; past
	// the 500 of one statement
	adopt := []string{"hh-1", "hh-3"}
	for i := range 1000 {
		adopt = append(adopt, fmt.Sprintf("hh-a%04d", i))
	}
	if err := s.AdoptAwayMarks(ctx, adopt, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.AdoptAwayMarks(ctx, nil, at); err != nil {
		t.Fatal(err)
	}
	if m, err := s.AwayMark(ctx, "hh-a0999"); err != nil || !m.Away || !m.Applied {
		t.Fatalf("adopted past one statement: %+v %v", m, err)
	}
	if m, err := s.AwayMark(ctx, "hh-1"); err != nil || m.Away || m.Version != 2 {
		t.Fatalf("adopting over a mark: %+v %v", m, err)
	}
	if m, err := s.AwayMark(ctx, "hh-3"); err != nil || !m.Away || m.Version != 1 || !m.Applied || !m.At.Equal(at.Add(time.Hour)) {
		t.Fatalf("adopted: %+v %v", m, err)
	}
	if got := pending(); !reflect.DeepEqual(got, []string{"hh-2:true:1"}) {
		t.Fatalf("an adopted mark is pending: %v", got)
	}
}
