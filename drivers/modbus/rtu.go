package modbus

import (
	"encoding/binary"
	"fmt"
)

// CRC16 is the Modbus RTU CRC (polynomial 0xA001 reflected, initial
// 0xFFFF); it is sent low byte first.
func CRC16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

// AppendCRC appends the CRC of b, low byte first.
func AppendCRC(b []byte) []byte {
	return binary.LittleEndian.AppendUint16(b, CRC16(b))
}

// maxFrame is the longest RTU frame (unit, PDU of 253, CRC).
const maxFrame = 256

// Frame is one CRC-checked RTU frame.
type Frame struct {
	Unit     byte
	Function byte
	Data     []byte // between the function code and the CRC
	Request  bool   // the shape of a master's request (see splitFrame)
}

// Exception reports an exception response (function | 0x80).
func (f *Frame) Exception() bool { return f.Function&0x80 != 0 }

// candidates lists the lengths a frame starting with unit, fc could have:
// requests and responses of the same function differ in shape.
func candidates(b []byte) (lengths [2]int, request [2]bool, n int) {
	if len(b) < 2 {
		return
	}
	fc := b[1]
	add := func(l int, req bool) {
		lengths[n], request[n] = l, req
		n++
	}
	switch {
	case fc&0x80 != 0:
		add(5, false)
	case fc >= 1 && fc <= 4:
		if len(b) >= 3 {
			add(5+int(b[2]), false) // unit fc count data… crc
		}
		add(8, true) // unit fc addr qty crc
	case fc == 5 || fc == 6:
		add(8, true) // the response echoes the request
	case fc == 15 || fc == 16:
		if len(b) >= 7 {
			add(9+int(b[6]), true) // unit fc addr qty count data… crc
		}
		add(8, false)
	}
	return
}

// splitFrame finds a valid frame at the start of b. It returns the frame
// and its length, or n == 0 when no valid frame starts at b[0]. need is
// true when b is too short to decide (more input may complete a frame).
func splitFrame(b []byte) (f Frame, n int, need bool) {
	lengths, req, k := candidates(b)
	if len(b) < 3 {
		return Frame{}, 0, true
	}
	for i := 0; i < k; i++ {
		l := lengths[i]
		if l > maxFrame {
			continue
		}
		if len(b) < l {
			need = true
			continue
		}
		body := b[:l-2]
		if binary.LittleEndian.Uint16(b[l-2:l]) != CRC16(body) {
			continue
		}
		return Frame{Unit: b[0], Function: b[1], Data: body[2:], Request: req[i]}, l, false
	}
	return Frame{}, 0, need
}

// crcMismatch describes a bad CRC of a frame that b seems to start with,
// for error messages; ok is false when b does not look like a frame.
func crcMismatch(b []byte) (msg string, length int, ok bool) {
	lengths, _, k := candidates(b)
	for i := 0; i < k; i++ {
		l := lengths[i]
		if l <= len(b) && l <= maxFrame {
			return fmt.Sprintf("bad CRC: unit %d function %d, wire %02X %02X, computed %02X %02X",
				b[0], b[1], b[l-2], b[l-1], byte(CRC16(b[:l-2])), byte(CRC16(b[:l-2])>>8)), l, true
		}
	}
	return "", 0, false
}
