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
