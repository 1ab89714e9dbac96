package watch3g

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/tcpserver"
)

// Status bits of positions (the last hex field of UD/AL): the low half is
// state, the high half the alarm that made an AL.
const (
	StateLowBattery = 1 << 0
	AlarmSOS        = 1 << 16
	AlarmLowBattery = 1 << 17
	AlarmFall       = 1 << 21
)

// Position is a UD/UD2/UD_LTE/AL body.
type Position struct {
	Time       time.Time // UTC; zero when the watch had none
	Valid      bool
	Lat, Lon   float64
	SpeedKmh   float64
	CourseDeg  float64
	AltM       float64
	Sats       float64
	Rssi       float64
	BatteryPct float64
	Status     uint32
	has        map[string]bool
}

// ParsePosition decodes the comma fields of a position content.
func ParsePosition(args []string) (Position, error) {
	var p Position
	if len(args) < 9 {
		return p, fmt.Errorf("%s: %d fields, at least 9 needed", args[0], len(args))
	}
	p.has = map[string]bool{}
	a := func(i int) string {
		if i < len(args) {
			return strings.TrimSpace(args[i])
		}
		return ""
	}
	if t, err := time.Parse("020106150405", a(1)+a(2)); err == nil && t.Year() >= 2001 {
		p.Time = t
	}
	p.Valid = a(3) == "A"
	var err error
	if p.Lat, err = strconv.ParseFloat(a(4), 64); err != nil || p.Lat < 0 || p.Lat > 90 {
		return p, fmt.Errorf("latitude %q", a(4))
	}
	if p.Lon, err = strconv.ParseFloat(a(6), 64); err != nil || p.Lon < 0 || p.Lon > 180 {
		return p, fmt.Errorf("longitude %q", a(6))
	}
	if a(5) == "S" {
		p.Lat = -p.Lat
	}
	if a(7) == "W" {
		p.Lon = -p.Lon
	}
	num := func(i int, name string, dst *float64, lo, hi float64) {
		if v, err := strconv.ParseFloat(a(i), 64); err == nil && v >= lo && v <= hi {
			*dst = v
			p.has[name] = true
		}
	}
	num(8, "speed_kmh", &p.SpeedKmh, 0, 1000)
	num(9, "course_deg", &p.CourseDeg, 0, 360)
	num(10, "alt_m", &p.AltM, -1000, 20000)
	num(11, "sats", &p.Sats, 0, 100)
	num(12, "rssi", &p.Rssi, 0, 100)
	num(13, "battery_pct", &p.BatteryPct, 0, 100)
	if s, err := strconv.ParseUint(a(16), 16, 32); err == nil && len(a(16)) == 8 {
		p.Status = uint32(s)
		p.has["status"] = true
	}
	return p, nil
}

// isPosition reports whether a content type carries a position: UD, UD2,
// UD_LTE, UD_WCDMA, AL, AL_LTE, …
func isPosition(typ string) bool {
	base, _, _ := strings.Cut(typ, "_")
	return base == "UD" || base == "UD2" || base == "UD3" || isAlarm(typ)
}

func isAlarm(typ string) bool { base, _, _ := strings.Cut(typ, "_"); return base == "AL" }

// Answer is the content a watch waits for after f, "" for none.
func Answer(f Frame) string {
	switch {
	case f.Type == "LK":
		return "LK"
	case isAlarm(f.Type):
		return "AL"
	case f.Type == "bphrt" || f.Type == "btemp2" || f.Type == "oxygen" || f.Type == "TKQ" || f.Type == "TKQ2":
		return f.Type
	}
	return ""
}

// messages normalizes one frame: a reading for a position or a health
// measurement, events for an AL's alarm bits. now stamps frames without a
// time; when live, it also bounds times ahead of it.
func messages(t tcpserver.Target, f Frame, now time.Time, live bool) ([]anxin.Message, error) {
	args := f.Args()
	fields := anxin.Fields{}
	ts := now
	var status uint32
	switch {
	case isPosition(f.Type):
		p, err := ParsePosition(args)
		if err != nil {
			return nil, err
		}
		// the watch's time when plausible (decoding: any set one); an
		// unusable one gives now, for an AL the first of its resends'
		// (driver.alarmTime)
		bound := now
		if !live {
			bound = time.Time{}
		}
		if dt := tcpserver.DeviceTime(p.Time, bound, true); !dt.IsZero() {
			ts = dt
		}
		fields["lat"], fields["lon"] = anxin.Num(p.Lat), anxin.Num(p.Lon)
		fields["fix_quality"] = anxin.Num(0)
		if p.Valid {
			fields["fix_quality"] = anxin.Num(1)
		}
		for name, v := range map[string]float64{"speed_kmh": p.SpeedKmh, "course_deg": p.CourseDeg, "alt_m": p.AltM,
			"sats": p.Sats, "rssi": p.Rssi, "battery_pct": p.BatteryPct} {
			if p.has[name] {
				fields[name] = anxin.Num(v)
			}
		}
		if p.has["status"] {
			status = p.Status
			fields["battery_low"] = anxin.Bool(status&(StateLowBattery|AlarmLowBattery) != 0)
		}
	case f.Type == "LK":
		if len(args) >= 4 { // LK,steps,rolls,battery
			if v, err := strconv.ParseFloat(args[3], 64); err == nil && v >= 0 && v <= 100 {
				fields["battery_pct"] = anxin.Num(v)
			}
		}
	case f.Type == "bphrt": // bphrt,systolic,diastolic,heart rate,…
		if len(args) >= 4 {
			if v, err := strconv.ParseFloat(args[3], 64); err == nil && v > 0 && v < 255 {
				fields["heart_rate_bpm"] = anxin.Num(v)
			}
		}
	case f.Type == "oxygen": // oxygen,…,spo2 (the last value)
		if v, err := strconv.ParseFloat(args[len(args)-1], 64); err == nil && v > 0 && v <= 100 {
			fields["spo2_pct"] = anxin.Num(v)
		}
	case f.Type == "btemp2": // btemp2,mode,temp; temp 0 or 1: the measurement failed
		if len(args) >= 3 {
			if v, err := strconv.ParseFloat(args[2], 64); err == nil && v > 25 && v < 45 {
				fields["body_temp_c"] = anxin.Num(v)
			}
		}
	}
	var out []anxin.Message
	stamp := strconv.FormatInt(ts.UnixMilli(), 10)
	if len(fields) > 0 {
		out = append(out, anxin.Message{ID: tcpserver.StableID(ts, "watch3g", f.ID, f.Content), TS: ts,
			Household: t.Household, Device: t.Device, Kind: t.Kind, Fields: fields})
	}
	if isAlarm(f.Type) {
		for _, e := range []struct {
			bit uint32
			ev  anxin.EventType
		}{{AlarmSOS, anxin.EventButtonPressed}, {AlarmFall, anxin.EventFall}, {AlarmLowBattery, anxin.EventLowBattery}} {
			if status&e.bit != 0 {
				// A watch resends an unanswered AL as it was: the same id.
				out = append(out, anxin.Message{ID: tcpserver.StableID(ts, "watch3g", f.ID, string(e.ev), stamp), TS: ts,
					Household: t.Household, Device: t.Device, Kind: t.Kind, Event: e.ev})
			}
		}
	}
	return out, nil
}
