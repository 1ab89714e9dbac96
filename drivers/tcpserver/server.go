package tcpserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anxin-care/anxin"
)

// Session serves the frames of one connection. Its methods are called from
// the connection's goroutine only.
type Session interface {
	// Frame handles one valid frame (b is valid only during the call). An
	// error closes the connection (a refused terminal, a sink that closed).
	Frame(ctx context.Context, off int64, b []byte) error
	// BadFrame is told about a bad frame or noise.
	BadFrame(off int64, err error)
	// Closed is called once when the connection ends.
	Closed()
}

// Conn is one device connection as a Session sees it.
type Conn struct {
	c            net.Conn
	writeTimeout time.Duration
}

// Reply writes b to the device within the write timeout. A device that does
// not read its replies is disconnected by the error, not waited for.
func (c *Conn) Reply(b []byte) error {
	if err := c.c.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
		return err
	}
	_, err := c.c.Write(b)
	return err
}

// RemoteAddr is the device's address.
func (c *Conn) RemoteAddr() net.Addr { return c.c.RemoteAddr() }

// Server accepts device connections and feeds each one's frames to its own
// Session. Each connection holds at most Framing.MaxFrame plus ReadBuffer
// bytes; one that sends no valid frame for IdleTimeout (nothing, or only
// garbage) is closed, so it costs nothing after that.
type Server struct {
	Framing     Framing
	IdleTimeout time.Duration
	// FirstFrame bounds the wait for a new connection's first valid frame
	// (0: IdleTimeout): one that sends nothing, or only garbage, is closed
	// then rather than holding a slot of MaxConns for IdleTimeout.
	FirstFrame   time.Duration
	WriteTimeout time.Duration // default 10s
	MaxConns     int           // 0: no limit
	// MaxFrameRate paces each connection to this many frames per second
	// (bursts of as many): a flooding device is slowed by TCP backpressure,
	// its frames are not dropped, and others are not starved. 0: no limit.
	MaxFrameRate float64
	ReadBuffer   int // bytes read at once; default 512
	NewSession   func(c *Conn) Session
	Logger       *slog.Logger

	conns      atomic.Int64
	full       logEvery     // "too many devices connected", at most every 10 s
	acceptFail logEvery     // "accept failed", at most every 10 s
	addr       atomic.Value // net.Addr once listening
	ready      chan struct{}
	once       sync.Once
}

func (s *Server) init() { s.once.Do(func() { s.ready = make(chan struct{}) }) }

// Ready is closed once the server listens; Addr is then set.
func (s *Server) Ready() <-chan struct{} { s.init(); return s.ready }

// Addr is the listening address (useful with port 0), nil before Ready.
func (s *Server) Addr() net.Addr {
	a, _ := s.addr.Load().(net.Addr)
	return a
}

// Conns is the number of open connections.
func (s *Server) Conns() int64 { return s.conns.Load() }

// Fatal reports whether a listen error will not go away by retrying
// (permission to bind a low port, a malformed address).
func Fatal(err error) bool {
	var addrErr *net.AddrError
	return errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) || errors.As(err, &addrErr)
}

