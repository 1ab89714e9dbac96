package words

import (
	"strings"

	"github.com/anxin-care/anxin"
)

// en is for operators who read English; families get zh-CN.
var en = catalogue{
	locale: English,
	clock:  "2 Jan 15:04",
	units:  units{sec: " s", min: " min", minShort: " min", hour: " h", day: " d", sep: " ", metre: " m", km: " km"},
	elder:  "the elder",
	fits:   func(string) bool { return true },
	kinds: map[anxin.Kind]string{
		"":                          "device",
		anxin.KindCallButton:        "call button",
		anxin.KindWaterMeter:        "water meter",
		anxin.KindPowerMeter:        "electricity meter",
		anxin.KindGasDetector:       "gas detector",
		anxin.KindSmokeDetector:     "smoke detector",
		anxin.KindWaterLeakDetector: "water leak detector",
		anxin.KindTracker:           "tracker",
	},
	of:    " ",
	water: "water",
	power: "electricity",
	fields: map[string]field{
		"":               {"reading", "", false},
		"battery_pct":    {"battery", " %", false},
		"body_temp_c":    {"body temperature", " °C", true},
		"heart_rate_bpm": {"heart rate", " bpm", true},
		"spo2_pct":       {"SpO2", " %", true},
		"voltage_v":      {"voltage", " V", false},
		"power_w":        {"power", " W", false},
		"flow_lpm":       {"water flow", " l/min", false},
		"rssi":           {"signal", "", false},
	},
	what: enWhat,

	addr:       " (%s)",
	sms:        "[anxin] %[1]s%[2]s: %[3]s. ",
	smsAsk:     "Please call or visit. ",
	smsUrgent:  "To take it: ",
	duty:       "[anxin] UNANSWERED: %[1]s%[2]s: %[3]s. %[4]d calls, nobody accepted. ",
	dutyAsk:    "Duty staff please act now, take it: ",
	taken:      "[anxin] The alarm of %[1]s (%[3]s) was taken by %[4]s. Nothing more to do.",
	voice:      "Hello, this is anxin home care. At %[1]s's home: %[3]s. %[4]sPress 1 to take it.",
	voiceElder: "Hello, this is anxin home care. %[3]s. If you are safe, press 1.",
	fire:       "If there is fire or gas, call 119 now. ",
	injury:     "If the elder is hurt, call 120 now. ",

	call: CallWords{
		NoKey: "No key was pressed. Goodbye.", NoKeyAgain: "Not confirmed; we will call again. Goodbye.",
		Replayed: "Received, thank you. Goodbye.", Busy: "The system is busy: please use the link in the SMS. Goodbye.",
		ElderSafe: "Good, you are safe. Thank you. Goodbye.", Accepted: "Thank you: the alarm is yours. The other contacts will be told.",
		TakenBy: "%s has taken this alarm. Thank you.", Over: "This alarm is over. Thank you.", NotTaken: "Not confirmed; we will call again. Goodbye.",
	},
	ack: ackWords{
		title: "anxin alarm", call: "Call the elder", button: "I will handle it",
		open: "Please confirm that you will handle this alarm.", unanswered: "Nobody accepted this alarm. Please confirm that you will handle it.",
		takenBy: "%s has taken this alarm.", ended: "This alarm is over.",
		mineTitle: "Accepted", mine: "Thank you: the alarm is yours. The other contacts will be told.",
		heldTitle: "Already taken", held: "%s has taken this alarm.",
		overTitle: "Alarm over", over: "This alarm is over: nothing to accept.",
		expiredTitle: "Link expired", expired: "This link has expired. If help is still needed, call the elder or the community.",
		invalidTitle: "Invalid link", invalid: "This link is not recognised.",
		errorTitle: "Cannot accept now", err: "Please try again shortly, or call the elder.",
	},
	visit: visitWords{
		health:          "alarm: %s",
		elderSafe:       "the elder pressed 1 (safe) after %[1]s",
		noContact:       "; no contact was rung",
		accepted:        "alarm accepted by %[1]s (%[2]s) after %[3]s by %[4]s",
		afterUnanswered: ", after the chain had gone unanswered",
		unanswered:      "alarm unanswered: %[1]d steps over %[2]d rounds (%[3]d calls), nobody accepted; community duty contacts told",
	},
	relates: map[string]string{
		"": "contact", "elder": "elder", "child": "child", "spouse": "spouse", "relative": "relative",
		"neighbour": "neighbour", "neighbor": "neighbour", "grid_worker": "grid worker", "community_head": "community head",
		"social_work_station": "social-work station", "street_office": "street office",
	},
	via: map[string]string{"": "other", "key_press": "key press", "ack_link": "ack link", "sms_reply": "SMS reply"},
}

func enWhat(b *Book, a *anxin.Alarm, h *anxin.Household) string {
	c := a.Cause
	dev := "the " + b.c.device(c.Device, place(a, h))
	at := c.At
	if at.IsZero() {
		at = a.OpenedAt
	}
	t := b.clock(at)
	since := " since " + b.clock(c.Since) + " (" + b.span(c.For) + ")"
	switch c.Code {
	case anxin.CauseButton:
		return "call button pressed at " + t
	case anxin.CauseSmoke:
		return "smoke: " + dev + " went off at " + t
	case anxin.CauseGas:
		return "gas: " + dev + " went off at " + t
	case anxin.CauseWaterLeak:
		return "water leak: " + dev + " went off at " + t
	case anxin.CauseFall:
		return "a fall was detected at " + t
	case anxin.CauseTamper:
		return dev + " was tampered with at " + t
	case anxin.CauseLowBattery:
		return dev + " reports a low battery at " + t
	case anxin.CauseNoUse:
		return "no " + b.c.usage(c) + " used" + since
	case anxin.CauseNoUseUnusual:
		u := b.c.usage(c)
		return "no " + u + " used" + since + "; on " + percent(c.Share) + " of days " + u + " is used by " + c.Usual.In(b.loc).Format("15:04")
	case anxin.CauseDeviceSilent:
		return dev + " has sent nothing" + since + "; it may need a battery or a visit"
	case anxin.CauseRunning:
		return b.c.usage(c) + " running" + since
	case anxin.CauseThreshold:
		if c.Flag {
			return dev + " reports a low battery"
		}
		f := b.field(c)
		dir := "below"
		if c.Above {
			dir = "above"
		}
		if f.worn {
			dev = b.c.elder
		}
		s := f.name + " of " + dev + " at " + number(c.Value) + f.unit + " (" + dir + " " + number(c.Limit) + f.unit + ")"
		if c.For > 0 {
			s += " for " + b.span(c.For)
		}
		return s
	case anxin.CauseDeviceOffline:
		return dev + " offline" + since
	case anxin.CauseGatewayOffline:
		return "the home gateway offline" + since
	case anxin.CauseHomeSilent:
		return "nothing from the home" + since
	case anxin.CauseGeofence:
		area := strings.TrimSpace(c.Area)
		if area == "" {
			area = "the home area"
		}
		return "tracker " + b.distance(c.Metres) + " outside " + area + since
	}
	return "alarm " + a.Rule + " at " + t
}
