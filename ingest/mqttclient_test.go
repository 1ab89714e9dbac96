package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/mqtt"
	"github.com/anxin-care/anxin/rules"
	"github.com/anxin-care/anxin/sqlite"
)

// publishPacket encodes a PUBLISH (QoS 1 when id > 0).
func publishPacket(topic string, id uint16, payload []byte) []byte {
	body := appendString(nil, topic)
	h := byte(pktPublish << 4)
	if id > 0 {
		h |= 1 << 1
		body = binary.BigEndian.AppendUint16(body, id)
	}
	return appendPacket(nil, h, append(body, payload...))
}

func TestPacketReaderReadsWhatBrokersSend(t *testing.T) {
	big := bytes.Repeat([]byte("x"), anxin.MaxPayload)
	var in []byte
	in = append(in, 0x20, 2, 1, 0)             // CONNACK, session present
	in = append(in, 0x90, 5, 0, 1, 0, 1, 0x80) // SUBACK id 1: granted, granted, refused
	in = append(in, publishPacket("anxin/v1/hh/wm1/reading", 7, []byte(`{"a":1}`))...)
	in = append(in, publishPacket("anxin/v1/hh/gateway/status", 0, []byte("s"))...) // QoS 0
	in = append(in, publishPacket("t", 9, big)...)                                  // the largest payload, a 3-byte length
	in = append(in, publishPacket("t", 10, append(big, 'y'))...)                    // one byte too many
	in = append(in, 0xb0, 2, 0, 2, 0xd0, 0)                                         // UNSUBACK id 2, PINGRESP
	pr := newPacketReader(bytes.NewReader(in))
	var got []inPacket
	for {
		p, err := pr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("packet %d: %v", len(got)+1, err)
		}
		p.Codes = append([]byte(nil), p.Codes...)
		got = append(got, p)
	}
	if len(got) != 8 {
		t.Fatalf("%d packets, want 8", len(got))
	}
	if c := got[0]; c.Type != pktConnack || !c.Present || c.RC != 0 {
		t.Errorf("CONNACK %+v", c)
	}
	if s := got[1]; s.Type != pktSuback || s.ID != 1 || !bytes.Equal(s.Codes, []byte{0, 1, 0x80}) {
		t.Errorf("SUBACK %+v", s)
	}
	if p := got[2]; p.Type != pktPublish || p.QoS() != 1 || p.ID != 7 || p.Topic != "anxin/v1/hh/wm1/reading" || string(p.Payload) != `{"a":1}` {
		t.Errorf("PUBLISH %+v", p)
	}
	if p := got[3]; p.QoS() != 0 || p.ID != 0 || string(p.Payload) != "s" {
		t.Errorf("QoS 0 PUBLISH %+v", p)
	}
	if p := got[4]; p.ID != 9 || len(p.Payload) != anxin.MaxPayload {
		t.Errorf("largest PUBLISH: id %d, %d bytes", p.ID, len(p.Payload))
	}
	if p := got[5]; p.ID != 10 || len(p.Payload) != anxin.MaxPayload+1 || &p.Payload[0] != &oversized[0] {
		t.Errorf("oversized PUBLISH: id %d, %d bytes, not the shared stand-in", p.ID, len(p.Payload))
	}
	if got[6].Type != pktUnsuback || got[6].ID != 2 || got[7].Type != pktPingresp {
		t.Errorf("UNSUBACK, PINGRESP: %+v %+v", got[6], got[7])
	}
}

// TestPacketReaderPayloadsApart: payloads cut from one slab are each the
// holder's own: appending to one leaves the next as it was read.
func TestPacketReaderPayloadsApart(t *testing.T) {
	var in []byte
	for i := range 400 { // past one slab
		in = append(in, publishPacket("anxin/v1/hh/wm1/reading", uint16(i+1), []byte(fmt.Sprintf(`{"n":%03d}`, i)))...)
	}
	pr := newPacketReader(bytes.NewReader(in))
	var got [][]byte
	for range 400 {
		p, err := pr.next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Payload)
	}
	for i := range got {
		_ = append(got[i], "!!!!"...)
	}
	for i, b := range got {
		if want := fmt.Sprintf(`{"n":%03d}`, i); string(b) != want {
			t.Fatalf("payload %d: %q, want %q", i, b, want)
		}
	}
}

