package mqttsource

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/anxin-care/anxin/drivers"
)

// MaxCaptureLine bounds one line of a capture file.
const MaxCaptureLine = 64 << 10

// Capture is one recorded MQTT message from a capture file.
type Capture struct {
	Offset  int64  // byte offset of the line in the file
	Topic   string // empty for a bare JSON payload line
	Payload []byte
	// Record holds the keys of a JSONL record line ("src", "zigbee", …) for
	// drivers that can use them; nil for the other forms.
	Record map[string]json.RawMessage
}

// ReadCaptures reads a capture for `gatewayd decode`, one message per line,
// in any of these forms (blank lines and lines starting with # are skipped):
//
//	topic payload                                   (the contract's form)
//	topic = payload                                 (Tasmota's documentation)
//	{"topic":"…","payload":{…}}                     (JSONL; "payload_raw":"…" for a non-JSON payload)
//	{"value":142465,…}                              (a bare JSON payload, no topic)
//
// It calls fn for every message and bad for every line it cannot split, and
// returns an error only when reading r fails.
func ReadCaptures(r io.Reader, fn func(Capture), bad func(drivers.DecodeError)) error {
	br := bufio.NewReaderSize(r, MaxCaptureLine)
	var off int64
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			start := off
			for errors.Is(err, bufio.ErrBufferFull) {
				off += int64(len(line))
				line, err = br.ReadSlice('\n')
			}
			off += int64(len(line))
			bad(drivers.DecodeError{Offset: start, Err: errors.New("line longer than 64 KiB")})
		} else if len(line) > 0 {
			if c, ok, perr := parseCaptureLine(line); perr != nil {
				bad(drivers.DecodeError{Offset: off, Err: perr})
			} else if ok {
				c.Offset = off
				fn(c)
			}
			off += int64(len(line))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// parseCaptureLine splits one line; ok is false for blank and comment lines.
func parseCaptureLine(line []byte) (c Capture, ok bool, err error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] == '#' {
		return c, false, nil
	}
	if line[0] == '{' {
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(line, &rec); err != nil {
			return c, false, errors.New("line is not valid JSON")
		}
		t, hasTopic := rec["topic"]
		if !hasTopic {
			return Capture{Payload: bytes.Clone(line)}, true, nil
		}
		if err := json.Unmarshal(t, &c.Topic); err != nil || c.Topic == "" {
			return c, false, errors.New(`record's "topic" is not a non-empty string`)
		}
		if raw, ok := rec["payload_raw"]; ok {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return c, false, errors.New(`record's "payload_raw" is not a string`)
			}
			c.Payload = []byte(s)
		} else if p, ok := rec["payload"]; ok {
			var s string
			if json.Unmarshal(p, &s) == nil {
				c.Payload = []byte(s) // a JSON string stands for a plain-text payload
			} else {
				c.Payload = bytes.Clone(p)
			}
		} else {
			return c, false, errors.New(`record has neither "payload" nor "payload_raw"`)
		}
		c.Record = rec
		return c, true, nil
	}
	i := bytes.IndexAny(line, " \t")
	if i < 0 {
		return c, false, errors.New("line is not `topic payload`")
	}
	c.Topic = string(line[:i])
	rest := bytes.TrimSpace(line[i:])
	if r, ok := bytes.CutPrefix(rest, []byte("=")); ok {
		rest = bytes.TrimSpace(r)
	}
	c.Payload = bytes.Clone(rest)
	if c.Payload == nil {
		c.Payload = []byte{}
	}
	return c, true, nil
}
