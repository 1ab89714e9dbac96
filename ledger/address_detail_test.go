package ledger

import "testing"

// TestSpacedAddressDetailIsNoVillage: the spaced form takes the field after
// the township as the village even without a village's suffix (幸福小区),
// but a house number, a group, a building or a road is no village: such a
// row was refused with the advice to write the village, and since that
// change imported 善广乡 12号 as the village “12号”.
func TestSpacedAddressDetailIsNoVillage(t *testing.T) {
	for _, s := range []string{
		"忠县 善广乡 3组", "善广乡 12号", "忠县 善广乡 5栋", "屏山街道 新华路 12号", "屏山街道 新华街 3号",
		"善广乡 ３组", "屏山街道 2单元 301室",
	} {
		if a, err := ParseAddress(s, "默认乡"); err == nil {
			t.Errorf("%s read as village %q (detail %q)", s, a.Village, a.Detail)
		}
	}
	for s, village := range map[string]string{"忠县 善广乡 幸福小区 5栋": "幸福小区", "善广乡 阳光花园 3栋": "阳光花园", "屏山街道 新村路社区 2号": "新村路社区"} {
		if a, err := ParseAddress(s, "默认乡"); err != nil || a.Village != village {
			t.Errorf("%s: village %q %v, want %q", s, a.Village, err, village)
		}
	}
}
