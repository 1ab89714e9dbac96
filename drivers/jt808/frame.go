package jt808

import (
	"errors"
	"fmt"
	"strings"

	"github.com/anxin-care/anxin/drivers/tcpserver"
)

// Message ids used here (JT/T 808-2013 and 2019).
const (
	MsgTerminalReply  = 0x0001 // terminal general reply
	MsgHeartbeat      = 0x0002
	MsgRegister       = 0x0100
	MsgAuth           = 0x0102
	MsgLocation       = 0x0200
	MsgLocationBatch  = 0x0704
	MsgPlatformReply  = 0x8001 // platform general reply
	MsgRegisterReply  = 0x8100
	MsgAlarmConfirmed = 0x8203 // manual confirmation of alarms
)

const (
	flag      = 0x7E
	escape    = 0x7D
	maxBody   = 1023 // 10-bit length field
	maxHeader = 17 + 4
	// MaxFrame is the largest frame on the wire: every byte escaped, flags.
	MaxFrame = 2*(maxHeader+maxBody+1) + 2
)

// Framing is JT/T 808's frame format for tcpserver.Scanner: 0x7E flags,
// 7D 01 / 7D 02 escapes, XOR check. A closing flag may open the next frame.
var Framing = tcpserver.Framing{Start: flag, Check: checkFrame, MaxFrame: MaxFrame, SharedEnd: true}

// Packet is one JT/T 808 message: header fields and body.
type Packet struct {
	MsgID    uint16
	V2019    bool   // header version flag (props bit 14)
	Version  byte   // protocol version byte of 2019 headers
	Phone    string // terminal phone as sent: 12 BCD digits (2013), 20 (2019)
	Serial   uint16
	Total    uint16 // sub-packets: their count, 0 when the message is whole
	Index    uint16 // sub-packet index, from 1
	Body     []byte
	Encrypt  byte // props bits 10–12: 0 none, 1 RSA
	rawCheck byte
}

var (
	errEscape = errors.New("bad escape: 7D not followed by 01 or 02")
	errShort  = errors.New("frame shorter than its header")
	errCheck  = errors.New("XOR check mismatch")
	errBCD    = errors.New("terminal phone is not BCD")
)

// checkFrame is the Check of Framing: n is the frame length (both flags)
// when the bytes up to the next flag make a valid packet.
func checkFrame(buf []byte) (int, error) {
	end := -1
	for i := 1; i < len(buf) && i < MaxFrame; i++ {
		if buf[i] == flag {
			end = i
			break
		}
	}
	if end < 0 {
		return 0, nil // no closing flag yet (the scanner bounds the wait)
	}
	if end == 1 {
		return 0, tcpserver.NotAFrame() // two flags: an end and a start
	}
	if _, err := Parse(buf[:end+1]); err != nil {
		return 0, err
	}
	return end + 1, nil
}

// Unescape returns the bytes between the flags of frame with escapes undone.
func Unescape(frame []byte) ([]byte, error) {
	in := frame
	if len(in) >= 2 && in[0] == flag && in[len(in)-1] == flag {
		in = in[1 : len(in)-1]
	}
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); i++ {
		b := in[i]
		if b == flag {
			return nil, errors.New("flag byte inside a frame")
		}
		if b == escape {
			if i+1 >= len(in) {
				return nil, errEscape
			}
			switch in[i+1] {
			case 0x01:
				b = escape
			case 0x02:
				b = flag
			default:
				return nil, errEscape
			}
			i++
		}
		out = append(out, b)
	}
	return out, nil
}

