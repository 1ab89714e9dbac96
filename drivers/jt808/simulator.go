package jt808

import (
	"errors"
	"fmt"
	"time"

	"github.com/anxin-care/anxin/drivers/tcpserver"
)

// Terminal is a simulated JT/T 808 terminal for tests, the load tool and
// the demo: it registers, authenticates, reports positions and presses SOS
// over a real TCP connection.
type Terminal struct {
	Phone  string
	V2019  bool
	c      *tcpserver.Client
	serial uint16
}

// Dial connects a terminal to a platform.
func Dial(addr, phone string, v2019 bool) (*Terminal, error) {
	c, err := tcpserver.DialClient(addr, Framing)
	if err != nil {
		return nil, err
	}
	return &Terminal{Phone: phone, V2019: v2019, c: c}, nil
}

// Close hangs up.
func (t *Terminal) Close() error { return t.c.Close() }

// Packet builds a packet of this terminal with the next serial number.
func (t *Terminal) Packet(id uint16, body []byte) Packet {
	t.serial++
	return Packet{MsgID: id, V2019: t.V2019, Version: 1, Phone: t.Phone, Serial: t.serial, Body: body}
}

// Send writes one packet.
func (t *Terminal) Send(p Packet) error { return t.c.Write(Encode(p)) }

// Read waits for the platform's next packet (at most timeout).
func (t *Terminal) Read(timeout time.Duration) (Packet, error) {
	b, err := t.c.Next(timeout)
	if err != nil {
		return Packet{}, err
	}
	return Parse(b)
}

// Call sends p and waits for the reply to it (0x8001 or 0x8100 naming its
// serial), skipping other platform messages.
func (t *Terminal) Call(p Packet, timeout time.Duration) (Packet, error) {
	if err := t.Send(p); err != nil {
		return Packet{}, err
	}
	for {
		r, err := t.Read(timeout)
		if err != nil {
			return r, err
		}
		if (r.MsgID == MsgPlatformReply || r.MsgID == MsgRegisterReply) && len(r.Body) >= 2 &&
			uint16(r.Body[0])<<8|uint16(r.Body[1]) == p.Serial {
			return r, nil
		}
	}
}

// Login registers and authenticates; it returns the auth code.
func (t *Terminal) Login(timeout time.Duration) (string, error) {
	reg := make([]byte, 37) // province, city, maker, model, id, plate colour: zeros
	r, err := t.Call(t.Packet(MsgRegister, reg), timeout)
	if err != nil {
		return "", err
	}
	if len(r.Body) < 3 || r.Body[2] != RegisterOK {
		return "", fmt.Errorf("registration refused (result %v)", r.Body)
	}
	code := string(r.Body[3:])
	body := []byte(code)
	if t.V2019 {
		body = append([]byte{byte(len(code))}, code...)
		body = append(body, make([]byte, 35)...) // IMEI, software version
	}
	a, err := t.Call(t.Packet(MsgAuth, body), timeout)
	if err != nil {
		return "", err
	}
	if len(a.Body) < 5 || a.Body[4] != 0 {
		return "", errors.New("authentication refused")
	}
	return code, nil
}

// Fix is what a simulated report says.
type Fix struct {
	Lat, Lon   float64
	AltM       int
	SpeedKmh   float64
	Course     int
	Time       time.Time
	Alarm      uint32
	BatteryPct int // -1: not sent
}

// LocationBody encodes a 0x0200 body (battery in item 0xFE).
func LocationBody(f Fix) []byte {
	status := uint32(StatusFixed)
	lat, lon := f.Lat, f.Lon
	if lat < 0 {
		status |= StatusSouth
		lat = -lat
	}
	if lon < 0 {
		status |= StatusWest
		lon = -lon
	}
	b := make([]byte, 0, 40)
	u32 := func(v uint32) { b = append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v)) }
	u16 := func(v uint16) { b = append(b, byte(v>>8), byte(v)) }
	u32(f.Alarm)
	u32(status)
	u32(uint32(lat*1e6 + 0.5))
	u32(uint32(lon*1e6 + 0.5))
	u16(uint16(int16(f.AltM)))
	u16(uint16(f.SpeedKmh*10 + 0.5))
	u16(uint16(f.Course))
	t := f.Time.In(chinaTime)
	for _, v := range []int{t.Year() % 100, int(t.Month()), t.Day(), t.Hour(), t.Minute(), t.Second()} {
		b = append(b, byte(v/10)<<4|byte(v%10))
	}
	if f.BatteryPct >= 0 {
		b = append(b, 0xFE, 1, byte(f.BatteryPct))
	}
	return b
}

// BatchBody encodes a 0x0704 body of fixes.
func BatchBody(late bool, fixes ...Fix) []byte {
	b := []byte{byte(len(fixes) >> 8), byte(len(fixes)), 0}
	if late {
		b[2] = 1
	}
	for _, f := range fixes {
		l := LocationBody(f)
		b = append(b, byte(len(l)>>8), byte(len(l)))
		b = append(b, l...)
	}
	return b
}

// Report sends a position and waits for the platform's answer.
func (t *Terminal) Report(f Fix, timeout time.Duration) error {
	r, err := t.Call(t.Packet(MsgLocation, LocationBody(f)), timeout)
	if err != nil {
		return err
	}
	if len(r.Body) < 5 || r.Body[4] != 0 {
		return fmt.Errorf("report answered with %x", r.Body)
	}
	return nil
}
