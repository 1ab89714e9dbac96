package tcpserver

import (
	"net"
	"time"
)

// Client is the device end of a connection, for simulators: it writes
// frames and reads the platform's frames with the same Scanner.
type Client struct {
	conn  net.Conn
	sc    *Scanner
	buf   []byte
	queue [][]byte
}

// DialClient connects to a platform speaking f.
func DialClient(addr string, f Framing) (*Client, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &Client{conn: c, sc: NewScanner(f), buf: make([]byte, 512)}, nil
}

// Write sends bytes as they are.
func (c *Client) Write(b []byte) error {
	_, err := c.conn.Write(b)
	return err
}

// Next waits (at most timeout) for the platform's next valid frame.
func (c *Client) Next(timeout time.Duration) ([]byte, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	for len(c.queue) == 0 {
		n, err := c.conn.Read(c.buf)
		c.sc.Feed(c.buf[:n], func(_ int64, b []byte) { c.queue = append(c.queue, append([]byte(nil), b...)) }, nil)
		if err != nil && len(c.queue) == 0 {
			return nil, err
		}
	}
	b := c.queue[0]
	c.queue = c.queue[1:]
	return b, nil
}

// Close hangs up.
func (c *Client) Close() error { return c.conn.Close() }
