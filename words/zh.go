package words

import (
	"strings"

	"github.com/anxin-care/anxin"
)

var zh = catalogue{
	locale: Mandarin,
	clock:  "1月2日 15:04",
	units:  units{sec: "秒", min: "分钟", minShort: "分", hour: "小时", day: "天", metre: "米", km: "公里"},
	elder:  "老人",
	fits:   func(s string) bool { return !hasASCIIWord(s) },
	kinds: map[anxin.Kind]string{
		"":                          "设备",
		anxin.KindCallButton:        "呼叫按钮",
		anxin.KindWaterMeter:        "水表",
		anxin.KindPowerMeter:        "电表",
		anxin.KindGasDetector:       "燃气报警器",
		anxin.KindSmokeDetector:     "烟雾报警器",
		anxin.KindWaterLeakDetector: "漏水报警器",
		anxin.KindTracker:           "定位器",
	},
	of:    "的",
	water: "水",
	power: "电",
	fields: map[string]field{
		"":               {"读数", "", false},
		"battery_pct":    {"电量", "%", false},
		"body_temp_c":    {"体温", "℃", true},
		"heart_rate_bpm": {"心率", "次/分", true},
		"spo2_pct":       {"血氧", "%", true},
		"voltage_v":      {"电压", "伏", false},
		"power_w":        {"功率", "瓦", false},
		"flow_lpm":       {"水流", "升/分", false},
		"rssi":           {"信号", "", false},
	},
	what: zhWhat,

	addr:       "（%s）",
	sms:        "【安心】%[1]s%[2]s：%[3]s。",
	smsAsk:     "请尽快联系或上门查看。",
	smsUrgent:  "由您处理请点：",
	duty:       "【安心】无人接收：%[1]s%[2]s：%[3]s。已呼叫%[4]d次无人确认，",
	dutyAsk:    "请值班人员立即处理，接手请点：",
	taken:      "【安心】%[1]s的告警（%[3]s）已由%[4]s接手处理，无需再确认。",
	voice:      "您好，这里是安心居家养老平台。%[1]s家：%[3]s。%[4]s由您处理请按1。",
	voiceElder: "您好，这里是安心居家养老平台。%[3]s。如果您平安，请按1。",
	fire:       "如有火情或燃气泄漏，请立即拨打119。",
	injury:     "如老人受伤，请立即拨打120。",

	call: CallWords{
		NoKey: "未收到按键。再见。", NoKeyAgain: "未收到确认，稍后会再联系您。再见。",
		Replayed: "已收到，谢谢。再见。", Busy: "系统繁忙，未能确认，请点击短信中的链接确认。再见。",
		ElderSafe: "好的，知道您平安，谢谢。再见。", Accepted: "已确认由您处理，谢谢。其他联系人将收到通知。",
		TakenBy: "此告警已由%s接收处理，谢谢。", Over: "此告警已结束，谢谢。", NotTaken: "未能确认，稍后会再联系您。再见。",
	},
	ack: ackWords{
		title: "安心告警", call: "拨打老人电话", button: "我来处理",
		open: "请确认由您来处理此告警。", unanswered: "此告警无人接收。请确认由您来处理。",
		takenBy: "此告警已由%s接收处理。", ended: "此告警已结束。",
		mineTitle: "已确认", mine: "谢谢，已确认由您处理。其他联系人将收到通知。",
		heldTitle: "已有人处理", held: "此告警已由%s接收处理。",
		overTitle: "告警已结束", over: "此告警已结束，无需确认。",
		expiredTitle: "链接已过期", expired: "此确认链接已过期。如仍需处理，请直接联系老人或社区。",
		invalidTitle: "链接无效", invalid: "无法识别此确认链接。",
		errorTitle: "暂时无法确认", err: "请稍后再试，或直接联系老人。",
	},
	visit: visitWords{
		health:          "告警：%s",
		elderSafe:       "老人本人%[1]s后按1确认平安",
		noContact:       "，未呼叫联系人",
		accepted:        "%[1]s（%[2]s）%[3]s后通过%[4]s接收处理",
		afterUnanswered: "，此前全链无人接收",
		unanswered:      "无人接收：共%[1]d步、%[2]d轮（呼叫%[3]d次）无人确认，已通知社区值班人员",
	},
	relates: map[string]string{
		"":                    "联系人",
		"elder":               "老人本人",
		"child":               "子女",
		"spouse":              "配偶",
		"relative":            "亲属",
		"neighbour":           "邻居",
		"neighbor":            "邻居",
		"grid_worker":         "网格员",
		"community_head":      "村（社区）负责人",
		"social_work_station": "社工站",
		"street_office":       "街道办",
	},
	via: map[string]string{"": "其他方式", "key_press": "电话按键", "ack_link": "短信链接", "sms_reply": "短信回复"},
}

