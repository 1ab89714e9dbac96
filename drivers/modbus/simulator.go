package modbus

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"
)

// Simulator plays Modbus RTU slave units on a line: it answers reads of
// holding registers (function 3), input registers (4) and discrete inputs
// (2) of the units it has values for, with an "illegal data address"
// exception for registers it has no value for, and stays silent for other
// units, as a real bus does. Tests run it behind a pseudo-terminal.
type Simulator struct {
	mu       sync.Mutex
	regs     map[string]map[byte]map[uint16]uint16 // type -> unit -> register -> value
	inputs   map[byte]map[uint16]bool
	requests int
}

// NewSimulator makes a line with no units.
func NewSimulator() *Simulator {
	return &Simulator{regs: map[string]map[byte]map[uint16]uint16{TypeHolding: {}, TypeInput: {}},
		inputs: map[byte]map[uint16]bool{}}
}

// SetValue stores raw as r (its format, byte and word order, scale) in unit's
// registers, so that a driver configured with r reads raw back.
func (s *Simulator) SetValue(unit byte, r Register, raw float64) {
	r.setDefaults()
	wire := r.Encode(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.regs[r.Type][unit]
	if m == nil {
		m = map[uint16]uint16{}
		s.regs[r.Type][unit] = m
	}
	for i := 0; i+1 < len(wire); i += 2 {
		m[r.Register+uint16(i/2)] = binary.BigEndian.Uint16(wire[i:])
	}
}

// SetInput sets a discrete input of unit.
func (s *Simulator) SetInput(unit byte, input uint16, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inputs[unit] == nil {
		s.inputs[unit] = map[uint16]bool{}
	}
	s.inputs[unit][input] = on
}

// Requests counts the request frames seen so far.
func (s *Simulator) Requests() int { s.mu.Lock(); defer s.mu.Unlock(); return s.requests }

// Reply returns the answer to one request frame (with its CRC), or false
// when no unit answers it.
func (s *Simulator) Reply(req []byte) ([]byte, bool) {
	f, n, _ := splitFrame(req)
	if n != len(req) || !f.Request || len(f.Data) != 4 {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	addr, qty := binary.BigEndian.Uint16(f.Data), binary.BigEndian.Uint16(f.Data[2:])
	resp := []byte{f.Unit, f.Function}
	switch f.Function {
	case 3, 4:
		typ := TypeHolding
		if f.Function == 4 {
			typ = TypeInput
		}
		regs := s.regs[typ][f.Unit]
		if regs == nil {
			return nil, false
		}
		resp = append(resp, byte(2*qty))
		for a := addr; a < addr+qty; a++ {
			v, ok := regs[a]
			if !ok {
				resp = []byte{f.Unit, f.Function | 0x80, 2} // illegal data address
				break
			}
			resp = binary.BigEndian.AppendUint16(resp, v)
		}
	case 2:
		ins := s.inputs[f.Unit]
		if ins == nil {
			return nil, false
		}
		bits := make([]byte, (qty+7)/8)
		for i := range qty {
			if ins[addr+i] {
				bits[i/8] |= 1 << (i % 8)
			}
		}
		resp = append(append(resp, byte(len(bits))), bits...)
	default:
		resp = []byte{f.Unit, f.Function | 0x80, 1} // illegal function
	}
	return AppendCRC(resp), true
}

// Serve reads requests from rw and writes replies until reading fails (nil
// at io.EOF); close rw to stop it.
func (s *Simulator) Serve(rw io.ReadWriter) error {
	var buf []byte
	chunk := make([]byte, 256)
	for {
		n, err := rw.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for len(buf) > 0 {
			f, fn, need := splitFrame(buf)
			if fn == 0 {
				if need && len(buf) < maxFrame {
					break // wait for the rest
				}
				buf = buf[1:] // junk
				continue
			}
			if f.Request {
				if reply, ok := s.Reply(buf[:fn]); ok {
					if _, werr := rw.Write(reply); werr != nil {
						return werr
					}
				}
			}
			buf = buf[fn:]
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
