package words

import (
	"fmt"

	"github.com/anxin-care/anxin"
)

// orderWords are a work order's SMS to its assignee; %[1]s the elder,
// %[2]s "（address）" or "", %[3]s what happened (alarm orders).
type orderWords struct {
	alarm, followUp string // a new order
	moved           string // lead of a reassigned order
	ask             string // the link's lead-in
}

var orderCatalogue = map[string]orderWords{
	Mandarin: {
		alarm:    "【安心】派单：%[1]s家%[2]s：%[3]s，无人接收，请您尽快联系或上门查看。",
		followUp: "【安心】派单：请回访%[1]s%[2]s（告警后回访）。",
		moved:    "原处理人超时未接单，现转给您。",
		ask:      "处理后请填写探访记录：",
	},
	English: {
		alarm:    "[Anxin] Work order: %[1]s%[2]s: %[3]s; nobody took it. Please call or visit soon. ",
		followUp: "[Anxin] Work order: follow-up visit to %[1]s%[2]s after an alarm. ",
		moved:    "The previous assignee did not take it; it is yours now. ",
		ask:      "Record what was done: ",
	},
}

// Order is the SMS telling a community worker of a work order: the alarm
// (nil for a follow-up), whose home, where, and the order's link; moved
// says it was handed on from someone who did not take it. It fits two SMS
// segments (the address shortens first); the link stays whole.
func (b *Book) Order(a *anxin.Alarm, h *anxin.Household, link string, moved bool) string {
	w := orderCatalogue[b.c.locale]
	name := b.elder(h)
	lead := ""
	if moved {
		lead = w.moved
	}
	head := func(where string) string { return fmt.Sprintf(w.followUp, name, where) }
	if a != nil {
		what := b.What(a, h)
		head = func(where string) string { return fmt.Sprintf(w.alarm, name, where, what) }
	}
	return b.fit(h, link, head, lead, w.ask)
}
