package cjt188

import (
	"context"
	"errors"
	"io"
	"sync"
)

// Simulator plays one CJ/T 188 water meter on a line: it answers 901F read
// requests for its address (or the broadcast address) with its current
// state, in the DI byte order of the request. Tests and the demo run it
// behind a pseudo-terminal.
type Simulator struct {
	addr [addrLen]byte
	text string
	typ  byte

	mu         sync.Mutex
	total      float64
	valveOpen  bool
	batteryLow bool
	silent     bool
	polls      int
}

// NewSimulator makes a meter with address addr (14 digits), type 10H, valve
// open, total 0 m³.
func NewSimulator(addr string) (*Simulator, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	return &Simulator{addr: a, text: addr, typ: DefaultType, valveOpen: true}, nil
}

// SetTotal sets the cumulative flow the meter reports, in m³.
func (s *Simulator) SetTotal(m3 float64) { s.mu.Lock(); s.total = m3; s.mu.Unlock() }

// SetValve sets the valve state the meter reports.
func (s *Simulator) SetValve(open bool) { s.mu.Lock(); s.valveOpen = open; s.mu.Unlock() }

// SetBatteryLow sets the low-battery flag the meter reports.
func (s *Simulator) SetBatteryLow(low bool) { s.mu.Lock(); s.batteryLow = low; s.mu.Unlock() }

// SetSilent makes the meter ignore requests (a dead battery, a cut wire).
func (s *Simulator) SetSilent(silent bool) { s.mu.Lock(); s.silent = silent; s.mu.Unlock() }

// Polls counts the requests for this meter seen so far (answered or not).
func (s *Simulator) Polls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.polls }

// Reply returns the reply to req if req is a 901F read for this meter.
func (s *Simulator) Reply(req []byte) ([]byte, bool) {
	f, err := ParseFrame(req)
	if err != nil || f.IsReply() || f.Control != ctrlRead || len(f.Data) < 3 {
		return nil, false
	}
	if di, _ := f.DI(); di != 0x901F {
		return nil, false
	}
	if f.Addr != s.addr && formatAddr(f.Addr) != broadcastAddr {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polls++
	if s.silent {
		return nil, false
	}
	b, err := encodeReply(s.text, s.typ, f.Data[2], [2]byte{f.Data[0], f.Data[1]}, s.total, s.valveOpen, s.batteryLow)
	if err != nil {
		return nil, false
	}
	return b, true
}

// Serve reads requests from rw and writes replies until reading fails (nil
// at io.EOF) or ctx ends; ctx is checked between reads, so close rw to stop
// a blocked read.
func (s *Simulator) Serve(ctx context.Context, rw io.ReadWriter) error {
	var buf []byte
	chunk := make([]byte, 256)
	for ctx.Err() == nil {
		n, err := rw.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for {
			p := framing.ReplyComplete(func([]byte) bool { return true }, nil)
			fn, skip, _ := p(buf)
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
