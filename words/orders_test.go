package words

import (
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
)

// A work order SMS names the elder and what happened, keeps the link whole
// and fits two segments, even with a long address; a handed-on one says so.
func TestOrderSMS(t *testing.T) {
	b := Default()
	a := &anxin.Alarm{OpenedAt: time.Date(2026, 12, 6, 20, 31, 0, 0, time.UTC), Cause: anxin.Cause{Code: anxin.CauseButton, Device: anxin.KindCallButton}}
	h := &anxin.Household{Elder: anxin.Elder{Name: "张桂兰", Address: strings.Repeat("屏山街道善广村幸福路", 6)}}
	link := "https://alarm.example.org/app/orders/01KBXYZ0000000000000000000"
	for _, c := range []struct {
		a     *anxin.Alarm
		moved bool
		want  []string
	}{
		{a, false, []string{"【安心】派单：张桂兰家", "12月7日 04:31 按下了呼叫按钮", "无人接收"}},
		{a, true, []string{"转派（原处理人超时未接单）", "按下了呼叫按钮"}},
		{nil, false, []string{"请回访张桂兰", "告警后回访"}},
	} {
		s := b.Order(c.a, h, link, c.moved)
		for _, w := range c.want {
			if !strings.Contains(s, w) {
				t.Errorf("%q lacks %q", s, w)
			}
		}
		if !strings.HasSuffix(s, link) || !SMSFits(s) {
			t.Errorf("link or length: %q (%d segments)", s, SMSSegments(s))
		}
	}
	if en, _ := New(English, DefaultZone); !strings.Contains(en.Order(a, h, link, false), "Work order") {
		t.Error("English order SMS")
	}
}
