// Package rf433 reads 433 MHz EV1527 receiver modules on a serial port and
// holds the code table shared with the Tasmota RF bridge driver: a learned
// 24-bit code maps to one device and one event, and the 4–13 repeats a remote
// sends per press are collapsed into one event by a Debouncer.
package rf433

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers"
)

// MaxCode is the largest EV1527 code: 20 address bits and 4 data bits.
const MaxCode = 1<<24 - 1

// Code is one learned code in a driver's `codes:` list.
type Code struct {
	// Code is the 24-bit code as hex, e.g. "8d3cf6" or "0x7028D5" (case and
	// the 0x prefix do not matter). Quote it in YAML.
	Code   string          `mapstructure:"code" yaml:"code"`
	Device string          `mapstructure:"device" yaml:"device"`
	Kind   anxin.Kind      `mapstructure:"kind" yaml:"kind"`
	Event  anxin.EventType `mapstructure:"event" yaml:"event"`
}

// CodeMap finds the device and event of a received code. It is read-only
// after NewCodeMap and safe for concurrent use.
type CodeMap struct {
	byCode map[uint32]Code
}

// NewCodeMap validates codes and builds the table. Codes must be unique;
// devices valid ids; kind and event from the MQTT contract. Several codes may
// name one device (a detector's alarm and low-battery codes).
func NewCodeMap(codes []Code) (*CodeMap, error) {
	m := &CodeMap{byCode: make(map[uint32]Code, len(codes))}
	for i, c := range codes {
		key := fmt.Sprintf("codes[%d]", i)
		v, err := ParseCode(c.Code)
		if err != nil {
			return nil, drivers.Because(key+".code", drivers.ReasonRFCode, "%s", anxin.ErrorMessage(err)).WithValue(c.Code)
		}
		if !anxin.ValidID(c.Device) {
			return nil, drivers.NotID(key+".device", c.Device)
		}
		if !c.Kind.Valid() {
			return nil, drivers.NotKind(key+".kind", c.Kind)
		}
		if !c.Event.Valid() {
			return nil, drivers.NotEvent(key+".event", c.Event)
		}
		if prev, dup := m.byCode[v]; dup {
			return nil, drivers.NewConfigError(drivers.ValueDuplicate, key+".code", "%s is already learned for device %s", FormatCode(v), prev.Device).
				WithValue(FormatCode(v))
		}
		c.Code = FormatCode(v)
		m.byCode[v] = c
	}
	return m, nil
}

// Lookup returns the learned entry of code. Its Code field is normalized to
// six lower-case hex digits.
func (m *CodeMap) Lookup(code uint32) (Code, bool) {
	if m == nil {
		return Code{}, false
	}
	c, ok := m.byCode[code]
	return c, ok
}

// Len is the number of learned codes.
func (m *CodeMap) Len() int {
	if m == nil {
		return 0
	}
	return len(m.byCode)
}

// ParseCode reads a code written as hex: 1 to 6 hex digits, optionally
// prefixed with 0x, any case ("8d3cf6", "8D3CF6", "0x7028D5", "4AF10A").
// This is how rtl_433 (`"code":"8d3cf6"`), Tasmota (`"Data":"0x7028D5"` or
// `"4AF10A"`) and the config write it. A string is never read as decimal,
// because "142465" is a valid hex code too; OpenMQTTGateway's decimal JSON
// number goes through CodeFromInt instead.
func ParseCode(s string) (uint32, error) {
	h := strings.TrimSpace(s)
	if len(h) >= 2 && h[0] == '0' && (h[1] == 'x' || h[1] == 'X') {
		h = h[2:]
	}
	if len(h) == 0 || len(h) > 6 {
		return 0, anxin.Errorf(anxin.EINVALID, "code %q is not 1-6 hex digits (24 bits)", clip(s))
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return 0, anxin.Errorf(anxin.EINVALID, "code %q is not hex", clip(s))
	}
	return uint32(v), nil
}

// CodeFromInt checks a code received as a number (OpenMQTTGateway's
// `"value":142465`, rtl_433's `"code":983141`) and returns it.
func CodeFromInt(n int64) (uint32, error) {
	if n < 0 || n > MaxCode {
		return 0, anxin.Errorf(anxin.EINVALID, "code %d is not a 24-bit value", n)
	}
	return uint32(n), nil
}

// FormatCode writes a code as six lower-case hex digits, the form used in
// logs and in errors.
func FormatCode(code uint32) string {
	const hex = "0123456789abcdef"
	var b [6]byte
	for i := 5; i >= 0; i-- {
		b[i] = hex[code&0xf]
		code >>= 4
	}
	return string(b[:])
}

func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}

// DefaultDebounce is the default de-bounce window: a remote repeats its code
// 4–13 times in well under a second.
const DefaultDebounce = 1500 * time.Millisecond

// maxTracked bounds the memory of a Debouncer: a noisy neighbourhood may
// produce many different codes, of which only recent ones matter.
const maxTracked = 256

// Debouncer collapses the repeats of one press into one event. A code is
// accepted when it was not seen within the window before now; every
// reception, accepted or not, restarts the window, so a long press or a
// detector that keeps sending is one event until it pauses for a window.
// It is not safe for concurrent use.
type Debouncer struct {
	window time.Duration
	last   map[uint32]time.Time
}

// NewDebouncer makes a Debouncer; window <= 0 means DefaultDebounce.
func NewDebouncer(window time.Duration) *Debouncer {
	if window <= 0 {
		window = DefaultDebounce
	}
	return &Debouncer{window: window, last: make(map[uint32]time.Time)}
}

// Accept reports whether a reception of code at now starts a new press.
func (d *Debouncer) Accept(code uint32, now time.Time) bool {
	prev, seen := d.last[code]
	if !seen && len(d.last) >= maxTracked {
		d.evict(now)
	}
	d.last[code] = now
	if !seen {
		return true
	}
	gap := now.Sub(prev)
	// A clock stepping back (gap < 0) counts as a repeat; the window restarts
	// at now, so the next press after it is accepted.
	return gap >= d.window
}

// evict drops codes whose window has passed, and the oldest code if none has.
func (d *Debouncer) evict(now time.Time) {
	var oldest uint32
	var oldestAt time.Time
	first := true
	for c, at := range d.last {
		if now.Sub(at) >= d.window {
			delete(d.last, c)
			continue
		}
		if first || at.Before(oldestAt) {
			oldest, oldestAt, first = c, at, false
		}
	}
	if len(d.last) >= maxTracked {
		delete(d.last, oldest)
	}
}
