package dlt645

import (
	"context"
	"errors"
	"io"
	"sync"
)

// Simulator plays one DL/T 645 meter on a line: it answers 2007 and 1997
// reads for its address with the values set, and with an error reply
// (无请求数据, no requested data) for identifiers it has no value for.
type Simulator struct {
	addr [addrLen]byte
	text string

	mu     sync.Mutex
	v2007  map[uint32]float64
	v1997  map[uint16]float64
	silent bool
	polls  int
}

// NewSimulator makes a meter with address addr (12 digits) and no values.
func NewSimulator(addr string) (*Simulator, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	return &Simulator{addr: a, text: addr, v2007: map[uint32]float64{}, v1997: map[uint16]float64{}}, nil
}

// Set sets the value a 2007 read of di returns.
func (s *Simulator) Set(di uint32, v float64) { s.mu.Lock(); s.v2007[di] = v; s.mu.Unlock() }

// Set1997 sets the value a 1997 read of di returns.
func (s *Simulator) Set1997(di uint16, v float64) { s.mu.Lock(); s.v1997[di] = v; s.mu.Unlock() }

// SetSilent makes the meter ignore requests.
func (s *Simulator) SetSilent(silent bool) { s.mu.Lock(); s.silent = silent; s.mu.Unlock() }

// Polls counts the requests for this meter seen so far.
func (s *Simulator) Polls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.polls }

// Reply returns the answer to req if req is a read for this meter.
func (s *Simulator) Reply(req []byte) ([]byte, bool) {
	f, err := ParseFrame(req)
	if err != nil || f.IsReply() || (f.Addr != s.addr && f.Address() != broadcastAddr) {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var b []byte
	switch {
	case f.Control == func2007Read && len(f.Data) == 4:
		s.polls++
		di := uint32(f.Data[0]) | uint32(f.Data[1])<<8 | uint32(f.Data[2])<<16 | uint32(f.Data[3])<<24
		if v, ok := s.v2007[di]; ok {
			b, err = EncodeReply(s.text, di, v)
		} else {
			b, err = EncodeErrorReply(s.text, 0x02)
		}
	case f.Control == func1997Read && len(f.Data) == 2:
		s.polls++
		di := uint16(f.Data[0]) | uint16(f.Data[1])<<8
		if v, ok := s.v1997[di]; ok {
			b, err = EncodeReply1997(s.text, di, v)
		} else {
			b, err = encode(s.text, func1997Read|ctrlReply|ctrlAbnormal, []byte{0x02})
		}
	default:
		return nil, false
	}
	if s.silent || err != nil {
		return nil, false
	}
	return b, true
}

// Serve reads requests from rw and writes replies until reading fails (nil
// at io.EOF) or ctx ends; close rw to stop a blocked read.
func (s *Simulator) Serve(ctx context.Context, rw io.ReadWriter) error {
	var buf []byte
	chunk := make([]byte, 256)
	anyFrame := framing.ReplyComplete(func([]byte) bool { return true }, nil)
	for ctx.Err() == nil {
		n, err := rw.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for {
			fn, skip, _ := anyFrame(buf)
			if fn == 0 {
				buf = buf[min(skip, len(buf)):]
				break
			}
			if reply, ok := s.Reply(buf[skip : skip+fn]); ok {
				if _, werr := rw.Write(reply); werr != nil {
					return werr
				}
			}
			buf = buf[skip+fn:]
		}
		if len(buf) > maxFrame {
			buf = buf[len(buf)-maxFrame:]
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}