// TestPacketReaderAllocs: a contract reading's PUBLISH costs the reader one
// allocation, its topic (its payload comes from the slab).
func TestPacketReaderAllocs(t *testing.T) {
	pkt := publishPacket("anxin/v1/hh-00042/wm1/reading", 7, []byte(parseSeeds[0]))
	in := bytes.Repeat(pkt, 200)
	pr := newPacketReader(bytes.NewReader(in))
	if n := testing.AllocsPerRun(150, func() {
		if _, err := pr.next(); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Fatalf("%v allocations to read a PUBLISH, want at most 1 (its topic)", n)
	}
}

func TestPacketReaderRefusesMalformed(t *testing.T) {
	for name, in := range map[string][]byte{
		"length of five bytes":  {0x30, 0xff, 0xff, 0xff, 0xff, 0x01},
		"QoS 3":                 {0x36, 4, 0, 1, 't', 0},
		"topic past the packet": {0x32, 4, 0, 9, 't', 0},
		"packet id 0":           {0x32, 5, 0, 1, 't', 0, 0},
		"huge control packet":   {0x90, 0xff, 0xff, 0x03},
		"PUBREL":                {0x62, 2, 0, 1},
		"CONNACK of 3 bytes":    {0x20, 3, 0, 0, 0},
		"SUBACK without a code": {0x90, 2, 0, 1},
	} {
		_, err := newPacketReader(bytes.NewReader(in)).next()
		if !errors.Is(err, errMalformed) {
			t.Errorf("%s: %v, want errMalformed", name, err)
		}
	}
	// cut short inside a packet: not a clean end
	_, err := newPacketReader(bytes.NewReader(publishPacket("t", 1, []byte("abc"))[:6])).next()
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut short: %v", err)
	}
}

// chunkedReader returns at most size bytes a read and counts the reads.
type chunkedReader struct {
	r     io.Reader
	size  int
	reads int
}

func (c *chunkedReader) Read(b []byte) (int, error) {
	c.reads++
	return c.r.Read(b[:min(len(b), c.size)])
}

// FuzzPacketReader: whatever a broker (or something posing as one) sends,
// the reader returns packets or an error — no panic, no payload beyond
// MaxPayload+1 bytes, no topic beyond what the packet held — and when
// whole says a packet is buffered, next takes it without reading (the
// client hands over what it parsed before a read that may wait).
func FuzzPacketReader(f *testing.F) {
	f.Add(publishPacket("anxin/v1/hh/wm1/reading", 7, []byte(`{"id":"x"}`)))
	f.Add([]byte{0x20, 2, 0, 0, 0x90, 5, 0, 1, 1, 1, 1})
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0x7f})
	f.Add(append(publishPacket("t", 3, nil), 0xd0, 0, 0xb0, 2, 0, 2))
	f.Fuzz(func(t *testing.T, in []byte) {
		src := &chunkedReader{r: bytes.NewReader(in), size: 13} // packets cut across reads
		pr := newPacketReader(src)
		for range 1000 {
			whole, reads := pr.whole(), src.reads
			p, err := pr.next()
			if whole && src.reads != reads {
				t.Fatalf("whole said a packet was buffered, but next read the source (%v)", err)
			}
			if err != nil {
				return
			}
			if len(p.Payload) > anxin.MaxPayload+1 || len(p.Topic) > len(in) || len(p.Codes) > maxControlBody {
				t.Fatalf("unbounded packet: topic %d, payload %d, codes %d from %d bytes", len(p.Topic), len(p.Payload), len(p.Codes), len(in))
			}
		}
	})
}

