package jt808

import (
	"errors"
	"fmt"
	"time"
)

// chinaTime is the zone of JT/T 808 timestamps (GMT+8).
var chinaTime = time.FixedZone("GMT+8", 8*3600)

// Alarm and status bits used here.
const (
	AlarmSOS        = 1 << 0 // emergency key; the terminal clears it once answered
	AlarmUndervolt  = 1 << 7 // main power (a personal tracker's battery) low
	StatusFixed     = 1 << 1
	StatusSouth     = 1 << 2
	StatusWest      = 1 << 3
	locationMinBody = 28
)

// Location is a 0x0200 body (or one item of a 0x0704 batch).
type Location struct {
	Alarm, Status uint32
	Lat, Lon      float64 // WGS-84 degrees as sent, signed by the status bits
	AltM          float64
	SpeedKmh      float64
	CourseDeg     float64
	Time          time.Time // zero when the terminal sent no valid time
	Extras        map[byte][]byte
}

// ParseLocation decodes a location body: the 28-byte basic part and the
// additional items (id, length, value) after it.
func ParseLocation(b []byte) (Location, error) {
	var l Location
	if len(b) < locationMinBody {
		return l, fmt.Errorf("location body is %d bytes, at least %d needed", len(b), locationMinBody)
	}
	u32 := func(i int) uint32 { return uint32(b[i])<<24 | uint32(b[i+1])<<16 | uint32(b[i+2])<<8 | uint32(b[i+3]) }
	u16 := func(i int) uint16 { return uint16(b[i])<<8 | uint16(b[i+1]) }
	l.Alarm, l.Status = u32(0), u32(4)
	l.Lat = float64(u32(8)) / 1e6
	l.Lon = float64(u32(12)) / 1e6
	if l.Status&StatusSouth != 0 {
		l.Lat = -l.Lat
	}
	if l.Status&StatusWest != 0 {
		l.Lon = -l.Lon
	}
	if l.Lat > 90 || l.Lat < -90 || l.Lon > 180 || l.Lon < -180 {
		return l, fmt.Errorf("position %.6f,%.6f out of range", l.Lat, l.Lon)
	}
	l.AltM = float64(int16(u16(16)))
	l.SpeedKmh = float64(u16(18)) / 10
	l.CourseDeg = float64(u16(20))
	l.Time = bcdTime(b[22:28])
	rest := b[locationMinBody:]
	for len(rest) >= 2 {
		id, n := rest[0], int(rest[1])
		if len(rest) < 2+n {
			break // a truncated last item is dropped, the position is kept
		}
		if l.Extras == nil {
			l.Extras = map[byte][]byte{}
		}
		l.Extras[id] = rest[2 : 2+n]
		rest = rest[2+n:]
	}
	if l.CourseDeg > 360 {
		return l, fmt.Errorf("course %v out of range", l.CourseDeg)
	}
	return l, nil
}

// bcdTime decodes YYMMDDhhmmss in GMT+8; zero when not a valid time.
func bcdTime(b []byte) time.Time {
	var v [6]int
	for i, c := range b {
		if c>>4 > 9 || c&0xF > 9 {
			return time.Time{}
		}
		v[i] = int(c>>4)*10 + int(c&0xF)
	}
	if v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 59 {
		return time.Time{}
	}
	t := time.Date(2000+v[0], time.Month(v[1]), v[2], v[3], v[4], v[5], 0, chinaTime)
	if t.Day() != v[2] {
		return time.Time{} // 31 February
	}
	return t
}

// Batch is a 0x0704 body: locations stored while out of coverage (Late) or
// sent in bulk.
type Batch struct {
	Late  bool // type 1: blind-area supplement
	Items []Location
}

// ParseBatch decodes a 0x0704 body.
func ParseBatch(b []byte) (Batch, error) {
	var bt Batch
	if len(b) < 3 {
		return bt, errors.New("batch body shorter than 3 bytes")
	}
	count := int(b[0])<<8 | int(b[1])
	bt.Late = b[2] == 1
	rest := b[3:]
	for i := 0; i < count; i++ {
		if len(rest) < 2 {
			return bt, fmt.Errorf("batch item %d of %d missing", i+1, count)
		}
		n := int(rest[0])<<8 | int(rest[1])
		if len(rest) < 2+n {
			return bt, fmt.Errorf("batch item %d: %d bytes, %d left", i+1, n, len(rest)-2)
		}
		l, err := ParseLocation(rest[2 : 2+n])
		if err != nil {
			return bt, fmt.Errorf("batch item %d: %w", i+1, err)
		}
		bt.Items = append(bt.Items, l)
		rest = rest[2+n:]
	}
	return bt, nil
}

// AuthCode is the code in a 0x0102 body: the whole body in 2013, a
// length-prefixed string followed by IMEI and software version in 2019.
func AuthCode(p Packet) string {
	if p.V2019 && len(p.Body) > 0 {
		n := int(p.Body[0])
		if 1+n <= len(p.Body) {
			return string(p.Body[1 : 1+n])
		}
	}
	return string(p.Body)
}

// PlatformReply is 0x8001 answering p with result (0 success, 1 failure,
// 2 bad message, 3 unsupported, 4 alarm confirmed).
func PlatformReply(p Packet, serial uint16, result byte) []byte {
	body := []byte{byte(p.Serial >> 8), byte(p.Serial), byte(p.MsgID >> 8), byte(p.MsgID), result}
	return Encode(Packet{MsgID: MsgPlatformReply, V2019: p.V2019, Version: p.Version, Phone: p.Phone, Serial: serial, Body: body})
}

// Registration results of 0x8100.
const (
	RegisterOK              = 0
	RegisterUnknownTerminal = 4
)

// RegisterReply is 0x8100 answering a registration; the auth code only on
// success.
func RegisterReply(p Packet, serial uint16, result byte, code string) []byte {
	body := []byte{byte(p.Serial >> 8), byte(p.Serial), result}
	if result == RegisterOK {
		body = append(body, code...)
	}
	return Encode(Packet{MsgID: MsgRegisterReply, V2019: p.V2019, Version: p.Version, Phone: p.Phone, Serial: serial, Body: body})
}

// AlarmConfirm is 0x8203 confirming the alarm bits of a report (answer
// serial, alarm mask): terminals that wait for it clear the SOS bit.
func AlarmConfirm(p Packet, serial uint16, bits uint32) []byte {
	body := []byte{byte(p.Serial >> 8), byte(p.Serial), byte(bits >> 24), byte(bits >> 16), byte(bits >> 8), byte(bits)}
	return Encode(Packet{MsgID: MsgAlarmConfirmed, V2019: p.V2019, Version: p.Version, Phone: p.Phone, Serial: serial, Body: body})
}
