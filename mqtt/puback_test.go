package mqtt

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/spool"
	"github.com/anxin-care/anxin/spool/spooltest"
)

// pubackBroker is a minimal MQTT 3.1.1 peer on loopback that acknowledges
// the gateway status at once but a message only when the test says so, so
// a test decides exactly which PUBACKs the uplink gets.
type pubackBroker struct {
	t     *testing.T
	l     net.Listener
	conns chan *pubackConn
}

type pubackConn struct {
	c    net.Conn
	wmu  sync.Mutex
	pubs chan *packets.PublishPacket // messages (status excluded), in arrival order
}

func startPubackBroker(t *testing.T) *pubackBroker {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &pubackBroker{t: t, l: l, conns: make(chan *pubackConn, 8)}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			pc := &pubackConn{c: c, pubs: make(chan *packets.PublishPacket, 1024)}
			t.Cleanup(func() { c.Close() })
			go pc.serve()
			b.conns <- pc
		}
	}()
	return b
}

func (b *pubackBroker) URL() string { return "tcp://" + b.l.Addr().String() }

func (b *pubackBroker) next() *pubackConn {
	b.t.Helper()
	select {
	case c := <-b.conns:
		return c
	case <-time.After(30 * time.Second):
		b.t.Fatal("the uplink did not connect")
		return nil
	}
}

func (pc *pubackConn) write(p packets.ControlPacket) {
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	_ = p.Write(pc.c) // a closed connection is the test's doing
}

func (pc *pubackConn) serve() {
	defer close(pc.pubs)
	for {
		p, err := packets.ReadPacket(pc.c)
		if err != nil {
			return
		}
		switch p := p.(type) {
		case *packets.ConnectPacket:
			pc.write(packets.NewControlPacket(packets.Connack))
		case *packets.PingreqPacket:
			pc.write(packets.NewControlPacket(packets.Pingresp))
		case *packets.PublishPacket:
			if strings.HasSuffix(p.TopicName, "/gateway/status") {
				pc.puback(p.MessageID)
				continue
			}
			pc.pubs <- p
		}
	}
}

func (pc *pubackConn) puback(id uint16) {
	ack := packets.NewControlPacket(packets.Puback).(*packets.PubackPacket)
	ack.MessageID = id
	pc.write(ack)
}

func (pc *pubackConn) receive(t *testing.T, n int) []*packets.PublishPacket {
	t.Helper()
	var out []*packets.PublishPacket
	for len(out) < n {
		select {
		case p, ok := <-pc.pubs:
			if !ok {
				t.Fatalf("connection closed after %d of %d publishes", len(out), n)
			}
			out = append(out, p)
		case <-time.After(30 * time.Second):
			t.Fatalf("got %d of %d publishes", len(out), n)
		}
	}
	return out
}

func pubID(t *testing.T, p *packets.PublishPacket) string {
	t.Helper()
	m, err := anxin.ParseMessage(p.TopicName, p.Payload)
	if err != nil {
		t.Fatalf("publish on %s: %v", p.TopicName, err)
	}
	return m.ID
}

// TestSpoolKeepsMessagesUntilPuback: a message leaves the spool only once
// the broker acknowledged it and every message before it; a PUBACK out of
// order advances nothing; after the connection is lost the unacknowledged
// ones are sent again, with the same ids, and then leave.
func TestSpoolKeepsMessagesUntilPuback(t *testing.T) {
	b := startPubackBroker(t)
	sp := openSpool(t, spool.Options{})
	const n = 10
	var ids []string
	for i := range n {
		m := spooltest.Msg("btn1", i, i%2 == 0)
		ids = append(ids, m.ID)
		put(t, sp, m)
	}
	up := startUplink(t, sp, b.URL(), nil)
	c1 := b.next()
	pubs := c1.receive(t, n)
	for i, p := range pubs {
		if got := pubID(t, p); got != ids[i] || p.Qos != 1 {
			t.Fatalf("publish %d: id %s qos %d, want %s qos 1", i, got, p.Qos, ids[i])
		}
	}
	// everything is on the wire, nothing acknowledged: all stay
	if st := sp.Stats(); st.Acked != 0 || st.Depth != n {
		t.Fatalf("before any PUBACK: %+v", st)
	}
	// the third PUBACK first: messages 1 and 2 are not acknowledged yet
	c1.puback(pubs[2].MessageID)
	c1.puback(pubs[0].MessageID) // now 1 is, 2 still not
	eventually(t, "the ack pointer at message 1", func() bool { return sp.Acked() == 1 })
	c1.puback(pubs[1].MessageID) // 1..3 acknowledged
	eventually(t, "the ack pointer at message 3", func() bool { return sp.Acked() == 3 })
	if st := sp.Stats(); st.Acked != 3 || st.Depth != n-3 {
		t.Fatalf("after PUBACKs of 1..3: %+v", st)
	}

	// the link dies with 4..10 unacknowledged: they are replayed, same ids
	c1.c.Close()
	c2 := b.next()
	again := c2.receive(t, n-3)
	for i, p := range again {
		if got := pubID(t, p); got != ids[3+i] {
			t.Fatalf("replay %d: id %s, want %s", i, got, ids[3+i])
		}
	}
	if sp.Acked() != 3 {
		t.Fatalf("ack pointer moved to %d without a PUBACK", sp.Acked())
	}
	for _, p := range again {
		c2.puback(p.MessageID)
	}
	waitAcked(t, sp, 15*time.Second)
	if sp.Acked() != n {
		t.Fatalf("ack pointer %d, want %d", sp.Acked(), n)
	}
	up.stop()
}
