package sqlite

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/storetest"
)

// The 附件1 form, form tier, note and extra attributes are stored with the
// elder, read back by Elder, Elders and EldersByID, and cleared when removed;
// a store made before elder_forms gets the table at Open.
func TestElderFormsStoredAndMigrated(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alarmd.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SQL().ExecContext(ctx, "DROP TABLE elder_forms"); err != nil { // as an older store
		t.Fatal(err)
	}
	db.Close()
	if db, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	yes := true
	e := storetest.Elder("e1", "11010519491231002X", "善广村")
	e.FormTier, e.Note = "重点", "耳背，需大声说话"
	e.Extra = []anxin.Attribute{{Name: "微信号", Value: "zgl"}, {Name: "身高", Value: "150"}}
	e.Form = &anxin.RegisterForm{FiledOn: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Poverty: "低保",
		Family:    []anxin.FamilyMember{{Name: "李明", Relation: "子", Phone: "+8613900000001", LivesWith: &yes}},
		WaterSafe: "是", PowerSafe: "否", HelpUnits: []string{"志愿者"}, HelpMeasures: "每周送餐"}
	plain := storetest.Elder("e2", "110105194912310029", "善广村")
	if err := db.ImportElders(ctx, []anxin.ElderRecord{e, plain}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Elder(ctx, "e1")
	if err != nil || !reflect.DeepEqual(got, e) {
		t.Fatalf("Elder: %v\n got %+v\nwant %+v", err, got, e)
	}
	list, err := db.Elders(ctx, ElderFilter{Limit: -1})
	if err != nil || len(list) != 2 || !reflect.DeepEqual(list[0], e) || list[1].Form != nil || list[1].Extra != nil {
		t.Fatalf("Elders: %v %+v", err, list)
	}
	byID, err := db.EldersByID(ctx, []string{"e1", "e2", "nobody"})
	if err != nil || len(byID) != 2 || !reflect.DeepEqual(byID["e1"], e) {
		t.Fatalf("EldersByID: %v %+v", err, byID)
	}
	ids, err := db.ElderIDsByIDNumber(ctx, []string{"110105194912310029", "11010519491231003X"})
	if err != nil || len(ids) != 1 || ids["110105194912310029"] != "e2" {
		t.Fatalf("ElderIDsByIDNumber: %v %v", err, ids)
	}
	// removing the form part clears its row
	e.FormTier, e.Note, e.Extra, e.Form = "", "", nil, nil
	if err := db.PutElder(ctx, &e); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.SQL().QueryRowContext(ctx, "SELECT count(*) FROM elder_forms").Scan(&n); err != nil || n != 0 {
		t.Fatalf("elder_forms rows: %d %v", n, err)
	}
	if got, _ := db.Elder(ctx, "e1"); got.Form != nil || got.Extra != nil || got.Note != "" {
		t.Fatalf("%+v", got)
	}
}
