// Package linetest plays the devices on one serial line for tests: meters
// of several protocols wired to one RS-485 bus, behind the master side of a
// pseudo-terminal. Each request is answered after a latency, as a real
// meter does; a request that arrives while a reply is still due is counted
// as a collision (two masters talking over each other on the line).
package linetest

import (
	"errors"
	"io"
	"sync"
	"time"
)

// Device is one protocol's meters on the line.
type Device struct {
	Name string
	// Frame returns the length of the whole request frame at b[0], or 0.
	Frame func(b []byte) int
	// Reply answers a request frame, or reports that none of the
	// device's meters answers it.
	Reply func(frame []byte) ([]byte, bool)
}

// ByParse makes a Device.Frame from a parser of exact frames (cjt188.ParseFrame,
// dlt645.ParseFrame): the shortest prefix of b that parses.
func ByParse(parse func([]byte) error, maxFrame int) func([]byte) int {
	return func(b []byte) int {
		for n := 1; n <= len(b) && n <= maxFrame; n++ {
			if parse(b[:n]) == nil {
				return n
			}
		}
		return 0
	}
}

// Line answers requests for its devices.
type Line struct {
	Latency time.Duration
	Devices []Device

	mu         sync.Mutex
	requests   map[string]int
	collisions int
}

// Requests counts the requests of device name seen so far.
func (l *Line) Requests(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.requests[name]
}

// Collisions counts the requests that arrived while a reply was due.
func (l *Line) Collisions() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.collisions
}

type reply struct {
	due time.Time
	b   []byte
}

// Serve reads requests from rw and writes the replies until reading or
// writing fails (close rw to stop it); it returns nil at io.EOF.
func (l *Line) Serve(rw io.ReadWriter) error {
	chunks := make(chan []byte)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		buf := make([]byte, 512)
		for {
			n, err := rw.Read(buf)
			if n > 0 {
				select {
				case chunks <- append([]byte(nil), buf[:n]...):
				case <-done:
					return
				}
			}
			if err != nil {
				readErr <- err
				close(chunks)
				return
			}
		}
	}()
	var (
		buf     []byte
		pending []reply
		timer   = time.NewTimer(time.Hour)
	)
	defer timer.Stop()
	arm := func() {
		timer.Stop()
		if len(pending) > 0 {
			timer.Reset(time.Until(pending[0].due))
		}
	}
	for {
		select {
		case c, ok := <-chunks:
			if !ok {
				if err := <-readErr; !errors.Is(err, io.EOF) {
					return err
				}
				return nil
			}
			buf = append(buf, c...)
			buf = l.frames(buf, func(r []byte) {
				l.mu.Lock()
				if len(pending) > 0 {
					l.collisions++
				}
				l.mu.Unlock()
				pending = append(pending, reply{time.Now().Add(l.Latency), r})
			}, func() {
				l.mu.Lock()
				if len(pending) > 0 {
					l.collisions++
				}
				l.mu.Unlock()
			})
			arm()
		case <-timer.C:
			for len(pending) > 0 && !time.Now().Before(pending[0].due) {
				if _, err := rw.Write(pending[0].b); err != nil {
					return err
				}
				pending = pending[1:]
			}
			arm()
		}
	}
}

// frames takes the whole request frames out of buf: answered ones go to
// answer, unanswered ones to silent. Bytes before a frame (preambles,
// noise) are dropped; an incomplete frame is kept.
func (l *Line) frames(buf []byte, answer func([]byte), silent func()) []byte {
	for off := 0; off < len(buf); off++ {
		for _, d := range l.Devices {
			n := d.Frame(buf[off:])
			if n == 0 {
				continue
			}
			frame := buf[off : off+n]
			l.mu.Lock()
			if l.requests == nil {
				l.requests = map[string]int{}
			}
			l.requests[d.Name]++
			l.mu.Unlock()
			answered := false
			for _, dd := range l.Devices {
				if r, ok := dd.Reply(frame); ok {
					answer(r)
					answered = true
					break
				}
			}
			if !answered {
				silent()
			}
			return l.frames(buf[off+n:], answer, silent)
		}
	}
	if len(buf) > 1024 { // no frame in a long stretch: keep the tail only
		return append([]byte(nil), buf[len(buf)-512:]...)
	}
	return buf
}
