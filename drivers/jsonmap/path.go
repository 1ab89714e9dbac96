package jsonmap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Limits on paths and payloads.
const (
	maxPathSegments = 16
	maxIndex        = 1 << 16
	maxDepth        = 32 // nesting of a payload's objects and arrays
)

// Path is a compiled JSON path of the subset jsonmap takes: `$`, then
// `.key` and `[index]` steps: `$.gps.lat`, `$.readings[0].v`.
type Path struct {
	src  string
	segs []seg
}

type seg struct {
	key   string
	index int // used when key is empty
}

// String is the path as written.
func (p Path) String() string { return p.src }

// ParsePath compiles a path.
func ParsePath(s string) (Path, error) {
	p := Path{src: s}
	rest, ok := strings.CutPrefix(s, "$")
	if !ok {
		return p, fmt.Errorf("path %q must start with $", clip(s))
	}
	for rest != "" {
		if len(p.segs) == maxPathSegments {
			return p, fmt.Errorf("path %q has more than %d steps", clip(s), maxPathSegments)
		}
		switch rest[0] {
		case '.':
			rest = rest[1:]
			n := strings.IndexAny(rest, ".[]")
			if n < 0 {
				n = len(rest)
			}
			if n == 0 {
				return p, fmt.Errorf("path %q has an empty key", clip(s))
			}
			p.segs = append(p.segs, seg{key: rest[:n]})
			rest = rest[n:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return p, fmt.Errorf("path %q: [ without ]", clip(s))
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || i < 0 || i >= maxIndex {
				return p, fmt.Errorf("path %q: index %q is not 0..%d", clip(s), clip(rest[1:end]), maxIndex-1)
			}
			p.segs = append(p.segs, seg{index: i})
			rest = rest[end+1:]
		default:
			return p, fmt.Errorf("path %q: expected . or [ at %q", clip(s), clip(rest))
		}
	}
	return p, nil
}

// Lookup finds the value at p in a document decoded with UseNumber; ok is
// false when a step is missing or of the wrong type.
func (p Path) Lookup(doc any) (v any, ok bool) {
	v = doc
	for _, s := range p.segs {
		if s.key != "" {
			obj, isObj := v.(map[string]any)
			if !isObj {
				return nil, false
			}
			if v, ok = obj[s.key]; !ok {
				return nil, false
			}
			continue
		}
		arr, isArr := v.([]any)
		if !isArr || s.index >= len(arr) {
			return nil, false
		}
		v = arr[s.index]
	}
	return v, true
}

// checkDepth rejects payloads nested deeper than maxDepth before they are
// decoded (encoding/json alone allows 10,000 levels).
func checkDepth(b []byte) error {
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			if escaped {
				escaped = false
			} else if c == '\\' {
				escaped = true
			} else if c == '"' {
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > maxDepth {
				return errors.New("payload nested deeper than 32 levels")
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}

// decodePayload decodes a bounded payload, keeping numbers exact.
func decodePayload(b []byte) (any, error) {
	if err := checkDepth(b); err != nil {
		return nil, err
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, errors.New("payload is not JSON")
	}
	if dec.More() {
		return nil, errors.New("payload has data after the JSON value")
	}
	return doc, nil
}

func clip(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