// fakeBroker is a scripted MQTT peer on 127.0.0.1 for what a real broker
// cannot be made to do on cue (reuse a packet id on a new connection, stop
// answering pings).
type fakeBroker struct {
	t     *testing.T
	l     net.Listener
	conns chan *fakeConn
}

type fakeConn struct {
	t  *testing.T
	c  net.Conn
	pr *packetReader
}

func startFakeBroker(t *testing.T) *fakeBroker {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fb := &fakeBroker{t: t, l: l, conns: make(chan *fakeConn, 4)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fb.conns <- &fakeConn{t: t, c: c, pr: newPacketReader(c)}
		}
	}()
	t.Cleanup(func() { l.Close() })
	return fb
}

func (fb *fakeBroker) url() anxin.BrokerURL {
	return anxin.MustBrokerURL("tcp://" + fb.l.Addr().String())
}

// accept takes the next connection and answers its CONNECT and SUBSCRIBE.
// It returns the CONNECT's flags byte.
func (fb *fakeBroker) accept() (*fakeConn, byte) {
	fb.t.Helper()
	fc, flags := fb.connect()
	fc.write([]byte{0x20, 2, 0, 0})
	if h, _ := fc.raw(); h>>4 != pktSubscribe {
		fb.t.Fatalf("packet %#x, want SUBSCRIBE", h)
	}
	fc.write([]byte{0x90, 5, 0, 1, 1, 1, 1})
	if h, _ := fc.raw(); h>>4 != pktUnsubscribe {
		fb.t.Fatalf("packet %#x, want UNSUBSCRIBE", h)
	}
	fc.write([]byte{0xb0, 2, 0, 2})
	return fc, flags
}

// connect takes the next connection and reads its CONNECT, answering
// nothing; it returns the CONNECT's flags byte.
func (fb *fakeBroker) connect() (*fakeConn, byte) {
	fb.t.Helper()
	var fc *fakeConn
	select {
	case fc = <-fb.conns:
	case <-time.After(30 * time.Second):
		fb.t.Fatal("the client did not connect")
	}
	fb.t.Cleanup(func() { fc.c.Close() })
	h, body := fc.raw()
	if h>>4 != pktConnect || len(body) < 10 || string(body[2:6]) != "MQTT" {
		fb.t.Fatalf("first packet %#x %q, want CONNECT", h, body)
	}
	return fc, body[7]
}

// startDirect runs a direct client against fb with the given pace,
// keep-alive and dial timeout until the test ends.
func startDirect(t *testing.T, fb *fakeBroker, p *Pipeline, pace, keepAlive, dialWait time.Duration) *directClient {
	ctx, cancel := context.WithCancel(context.Background())
	dc := newDirectClient(SubscriberConfig{Broker: fb.url(), ClientID: "alarmd-t", ReadPace: pace}, p, testLogger(t), keepAlive, dialWait)
	done := make(chan struct{})
	go func() { defer close(done); dc.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return dc
}

// raw reads one packet from the client whatever its type.
func (fc *fakeConn) raw() (byte, []byte) {
	fc.t.Helper()
	_ = fc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	h, err := fc.pr.r.ReadByte()
	if err != nil {
		fc.t.Fatal(err)
	}
	n, err := fc.pr.remaining()
	if err != nil {
		fc.t.Fatal(err)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(fc.pr.r, body); err != nil {
		fc.t.Fatal(err)
	}
	return h, body
}

// nextAck reads packets until a PUBACK and returns its id (PINGREQs are
// skipped).
func (fc *fakeConn) nextAck() uint16 {
	fc.t.Helper()
	for {
		h, body := fc.raw()
		if h>>4 == pktPingreq {
			continue
		}
		if h>>4 != pktPuback || len(body) != 2 {
			fc.t.Fatalf("packet %#x %v, want PUBACK", h, body)
		}
		return binary.BigEndian.Uint16(body)
	}
}

func (fc *fakeConn) write(b []byte) {
	fc.t.Helper()
	if _, err := fc.c.Write(b); err != nil {
		fc.t.Fatal(err)
	}
}

// queuePipeline is a pipeline whose batch loop is not running: the test
// takes deliveries from its queues itself.
func queuePipeline() *Pipeline { return queuePipelineOf(16) }

// queuePipelineOf holds n readings and n other messages.
func queuePipelineOf(n int) *Pipeline {
	return &Pipeline{queue: newReadingQueue(n), priority: make(chan Delivery, n)}
}

// take takes the next delivery, an event or status before any reading.
func take(t *testing.T, p *Pipeline) Delivery {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case d := <-p.priority:
			return d
		default:
		}
		if ds := p.queue.take(make([]Delivery, 0, 1)); len(ds) == 1 {
			return ds[0]
		}
		select {
		case d := <-p.priority:
			return d
		case <-p.queue.ready:
		case <-timeout:
			t.Fatal("nothing delivered")
		}
	}
}

