package ingest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/anxin-care/anxin"
)

// MQTT 3.1.1 control packet types (high nibble of the first byte).
const (
	pktConnect     = 1
	pktConnack     = 2
	pktPublish     = 3
	pktPuback      = 4
	pktSubscribe   = 8
	pktSuback      = 9
	pktUnsubscribe = 10
	pktUnsuback    = 11
	pktPingreq     = 12
	pktPingresp    = 13
	pktDisconnect  = 14
)

// maxControlBody bounds every packet but PUBLISH: the broker sends alarmd
// only CONNACK (2 bytes), SUBACK (2 + a code per filter), UNSUBACK (2) and
// PINGRESP (0).
const maxControlBody = 1 << 10

// oversized stands for a PUBLISH payload longer than anxin.MaxPayload: the
// client discards such a payload as it reads it (memory stays bounded
// whatever a broker sends) and delivers this instead, which the pipeline
// rejects as too_large — and acknowledges, so the broker does not send it
// again. Never written to.
var oversized = make([]byte, anxin.MaxPayload+1)

// inPacket is one packet from the broker. For PUBLISH, Topic and Payload
// are the caller's to keep; Codes (SUBACK) is only valid until the next
// read.
type inPacket struct {
	Type    byte
	Flags   byte
	ID      uint16 // PUBLISH (QoS > 0), SUBACK, UNSUBACK
	Topic   string
	Payload []byte
	Codes   []byte // SUBACK return codes
	Present bool   // CONNACK: session present
	RC      byte   // CONNACK return code
}

func (p inPacket) QoS() byte { return p.Flags >> 1 & 3 }

// packetReader reads MQTT packets from the broker's byte stream, one
// goroutine only. A PUBLISH costs one allocation (its topic): payloads are
// cut from a shared slab, one allocation for ~150 readings; the rest
// reuses its scratch.
type packetReader struct {
	r       *bufio.Reader
	src     io.Reader // what r reads
	scratch [maxControlBody]byte
	slab    []byte // what is left of the payloads' slab: never handed out twice
}

// slabSize is the payloads' slab. A payload holds its whole slab in memory
// until it is dropped; the pipeline drops each once its batch is processed,
// in arrival order, so the slabs held are those of the queued messages.
// A payload over slabSize/8 gets its own allocation.
const slabSize = 32 << 10

// payload returns n bytes of the slab (a new one when too little is left).
func (pr *packetReader) payload(n int) []byte {
	if n > slabSize/8 {
		return make([]byte, n)
	}
	if n > len(pr.slab) {
		pr.slab = make([]byte, slabSize)
	}
	b := pr.slab[:n:n] // capped: an append by its holder cannot reach the next payload
	pr.slab = pr.slab[n:]
	return b
}

var errMalformed = errors.New("mqtt: malformed packet")

// next reads one packet. An error means the stream can no longer be
// trusted: the connection must be dropped.
func (pr *packetReader) next() (inPacket, error) {
	var p inPacket
	h, err := pr.r.ReadByte()
	if err != nil {
		return p, err
	}
	p.Type, p.Flags = h>>4, h&0x0f
	n, err := pr.remaining()
	if err != nil {
		return p, err
	}
	if p.Type == pktPublish {
		return pr.publish(p, n)
	}
	if n > maxControlBody {
		return p, fmt.Errorf("%w: packet type %d of %d bytes", errMalformed, p.Type, n)
	}
	body := pr.scratch[:n]
	if _, err := io.ReadFull(pr.r, body); err != nil {
		return p, noEOF(err)
	}
	switch p.Type {
	case pktConnack:
		if n != 2 {
			return p, fmt.Errorf("%w: CONNACK of %d bytes", errMalformed, n)
		}
		p.Present, p.RC = body[0]&1 == 1, body[1]
	case pktSuback:
		if n < 3 {
			return p, fmt.Errorf("%w: SUBACK of %d bytes", errMalformed, n)
		}
		p.ID, p.Codes = binary.BigEndian.Uint16(body), body[2:]
	case pktUnsuback:
		if n != 2 {
			return p, fmt.Errorf("%w: UNSUBACK of %d bytes", errMalformed, n)
		}
		p.ID = binary.BigEndian.Uint16(body)
	case pktPingresp:
		if n != 0 {
			return p, fmt.Errorf("%w: PINGRESP of %d bytes", errMalformed, n)
		}
	default:
		// PUBREL and the rest answer what alarmd never sends (it
		// subscribes at QoS 1 and publishes nothing)
		return p, fmt.Errorf("%w: unexpected packet type %d", errMalformed, p.Type)
	}
	return p, nil
}

// whole reports whether a whole packet is buffered: next would return it
// without reading from the source.
func (pr *packetReader) whole() bool {
	b, _ := pr.r.Peek(min(pr.r.Buffered(), 5)) // no more than is buffered: never reads
	n, shift := 0, 0
	for i := 1; i < len(b); i++ {
		n |= int(b[i]&0x7f) << shift
		if b[i]&0x80 == 0 {
			return pr.r.Buffered() >= i+1+n
		}
		shift += 7
	}
	return false // the length is not all in (or malformed: next says so)
}

