package ingest

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

// TestBufferedConnDeliversEveryWrite: coalesced writes all arrive, in
// order, soon after they are written and at Close.
func TestBufferedConnDeliversEveryWrite(t *testing.T) {
	conn, peer := tcpPair(t)
	c := &bufferedConn{Conn: conn}

	var want bytes.Buffer
	for i := range 100 { // PUBACK-sized writes
		p := []byte{0x40, 0x02, byte(i >> 8), byte(i)}
		want.Write(p)
		if n, err := c.Write(p); n != 4 || err != nil {
			t.Fatalf("write %d: %d %v", i, n, err)
		}
	}
	got := make([]byte, want.Len())
	if err := peer.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(peer, got); err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("delayed flush: %v, %d bytes equal=%v", err, len(got), bytes.Equal(got, want.Bytes()))
	}
	// a write larger than the limit goes at once; Close flushes the rest
	big := bytes.Repeat([]byte{7}, writeLimit+1)
	if _, err := c.Write(big); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte{0xe0, 0x00}); err != nil { // DISCONNECT
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(peer)
	if err != nil || len(rest) != len(big)+2 || rest[len(rest)-2] != 0xe0 {
		t.Fatalf("after Close: %d bytes, %v", len(rest), err)
	}
}

// tcpPair is a connected pair of loopback TCP sockets.
func tcpPair(t testing.TB) (client *net.TCPConn, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		acc <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-acc
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s
}

// TestBufferedConnFailsForGoodAfterAWriteError: a write that fails when
// the buffer is full (not only a timed or explicit flush) closes the
// connection, and later writes say so instead of buffering bytes that
// can never leave.
func TestBufferedConnFailsForGoodAfterAWriteError(t *testing.T) {
	conn, peer := net.Pipe()
	peer.Close()
	c := &bufferedConn{Conn: conn}
	if _, err := c.Write(bytes.Repeat([]byte{7}, writeLimit)); err == nil {
		t.Fatal("a full buffer written to a closed peer: no error")
	}
	if _, err := c.Write([]byte{0x40, 2, 0, 1}); err == nil {
		t.Fatal("a PUBACK buffered after the connection failed")
	}
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("the connection is still open after the write error")
	}
}

// TestBufferedConnWritesPastAFullSendBuffer: a flush larger than the
// socket's send buffer (written raw on Linux: partial writes, then waits
// in the netpoller while the buffer is full) arrives whole and in order.
func TestBufferedConnWritesPastAFullSendBuffer(t *testing.T) {
	conn, peer := tcpPair(t)
	if err := conn.SetWriteBuffer(4 << 10); err != nil {
		t.Fatal(err)
	}
	c := &bufferedConn{Conn: conn}
	want := make([]byte, 1<<20)
	for i := range want {
		want[i] = byte(i * 7)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Write(want) // over writeLimit: sent at once
		done <- err
	}()
	got := make([]byte, len(want))
	if err := peer.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the bytes that arrived differ from those written")
	}
}
