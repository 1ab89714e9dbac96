package tcpserver

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/testenv"
)

// failingListener fails its first n Accepts with err, then accepts for real.
type failingListener struct {
	net.Listener
	mu  sync.Mutex
	n   int
	err error
}

func (l *failingListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if l.n > 0 {
		l.n--
		l.mu.Unlock()
		return nil, l.err
	}
	l.mu.Unlock()
	return l.Listener.Accept()
}

type frameSession chan string

func (s frameSession) Frame(_ context.Context, _ int64, b []byte) error {
	s <- string(b)
	return nil
}
func (frameSession) BadFrame(int64, error) {}
func (frameSession) Closed()               {}

// TestAcceptErrorsDoNotEndTheServer: an accept error that is not the
// listener closing (the kernel out of buffers or memory, a connection a
// firewall refused) is retried; before, any such error returned from Serve
// and the dial-in driver (every tracker and watch of a district) stayed
// down until a reload.
func TestAcceptErrorsDoNotEndTheServer(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENOBUFS, syscall.ENOMEM, syscall.EPROTO, syscall.EPERM} {
		t.Run(errno.Error(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			fl := &failingListener{Listener: ln, n: 5,
				err: &net.OpError{Op: "accept", Net: "tcp", Addr: ln.Addr(), Err: os.NewSyscallError("accept4", errno)}}
			var logs testenv.SyncBuffer
			frames := make(frameSession, 1)
			s := &Server{Framing: angle, NewSession: func(*Conn) Session { return frames },
				Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			ctx, cancel := context.WithCancel(t.Context())
			served := make(chan error, 1)
			go func() { served <- s.Serve(ctx, fl) }()
			defer cancel()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write([]byte("<sos>")); err != nil {
				t.Fatal(err)
			}
			select {
			case f := <-frames:
				if f != "<sos>" {
					t.Fatalf("frame %q", f)
				}
			case err := <-served:
				t.Fatalf("Serve ended on a passing accept error: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("the connection after the accept errors was not served")
			}
			cancel()
			if err := <-served; err != nil {
				t.Errorf("Serve after cancel: %v", err)
			}
			if n := strings.Count(logs.String(), "accept failed"); n != 1 {
				t.Errorf("%d log lines for 5 accept errors within a second, want 1:\n%s", n, logs.String())
			}
		})
	}
}

// TestServeEndsWhenItsListenerIsClosed: a listener closed by someone else
// than Serve ends Serve with an error (the driver is then reported failed)
// instead of spinning on the closed listener.
func TestServeEndsWhenItsListenerIsClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Framing: angle, NewSession: func(*Conn) Session { return make(frameSession, 1) },
		Logger: slog.New(slog.DiscardHandler)}
	served := make(chan error, 1)
	go func() { served <- s.Serve(t.Context(), ln) }()
	<-s.Ready()
	ln.Close()
	select {
	case err := <-served:
		if err == nil {
			t.Fatal("Serve on a listener closed under it returned nil")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve did not end when its listener was closed")
	}
}
