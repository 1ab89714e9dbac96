package words

import "github.com/anxin-care/anxin"

// The names staff read for an alarm's state, a channel and an attempt's
// status (ours and the providers'), shared by the web app and anxinctl so
// that the board and the terminal say the same thing.

var alarmStates = map[anxin.AlarmState]string{anxin.AlarmOpen: "正在通知", anxin.AlarmAccepted: "已有人响应",
	anxin.AlarmUnanswered: "无人应答", anxin.AlarmResolved: "已关闭"}

// AlarmState names an alarm's state; an unknown one as it is.
func AlarmState(s anxin.AlarmState) string {
	if n, ok := alarmStates[s]; ok {
		return n
	}
	return string(s)
}

var channels = map[string]string{"sms": "短信", "voice": "电话", "call": "电话"}

// Channel names sms or voice (a call); an unknown one as it is.
func Channel(c string) string {
	if n, ok := channels[c]; ok {
		return n
	}
	return c
}

var attemptStatuses = map[string]string{
	anxin.AttemptSending: "发送中", anxin.AttemptRetry: "重试中", anxin.AttemptFailed: "失败",
	"queued": "已提交", "accepted": "已提交", "sent": "已发出", "delivered": "已送达", "undelivered": "未送达",
	"read": "已读", "initiated": "呼叫中", "ringing": "振铃中", "in-progress": "通话中", "answered": "已接听",
	"completed": "已结束", "busy": "占线", "no-answer": "无人接听", "canceled": "已取消",
	anxin.AttemptCanceling: "正在取消", anxin.AttemptHangingUp: "正在挂断",
}

// AttemptStatus names a message's or call's status; any other is 状态未知.
func AttemptStatus(s string) string {
	if n, ok := attemptStatuses[s]; ok {
		return n
	}
	return "状态未知"
}

var tiers = map[string]string{string(anxin.TierIrregular): "不定期", string(anxin.TierGeneral): "一般",
	string(anxin.TierKey): "重点", string(anxin.TierHigh): "高风险", string(anxin.TierUnassessed): "未评估", "all": "全部"}

// Tier names a risk tier (irregular, general, key, high, unassessed;
// "all" is a report's every-tier row); an unknown one as it is. The web
// pages, the XLSX report and anxinctl all name tiers with it.
func Tier(t string) string {
	if n, ok := tiers[t]; ok {
		return n
	}
	return t
}