// ListenAndServe listens on addr, retrying with backoff while the address
// is taken (another process still holds it), and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	wait := 100 * time.Millisecond
	for {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", addr)
		if err == nil {
			return s.Serve(ctx, ln)
		}
		if Fatal(err) {
			return fmt.Errorf("listen %s: %w (not retried)", addr, err)
		}
		s.Logger.Warn("listen failed, retrying", "addr", addr, "err", err, "in", wait)
		if !anxin.SleepContext(ctx, wait) {
			return nil
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// Serve accepts connections on ln until ctx ends, then closes ln and every
// connection and waits for their sessions to end.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.init()
	if s.WriteTimeout <= 0 {
		s.WriteTimeout = 10 * time.Second
	}
	if s.ReadBuffer <= 0 {
		s.ReadBuffer = 512
	}
	s.addr.Store(ln.Addr())
	close(s.ready)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var pause time.Duration // after a failed accept; 0 after a good one
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("accept: %w", err)
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// Anything else passes (out of file descriptors, of kernel
			// buffers or memory; a connection a firewall refused): the
			// devices dial in again, so wait and accept on, never leave
			// every tracker of a district unserved until a reload.
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			if n, ok := s.acceptFail.due(time.Now(), 10*time.Second); ok {
				s.Logger.Warn("accept failed; accepting again", "err", err, "times", n, "in", pause)
			}
			if !anxin.SleepContext(ctx, pause) {
				return nil
			}
			continue
		}
		pause = 0
		if s.MaxConns > 0 && s.conns.Load() >= int64(s.MaxConns) {
			if n, ok := s.full.due(time.Now(), 10*time.Second); ok {
				s.Logger.Warn("connections refused: too many devices connected", "max", s.MaxConns, "refused", n)
			}
			c.Close()
			continue
		}
		s.conns.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.conns.Add(-1)
			s.serveConn(ctx, c)
		}()
	}
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	sess := s.NewSession(&Conn{c: c, writeTimeout: s.WriteTimeout})
	defer sess.Closed()
	sc := NewScanner(s.Framing)
	buf := make([]byte, s.ReadBuffer)
	var ferr error
	pace := bucket{rate: s.MaxFrameRate, tokens: s.MaxFrameRate}
	onFrame := func(off int64, b []byte) {
		if ferr != nil {
			return
		}
		if ferr = sess.Frame(ctx, off, b); ferr != nil {
			return
		}
		if wait := pace.take(time.Now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				ferr = ctx.Err()
				return
			case <-t.C:
			}
		}
		if s.IdleTimeout > 0 {
			ferr = c.SetReadDeadline(time.Now().Add(s.IdleTimeout))
		}
	}
	if first := cmp.Or(s.FirstFrame, s.IdleTimeout); first > 0 {
		if err := c.SetReadDeadline(time.Now().Add(first)); err != nil {
			return
		}
	}
	for {
		n, err := c.Read(buf)
		if n > 0 {
			sc.Feed(buf[:n], onFrame, sess.BadFrame)
			if ferr != nil {
				linger(c)
				return
			}
		}
		if err != nil {
			return // EOF, idle timeout, reset or shutdown
		}
	}
}

// logEvery lets a repeated log line through at most once a period, with
// how many times it came meanwhile.
type logEvery struct {
	mu   sync.Mutex
	last time.Time
	n    int
}

// due counts one more; ok says to log now, n how many since the last.
func (l *logEvery) due(now time.Time, every time.Duration) (n int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if !l.last.IsZero() && now.Sub(l.last) < every {
		return 0, false
	}
	n, l.n, l.last = l.n, 0, now
	return n, true
}

// WaitAddr waits until the server listens and returns its address, or ""
// when ctx ends first (tests listen on port 0).
func (s *Server) WaitAddr(ctx context.Context) string {
	select {
	case <-s.Ready():
		return s.Addr().String()
	case <-ctx.Done():
		return ""
	}
}

// linger half-closes c after a refusal and reads what the device still
// sends for a moment, so the refusal reaches it instead of being lost to a
// reset (closing a socket with unread input sends RST).
func linger(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok || tc.CloseWrite() != nil {
		return
	}
	if c.SetReadDeadline(time.Now().Add(time.Second)) == nil {
		io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}
}

// bucket is a token bucket of frames: rate per second, bursts of rate.
type bucket struct {
	rate, tokens float64
	last         time.Time
}

// take spends one token and returns how long to wait before the next frame.
func (b *bucket) take(now time.Time) time.Duration {
	if b.rate <= 0 {
		return 0
	}
	if !b.last.IsZero() {
		b.tokens = min(b.rate, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
}