// remaining reads the variable-length "remaining length" (at most four
// bytes, at most 268,435,455).
func (pr *packetReader) remaining() (int, error) {
	n, shift := 0, 0
	for i := 0; i < 4; i++ {
		b, err := pr.r.ReadByte()
		if err != nil {
			return 0, noEOF(err)
		}
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			return n, nil
		}
		shift += 7
	}
	return 0, fmt.Errorf("%w: remaining length longer than 4 bytes", errMalformed)
}

func (pr *packetReader) publish(p inPacket, n int) (inPacket, error) {
	if p.QoS() == 3 {
		return p, fmt.Errorf("%w: PUBLISH with QoS 3", errMalformed)
	}
	if n < 2 {
		return p, fmt.Errorf("%w: PUBLISH of %d bytes", errMalformed, n)
	}
	two := pr.scratch[:2] // (a local array would escape through io.ReadFull: an allocation a message)
	if _, err := io.ReadFull(pr.r, two); err != nil {
		return p, noEOF(err)
	}
	tl := int(binary.BigEndian.Uint16(two))
	n -= 2
	head := tl
	if p.QoS() > 0 {
		head += 2
	}
	if head > n {
		return p, fmt.Errorf("%w: PUBLISH topic of %d bytes in %d", errMalformed, tl, n)
	}
	topic, err := pr.r.Peek(tl) // tl < 65,536 = the reader's size (newPacketReader)
	if err != nil {
		return p, noEOF(err)
	}
	p.Topic = string(topic)
	_, _ = pr.r.Discard(tl)
	n -= tl
	if p.QoS() > 0 {
		if _, err := io.ReadFull(pr.r, two); err != nil {
			return p, noEOF(err)
		}
		if p.ID = binary.BigEndian.Uint16(two); p.ID == 0 {
			return p, fmt.Errorf("%w: PUBLISH with packet id 0", errMalformed)
		}
		n -= 2
	}
	if n > anxin.MaxPayload {
		if _, err := pr.r.Discard(n); err != nil {
			return p, noEOF(err)
		}
		p.Payload = oversized
		return p, nil
	}
	p.Payload = pr.payload(n)
	if _, err := io.ReadFull(pr.r, p.Payload); err != nil {
		return p, noEOF(err)
	}
	return p, nil
}

// newPacketReader reads from src through a 64 KiB buffer: large enough to
// Peek any topic (a topic length is two bytes).
func newPacketReader(src io.Reader) *packetReader {
	return &packetReader{r: bufio.NewReaderSize(src, 64<<10), src: src}
}

// noEOF: a stream that ends inside a packet is cut short, not finished.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendString appends an MQTT UTF-8 string (two-byte length first).
func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// appendPacket appends a packet of fixed header byte h and body.
func appendPacket(b []byte, h byte, body []byte) []byte {
	b = append(b, h)
	n := len(body)
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			c |= 0x80
		}
		b = append(b, c)
		if n == 0 {
			break
		}
	}
	return append(b, body...)
}

// connectPacket is a CONNECT for MQTT 3.1.1: persistent session (clean
// session 0) unless clean, the keep-alive in seconds, user and password
// when user is set.
func connectPacket(clientID, user, password string, keepAlive uint16, clean bool) []byte {
	body := appendString(nil, "MQTT")
	flags := byte(0)
	if clean {
		flags |= 0x02
	}
	if user != "" {
		flags |= 0x80 | 0x40
	}
	body = append(body, 4, flags)
	body = binary.BigEndian.AppendUint16(body, keepAlive)
	body = appendString(body, clientID)
	if user != "" {
		body = appendString(body, user)
		body = appendString(body, password)
	}
	return appendPacket(nil, pktConnect<<4, body)
}

// subscribePacket subscribes to filters at QoS 1 under packet id id.
func subscribePacket(id uint16, filters []string) []byte {
	body := binary.BigEndian.AppendUint16(nil, id)
	for _, f := range filters {
		body = append(appendString(body, f), 1)
	}
	return appendPacket(nil, pktSubscribe<<4|0x02, body)
}

// unsubscribePacket drops filters under packet id id.
func unsubscribePacket(id uint16, filters []string) []byte {
	body := binary.BigEndian.AppendUint16(nil, id)
	for _, f := range filters {
		body = appendString(body, f)
	}
	return appendPacket(nil, pktUnsubscribe<<4|0x02, body)
}

// connackReason says why a broker refused a connection (MQTT 3.1.1 §3.2.2.3).
func connackReason(rc byte) string {
	switch rc {
	case 1:
		return "unacceptable protocol version"
	case 2:
		return "client identifier rejected"
	case 3:
		return "server unavailable"
	case 4:
		return "bad user name or password"
	case 5:
		return "not authorized"
	}
	return fmt.Sprintf("refused with code %d", rc)
}
