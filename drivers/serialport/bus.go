package serialport

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/anxin-care/anxin"
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
// each, a timeout on each. Several drivers on one port share one Bus (see
// RunBus), each with its own timeout and gap (TransactWith).
type Bus struct {
	lock    chan struct{} // held (a token in it) during a transaction; waiters are served in order
	p       Port
	opt     BusOptions
	buf     []byte
	read    []byte
	last    time.Time     // end of the last transaction: the gap counts from here
	lastGap time.Duration // the gap the last transaction asked for
	closed  bool          // the port was handed back to be closed: no more I/O on it
}

// NewBus wraps an open port; opts are the options of Transact.
func NewBus(p Port, opts BusOptions) *Bus {
	// opts stay as given: TransactWith applies the defaults (once: after
	// them a zero Gap means none).
	return &Bus{lock: make(chan struct{}, 1), p: p, opt: opts, read: make([]byte, 256)}
}

// ErrPortClosed is the failure of a transaction on a bus whose port was
// closed: it was lost, or its last user left.
var ErrPortClosed = errors.New("serial port closed")

// Transact sends req and reads until complete finds the reply, which it
// returns (a copy). It returns ErrNoReply after the timeout, an *IOError
// when the port fails, ctx.Err() when ctx ends.
func (b *Bus) Transact(ctx context.Context, req []byte, complete Complete) ([]byte, error) {
	return b.TransactWith(ctx, req, complete, b.opt)
}

// TransactWith is Transact with one caller's options: drivers sharing a
// bus keep their own timeout and gap. The silence kept before the request
// is the longer of opt.Gap and the gap the previous transaction asked for,
// so that a slow device of one driver has stopped talking before another
// driver's request goes out.
func (b *Bus) TransactWith(ctx context.Context, req []byte, complete Complete, opt BusOptions) ([]byte, error) {
	opt = opt.withDefaults()
	// A channel, not a mutex: a driver waiting for the bus gives up when
	// its ctx ends, and the bus goes to the drivers in the order they
	// asked (a released token is handed to the first waiting sender).
	select {
	case b.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-b.lock }()
	if b.closed {
		return nil, &IOError{Op: "write", Err: ErrPortClosed}
	}
	defer func() { b.last, b.lastGap = time.Now(), opt.Gap }()
	if wait := max(opt.Gap, b.lastGap) - time.Since(b.last); wait > 0 && !b.last.IsZero() {
		if !anxin.SleepContext(ctx, wait) {
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
	deadline := time.Now().Add(opt.Timeout)
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
		if over := len(b.buf) - opt.MaxBuffer; over > 0 {
			b.buf = append(b.buf[:0], b.buf[over:]...)
		}
	}
}

// shut waits for the transaction in progress, if any, and stops all I/O on
// the port: its owner is about to close it.
func (b *Bus) shut() {
	b.lock <- struct{}{}
	b.closed = true
	<-b.lock
}
