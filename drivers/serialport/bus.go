package serialport

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrNoReply means no complete reply frame arrived within the request
// timeout: the device is silent, or its reply was garbled beyond repair.
var ErrNoReply = errors.New("no reply within timeout")

// IOError is a failure of the port itself during a transaction (write or
// read failed: the adapter was unplugged, the port closed). The session
// should return it so that Run reopens the port.
type IOError struct {
	Op  string // "write", "read", "reset"
	Err error
}

func (e *IOError) Error() string { return fmt.Sprintf("serial %s: %v", e.Op, e.Err) }
func (e *IOError) Unwrap() error { return e.Err }

// IsIOError reports whether err is a failure of the port, not of one device.
func IsIOError(err error) bool {
	var e *IOError
	return errors.As(err, &e)
}

// BusOptions tune a half-duplex bus.
type BusOptions struct {
	// Timeout bounds one request: from the write until a complete reply.
	// Default 1s (a 2400 baud meter answers 22 bytes in ~100 ms).
	Timeout time.Duration
	// Gap is the silence kept on the line before each request, so that a
	// slow device has finished talking and the next one sees a clean
	// frame start. Default 50ms.
	Gap time.Duration
	// MaxBuffer bounds the bytes held while looking for a reply; older bytes
	// are dropped beyond it. Default 4096.
	MaxBuffer int
}

func (o BusOptions) withDefaults() BusOptions {
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Gap < 0 {
		o.Gap = 0
	} else if o.Gap == 0 {
		o.Gap = 50 * time.Millisecond
	}
	if o.MaxBuffer <= 0 {
		o.MaxBuffer = 4096
	}
	return o
}

// Complete looks at the bytes received so far for a reply. It returns skip,
// the number of leading bytes that can never be part of the reply (junk,
// preambles, a frame with a bad checksum, another device's frame, the echo
// of the request), and n > 0 when buf[skip:skip+n] is the complete reply.
// n == 0 asks for more bytes. A non-nil err ends the transaction with err.
type Complete func(buf []byte) (n int, skip int, err error)

// Bus serializes request/reply transactions on one half-duplex line (RS-485)
// shared by several devices: one request at a time, a gap of silence before
// each, a timeout on each.
type Bus struct {
	mu   sync.Mutex
	p    Port
	opt  BusOptions
	buf  []byte
	read []byte
	last time.Time // end of the last transaction: the gap counts from here
}

// NewBus wraps an open port.
func NewBus(p Port, opts BusOptions) *Bus {
	opts = opts.withDefaults()
	return &Bus{p: p, opt: opts, read: make([]byte, 256)}
}

// Transact sends req and reads until complete finds the reply, which it
// returns (a copy). It returns ErrNoReply after the timeout, an *IOError
// when the port fails, ctx.Err() when ctx ends.
func (b *Bus) Transact(ctx context.Context, req []byte, complete Complete) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer func() { b.last = time.Now() }()

	if wait := b.opt.Gap - time.Since(b.last); wait > 0 && !b.last.IsZero() {
		if !sleep(ctx, wait) {
			return nil, ctx.Err()
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	// A late reply to the previous request must not be taken for this one.
	if err := b.p.ResetInputBuffer(); err != nil {
		return nil, &IOError{Op: "reset", Err: err}
	}
	if _, err := b.p.Write(req); err != nil {
		return nil, &IOError{Op: "write", Err: err}
	}
	deadline := time.Now().Add(b.opt.Timeout)
	b.buf = b.buf[:0]
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, ErrNoReply
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// Short reads keep cancellation prompt on a long timeout.
		if err := b.p.SetReadTimeout(min(left, 100*time.Millisecond)); err != nil {
			return nil, &IOError{Op: "read", Err: err}
		}
		n, err := b.p.Read(b.read)
		if err != nil {
			return nil, &IOError{Op: "read", Err: err}
		}
		if n == 0 {
			continue
		}
		b.buf = append(b.buf, b.read[:n]...)
		for len(b.buf) > 0 {
			fn, skip, err := complete(b.buf)
			if err != nil {
				return nil, err
			}
			skip = min(max(skip, 0), len(b.buf))
			if fn > 0 && skip+fn <= len(b.buf) {
				return append([]byte(nil), b.buf[skip:skip+fn]...), nil
			}
			if skip == 0 {
				break
			}
			b.buf = append(b.buf[:0], b.buf[skip:]...)
		}
		if over := len(b.buf) - b.opt.MaxBuffer; over > 0 {
			b.buf = append(b.buf[:0], b.buf[over:]...)
		}
	}
}
