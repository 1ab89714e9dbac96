package ingest

import (
	"bytes"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/testenv"
)

func rcvlowat(t *testing.T, r *lowatReader) int {
	t.Helper()
	var v int
	var gerr error
	if err := r.rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT) }); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	return v
}

// TestLowatReaderLosesNothingBelowTheMark: while busy, the kernel is told
// to wake the reader only at the mark; what lies below it is still read
// once the pace has passed, a pace with nothing turns the reader quiet
// (mark back to one byte: the next lone message wakes it), and the
// broker closing the connection is an end of stream in either state.
func TestLowatReaderLosesNothingBelowTheMark(t *testing.T) {
	c, peer := tcpPair(t)
	r, err := newLowatReader(c, 20*time.Millisecond, 4096)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	readAll := func(want []byte) {
		t.Helper()
		var got []byte
		for len(got) < len(want) {
			n, err := r.Read(buf)
			if err != nil {
				t.Fatalf("after %d of %d bytes: %v", len(got), len(want), err)
			}
			got = append(got, buf[:n]...)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("read %q, want %q", got, want)
		}
	}
	if _, err := peer.Write([]byte("press")); err != nil { // quiet: a lone message
		t.Fatal(err)
	}
	readAll([]byte("press"))
	if !r.busy || rcvlowat(t, r) != 4096 {
		t.Fatalf("after a message: busy %v, mark %d; want busy at 4096", r.busy, rcvlowat(t, r))
	}
	small := bytes.Repeat([]byte("s"), 100) // below the mark
	if _, err := peer.Write(small); err != nil {
		t.Fatal(err)
	}
	readAll(small)
	large := bytes.Repeat([]byte("L"), 10000) // above it
	if _, err := peer.Write(large); err != nil {
		t.Fatal(err)
	}
	readAll(large)
	// nothing for a pace: quiet again, and the next byte is read
	done := make(chan struct{})
	go func() {
		defer close(done)
		readAll([]byte("x"))
	}()
	testenv.Eventually(t, "the mark back at one byte with nothing coming", time.Minute, func() bool { return rcvlowat(t, r) == 1 })
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	<-done
	if !r.busy || rcvlowat(t, r) != 4096 {
		t.Fatalf("after the message that ended the quiet: busy %v, mark %d; want busy at 4096", r.busy, rcvlowat(t, r))
	}
	// the broker closes the connection while the reader is quiet
	eof := make(chan error, 1)
	go func() {
		for {
			if _, err := r.Read(buf); err != nil {
				eof <- err
				return
			}
		}
	}()
	testenv.Eventually(t, "quiet again before the close", time.Minute, func() bool { return rcvlowat(t, r) == 1 })
	peer.Close()
	if err := <-eof; err != io.EOF {
		t.Fatalf("closed by the peer: %v, want io.EOF", err)
	}
}

// TestLowatReaderFitsTheMarkToTheMessages: once the messages' size is
// known, the mark asks for lowatMessages of them (within its bounds); a
// small change in their mean size leaves the socket alone; a read woken by
// the mark that brought twice as many doubles the messages asked for, and
// one ended by the pace below the mark halves them again.
func TestLowatReaderFitsTheMarkToTheMessages(t *testing.T) {
	c, peer := tcpPair(t)
	r, err := newLowatReader(c, 20*time.Millisecond, lowatBusy)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(make([]byte, 16)); err != nil { // busy now
		t.Fatal(err)
	}
	mark := func(what string, want int) {
		t.Helper()
		if got := rcvlowat(t, r); got != want {
			t.Fatalf("mark %d %s, want %d", got, what, want)
		}
	}
	r.fit(200, 1)
	mark("for 200-byte messages", lowatMessages*200)
	r.fit(210, 1) // within a quarter: unchanged
	mark("after a small change", lowatMessages*200)
	r.woken = true
	r.fit(200, 2*lowatMessages)
	mark("after a read at the mark brought twice as many", 2*lowatMessages*200)
	r.woken = false
	r.fit(200, 3)
	mark("after a read ended by the pace", lowatMessages*200)
	r.fit(200, 3) // not below lowatMessages
	mark("after another", lowatMessages*200)
	r.fit(10, 1)
	mark("for tiny messages", lowatMin)
	r.fit(1<<20, 1)
	mark("for huge messages", lowatBusy)
}
