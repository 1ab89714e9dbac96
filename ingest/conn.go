package ingest

import (
	"bufio"
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
	d := net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	conn, err := d.Dial("tcp", uri.Host)
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}, nil
}
