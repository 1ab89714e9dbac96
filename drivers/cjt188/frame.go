// Package cjt188 reads CJ/T 188 water meters on an RS-485 bus: it polls each
// configured meter for data identifier 901F (current cumulative flow) and
// emits water_meter readings with total_m3, valve_open and battery_low.
package cjt188

import (
	"errors"
	"fmt"
	"math"

	"github.com/anxin-care/anxin/drivers/serialport"
)

// Frame layout: [FE…] 68 T A0..A6 C L DATA(L) CS 16, CS = sum of the bytes
// from 68 to the last data byte, mod 256. The address is 7 BCD bytes, lowest
// byte first on the wire.
const (
	start     = 0x68
	end       = 0x16
	preamble  = 0xFE
	headerLen = 11 // 68 T A0..A6 C L
	maxFrame  = headerLen + 255 + 2
	addrLen   = 7

	// DefaultType is the meter type of cold-water meters (10H).
	DefaultType = 0x10

	ctrlRead      = 0x01 // read data
	ctrlReply     = 0x80 // set in every reply from a meter
	ctrlAbnormal  = 0x40 // set in a reply that reports a failure
	replyDataLen  = 22   // 901F reply: DI SER cur unit settle unit time(7) ST(2)
	unitM3        = 0x2C
	unitLitre     = 0x29
	broadcastAddr = "AAAAAAAAAAAAAA"
)

// DI 901F (current cumulative flow) travels as 90 1F (2004 edition) or
// 1F 90 (2018 edition).
var (
	di2004 = [2]byte{0x90, 0x1F}
	di2018 = [2]byte{0x1F, 0x90}
)

// Errors of frames that are well formed but carry no reading.
var (
	ErrChecksum = errors.New("bad checksum")
	ErrNoEnd    = errors.New("no 16H end byte where the length says (not a frame, or cut short)")
	// ErrRequest is a frame from a master: it carries no measurement.
	ErrRequest = errors.New("request frame (from a master), no reading")
)

// Frame is one CJ/T 188 frame.
type Frame struct {
	Type    byte
	Addr    [addrLen]byte // wire order, lowest byte first
	Control byte
	Data    []byte // DI SER DATA…, L bytes
}

// Address is the meter address as printed on its label, most significant
// digit first.
func (f *Frame) Address() string { return formatAddr(f.Addr) }

// IsReply reports whether the frame comes from a meter (C bit 7).
func (f *Frame) IsReply() bool { return f.Control&ctrlReply != 0 }

// DI returns the data identifier in its 2004 spelling (901F) whatever order
// it travelled in, and whether the frame has one.
func (f *Frame) DI() (uint16, bool) {
	if len(f.Data) < 2 {
		return 0, false
	}
	d := [2]byte{f.Data[0], f.Data[1]}
	if d == di2018 {
		d = di2004
	}
	return uint16(d[0])<<8 | uint16(d[1]), true
}

func formatAddr(a [addrLen]byte) string {
	const digits = "0123456789ABCDEF"
	b := make([]byte, 0, 2*addrLen)
	for i := addrLen - 1; i >= 0; i-- {
		b = append(b, digits[a[i]>>4], digits[a[i]&0x0F])
	}
	return string(b)
}

// ParseAddress turns a label address (14 hex digits, most significant
// first; AAAAAAAAAAAAAA is the broadcast address) into wire order.
func ParseAddress(s string) ([addrLen]byte, error) {
	var a [addrLen]byte
	if len(s) != 2*addrLen {
		return a, fmt.Errorf("address %q must have 14 digits", s)
	}
	for i := 0; i < addrLen; i++ {
		hi, ok1 := hexVal(s[2*i])
		lo, ok2 := hexVal(s[2*i+1])
		if !ok1 || !ok2 {
			return a, fmt.Errorf("address %q must be digits (or A for wildcard)", s)
		}
		a[addrLen-1-i] = hi<<4 | lo
	}
	return a, nil
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func sum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return s
}

