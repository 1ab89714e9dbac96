package modbus

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

// inputStates tracks each wired detector's state between polls: the first
// poll establishes it (raising the event if the input is already active),
// then a rising edge raises the event and a falling edge its _clear.
type inputStates map[uint32]bool

// update records the input's raw value and returns the event to send, if any.
func (s inputStates) update(unit byte, in *InputEvent, raw bool) (anxin.EventType, bool) {
	key := uint32(unit)<<16 | uint32(in.Input)
	active := raw != in.Invert
	prev, known := s[key]
	s[key] = active
	switch {
	case !known && active, known && active && !prev:
		return in.Event, true
	case known && !active && prev:
		return in.Clear(), true
	}
	return "", false
}

// request is the last read request seen for a unit in a capture.
type request struct {
	fc        byte
	addr, qty uint16
}

var exceptionNames = map[byte]string{1: "illegal function", 2: "illegal data address", 3: "illegal data value",
	4: "server device failure", 5: "acknowledge", 6: "server device busy", 8: "memory parity error",
	10: "gateway path unavailable", 11: "gateway target device failed to respond"}

// decoder reads a capture of RTU traffic (both directions, raw bytes) for
// `gatewayd decode`. Requests print nothing but say which registers the
// next response of that unit holds; a response is mapped to fields with the
// unit's register map, or to detector events with its discrete inputs.
type decoder struct {
	units []Unit
	env   drivers.Env
}

func (d *decoder) unit(id byte) *Unit {
	for i := range d.units {
		if d.units[i].Unit == id {
			return &d.units[i]
		}
	}
	return nil
}

// Decode splits the capture into CRC-checked frames. Bytes that start no
// valid frame are reported once per run: "bad CRC …" when they have the
// shape of a frame, else "no RTU frame". Frames are found by shape and CRC
// (a capture keeps no inter-frame gaps).
func (d *decoder) Decode(r io.Reader, emit func(anxin.Message), fail func(drivers.DecodeError)) error {
	var (
		buf     = make([]byte, 0, 2*maxFrame)
		base    int64 // stream offset of buf[0]
		eof     bool
		junk    = -1 // start (in buf) of a run of bytes that start no frame
		junkOff int64
		junkMsg string
		reqs    = map[byte]request{}
		states  = inputStates{}
		chunk   = make([]byte, 4096)
	)
	endJunk := func() {
		if junk >= 0 {
			fail(drivers.DecodeError{Offset: junkOff, Err: errors.New(junkMsg)})
			junk = -1
		}
	}
	for {
		for len(buf) > 0 && (eof || len(buf) >= maxFrame) {
			f, n, need := splitFrame(buf)
			if n == 0 && need && !eof {
				break
			}
			if n > 0 {
				endJunk()
				d.frame(f, base, reqs, states, emit, fail)
			} else {
				if junk < 0 {
					junk, junkOff, junkMsg = 0, base, "no RTU frame (junk or truncated)"
					if msg, _, ok := crcMismatch(buf); ok {
						junkMsg = msg
					}
				}
				n = 1
			}
			buf = buf[n:]
			base += int64(n)
		}
		if eof {
			endJunk()
			return nil
		}
		// Keep the buffer small: move the rest to the front before reading.
		buf = append(buf[:0:0], buf...)
		m, err := r.Read(chunk)
		buf = append(buf, chunk[:m]...)
		if errors.Is(err, io.EOF) {
			eof = true
		} else if err != nil {
			return err
		}
	}
}

func (d *decoder) frame(f Frame, off int64, reqs map[byte]request, states inputStates,
	emit func(anxin.Message), fail func(drivers.DecodeError)) {
	bad := func(format string, args ...any) {
		fail(drivers.DecodeError{Offset: off, Err: fmt.Errorf(format, args...)})
	}
	if f.Exception() {
		code := byte(0)
		if len(f.Data) > 0 {
			code = f.Data[0]
		}
		bad("unit %d: exception %d (%s) to function %d", f.Unit, code, exceptionNames[code], f.Function&0x7f)
		return
	}
	if f.Request {
		if f.Function >= 1 && f.Function <= 4 {
			reqs[f.Unit] = request{fc: f.Function, addr: binary.BigEndian.Uint16(f.Data), qty: binary.BigEndian.Uint16(f.Data[2:])}
		}
		return // a master's request holds no measurement
	}
	if f.Function < 1 || f.Function > 4 {
		return // the answer to a write: nothing measured
	}
	req, ok := reqs[f.Unit]
	delete(reqs, f.Unit)
	data := f.Data[1:]
	want := 0
	if ok && req.fc == f.Function {
		want = int(req.qty) * 2
		if f.Function <= 2 {
			want = (int(req.qty) + 7) / 8
		}
	}
	if !ok || req.fc != f.Function || want != len(data) {
		bad("unit %d: function %d response with %d data bytes cannot be mapped: no matching request before it", f.Unit, f.Function, len(data))
		return
	}
	u := d.unit(f.Unit)
	now := d.env.Now()
	switch f.Function {
	case 3, 4:
		typ := TypeHolding
		if f.Function == 4 {
			typ = TypeInput
		}
		fields := anxin.Fields{}
		if u != nil {
			for i := range u.Registers {
				reg := &u.Registers[i]
				if reg.Type != typ || reg.Register < req.addr || int(reg.Register)+int(reg.Count()) > int(req.addr)+int(req.qty) {
					continue
				}
				at := 2 * int(reg.Register-req.addr)
				v, err := reg.Decode(data[at : at+2*int(reg.Count())])
				if err != nil {
					bad("unit %d: %v", f.Unit, err)
					continue
				}
				fields[reg.Name] = anxin.Num(v)
			}
		}
		if len(fields) == 0 {
			bad("unit %d: %s registers 0x%04X..0x%04X are not in the register map", f.Unit, typ, req.addr, int(req.addr)+int(req.qty)-1)
			return
		}
		emit(anxin.Message{ID: anxin.NewID(now), TS: now, Household: d.env.Household, Device: u.Device, Kind: u.Kind, Fields: fields})
	case 2:
		n := 0
		if u != nil {
			for i := range u.Inputs {
				in := &u.Inputs[i]
				if in.Input < req.addr || int(in.Input) >= int(req.addr)+int(req.qty) {
					continue
				}
				n++
				bit := int(in.Input - req.addr)
				if ev, ok := states.update(f.Unit, in, data[bit/8]&(1<<(bit%8)) != 0); ok {
					emit(inputMessage(in, ev, now, d.env.Household))
				}
			}
		}
		if n == 0 {
			bad("unit %d: discrete inputs %d..%d are not configured", f.Unit, req.addr, int(req.addr)+int(req.qty)-1)
		}
	default:
		bad("unit %d: coil states are not mapped to anything", f.Unit)
	}
}

func inputMessage(in *InputEvent, ev anxin.EventType, now time.Time, household string) anxin.Message {
	return anxin.Message{ID: anxin.NewID(now), TS: now, Household: household, Device: in.Device, Kind: in.Kind, Event: ev}
}
