package care

import (
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// TestTierOf: the assessment's score where the elder was assessed, else
// the form's 重点/一般, else 未评估 (general cadence).
func TestTierOf(t *testing.T) {
	assessed := anxin.Assessment{Guardianship: anxin.GuardianNoKin, SelfCare: anxin.SelfCareSevere, Health: anxin.HealthSevere, Age: 91}
	for _, c := range []struct {
		a     anxin.Assessment
		form  string
		score int
		tier  anxin.Tier
	}{
		{assessed, "一般", 20, anxin.TierHigh}, // the score wins over the box
		{anxin.Assessment{}, "重点", 0, anxin.TierKey},
		{anxin.Assessment{}, "重点对象", 0, anxin.TierKey},
		{anxin.Assessment{}, "一般对象", 0, anxin.TierGeneral},
		{anxin.Assessment{}, "", 0, anxin.TierUnassessed},
		{anxin.Assessment{Guardianship: "不知道"}, "", 0, anxin.TierUnassessed}, // invalid: Normalize reports it
	} {
		e := anxin.ElderRecord{Assessment: c.a, FormTier: c.form}
		if s, tier := TierOf(&e); s != c.score || tier != c.tier {
			t.Errorf("%+v %q: %d %s, want %d %s", c.a, c.form, s, tier, c.score, c.tier)
		}
	}
	last := time.Date(2026, 11, 1, 4, 0, 0, 0, time.UTC)
	p := DefaultPlan()
	if d, g := p.Due(anxin.TierUnassessed, last, last, last), p.Due(anxin.TierGeneral, last, last, last); d != g {
		t.Errorf("unassessed cadence %+v is not the general one %+v", d, g)
	}
}

// TestNormalizeWithoutAssessment: a record with the form's box and no
// assessment is valid; a partial assessment is still checked; a bad box is
// refused.
func TestNormalizeWithoutAssessment(t *testing.T) {
	today := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	base := func() anxin.ElderRecord {
		return anxin.ElderRecord{ID: "e-1", Name: "张桂兰", IDNumber: "11010519491231002X",
			Current: anxin.Address{Village: "一村"}}
	}
	e := base()
	e.FormTier = "重点对象"
	if errs := Normalize(&e, today); len(errs) != 0 || e.Tier != anxin.TierKey || e.FormTier != "重点" {
		t.Fatalf("form tier only: %v %+v", errs, e)
	}
	e = base()
	if errs := Normalize(&e, today); len(errs) != 0 || e.Tier != anxin.TierUnassessed {
		t.Fatalf("nothing: %v %s", errs, e.Tier)
	}
	e = base()
	e.Assessment.Guardianship = anxin.GuardianAlone
	if errs := Normalize(&e, today); len(errs) != 2 {
		t.Fatalf("partial assessment: %v", errs)
	}
	e = base()
	e.FormTier = "特别重点"
	if errs := Normalize(&e, today); len(errs) != 1 || errs[0].Field != "form_tier" {
		t.Fatalf("bad box: %v", errs)
	}
}