// TestDirectClientDropsAcksOfADeadConnection: a message read on a
// connection that then dropped is acknowledged after the client has
// reconnected. Its PUBACK must not go out on the new connection, where the
// same packet id names another message (the broker would take that one as
// delivered: lost). The broker sends the first again; de-duplication
// recognises it.
func TestDirectClientDropsAcksOfADeadConnection(t *testing.T) {
	fb := startFakeBroker(t)
	p := queuePipeline()
	s, err := Subscribe(context.Background(), SubscriberConfig{Broker: fb.url(), ClientID: "alarmd-t"}, p, nil, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c1, flags := fb.accept()
	if flags&0x02 != 0 {
		t.Fatalf("CONNECT flags %#x: clean session set; alarmd's session must persist", flags)
	}
	c1.write(publishPacket("anxin/v1/hh-1/wm1/reading", 7, []byte("first")))
	old := take(t, p)
	if string(old.Payload) != "first" || old.Ack == nil {
		t.Fatalf("delivery %q, ack %v", old.Payload, old.Ack != nil)
	}
	c1.c.Close()

	c2, _ := fb.accept()
	c2.write(publishPacket("anxin/v1/hh-1/wm1/reading", 7, []byte("second")))
	c2.write(publishPacket("anxin/v1/hh-1/wm1/reading", 8, []byte("third")))
	second, third := take(t, p), take(t, p)
	if string(second.Payload) != "second" || string(third.Payload) != "third" {
		t.Fatalf("deliveries %q %q", second.Payload, third.Payload)
	}
	old.Ack() // the dead connection's packet id 7
	s.direct.flushAcks()
	third.Ack()
	s.direct.flushAcks()
	if id := c2.nextAck(); id != 8 {
		t.Fatalf("first PUBACK on the new connection is for id %d: the dead connection's ack was sent", id)
	}
	second.Ack()
	s.direct.flushAcks()
	if id := c2.nextAck(); id != 7 {
		t.Fatalf("PUBACK for id %d, want 7", id)
	}
}

// TestDirectClientReconnectsWhenTheBrokerFallsSilent: a broker that stops
// answering (a half-open TCP connection) is left after one and a half
// keep-alives, and the client connects again.
func TestDirectClientReconnectsWhenTheBrokerFallsSilent(t *testing.T) {
	fb := startFakeBroker(t)
	p := queuePipeline()
	dc := startDirect(t, fb, p, 0, 200*time.Millisecond, 5*time.Second)
	c1, _ := fb.accept()
	<-dc.ready
	// c1 reads nothing more and answers nothing: the client must give up on it
	c2, _ := fb.accept()
	c2.write(publishPacket("anxin/v1/hh-1/btn1/event", 3, []byte("press")))
	if d := take(t, p); string(d.Payload) != "press" {
		t.Fatalf("delivery %q after reconnecting", d.Payload)
	}
	_ = c1
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// TestDirectClientOnMosquittoWithPasswords: against mosquitto with a
// password file, the right credentials subscribe and messages flow (an
// oversized one among them is rejected and acknowledged, not sent again);
// wrong ones are a clear error at start that does not carry the password.
func TestDirectClientOnMosquittoWithPasswords(t *testing.T) {
	h, err := mqtt.HashPassword("alarmd-s3cret", 1000)
	if err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(pwFile, []byte("alarmd:"+h+"\npub:"+h+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mq := testenv.StartMosquittoConf(t, "allow_anonymous false\npassword_file "+pwFile)
	broker := anxin.MustBrokerURL(mq.URL)

	_, err = Subscribe(context.Background(), SubscriberConfig{Broker: broker, ClientID: "alarmd", Username: "alarmd", Password: "wrong-pw"}, newSubscribePipeline(t), nil, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "not authorized") && !strings.Contains(err.Error(), "bad user name or password") {
		t.Fatalf("wrong password: %v, want a refusal that says why", err)
	}
	if strings.Contains(err.Error(), "wrong-pw") {
		t.Fatal("the error carries the password")
	}

	p := newSubscribePipeline(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	s, err := Subscribe(ctx, SubscriberConfig{Broker: broker, ClientID: "alarmd", Username: "alarmd", Password: "alarmd-s3cret"}, p, nil, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Healthy(); err != nil {
		t.Fatal(err)
	}
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL).SetClientID("pub").SetUsername("pub").SetPassword("alarmd-s3cret"))
	if tok := pub.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer pub.Disconnect(50)
	if tok := pub.Publish("anxin/v1/hh-1/wm1/reading", 1, false, bytes.Repeat([]byte("x"), anxin.MaxPayload+100)); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	now := time.Now().UTC()
	for i := range 50 {
		m := anxin.Message{ID: anxin.NewID(now), TS: now, Household: fmt.Sprintf("hh-%d", i), Device: "wm1", Kind: anxin.KindWaterMeter,
			Fields: anxin.Fields{"total_m3": anxin.Num(float64(i))}}
		b, _ := json.Marshal(&m)
		if tok := pub.Publish(m.Topic(), 1, false, b); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	testenv.Eventually(t, "51 messages through the direct client", 30*time.Second, func() bool { return metrics.ToFloat64(p.m.received) == 51 })
	if n := metrics.ToFloat64(p.m.rejected.WithLabelValues("too_large")); n != 1 {
		t.Fatalf("too_large rejections %v, want 1", n)
	}
	// everything acknowledged: a restarted subscriber on the same session
	// gets nothing again. (The 51st may still be committing when counted,
	// its ack not yet out; a batch's acks leave before the next batch is
	// taken, so once a later QoS 0 message is in, every ack has left.)
	later := anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-later", Device: "wm1", Kind: anxin.KindWaterMeter,
		Fields: anxin.Fields{"total_m3": anxin.Num(1)}}
	lb, _ := json.Marshal(&later)
	if tok := pub.Publish(later.Topic(), 0, false, lb); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	testenv.Eventually(t, "a later message taken", 30*time.Second, func() bool { return metrics.ToFloat64(p.m.received) == 52 })
	s.Close()
	p2 := newSubscribePipeline(t)
	s2, err := Subscribe(context.Background(), SubscriberConfig{Broker: broker, ClientID: "alarmd", Username: "alarmd", Password: "alarmd-s3cret"}, p2, nil, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	marker := anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-x", Device: "btn1", Kind: anxin.KindCallButton, Event: anxin.EventButtonPressed}
	b, _ := json.Marshal(&marker)
	if tok := pub.Publish(marker.Topic(), 1, false, b); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	d := take(t, p2)
	if !bytes.Contains(d.Payload, []byte(marker.ID)) {
		t.Fatalf("after a restart the session redelivered %q before the new message: not acknowledged", d.Payload)
	}
}

// TestDirectClientRetriesARefusalAfterStartReturned: when the broker's
// first answer, a refusal of the credentials, comes after Subscribe has
// stopped waiting (and said it goes on retrying in the background), the
// client must go on retrying, not stop for good with nothing connected and
// nothing in the log.
func TestDirectClientRetriesARefusalAfterStartReturned(t *testing.T) {
	fb := startFakeBroker(t)
	p := queuePipeline()
	s, err := Subscribe(context.Background(), SubscriberConfig{Broker: fb.url(), ClientID: "alarmd-t", Username: "alarmd", Password: "pw"},
		p, testLogger(t), 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c1, _ := fb.connect()
	// Subscribe has returned: only now does the broker answer, "not authorized"
	c1.write([]byte{0x20, 2, 0, 5})
	c2, _ := fb.accept() // the password file fixed: the client tries again
	c2.write(publishPacket("anxin/v1/hh-1/btn1/event", 3, []byte("press")))
	if d := take(t, p); string(d.Payload) != "press" {
		t.Fatalf("delivery %q after the retry", d.Payload)
	}
}

// TestDirectClientGivesUpOnAStalledCONNACK: a peer that sends part of a
// CONNACK and then nothing (a hung broker, a wrong service on the port) is
// left once the dial timeout has passed and the client connects again —
// with paced reads too: on Linux the low-water-mark reader sets and clears
// read deadlines of its own, and must not wipe out the CONNACK wait's.
func TestDirectClientGivesUpOnAStalledCONNACK(t *testing.T) {
	fb := startFakeBroker(t)
	p := queuePipeline()
	startDirect(t, fb, p, 5*time.Millisecond, 30*time.Second, 300*time.Millisecond)
	c1, _ := fb.connect()
	c1.write([]byte{0x20}) // the CONNACK's first byte, and no more
	c2, _ := fb.accept()
	c2.write(publishPacket("anxin/v1/hh-1/btn1/event", 3, []byte("press")))
	if d := take(t, p); string(d.Payload) != "press" {
		t.Fatalf("delivery %q after reconnecting", d.Payload)
	}
}

// TestDirectClientCloseWhileDeliverWaits: Close while the reader waits for
// room in a full pipeline returns, and what was read but not taken is not
// acknowledged: the broker sees DISCONNECT (or the socket close), never a
// PUBACK, and keeps the message for the next session.
func TestDirectClientCloseWhileDeliverWaits(t *testing.T) {
	fb := startFakeBroker(t)
	p := queuePipelineOf(1)
	if err := p.Deliver(context.Background(), Delivery{Topic: "anxin/v1/hh-0/wm1/reading"}); err != nil { // full
		t.Fatal(err)
	}
	s, err := Subscribe(context.Background(), SubscriberConfig{Broker: fb.url(), ClientID: "alarmd-t"}, p, nil, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := fb.accept()
	c1.write(publishPacket("anxin/v1/hh-1/wm1/reading", 9, []byte("held")))
	waitReaderWaiting(t, s.direct)
	s.Close()
	for {
		_ = c1.c.SetReadDeadline(time.Now().Add(30 * time.Second))
		h, err := c1.pr.r.ReadByte()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatalf("after Close: %v, want DISCONNECT or the socket closed", err)
			}
			return
		}
		switch h >> 4 {
		case pktDisconnect, pktPingreq:
			_, _ = c1.pr.r.ReadByte()
		default:
			t.Fatalf("packet %#x after Close while the delivery waited: nothing read may be acknowledged", h)
		}
	}
}

// TestDirectClientAcrossAMosquittoRestart: mosquitto (persistence on)
// restarts while the direct client holds messages it read and the pipeline
// has not committed (the reader waiting for room, nothing acknowledged).
// Every message is committed exactly once in the end: what the dead
// connection brought is taken, its acknowledgements are dropped, the
// broker sends it all again on the new connection and de-duplication
// recognises it; and then nothing is left unacknowledged in the session.
func TestDirectClientAcrossAMosquittoRestart(t *testing.T) {
	mq := testenv.StartMosquitto(t)
	broker := anxin.MustBrokerURL(mq.URL)
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := New(Config{Inflight: 8, Batch: 16}, Deps{Engine: rules.New(rules.Default()), Store: db})
	if err != nil {
		t.Fatal(err)
	}
	cfg := SubscriberConfig{Broker: broker, ClientID: "alarmd-r", ReadPace: time.Millisecond}
	s, err := Subscribe(context.Background(), cfg, p, testLogger(t), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pub := connectPublisher(t, mq.URL, "pub")
	const n = 200
	now := time.Now().UTC()
	for i := range n {
		m := anxin.Message{ID: anxin.NewID(now), TS: now, Household: fmt.Sprintf("hh-%d", i), Device: "wm1", Kind: anxin.KindWaterMeter,
			Fields: anxin.Fields{"total_m3": anxin.Num(float64(i))}}
		b, _ := json.Marshal(&m)
		if tok := pub.Publish(m.Topic(), 1, false, b); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
	}
	pub.Disconnect(50)
	waitReaderWaiting(t, s.direct)
	mq.Restart()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	unique := func() float64 {
		return metrics.ToFloat64(p.m.received) - metrics.ToFloat64(p.m.duplicates)
	}
	testenv.Eventually(t, "every message committed", 60*time.Second, func() bool { return unique() >= n })
	testenv.Eventually(t, "subscribed again", 60*time.Second, func() bool { return s.Healthy() == nil })
	if u := unique(); u != n {
		t.Fatalf("%v messages committed, want %d", u, n)
	}
	if r := metrics.ToFloat64(p.m.duplicates); r == 0 {
		t.Log("no message came twice: the restart came before mosquitto sent any")
	}
	// everything acknowledged: a batch's acks leave before the next batch
	// is processed, so once a later reading (QoS 0: nothing to acknowledge;
	// paced, readings have a connection of their own, and only a reading
	// comes after the readings sent again) is taken, every reading's
	// acknowledgement has left
	pubReading := func(clientID string, qos byte) anxin.Message {
		t.Helper()
		m := anxin.Message{ID: anxin.NewID(now), TS: now, Household: "hh-x", Device: "wm1", Kind: anxin.KindWaterMeter,
			Fields: anxin.Fields{"total_m3": anxin.Num(1)}}
		b, _ := json.Marshal(&m)
		c := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL).SetClientID(clientID))
		if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		defer c.Disconnect(50)
		if tok := c.Publish(m.Topic(), qos, false, b); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
			t.Fatal(tok.Error())
		}
		return m
	}
	pubReading("pub-later", 0)
	testenv.Eventually(t, "the later message taken", 60*time.Second, func() bool { return unique() >= n+1 })
	s.Close()
	q := queuePipeline()
	s2, err := Subscribe(context.Background(), cfg, q, nil, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	marker := pubReading("pub-marker", 1)
	if d := take(t, q); !bytes.Contains(d.Payload, []byte(marker.ID)) {
		t.Fatalf("after the restart the session still held %q: not acknowledged", d.Payload)
	}
}

// TestDirectClientTakesCredentialsFromTheBrokerURL: mqtt.broker may carry
// the user and password (tcp://user:pass@host:port, docs/alarmd.md); paho
// logged in with them, and so must the direct client.
func TestDirectClientTakesCredentialsFromTheBrokerURL(t *testing.T) {
	h, err := mqtt.HashPassword("alarmd-s3cret", 1000)
	if err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(pwFile, []byte("alarmd:"+h+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mq := testenv.StartMosquittoConf(t, "allow_anonymous false\npassword_file "+pwFile)
	broker := anxin.MustBrokerURL("tcp://alarmd:alarmd-s3cret@" + mq.Addr())
	s, err := Subscribe(context.Background(), SubscriberConfig{Broker: broker, ClientID: "alarmd"}, queuePipeline(), nil, 30*time.Second)
	if err != nil {
		t.Fatalf("credentials in the broker URL: %v", err)
	}
	defer s.Close()
	if err := s.Healthy(); err != nil {
		t.Fatal(err)
	}
}

// TestDirectClientKeepsTheConnectionWhileThePipelineIsFull: a reader that
// waits for room in the pipeline (a stalled store) for many keep-alives,
// with a broker that answers every ping, keeps its connection: once there
// is room, the next message comes on the same connection, not after a
// reconnect.
func TestDirectClientKeepsTheConnectionWhileThePipelineIsFull(t *testing.T) {
	fb := startFakeBroker(t)
	p := queuePipelineOf(1)
	dc := startDirect(t, fb, p, time.Millisecond, 100*time.Millisecond, 5*time.Second)
	c1, _ := fb.accept()
	<-dc.ready
	pings := make(chan struct{}, 1000)
	go func() { // the broker answers every PINGREQ
		for {
			_ = c1.c.SetReadDeadline(time.Time{})
			h, err := c1.pr.r.ReadByte()
			if err != nil {
				return
			}
			if _, err := c1.pr.r.ReadByte(); err != nil {
				return
			}
			if h>>4 == pktPingreq {
				if _, err := c1.c.Write([]byte{pktPingresp << 4, 0}); err != nil {
					return
				}
				pings <- struct{}{}
			}
		}
	}()
	c1.c.Write(publishPacket("anxin/v1/hh-1/wm1/reading", 1, []byte("one")))
	c1.c.Write(publishPacket("anxin/v1/hh-1/wm1/reading", 2, []byte("two"))) // waits: the queue holds one
	waitReaderWaiting(t, dc)
	for range 20 { // ten keep-alives of waiting
		select {
		case <-pings:
		case <-time.After(30 * time.Second):
			t.Fatal("no more pings: the client dropped the connection while it waited for room")
		}
	}
	if d := take(t, p); string(d.Payload) != "one" {
		t.Fatalf("delivery %q", d.Payload)
	}
	if d := take(t, p); string(d.Payload) != "two" {
		t.Fatalf("delivery %q", d.Payload)
	}
	c1.c.Write(publishPacket("anxin/v1/hh-1/wm1/reading", 3, []byte("three")))
	if d := take(t, p); string(d.Payload) != "three" {
		t.Fatalf("delivery %q", d.Payload)
	}
	select {
	case <-fb.conns:
		t.Fatal("the client connected again: the wait for room was taken for a dead broker")
	default:
	}
}

// waitReaderWaiting waits until dc's reader holds a message it cannot hand
// to the full pipeline.
func waitReaderWaiting(t *testing.T, dc *directClient) {
	t.Helper()
	testenv.Eventually(t, "the reader waiting for room in the pipeline", 30*time.Second, func() bool {
		dc.mu.Lock()
		c := dc.conn
		dc.mu.Unlock()
		return c != nil && c.waiting.Load()
	})
}

// A PUBLISH read whole before a malformed packet is still delivered, as it
// was when each PUBLISH was handed over on its own: a QoS 0 one (a
// gateway's event) is not sent again, so dropping it with the connection
// would lose it.
func TestDirectClientDeliversWhatCameBeforeAMalformedPacket(t *testing.T) {
	p := queuePipeline()
	dc := newDirectClient(SubscriberConfig{}, p, nil, time.Minute, time.Second)
	topic := anxin.TopicPrefix + "hh-1/button/event"
	in := append(publishPacket(topic, 0, []byte(`{}`)), 0xf0, 0x00) // then a packet type no broker sends
	err := dc.read(context.Background(), &directConn{}, newPacketReader(bytes.NewReader(in)))
	if !errors.Is(err, errMalformed) {
		t.Fatalf("read: %v, want malformed", err)
	}
	if d := take(t, p); d.Topic != topic {
		t.Fatalf("delivered %q, want %q", d.Topic, topic)
	}
}