// Parse decodes one frame (flags included or not): escapes, check, header.
func Parse(frame []byte) (Packet, error) {
	b, err := Unescape(frame)
	if err != nil {
		return Packet{}, err
	}
	var p Packet
	if len(b) < 13 {
		return p, errShort
	}
	var x byte
	for _, c := range b[:len(b)-1] {
		x ^= c
	}
	p.rawCheck = b[len(b)-1]
	if x != p.rawCheck {
		return p, fmt.Errorf("%w: computed %02X, frame has %02X", errCheck, x, p.rawCheck)
	}
	b = b[:len(b)-1]
	p.MsgID = uint16(b[0])<<8 | uint16(b[1])
	props := uint16(b[2])<<8 | uint16(b[3])
	bodyLen := int(props & 0x3FF)
	p.Encrypt = byte(props>>10) & 7
	sub := props&(1<<13) != 0
	p.V2019 = props&(1<<14) != 0
	h := 4
	phoneLen := 6
	if p.V2019 {
		p.Version = b[4]
		h++
		phoneLen = 10
	}
	if len(b) < h+phoneLen+2 {
		return p, errShort
	}
	if p.Phone, err = bcd(b[h : h+phoneLen]); err != nil {
		return p, err
	}
	h += phoneLen
	p.Serial = uint16(b[h])<<8 | uint16(b[h+1])
	h += 2
	if sub {
		if len(b) < h+4 {
			return p, errShort
		}
		p.Total = uint16(b[h])<<8 | uint16(b[h+1])
		p.Index = uint16(b[h+2])<<8 | uint16(b[h+3])
		h += 4
		if p.Total == 0 || p.Index == 0 || p.Index > p.Total {
			return p, fmt.Errorf("sub-packet %d of %d", p.Index, p.Total)
		}
	}
	if len(b)-h != bodyLen {
		return p, fmt.Errorf("body is %d bytes, header says %d", len(b)-h, bodyLen)
	}
	p.Body = b[h:]
	return p, nil
}

func bcd(b []byte) (string, error) {
	var s strings.Builder
	s.Grow(2 * len(b))
	for _, c := range b {
		hi, lo := c>>4, c&0xF
		if hi > 9 || lo > 9 {
			return "", errBCD
		}
		s.WriteByte('0' + hi)
		s.WriteByte('0' + lo)
	}
	return s.String(), nil
}

// putBCD writes digits (left-padded with zeros) into n bytes of BCD.
func putBCD(dst []byte, digits string, n int) []byte {
	d := strings.Repeat("0", max(0, 2*n-len(digits))) + digits
	d = d[len(d)-2*n:]
	for i := 0; i < n; i++ {
		dst = append(dst, (d[2*i]-'0')<<4|(d[2*i+1]-'0'))
	}
	return dst
}

// Encode builds the frame of p: header (2019 when p.V2019), body, check,
// escapes, flags. p.Phone must be digits.
func Encode(p Packet) []byte {
	raw := make([]byte, 0, maxHeader+len(p.Body)+1)
	raw = append(raw, byte(p.MsgID>>8), byte(p.MsgID))
	props := uint16(len(p.Body)) & 0x3FF
	if p.Total > 0 {
		props |= 1 << 13
	}
	phoneLen := 6
	if p.V2019 {
		props |= 1 << 14
		phoneLen = 10
	}
	raw = append(raw, byte(props>>8), byte(props))
	if p.V2019 {
		raw = append(raw, p.Version)
	}
	raw = putBCD(raw, p.Phone, phoneLen)
	raw = append(raw, byte(p.Serial>>8), byte(p.Serial))
	if p.Total > 0 {
		raw = append(raw, byte(p.Total>>8), byte(p.Total), byte(p.Index>>8), byte(p.Index))
	}
	raw = append(raw, p.Body...)
	var x byte
	for _, c := range raw {
		x ^= c
	}
	raw = append(raw, x)
	out := make([]byte, 0, len(raw)+8)
	out = append(out, flag)
	for _, c := range raw {
		switch c {
		case flag:
			out = append(out, escape, 0x02)
		case escape:
			out = append(out, escape, 0x01)
		default:
			out = append(out, c)
		}
	}
	return append(out, flag)
}
