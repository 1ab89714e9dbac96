package ingest

import (
	"io"
	"net"
	"sync"
	"syscall"
	"time"
)

// bufferedConn is the broker connection with coalesced writes: the
// acknowledgements of one committed batch leave in one write (Flush, called
// after each batch) rather than one system call each. A write not flushed
// leaves at most writeDelay later, or at once when 16 KiB are waiting.
type bufferedConn struct {
	net.Conn

	mu      sync.Mutex
	w       []byte
	pending bool        // a delayed flush is scheduled
	timer   *time.Timer // the delayed flush, made once
	err     error       // of the last delayed flush, returned by the next Write
	// rc: the socket, written raw on Linux (rawio_linux.go); looked up at
	// the first flush, nil for a connection that is not a socket
	rc     syscall.RawConn
	rcDone bool
}

const (
	writeDelay = 200 * time.Microsecond
	writeLimit = 16 << 10
)

func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.w = append(c.w, p...)
	if len(c.w) >= writeLimit {
		return len(p), c.sendLocked()
	}
	if !c.pending {
		c.pending = true
		if c.timer == nil {
			c.timer = time.AfterFunc(writeDelay, c.Flush)
		} else {
			c.timer.Reset(writeDelay)
		}
	}
	return len(p), nil
}

// Flush sends what is buffered now. A flush that comes before the delayed
// one cancels it: one write, no timer wake-up.
func (c *bufferedConn) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending {
		c.pending = false
		c.timer.Stop()
	}
	_ = c.sendLocked()
}

// sendLocked writes what is buffered. A write error, however the write
// came (Flush, the timer, a full buffer), closes the connection (its
// reader sees the read fail and reconnects) and is returned by every later
// Write: nothing more is buffered for a socket that cannot send it.
func (c *bufferedConn) sendLocked() error {
	err := c.flushLocked()
	if err != nil && c.err == nil {
		c.err = err
		c.Conn.Close()
	}
	return err
}

func (c *bufferedConn) flushLocked() error {
	if len(c.w) == 0 {
		return nil
	}
	if !c.rcDone {
		c.rc, c.rcDone = rawConnOf(c.Conn), true
	}
	var err error
	if c.rc != nil {
		err = writeRaw(c.rc, c.w)
	} else {
		_, err = c.Conn.Write(c.w)
	}
	c.w = c.w[:0]
	return err
}

// Close sends what is buffered (the DISCONNECT) before closing.
func (c *bufferedConn) Close() error {
	c.mu.Lock()
	_ = c.flushLocked()
	c.mu.Unlock()
	return c.Conn.Close()
}

// pacedReader reads the socket at most once per pace while reads come back
// small. A broker sends each message as it is published: under live load
// every message otherwise wakes the client's reader and the batch loop, and those wake-ups (epoll_wait, futex), not the work, were most of
// alarmd's CPU per reading (docs/alarmd.md "Ingest on the shared
// harness"). Paced, one read takes what arrived meanwhile. The first read
// after a quiet spell returns at once (a lone button press is not
// delayed); a press that follows other traffic waits at most pace; a read
// that fills much of the buffer (a backlog) is followed by the next at
// once. Only the client's reader goroutine calls Read.
type pacedReader struct {
	r     io.Reader
	pace  time.Duration
	last  time.Time
	small bool
}

// smallRead is a read that leaves most of bufferedConn's 64 KiB unused.
const smallRead = 16 << 10

func (p *pacedReader) Read(b []byte) (int, error) {
	if p.small {
		if d := p.pace - time.Since(p.last); d > 0 {
			time.Sleep(d)
		}
	}
	n, err := p.r.Read(b)
	p.last = time.Now()
	p.small = n < smallRead
	return n, err
}
