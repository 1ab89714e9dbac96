// Package dlt645 reads DL/T 645 electricity meters (2007 edition; 1997
// replies are decoded too) on an RS-485 bus: it polls each configured meter
// for its data identifiers and emits power_meter readings with energy_kwh,
// forward_energy_kwh and voltage_v.
package dlt645

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/anxin-care/anxin/drivers/serialport"
)

// Frame layout: [FE…] 68 A0..A5 68 C L DATA(L) CS 16. Every data byte is sent
// plus 33H; CS is the sum of the bytes from the first 68 to the last data
// byte, mod 256. The address is 6 BCD bytes, lowest first on the wire.
const (
	start     = 0x68
	end       = 0x16
	preamble  = 0xFE
	headerLen = 10 // 68 A0..A5 68 C L
	maxFrame  = headerLen + 255 + 2
	addrLen   = 6
	offset33  = 0x33

	ctrlReply    = 0x80 // direction: from the meter
	ctrlAbnormal = 0x40 // the meter reports an error
	ctrlFollow   = 0x20 // more frames follow
	funcMask     = 0x1F
	func2007Read = 0x11
	func1997Read = 0x01

	broadcastAddr = "AAAAAAAAAAAA"
)

// Data identifiers the driver maps to contract fields.
const (
	DICombinedEnergy uint32 = 0x00000000 // 组合有功总电能, XXXXXX.XX kWh
	DIForwardEnergy  uint32 = 0x00010000 // 正向有功总电能, XXXXXX.XX kWh
	DIVoltageA       uint32 = 0x02010100 // A 相电压, XXX.X V
	DI97Forward      uint16 = 0x9010     // 1997: 正向有功总电能, XXXXXX.XX kWh
	DI97VoltageA     uint16 = 0xB611     // 1997: A 相电压, XXX V
)

// Errors of frames that carry no reading.
var (
	ErrChecksum = errors.New("bad checksum")
	ErrNoEnd    = errors.New("no 16H end byte where the length says (not a frame, or cut short)")
	ErrNotFrame = errors.New("no second 68H after the address (not a frame)")
	// ErrRequest is a frame from a master: it carries no measurement.
	ErrRequest = errors.New("request frame (from a master), no reading")
)

// Frame is one DL/T 645 frame with its data already minus 33H.
type Frame struct {
	Addr    [addrLen]byte // wire order, lowest byte first
	Control byte
	Data    []byte
}

// Address is the meter address as printed on its nameplate, most
// significant digit first.
func (f *Frame) Address() string { return formatAddr(f.Addr) }

// IsReply reports whether the frame comes from a meter.
func (f *Frame) IsReply() bool { return f.Control&ctrlReply != 0 }

func formatAddr(a [addrLen]byte) string {
	const digits = "0123456789ABCDEF"
	b := make([]byte, 0, 2*addrLen)
	for i := addrLen - 1; i >= 0; i-- {
		b = append(b, digits[a[i]>>4], digits[a[i]&0x0F])
	}
	return string(b)
}

