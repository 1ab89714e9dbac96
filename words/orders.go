package words

import (
	"fmt"

	"github.com/anxin-care/anxin"
)

// orderWords are a work order's SMS to its assignee; %[1]s the elder,
// %[2]s "（address）" or "", %[3]s what happened (alarm orders), %[4]s
// the lead (new or handed on).
type orderWords struct {
	alarm, followUp string
	lead, moved     string // a new order, a reassigned one
	withdrawn       string // %[1]s the elder, %[2]s "（address）" or "": the alarm was closed
	ask             string // the link's lead-in
}

var orderCatalogue = map[string]orderWords{
	Mandarin: {
		alarm:     "【安心】%[4]s：%[1]s家%[2]s：%[3]s，无人接收，请尽快联系或上门查看。",
		followUp:  "【安心】%[4]s：请回访%[1]s%[2]s（告警后回访）。",
		lead:      "派单",
		moved:     "转派（原处理人超时未接单）",
		ask:       "处理后请填写探访记录：",
		withdrawn: "【安心】派单撤销：%[1]s家%[2]s的告警已关闭，此派单无需再处理。",
	},
	English: {
		alarm:     "[Anxin] %[4]s: %[1]s%[2]s: %[3]s; nobody took it. Please call or visit soon. ",
		followUp:  "[Anxin] %[4]s: follow-up visit to %[1]s%[2]s after an alarm. ",
		lead:      "Work order",
		moved:     "Work order handed on (not taken in time)",
		ask:       "Record what was done: ",
		withdrawn: "[Anxin] Work order withdrawn: the alarm at %[1]s%[2]s was closed; nothing more to do.",
	},
}

// Order is the SMS telling a community worker of a work order: the alarm
// (nil for a follow-up), whose home, where, and the order's link; moved
// says it was handed on from someone who did not take it. It fits two SMS
// segments (the address shortens first); the link stays whole.
func (b *Book) Order(a *anxin.Alarm, h *anxin.Household, link string, moved bool) string {
	w := orderCatalogue[b.c.locale]
	name := b.elder(h)
	lead := w.lead
	if moved {
		lead = w.moved
	}
	head := func(where string) string { return fmt.Sprintf(w.followUp, name, where, "", lead) }
	if a != nil {
		what := b.What(a, h)
		head = func(where string) string { return fmt.Sprintf(w.alarm, name, where, what, lead) }
	}
	return b.fit(h, link, head, w.ask)
}

// OrderWithdrawn is the SMS telling the assignee that an alarm's order is
// withdrawn because the alarm was closed before anyone visited.
func (b *Book) OrderWithdrawn(h *anxin.Household) string {
	w := orderCatalogue[b.c.locale]
	name := b.elder(h)
	return b.fit(h, "", func(where string) string { return fmt.Sprintf(w.withdrawn, name, where) }, "")
}