// check is the serialport.FrameCheck of CJ/T 188.
func check(buf []byte) (int, error) {
	if len(buf) < headerLen {
		return 0, nil
	}
	n := headerLen + int(buf[10]) + 2
	if len(buf) < n {
		return 0, nil
	}
	if buf[n-1] != end {
		return 0, ErrNoEnd
	}
	if got, want := buf[n-2], sum(buf[:n-2]); got != want {
		return n, fmt.Errorf("%w: %02X, computed %02X", ErrChecksum, got, want)
	}
	return n, nil
}

// Framing finds CJ/T 188 frames in a byte stream.
var framing = serialport.Framing{Start: start, Check: check, MaxFrame: maxFrame}

// ParseFrame decodes one complete, checked frame (68 … 16, no preamble).
func ParseFrame(b []byte) (Frame, error) {
	n, err := check(b)
	switch {
	case err != nil:
		return Frame{}, err
	case n == 0 || n != len(b) || b[0] != start:
		return Frame{}, serialport.ErrTruncated
	}
	f := Frame{Type: b[1], Control: b[9], Data: b[headerLen : n-2]}
	copy(f.Addr[:], b[2:9])
	return f, nil
}

// encode builds a frame with a preamble of pre FE bytes.
func encode(pre int, t byte, addr [addrLen]byte, c byte, data []byte) []byte {
	b := make([]byte, 0, pre+headerLen+len(data)+2)
	for range pre {
		b = append(b, preamble)
	}
	b = append(b, start, t)
	b = append(b, addr[:]...)
	b = append(b, c, byte(len(data)))
	b = append(b, data...)
	b = append(b, sum(b[pre:]), end)
	return b
}

// EncodeRequest builds the read request for DI 901F (sent as 90 1F) to the
// meter at addr, with type t and serial number ser, after two FE wake-up bytes.
func EncodeRequest(addr string, t byte, ser byte) ([]byte, error) {
	return encodeRequest(addr, t, ser, di2004)
}

func encodeRequest(addr string, t byte, ser byte, di [2]byte) ([]byte, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	return encode(2, t, a, ctrlRead, []byte{di[0], di[1], ser}), nil
}

// EncodeReply builds a meter's 901F reply (serial number 0) carrying the
// cumulative flow in m³ (0 … 999999.99, two decimals), the valve state and
// the low-battery flag. Tests, fuzzing and the demo simulator use it.
func EncodeReply(addr string, t byte, totalM3 float64, valveOpen, batteryLow bool) ([]byte, error) {
	return encodeReply(addr, t, 0, di2004, totalM3, valveOpen, batteryLow)
}

func encodeReply(addr string, t, ser byte, di [2]byte, totalM3 float64, valveOpen, batteryLow bool) ([]byte, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	hundredths := math.Round(totalM3 * 100)
	if !(hundredths >= 0 && hundredths <= 99999999) {
		return nil, fmt.Errorf("total %v m³ is outside 0…999999.99", totalM3)
	}
	flow := bcd4(uint32(hundredths))
	var st0 byte
	if !valveOpen {
		st0 |= 0x01
	}
	if batteryLow {
		st0 |= 0x04
	}
	data := make([]byte, 0, replyDataLen)
	data = append(data, di[0], di[1], ser)
	data = append(data, flow[:]...)
	data = append(data, unitM3)
	data = append(data, flow[:]...) // settlement-day flow: the same here
	data = append(data, unitM3)
	data = append(data, 0, 0, 0, 0, 0, 0, 0) // real time: not kept
	data = append(data, st0, 0)
	return encode(2, t, a, ctrlRead|ctrlReply, data), nil
}

// bcd4 encodes v (< 10^8) as 4 BCD bytes, lowest first.
func bcd4(v uint32) [4]byte {
	var b [4]byte
	for i := range b {
		lo := v % 10
		v /= 10
		hi := v % 10
		v /= 10
		b[i] = byte(hi<<4 | lo)
	}
	return b
}

// unbcd decodes BCD bytes, lowest first.
func unbcd(b []byte) (uint64, error) {
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		hi, lo := b[i]>>4, b[i]&0x0F
		if hi > 9 || lo > 9 {
			return 0, fmt.Errorf("% X is not BCD", b)
		}
		v = v*100 + uint64(hi)*10 + uint64(lo)
	}
	return v, nil
}
