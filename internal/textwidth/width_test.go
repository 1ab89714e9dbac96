package textwidth

import "testing"

func TestWidth(t *testing.T) {
	for s, want := range map[string]int{"": 0, "abc": 3, "张桂兰": 6, "善广村3组": 9, "，（）": 6, "ＡＢ": 4, "ｶﾞ": 2,
		"e\u0301": 1, "+86138****1234": 14, "逾期 3 天": 9, "无应答  找不到串口": 18} {
		if got := Width(s); got != want {
			t.Errorf("Width(%q) = %d, want %d", s, got, want)
		}
	}
}
