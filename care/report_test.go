package care

import (
	"testing"

	"github.com/anxin-care/anxin"
)

func TestCountsOnlyWorkersContacts(t *testing.T) {
	for m, want := range map[anxin.VisitMethod]bool{anxin.VisitHome: true, anxin.VisitPhone: true, anxin.VisitAudioVideo: true,
		anxin.VisitOther: true, anxin.VisitRemoteMonitoring: false, "fax": false} {
		if Counts(m) != want {
			t.Errorf("Counts(%s) = %v", m, !want)
		}
	}
}

func TestMonthRates(t *testing.T) {
	m := NewMonthRates()
	m.Add(ElderMonth{ID: "a", Village: "东村", Tier: anxin.TierKey, GridWorker: "王芳", Consent: true, Visits: MethodCounts{Home: 1, Phone: 2}})
	m.Add(ElderMonth{ID: "b", Village: "东村", Tier: anxin.TierHigh, GridWorker: "王芳", Consent: true, Visits: MethodCounts{Remote: 3}})
	m.Add(ElderMonth{ID: "c", Village: "西村", Tier: anxin.TierKey, GridWorker: "李强", Consent: false, Visits: MethodCounts{Phone: 1}})
	m.Finish()
	if m.Total.InScope != 2 || m.Total.Visited != 1 || m.Total.Declined != 1 || *m.Total.Rate != 0.5 ||
		m.Total.Remote != 1 || m.Total.RemoteOnly != 1 || m.Total.Methods != (MethodCounts{Home: 1, Phone: 2, Remote: 3}) {
		t.Fatalf("total %+v", m.Total)
	}
	if len(m.NotVisited) != 1 || m.NotVisited[0].ID != "b" || m.NotVisited[0].Remote != 3 {
		t.Fatalf("not visited %+v", m.NotVisited)
	}
	// 西村: only a declining elder — nobody in scope, no rate
	if len(m.ByVillage) != 2 || m.ByVillage[1].Village != "西村" || m.ByVillage[1].Rate != nil || m.ByVillage[1].RateText() != "—" {
		t.Fatalf("by village %+v", m.ByVillage)
	}
	if len(m.ByTier) != 2 || m.ByTier[0].Tier != "high" || m.ByTier[0].RateText() != "0.0%" || m.ByTier[1].RateText() != "100.0%" {
		t.Fatalf("by tier %+v", m.ByTier)
	}
	if len(m.ByGridWorker) != 2 || m.ByGridWorker[0].GridWorker != "李强" || m.ByGridWorker[1].InScope != 2 {
		t.Fatalf("by grid worker %+v", m.ByGridWorker)
	}
}
