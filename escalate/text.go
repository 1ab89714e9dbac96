package escalate

import (
	"fmt"
	"time"

	"github.com/anxin-care/anxin"
)

// The words of messages and calls, in Mandarin: who, where, what, when.

func when(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("1月2日 15:04")
}

func elderName(h *anxin.Household) string {
	return firstNonEmpty(h.Elder.Name, "老人")
}

func what(a *anxin.Alarm) string {
	return firstNonEmpty(a.Reason, a.Rule, "告警")
}

func where(h *anxin.Household) string {
	if h.Elder.Address == "" {
		return ""
	}
	return "（" + h.Elder.Address + "）"
}

// smsText is a step's SMS: what happened, where, when, the elder, the link.
func smsText(a *anxin.Alarm, h *anxin.Household, link string, loc *time.Location) string {
	return fmt.Sprintf("【安心】%s%s：%s，%s。请尽快联系或上门查看。由您处理请点此确认：%s",
		elderName(h), where(h), what(a), when(a.OpenedAt, loc), link)
}

// voiceText is what a step's call says inside the one-digit Gather.
func voiceText(a *anxin.Alarm, h *anxin.Household, toElder bool, loc *time.Location) string {
	if toElder {
		return fmt.Sprintf("您好，这里是安心居家养老平台。%s，%s。如果您平安，请按1。", what(a), when(a.OpenedAt, loc))
	}
	return fmt.Sprintf("您好，这里是安心居家养老平台。%s家%s，%s。由您处理请按1。",
		elderName(h), what(a), when(a.OpenedAt, loc))
}

// takenText tells those already notified who accepted.
func takenText(a *anxin.Alarm, h *anxin.Household, c *anxin.Chain) string {
	return fmt.Sprintf("【安心】%s的告警（%s）已由%s接收处理，无需再确认。", elderName(h), what(a), c.AcceptedBy)
}

// dutyText tells the community duty contacts that nobody accepted.
func dutyText(a *anxin.Alarm, h *anxin.Household, c *anxin.Chain, link string, loc *time.Location) string {
	t := fmt.Sprintf("【安心】无人接收：%s%s %s，%s。已呼叫%d次无人确认，请值班人员立即处理。",
		elderName(h), where(h), what(a), when(a.OpenedAt, loc), len(c.Steps))
	if link != "" {
		t += "接手处理请点此确认：" + link
	}
	return t
}
