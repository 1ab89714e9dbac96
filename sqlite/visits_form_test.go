package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// TestVisitFormsMigration: a store made before visit_forms and
// elders.form_tier opens (the migration adds them), its free-text visits
// read as before, and new visits keep their items.
func TestVisitFormsMigration(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	// the store as an older alarmd left it
	for _, q := range []string{"DROP TABLE visit_forms", "ALTER TABLE elders DROP COLUMN form_tier",
		`INSERT INTO visits (id, household, date, method, health, safety) VALUES ('01OLD', 'hh-1', 1700000000000, 'home', '表达能力：较好', '燃气安全：不安全')`} {
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	if db, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	old, err := db.Visit(ctx, "01OLD")
	if err != nil || old.Health != "表达能力：较好" || old.Safety != "燃气安全：不安全" || old.Items != nil || old.Number != 0 {
		t.Fatalf("old visit: %+v %v", old, err)
	}
	v := anxin.Visit{Elder: "e-1", Household: "hh-1", Date: time.UnixMilli(1700000001000), Method: anxin.VisitPhone,
		Items: map[string]string{"用电安全": "较安全"}}
	if err := db.CreateVisit(ctx, &v); err != nil {
		t.Fatal(err)
	}
	got, err := db.Visit(ctx, v.ID)
	if err != nil || got.Items["power"] != "较安全" || got.Number != 2 || got.Elder != "e-1" {
		t.Fatalf("new visit: %+v %v", got, err)
	}
}

// TestHouseholdsFileIntoRegister: loading a file replaces the file's kits
// (one removed from the file is gone), keeps kits set through the API, and
// an elder record naming a household gives its tier and chain.
func TestHouseholdsFileIntoRegister(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	changes := 0
	db.OnRegisterChange(func(RegisterChange) { changes++ })
	c := func(phone string) []anxin.Contact { return []anxin.Contact{{Name: "x", Phone: phone}} }
	file := []anxin.Household{{ID: "hh-1", Elder: anxin.Elder{Name: "甲", Tier: anxin.TierHigh}, Contacts: c("+8613900000001"),
		Devices: []anxin.Device{{ID: "btn1", Kind: anxin.KindCallButton}}}, {ID: "hh-2"}}
	if err := db.LoadHouseholdsFile(ctx, file, "h1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := db.PutKit(ctx, &anxin.Household{ID: "hh-9", Devices: []anxin.Device{{ID: "wm1", Kind: anxin.KindWaterMeter}}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := db.LoadHouseholdsFile(ctx, file[:1], "h2", time.Now()); err != nil {
		t.Fatal(err)
	}
	e := anxin.ElderRecord{ID: "e-1", Household: "hh-1", Name: "甲老人", IDNumber: "11010519491231002X", Tier: anxin.TierKey,
		Contacts: c("+8613900000099"), Current: anxin.Address{Township: "善广乡", Village: "一村"}}
	if err := db.PutElder(ctx, &e); err != nil {
		t.Fatal(err)
	}
	hs, err := db.RegisterHouseholds(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintln(len(hs), hs[0].ID, hs[0].Elder.Tier, hs[0].Elder.Name, hs[0].Contacts[0].Phone, len(hs[0].Devices), hs[1].ID); got != "2 hh-1 key 甲老人 +8613900000099 1 hh-9\n" {
		t.Fatalf("register households: %s", got)
	}
	if h, err := db.HouseholdsFileHash(ctx); err != nil || h != "h2" || changes != 4 {
		t.Fatalf("hash %q %v, %d changes", h, err, changes)
	}
}

// BenchmarkRegisterHouseholds: the rebuild of alarmd's view after a
// register change, 10,000 kits each with an elder record.
func BenchmarkRegisterHouseholds(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const n = 10000
	list := make([]anxin.Household, n)
	es := make([]anxin.ElderRecord, n)
	for i := range list {
		id := fmt.Sprintf("hh-%05d", i)
		list[i] = anxin.Household{ID: id, Elder: anxin.Elder{Name: "某", Tier: anxin.TierGeneral},
			Contacts: []anxin.Contact{{Name: "子", Phone: "+8613900000001"}}, Devices: []anxin.Device{{ID: "btn1", Kind: anxin.KindCallButton}}}
		es[i] = anxin.ElderRecord{ID: fmt.Sprintf("e-%05d", i), Household: id, Name: "某", IDNumber: fmt.Sprintf("N%05d", i),
			Tier: anxin.TierKey, Contacts: []anxin.Contact{{Name: "女", Phone: "+8613900000002"}}}
	}
	if err := db.LoadHouseholdsFile(ctx, list, "h", time.Now()); err != nil {
		b.Fatal(err)
	}
	if err := db.ImportElders(ctx, es, time.Now()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		hs, err := db.RegisterHouseholds(ctx)
		if err != nil || len(hs) != n || hs[0].Elder.Tier != anxin.TierKey {
			b.Fatalf("%d %v", len(hs), err)
		}
	}
}
