package ingest

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"
)

// lowatSource is the paced source of a broker connection on Linux.
func lowatSource(c net.Conn, pace time.Duration) (io.Reader, bool) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil, false
	}
	r, err := newLowatReader(tc, pace, lowatBusy)
	if err != nil {
		return nil, false
	}
	r.held = true // until the CONNACK is in (release)
	return r, true
}

// lowatBusy is the mark while messages flow, until the messages' size is
// known (fit): half the client's read buffer, far below the socket's
// receive buffer (a fuller socket wakes the reader anyway).
const lowatBusy = 32 << 10

// lowatMessages is how many messages the mark asks for once their size is
// known (fit): enough that a wake-up takes many, fewer than a broker's
// in-flight window holds back unacknowledged (mosquitto's default 20), or
// every read would wait out the pace for a window that cannot fill the
// mark. At 3,333 readings a second 16 take 4.8 ms. A read woken by the
// mark that finds twice as many waiting (a broker with a larger window,
// sending faster than the reader wakes) doubles it; a read ended by the
// pace below the mark halves it again, down to lowatMessages.
const lowatMessages = 16

// lowatMin bounds the mark below (tiny messages).
const lowatMin = 1 << 10

// lowatReader paces socket reads with the kernel's help: while messages
// flow (busy), the socket's receive low-water mark (SO_RCVLOWAT) is raised,
// so the kernel wakes the reader once lowat bytes are waiting rather than
// for every segment the broker writes, and a read deadline of pace bounds
// how long a lone message waits. pacedReader sleeps instead, but every
// segment that arrives during its sleep still wakes Go's netpoller for
// nothing. When a pace passes with nothing at all, the mark drops back to
// one byte (quiet): the next message, a lone press, wakes the reader at once.
type lowatReader struct {
	c     *net.TCPConn
	rc    syscall.RawConn
	pace  time.Duration
	lowat int
	busy  bool
	k     int  // messages the mark asks for (fit); 0: lowatMessages
	woken bool // the last read was woken by the mark, not ended by the pace
	// held: not pacing yet; reads are plain, under the caller's read
	// deadline (the CONNACK wait), which pacing's own deadlines would
	// replace and then clear
	held bool
}

// release starts pacing (the session, once the CONNACK is in and its
// deadline cleared; before the reading goroutine reads again).
func (r *lowatReader) release() { r.held = false }

func newLowatReader(c *net.TCPConn, pace time.Duration, lowat int) (*lowatReader, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &lowatReader{c: c, rc: rc, pace: pace, lowat: lowat}, nil
}

// fit sets the mark to so many messages (lowatMessages, more while reads
// woken by the mark find twice as many) of perMessage bytes (the mean of
// what the last read brought: messages), within [lowatMin, lowatBusy].
// Only a change by more than a quarter is passed on to the socket.
func (r *lowatReader) fit(perMessage, messages int) {
	if r.k == 0 {
		r.k = lowatMessages
	}
	switch {
	case r.woken && messages >= 2*r.k && r.k*perMessage < lowatBusy:
		r.k *= 2
	case !r.woken && r.k > lowatMessages:
		r.k /= 2
	}
	want := min(max(r.k*perMessage, lowatMin), lowatBusy)
	if d := want - r.lowat; d > r.lowat/4 || -d > r.lowat/4 {
		r.lowat = want
		if r.busy {
			r.setLowat(want)
		}
	}
}

func (r *lowatReader) setLowat(n int) {
	_ = r.rc.Control(func(fd uintptr) { setsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVLOWAT, n) })
}

func (r *lowatReader) Read(b []byte) (int, error) {
	if r.held {
		return r.c.Read(b)
	}
	r.woken = false
	if !r.busy {
		n, err := readRaw(r.rc, b) // wakes on the first byte
		if n > 0 && err == nil {
			r.busy = true
			r.setLowat(r.lowat)
		}
		return n, err
	}
	_ = r.c.SetReadDeadline(time.Now().Add(r.pace))
	n, err := readRaw(r.rc, b)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		r.woken = err == nil
		return n, err
	}
	// the pace passed below the mark: take what there is, if anything
	_ = r.c.SetReadDeadline(time.Time{})
	var rerr syscall.Errno
	n = 0
	if cerr := r.rc.Read(func(fd uintptr) bool {
		n, rerr = rawRead(fd, b)
		return true // one try, no waiting
	}); cerr != nil {
		return 0, cerr
	}
	if n > 0 {
		return n, nil
	}
	if rerr != 0 && rerr != syscall.EAGAIN {
		return 0, os.NewSyscallError("read", rerr)
	}
	if rerr == 0 {
		return 0, io.EOF // the broker closed the connection
	}
	r.busy = false
	r.setLowat(1)
	return r.Read(b) // quiet: wakes on the first byte, and is busy again after it
}