// zhWhat: "12月7日 00:57 按下了呼叫按钮", "自12月6日 06:40起已24小时未用水".
func zhWhat(b *Book, a *anxin.Alarm, h *anxin.Household) string {
	c := a.Cause
	dev := b.c.device(c.Device, place(a, h))
	at := c.At
	if at.IsZero() {
		at = a.OpenedAt
	}
	t := b.clock(at)
	since := "自" + b.clock(c.Since) + "起"
	switch c.Code {
	case anxin.CauseButton:
		if p := place(a, h); p != "" && b.c.fits(p) {
			return t + " 按下了" + p + "的呼叫按钮"
		}
		return t + " 按下了呼叫按钮"
	case anxin.CauseSmoke:
		return t + " " + dev + "报警，可能着火"
	case anxin.CauseGas:
		return t + " " + dev + "报警，可能燃气泄漏"
	case anxin.CauseWaterLeak:
		return t + " " + dev + "报警，家中漏水"
	case anxin.CauseFall:
		return t + " 检测到老人跌倒"
	case anxin.CauseTamper:
		return t + " " + dev + "被拆动"
	case anxin.CauseLowBattery:
		return t + " " + dev + "电量低"
	case anxin.CauseNoUse:
		return since + "已" + b.span(c.For) + "未用" + b.c.usage(c)
	case anxin.CauseNoUseUnusual:
		u := b.c.usage(c)
		return since + "已" + b.span(c.For) + "未用" + u + "，往常" + percent(c.Share) + "的日子" +
			c.Usual.In(b.loc).Format("15:04") + "前已用" + u
	case anxin.CauseDeviceSilent:
		return dev + since + "已" + b.span(c.For) + "没有数据，可能需换电池或上门检查"
	case anxin.CauseRunning:
		if b.c.usage(c) == b.c.power {
			return since + "用电已持续" + b.span(c.For) + "未停"
		}
		return since + "用水已持续" + b.span(c.For) + "未停，可能忘关水龙头"
	case anxin.CauseThreshold:
		if c.Flag {
			return dev + "报告电量低"
		}
		f := b.field(c)
		dir := "低于"
		if c.Above {
			dir = "高于"
		}
		if f.worn {
			dev = b.c.elder
		}
		s := dev + f.name + number(c.Value) + f.unit + "，" + dir + number(c.Limit) + f.unit
		if c.For > 0 {
			s += "已" + b.span(c.For)
		}
		return s
	case anxin.CauseDeviceOffline:
		return dev + since + "离线已" + b.span(c.For)
	case anxin.CauseGatewayOffline:
		return "家中网关" + since + "离线已" + b.span(c.For)
	case anxin.CauseHomeSilent:
		return since + "已" + b.span(c.For) + "未收到家中任何数据"
	case anxin.CauseGeofence:
		area := "家附近"
		if c.Area != "" && b.c.fits(c.Area) {
			area = strings.TrimSpace(c.Area)
		}
		return "定位器显示老人" + since + "离开" + area + b.distance(c.Metres) + "已" + b.span(c.For)
	}
	return t + " 发生告警"
}
