package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// A spool record on disk:
//
//	magic   2 bytes  0xA5 0x5A
//	length  4 bytes  little endian, length of body
//	crc     4 bytes  CRC-32C (Castagnoli) of body
//	body    seq u64 | flags u8 | topic length u16 | topic | payload
//
// flags: bit 0 event (never thinned), bit 1 device status (published
// retained; thinned only when a newer status of the same topic follows).
// Both zero: a reading.
//
// The magic lets a scan find the next record after a damaged one; the CRC
// tells a torn or rotten record from a good one.
const (
	recHeader  = 10
	bodyFixed  = 8 + 1 + 2
	maxTopic   = 256
	maxBody    = bodyFixed + maxTopic + 16<<10 // the contract's payload limit
	flagEvent  = 1
	flagStatus = 2
	scanWindow = 64 << 10
)

var (
	recMagic = [2]byte{0xA5, 0x5A}
	crcTable = crc32.MakeTable(crc32.Castagnoli)
)

// Record is one spooled message as the publisher sends it.
type Record struct {
	Seq     uint64 // position in the spool, strictly increasing
	Event   bool   // events are never thinned
	Status  bool   // a device status: published retained; only the newest per topic is kept when thinning
	Topic   string
	Payload []byte
}

// reading reports whether r is a reading: thinned oldest first when the
// spool is full.
func (r *Record) reading() bool { return !r.Event && !r.Status }

// errBadRecord marks bytes that are not a valid record.
var errBadRecord = errors.New("bad spool record")

// appendRecord encodes r at the end of b.
func appendRecord(b []byte, r Record) []byte {
	n := bodyFixed + len(r.Topic) + len(r.Payload)
	b = append(b, recMagic[0], recMagic[1])
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	crcAt := len(b)
	b = append(b, 0, 0, 0, 0)
	bodyAt := len(b)
	b = binary.LittleEndian.AppendUint64(b, r.Seq)
	var flags byte
	if r.Event {
		flags |= flagEvent
	}
	if r.Status {
		flags |= flagStatus
	}
	b = append(b, flags)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.Topic)))
	b = append(b, r.Topic...)
	b = append(b, r.Payload...)
	binary.LittleEndian.PutUint32(b[crcAt:], crc32.Checksum(b[bodyAt:], crcTable))
	return b
}

// recordLen returns the full length of the record whose header is h, or an
// error when the header cannot start a record.
func recordLen(h []byte) (int, error) {
	if len(h) < recHeader || h[0] != recMagic[0] || h[1] != recMagic[1] {
		return 0, errBadRecord
	}
	n := binary.LittleEndian.Uint32(h[2:])
	if n < bodyFixed || n > maxBody {
		return 0, fmt.Errorf("%w: body length %d", errBadRecord, n)
	}
	return recHeader + int(n), nil
}

// decodeRecord decodes one whole record (header and body). The returned
// record's Payload aliases b.
func decodeRecord(b []byte) (Record, error) {
	n, err := recordLen(b)
	if err != nil {
		return Record{}, err
	}
	if len(b) < n {
		return Record{}, fmt.Errorf("%w: truncated", errBadRecord)
	}
	body := b[recHeader:n]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(b[6:]) {
		return Record{}, fmt.Errorf("%w: checksum mismatch", errBadRecord)
	}
	tl := int(binary.LittleEndian.Uint16(body[9:]))
	if tl > maxTopic || bodyFixed+tl > len(body) {
		return Record{}, fmt.Errorf("%w: topic length %d", errBadRecord, tl)
	}
	return Record{
		Seq:     binary.LittleEndian.Uint64(body),
		Event:   body[8]&flagEvent != 0,
		Status:  body[8]&flagStatus != 0,
		Topic:   string(body[bodyFixed : bodyFixed+tl]),
		Payload: body[bodyFixed+tl:],
	}, nil
}

// readRecordAt reads the record at off. buf is reused when large enough.
// io.EOF means off is exactly the end of r; io.ErrUnexpectedEOF a record cut
// short (a torn tail).
func readRecordAt(r io.ReaderAt, off int64, buf []byte) (Record, int, []byte, error) {
	if cap(buf) < recHeader {
		buf = make([]byte, 0, 512)
	}
	h := buf[:recHeader]
	k, err := r.ReadAt(h, off)
	if k == 0 && err == io.EOF {
		return Record{}, 0, buf, io.EOF
	}
	if k < recHeader {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Record{}, 0, buf, err
	}
	n, err := recordLen(h)
	if err != nil {
		return Record{}, 0, buf, err
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	b := buf[:n]
	if k, err = r.ReadAt(b, off); k < n {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Record{}, 0, buf, err
	}
	rec, err := decodeRecord(b)
	return rec, n, buf, err
}

// findNextRecord looks for the first offset after off where a valid record
// with a sequence number above minSeq starts. It reads in bounded windows,
// so hostile files cannot make it allocate much. ok is false when none is
// found before size.
func findNextRecord(r io.ReaderAt, off, size int64, minSeq uint64) (next int64, ok bool, err error) {
	win := make([]byte, scanWindow+1)
	var buf []byte
	for pos := off + 1; pos < size; {
		k, rerr := r.ReadAt(win, pos)
		if k == 0 {
			if rerr != nil && rerr != io.EOF {
				return 0, false, rerr
			}
			return 0, false, nil
		}
		w := win[:k]
		for i := 0; i < len(w)-1; i++ {
			if w[i] != recMagic[0] || w[i+1] != recMagic[1] {
				continue
			}
			rec, _, b, err := readRecordAt(r, pos+int64(i), buf)
			buf = b
			if err == nil && rec.Seq > minSeq {
				return pos + int64(i), true, nil
			}
			if err != nil && !errors.Is(err, errBadRecord) && err != io.ErrUnexpectedEOF && err != io.EOF {
				return 0, false, err
			}
		}
		if k <= 1 {
			return 0, false, nil
		}
		pos += int64(k - 1) // keep one byte: the magic may straddle windows
	}
	return 0, false, nil
}
