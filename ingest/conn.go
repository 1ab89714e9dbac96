package ingest

import (
	"bufio"
	"io"
	"net"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// bufferedConn is the broker connection with buffered reads and coalesced
// writes. paho reads each packet's header, length and body with separate
// reads and writes every PUBACK with its own write: without buffering that
// is three or four system calls per message, a quarter of alarmd's CPU
// under load. Writes are held at most writeDelay (acks of one committed
// batch leave together) or until 16 KiB are waiting.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader

	mu      sync.Mutex
	w       []byte
	pending bool  // a delayed flush is scheduled
	err     error // of the last delayed flush, returned by the next Write
}

const (
	writeDelay = 200 * time.Microsecond
	writeLimit = 16 << 10
)

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	c.w = append(c.w, p...)
	if len(c.w) >= writeLimit {
		return len(p), c.flushLocked()
	}
	if !c.pending {
		c.pending = true
		time.AfterFunc(writeDelay, c.flush)
	}
	return len(p), nil
}

func (c *bufferedConn) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending = false
	if err := c.flushLocked(); err != nil {
		c.err = err
		c.Conn.Close() // paho sees the read fail and reconnects
	}
}

func (c *bufferedConn) flushLocked() error {
	if len(c.w) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.w)
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

// dialBuffered opens tcp:// and mqtt:// brokers with buffering; other
// schemes (TLS, websockets) are paho's own.
func dialBuffered(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
	return dialPaced(0)(uri, o)
}

// dialPaced is dialBuffered whose socket reads are paced (pacedReader);
// pace 0: not paced.
func dialPaced(pace time.Duration) paho.OpenConnectionFunc {
	return func(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
		d := net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
		conn, err := d.Dial("tcp", uri.Host)
		if err != nil {
			return nil, err
		}
		var src io.Reader = conn
		if pace > 0 {
			src = &pacedReader{r: conn, pace: pace}
		}
		return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(src, 64<<10)}, nil
	}
}

// pacedReader reads the socket at most once per pace while reads come back
// small. A broker sends each message as it is published: under live load
// every message otherwise wakes paho's reader, its router and the batch
// loop, and those wake-ups (epoll_wait, futex), not the work, were most of
// alarmd's CPU per reading (docs/alarmd.md "Ingest on the shared
// harness"). Paced, one read takes what arrived meanwhile. The first read
// after a quiet spell returns at once (a lone button press is not
// delayed); a press that follows other traffic waits at most pace; a read
// that fills much of the buffer (a backlog) is followed by the next at
// once. Only paho's reader goroutine calls Read.
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
