package watch3g

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/anxin-care/anxin/drivers/tcpserver"
)

// MaxFrame bounds a frame and so what a connection may hold. Positions,
// alarms and health frames are far shorter; longer frames (voice notes,
// photos, which the platform does not use) are skipped as too long.
const MaxFrame = 16 << 10

// Framing is the 3G watch frame format for tcpserver.Scanner:
// [MAKER*ID*LLLL*CONTENT] or [MAKER*ID*INDEX*LLLL*CONTENT], '}' escapes.
var Framing = tcpserver.Framing{Start: '[', Check: checkFrame, MaxFrame: MaxFrame}

// Frame is one watch message.
type Frame struct {
	Maker   string // "3G", "CS", "SG", "ZJ", …
	ID      string // as sent
	Index   string // 4 hex digits on some models, "" otherwise
	Len     int    // the length field (some watches count it wrong)
	Content string // escapes undone
	Type    string // content up to the first ','
}

// Args is the content split on ','; Args()[0] is the type.
func (f Frame) Args() []string { return strings.Split(f.Content, ",") }

func checkFrame(buf []byte) (int, error) {
	end := -1
	for i := 1; i < len(buf) && i < MaxFrame; i++ {
		if buf[i] == ']' {
			end = i
			break
		}
		if buf[i] == '[' {
			return 0, tcpserver.NotAFrame() // a new start before an end: this one was noise
		}
	}
	if end < 0 {
		return 0, nil
	}
	if _, err := Parse(buf[:end+1]); err != nil {
		return 0, err
	}
	return end + 1, nil
}

func alnum(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

func hex4(s string) (int, bool) {
	if len(s) != 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 16, 16)
	return int(v), err == nil
}

// Parse decodes one frame, brackets included.
func Parse(b []byte) (Frame, error) {
	var f Frame
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return f, errors.New("not a [ … ] frame")
	}
	in := b[1 : len(b)-1]
	fields := make([]string, 0, 4)
	for len(fields) < 4 {
		i := strings.IndexByte(string(in), '*')
		if i < 0 {
			break
		}
		fields = append(fields, string(in[:i]))
		in = in[i+1:]
	}
	if len(fields) < 3 {
		return f, errors.New("header needs MAKER*ID*LENGTH*")
	}
	f.Maker, f.ID = fields[0], fields[1]
	if !alnum(f.Maker, 4) {
		return f, errors.New("bad maker field")
	}
	if !alnum(f.ID, 20) {
		return f, errors.New("bad id field")
	}
	rest := fields[2:]
	lenField := rest[0]
	content := in
	if len(rest) == 2 {
		if _, isHex := hex4(rest[1]); isHex {
			if _, ok := hex4(rest[0]); ok { // index and length
				f.Index, lenField = rest[0], rest[1]
			}
		}
		if f.Index == "" { // the content held a '*' (a header of three fields)
			content = append([]byte(rest[1]+"*"), in...)
		}
	}
	var ok bool
	if f.Len, ok = hex4(lenField); !ok {
		return f, fmt.Errorf("length %q is not 4 hex digits", lenField)
	}
	c, err := unescape(content)
	if err != nil {
		return f, err
	}
	if len(c) == 0 {
		return f, errors.New("empty content")
	}
	f.Content = c
	f.Type, _, _ = strings.Cut(c, ",")
	return f, nil
}

// '}' escapes of content: }01 → }, }02 → [, }03 → ], }04 → ',', }05 → *.
var unescaped = [...]byte{1: '}', 2: '[', 3: ']', 4: ',', 5: '*'}

func unescape(b []byte) (string, error) {
	var s strings.Builder
	s.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '[' || c == ']' {
			return "", errors.New("bracket inside a frame")
		}
		if c == '}' {
			if i+1 >= len(b) || b[i+1] < 1 || b[i+1] > 5 {
				return "", errors.New("bad escape: } not followed by 01–05")
			}
			c = unescaped[b[i+1]]
			i++
		}
		s.WriteByte(c)
	}
	return s.String(), nil
}

// Encode builds a frame carrying content (escaping brackets and '}' in it;
// ',' and '*' are content syntax and stay).
func Encode(maker, id, index, content string) []byte {
	var c strings.Builder
	for _, r := range []byte(content) {
		switch r {
		case '}':
			c.WriteString("}\x01")
		case '[':
			c.WriteString("}\x02")
		case ']':
			c.WriteString("}\x03")
		default:
			c.WriteByte(r)
		}
	}
	head := maker + "*" + id + "*"
	if index != "" {
		head += index + "*"
	}
	return fmt.Appendf(nil, "[%s%04X*%s]", head, len(content), c.String())
}

// Reply is the platform's answer to f with content.
func Reply(f Frame, content string) []byte { return Encode(f.Maker, f.ID, f.Index, content) }
