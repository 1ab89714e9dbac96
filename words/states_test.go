package words

import (
	"testing"

	"github.com/anxin-care/anxin"
)

// Every tier a record can hold has a Mandarin name: an elder imported from
// a ledger without an assessment (unassessed) showed as "unassessed" in
// anxinctl and as a blank in the web pages and the XLSX report.
func TestTierNamesEveryTier(t *testing.T) {
	want := map[anxin.Tier]string{anxin.TierIrregular: "不定期", anxin.TierGeneral: "一般", anxin.TierKey: "重点",
		anxin.TierHigh: "高风险", anxin.TierUnassessed: "未评估", "all": "全部"}
	for tier, w := range want {
		if got := Tier(string(tier)); got != w {
			t.Errorf("Tier(%q) = %q, want %q", tier, got, w)
		}
	}
	for _, tier := range []anxin.Tier{anxin.TierIrregular, anxin.TierGeneral, anxin.TierKey, anxin.TierHigh, anxin.TierUnassessed} {
		if !tier.Valid() || want[tier] == "" {
			t.Errorf("tier %q has no name in the test's table", tier)
		}
	}
	if got := Tier("x-new"); got != "x-new" {
		t.Errorf("an unknown tier is shown as it is, got %q", got)
	}
}
