package jt808

import (
	"strconv"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/tcpserver"
)

// Vendor maps what models put in vendor-defined places: additional items
// (TLV ids 0xE0–0xFF) and alarm bits. 0 means "not sent by this model".
type Vendor struct {
	BatteryTLV   int `mapstructure:"battery_tlv" yaml:"battery_tlv"`       // 1 byte, percent
	HeartRateTLV int `mapstructure:"heart_rate_tlv" yaml:"heart_rate_tlv"` // 1 byte, bpm
	FallAlarmBit int `mapstructure:"fall_alarm_bit" yaml:"fall_alarm_bit"` // alarm bit of a fall
}

// alarmState remembers a terminal's alarm bits of its last live report, so
// a held SOS bit raises one event per press, not one per report.
type alarmState struct {
	bits uint32
	seen bool
}

// rising returns the bits set now and not in the last live report, and
// records bits. The first report after start counts every set bit.
func (a *alarmState) rising(bits uint32) uint32 {
	r := bits
	if a.seen {
		r = bits &^ a.bits
	}
	a.bits, a.seen = bits, true
	return r
}

// messages turns a location into a reading and one event per rising alarm
// bit the vendor mapping knows. ts is the report's time: late reports keep
// their own.
func (v *Vendor) messages(t tcpserver.Target, terminal string, l Location, ts time.Time, stamp string, rising uint32) []anxin.Message {
	f := anxin.Fields{
		"lat": anxin.Num(l.Lat), "lon": anxin.Num(l.Lon), "alt_m": anxin.Num(l.AltM),
		"speed_kmh": anxin.Num(l.SpeedKmh), "course_deg": anxin.Num(l.CourseDeg),
		"fix_quality": anxin.Num(0), "battery_low": anxin.Bool(l.Alarm&AlarmUndervolt != 0),
	}
	if l.Status&StatusFixed != 0 {
		f["fix_quality"] = anxin.Num(1)
	}
	one := func(id int) (float64, bool) {
		if id <= 0 || id > 0xFF {
			return 0, false
		}
		b, ok := l.Extras[byte(id)]
		if !ok || len(b) != 1 {
			return 0, false
		}
		return float64(b[0]), true
	}
	if x, ok := one(v.BatteryTLV); ok && x <= 100 {
		f["battery_pct"] = anxin.Num(x)
	}
	if x, ok := one(v.HeartRateTLV); ok && x > 0 && x < 255 {
		f["heart_rate_bpm"] = anxin.Num(x)
	}
	if x, ok := one(0x30); ok {
		f["rssi"] = anxin.Num(x) // wireless signal strength, as sent
	}
	if x, ok := one(0x31); ok {
		f["sats"] = anxin.Num(x)
	}
	out := []anxin.Message{{ID: tcpserver.StableID(ts, "jt808", terminal, "reading", stamp),
		TS: ts, Household: t.Household, Device: t.Device, Kind: t.Kind, Fields: f}}
	events := []struct {
		bit uint32
		ev  anxin.EventType
	}{{AlarmSOS, anxin.EventButtonPressed}, {AlarmUndervolt, anxin.EventLowBattery}}
	if v.FallAlarmBit > 0 && v.FallAlarmBit < 32 {
		events = append(events, struct {
			bit uint32
			ev  anxin.EventType
		}{1 << v.FallAlarmBit, anxin.EventFall})
	}
	for _, e := range events {
		if rising&e.bit != 0 {
			out = append(out, anxin.Message{ID: tcpserver.StableID(ts, "jt808", terminal, string(e.ev), stamp),
				TS: ts, Household: t.Household, Device: t.Device, Kind: t.Kind, Event: e.ev})
		}
	}
	return out
}

// reports decodes the positions of a 0x0200 or 0x0704 packet into
// messages. state is the terminal's live alarm state. now is the gateway's
// clock for reports without a valid time (and the bound on times ahead of
// it when live). It also returns the alarm bits of the newest report, to
// confirm them to the terminal.
func (v *Vendor) reports(t tcpserver.Target, p Packet, state *alarmState, now time.Time, live bool) ([]anxin.Message, uint32, error) {
	bound := time.Time{}
	if live {
		bound = now
	}
	// the report's time, and what its messages' ids are made from: that
	// time, and the packet's serial number when the time is the gateway's
	// (two reports in one millisecond are two reports; a resent one stamped
	// anew raises no second event: its alarm bits rise against nothing new)
	stamp := func(l Location, current bool) (time.Time, string) {
		ts := tcpserver.DeviceTime(l.Time, bound, current)
		if ts.IsZero() {
			ts = now
		}
		st := strconv.FormatInt(ts.UnixMilli(), 10)
		if !ts.Equal(l.Time) {
			st += "/" + strconv.Itoa(int(p.Serial))
		}
		return ts, st
	}
	switch p.MsgID {
	case MsgLocation:
		l, err := ParseLocation(p.Body)
		if err != nil {
			return nil, 0, err
		}
		ts, st := stamp(l, true)
		return v.messages(t, p.Phone, l, ts, st, state.rising(l.Alarm)), l.Alarm, nil
	case MsgLocationBatch:
		b, err := ParseBatch(p.Body)
		if err != nil {
			return nil, 0, err
		}
		var out []anxin.Message
		var late alarmState // a blind-area batch's edges are its own: it is older than the live state
		var last uint32
		for _, l := range b.Items {
			st := state
			if b.Late {
				st = &late
			}
			ts, stm := stamp(l, !b.Late)
			out = append(out, v.messages(t, p.Phone, l, ts, stm, st.rising(l.Alarm))...)
			last = l.Alarm
		}
		return out, last, nil
	}
	return nil, 0, nil
}