// ParseAddress turns a nameplate address (12 digits, most significant first;
// AAAAAAAAAAAA is the wildcard) into wire order.
func ParseAddress(s string) ([addrLen]byte, error) {
	var a [addrLen]byte
	if len(s) != 2*addrLen {
		return a, fmt.Errorf("address %q must have 12 digits", s)
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

// check is the serialport.FrameCheck of DL/T 645.
func check(buf []byte) (int, error) {
	if len(buf) < 8 {
		return 0, nil
	}
	if buf[7] != start {
		return 0, ErrNotFrame
	}
	if len(buf) < headerLen {
		return 0, nil
	}
	n := headerLen + int(buf[9]) + 2
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

var framing = serialport.Framing{Start: start, Check: check, MaxFrame: maxFrame}

// ParseFrame decodes one complete frame (68 … 16, no preamble) and removes
// the 33H from its data.
func ParseFrame(b []byte) (Frame, error) {
	n, err := check(b)
	switch {
	case err != nil:
		return Frame{}, err
	case n == 0 || n != len(b) || b[0] != start:
		return Frame{}, serialport.ErrTruncated
	}
	f := Frame{Control: b[8], Data: make([]byte, n-2-headerLen)}
	copy(f.Addr[:], b[1:7])
	for i, c := range b[headerLen : n-2] {
		f.Data[i] = c - offset33
	}
	return f, nil
}

func encode(addr string, c byte, data []byte) ([]byte, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	if len(data) > 255 {
		return nil, fmt.Errorf("%d data bytes, at most 255", len(data))
	}
	b := make([]byte, 0, 4+headerLen+len(data)+2)
	b = append(b, preamble, preamble, preamble, preamble, start)
	b = append(b, a[:]...)
	b = append(b, start, c, byte(len(data)))
	for _, d := range data {
		b = append(b, d+offset33)
	}
	b = append(b, sum(b[4:]), end)
	return b, nil
}

func di2007(di uint32) []byte { return []byte{byte(di), byte(di >> 8), byte(di >> 16), byte(di >> 24)} }
func di1997(di uint16) []byte { return []byte{byte(di), byte(di >> 8)} }

// EncodeRequest builds a 2007 read (C=11H) of di for the meter at addr.
func EncodeRequest(addr string, di uint32) ([]byte, error) {
	return encode(addr, func2007Read, di2007(di))
}

// EncodeRequest1997 builds a 1997 read (C=01H) of di.
func EncodeRequest1997(addr string, di uint16) ([]byte, error) {
	return encode(addr, func1997Read, di1997(di))
}

// EncodeReply builds a meter's 2007 reply (C=91H) to a read of di carrying
// value in the DI's unit (kWh or V).
func EncodeReply(addr string, di uint32, value float64) ([]byte, error) {
	item, ok := items2007[di]
	if !ok {
		return nil, fmt.Errorf("DI %08X has no known format", di)
	}
	v, err := item.encode(value)
	if err != nil {
		return nil, err
	}
	return encode(addr, func2007Read|ctrlReply, append(di2007(di), v...))
}

// EncodeReply1997 builds a 1997 reply (C=81H) to a read of di.
func EncodeReply1997(addr string, di uint16, value float64) ([]byte, error) {
	item, ok := items1997[di]
	if !ok {
		return nil, fmt.Errorf("DI %04X has no known format", di)
	}
	v, err := item.encode(value)
	if err != nil {
		return nil, err
	}
	return encode(addr, func1997Read|ctrlReply, append(di1997(di), v...))
}

// EncodeErrorReply builds a 2007 error reply (C=D1H) with error byte code.
func EncodeErrorReply(addr string, code byte) ([]byte, error) {
	return encode(addr, func2007Read|ctrlReply|ctrlAbnormal, []byte{code})
}

// item is the format of one data identifier's value.
type item struct {
	field    string
	name     string // Chinese name, for errors
	size     int    // BCD bytes
	decimals int
	signed   bool // highest bit of the highest byte is the sign
}

var items2007 = map[uint32]item{
	DICombinedEnergy: {"energy_kwh", "组合有功总电能", 4, 2, true},
	DIForwardEnergy:  {"forward_energy_kwh", "正向有功总电能", 4, 2, false},
	DIVoltageA:       {"voltage_v", "A相电压", 2, 1, false},
}

var items1997 = map[uint16]item{
	DI97Forward:  {"forward_energy_kwh", "正向有功总电能", 4, 2, false},
	DI97VoltageA: {"voltage_v", "A相电压", 2, 0, false},
}

// names of DIs we know but do not map, so errors say what the frame was.
var unmapped = map[uint32]string{
	0x02010200: "B相电压, phase B voltage", 0x02010300: "C相电压, phase C voltage",
	0x02020100: "A相电流, phase A current", 0x02030000: "瞬时总有功功率, active power",
	0x00020000: "反向有功总电能, reverse active energy",
}

var unmapped97 = map[uint16]string{
	0xB612: "B相电压, phase B voltage", 0xB613: "C相电压, phase C voltage",
	0xB621: "A相电流, phase A current", 0xB630: "瞬时有功功率, active power",
	0x9020: "反向有功总电能, reverse active energy",
}

func (it item) decode(b []byte) (float64, error) {
	if len(b) < it.size {
		return 0, fmt.Errorf("%s: %d value bytes, want %d", it.name, len(b), it.size)
	}
	v := append([]byte(nil), b[:it.size]...)
	neg := false
	if it.signed && v[it.size-1]&0x80 != 0 {
		neg = true
		v[it.size-1] &^= 0x80
	}
	var n uint64
	for i := it.size - 1; i >= 0; i-- {
		hi, lo := v[i]>>4, v[i]&0x0F
		if hi > 9 || lo > 9 {
			return 0, fmt.Errorf("%s: % X is not BCD", it.name, b[:it.size])
		}
		n = n*100 + uint64(hi)*10 + uint64(lo)
	}
	f := float64(n) / math.Pow10(it.decimals)
	if neg {
		f = -f
	}
	return f, nil
}

func (it item) encode(f float64) ([]byte, error) {
	scaled := math.Round(math.Abs(f) * math.Pow10(it.decimals))
	limit := math.Pow10(2*it.size) - 1
	if it.signed {
		limit = math.Pow10(2*it.size-1) - 1 // the top bit carries the sign
	}
	if math.IsNaN(f) || scaled > limit || (f < 0 && !it.signed) {
		return nil, fmt.Errorf("%s: %v does not fit %d BCD bytes with %d decimals", it.name, f, it.size, it.decimals)
	}
	n := uint64(scaled)
	b := make([]byte, it.size)
	for i := range b {
		lo := n % 10
		n /= 10
		hi := n % 10
		n /= 10
		b[i] = byte(hi<<4 | lo)
	}
	if f < 0 && scaled > 0 {
		b[it.size-1] |= 0x80
	}
	return b, nil
}

// MeterError is an error reply of a meter: the error byte and its meaning.
type MeterError struct {
	Address string
	Edition int // 2007 or 1997
	Code    byte
}

var errBits2007 = [8]string{
	"other error 其他错误", "no requested data 无请求数据", "wrong password or unauthorized 密码错/未授权",
	"baud rate cannot be changed 通信速率不能更改", "too many yearly time zones 年时区数超",
	"too many daily periods 日时段数超", "too many tariffs 费率数超", "reserved 保留",
}

var errBits1997 = [8]string{
	"illegal data 非法数据", "wrong data identifier 数据标识错", "wrong password 密码错", "reserved 保留",
	"too many yearly time zones 年时区数超", "too many daily periods 日时段数超", "too many tariffs 费率数超", "reserved 保留",
}

// Meanings lists what the error byte's bits say.
func (e *MeterError) Meanings() []string {
	bits := errBits2007
	if e.Edition == 1997 {
		bits = errBits1997
	}
	var m []string
	for i, s := range bits {
		if e.Code&(1<<i) != 0 {
			m = append(m, s)
		}
	}
	if len(m) == 0 {
		m = append(m, "no error bit set 无错误位")
	}
	return m
}

func (e *MeterError) Error() string {
	return fmt.Sprintf("meter %s error reply (DL/T 645-%d), error byte %02X: %s",
		e.Address, e.Edition, e.Code, strings.Join(e.Meanings(), "; "))
}
