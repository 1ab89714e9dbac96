package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"
)

// rawPublisher is a minimal MQTT 3.1.1 QoS 1 publisher: packets are
// written into one buffer and flushed together, PUBACKs are read by one
// goroutine. A load generator shares the machine with what it measures;
// paho spends a goroutine hand-off, a token and a system call per message,
// this spends a few hundred nanoseconds.
type rawPublisher struct {
	conn   net.Conn
	w      *bufio.Writer
	window chan struct{} // one slot per unacknowledged message
	nextID uint16

	mu   sync.Mutex
	err  error
	done chan struct{}
}

func dialRaw(broker, clientID string, window int) (*rawPublisher, error) {
	u, err := url.Parse(broker)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "mqtt") || u.Host == "" {
		return nil, fmt.Errorf("raw publisher: broker %q: want tcp://host:port", broker)
	}
	if window > 65535 {
		return nil, errors.New("raw publisher: window above 65535 packet ids")
	}
	conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		return nil, err
	}
	// CONNECT: protocol "MQTT" level 4, clean session, keep-alive 60 s
	var vh []byte
	vh = appendString(vh, "MQTT")
	vh = append(vh, 4, 0x02, 0, 60)
	vh = appendString(vh, clientID)
	pkt := appendHeader(nil, 0x10, len(vh))
	if _, err := conn.Write(append(pkt, vh...)); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil {
		conn.Close()
		return nil, fmt.Errorf("raw publisher: CONNACK: %w", err)
	}
	if ack[0] != 0x20 || ack[1] != 2 || ack[3] != 0 {
		conn.Close()
		return nil, fmt.Errorf("raw publisher: connection refused (CONNACK % x)", ack)
	}
	_ = conn.SetReadDeadline(time.Time{})
	p := &rawPublisher{conn: conn, w: bufio.NewWriterSize(conn, 64<<10), window: make(chan struct{}, window),
		done: make(chan struct{})}
	go p.readAcks()
	return p, nil
}

// readAcks frees a window slot per PUBACK.
func (p *rawPublisher) readAcks() {
	defer close(p.done)
	r := bufio.NewReaderSize(p.conn, 64<<10)
	var b [4]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			p.fail(err)
			return
		}
		if b[0] != 0x40 || b[1] != 2 {
			p.fail(fmt.Errorf("raw publisher: unexpected packet % x", b[:2]))
			return
		}
		<-p.window
	}
}

func (p *rawPublisher) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

func (p *rawPublisher) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Publish queues a QoS 1 PUBLISH; it waits while the window is full
// (flushing first, so the broker can acknowledge what is waiting).
func (p *rawPublisher) Publish(topic string, payload []byte) error {
	select {
	case p.window <- struct{}{}:
	default:
		if err := p.w.Flush(); err != nil {
			return err
		}
		select {
		case p.window <- struct{}{}:
		case <-p.done:
			return p.failed()
		}
	}
	p.nextID++
	if p.nextID == 0 {
		p.nextID = 1
	}
	n := 2 + len(topic) + 2 + len(payload)
	var hdr [5]byte
	h := appendHeader(hdr[:0], 0x32, n) // PUBLISH, QoS 1
	p.w.Write(h)
	var l [2]byte
	binary.BigEndian.PutUint16(l[:], uint16(len(topic)))
	p.w.Write(l[:])
	p.w.WriteString(topic)
	binary.BigEndian.PutUint16(l[:], p.nextID)
	p.w.Write(l[:])
	_, err := p.w.Write(payload)
	return err
}

// Flush sends what is buffered.
func (p *rawPublisher) Flush() error { return p.w.Flush() }

// Close waits until every message is acknowledged (or timeout), then
// disconnects.
func (p *rawPublisher) Close(timeout time.Duration) error {
	if err := p.w.Flush(); err != nil {
		p.conn.Close()
		return err
	}
	// every slot of the window taken again means every message was acknowledged
	expire := time.NewTimer(timeout)
	defer expire.Stop()
	for range cap(p.window) {
		select {
		case p.window <- struct{}{}:
		case <-p.done:
			p.conn.Close()
			return p.failed()
		case <-expire.C:
			p.conn.Close()
			return fmt.Errorf("raw publisher: messages not acknowledged after %s", timeout)
		}
	}
	_, _ = p.conn.Write([]byte{0xe0, 0}) // DISCONNECT
	return p.conn.Close()
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// appendHeader appends a fixed header with the remaining length n.
func appendHeader(b []byte, typ byte, n int) []byte {
	b = append(b, typ)
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}
