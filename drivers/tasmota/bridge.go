package tasmota

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/drivers/rf433"
)

// UnknownCodeError is a received code that is not in the code table.
type UnknownCodeError struct{ Code uint32 }

func (e *UnknownCodeError) Error() string {
	return "unknown code " + rf433.FormatCode(e.Code) + " (add it to codes: to use it)"
}

// Bridge turns RF bridge receptions into contract events through the rf433
// code table. It is not safe for concurrent use (its Debouncer is not).
type Bridge struct {
	codes     *rf433.CodeMap
	debounce  *rf433.Debouncer
	household string
	// payloadTime de-bounces by the payload's "Time" when there is one: a
	// capture is decoded all at once, long after it was recorded.
	payloadTime bool
}

// NewBridge builds a Bridge from a validated config.
func NewBridge(cfg *Config, household string) (*Bridge, error) {
	codes, err := rf433.NewCodeMap(cfg.Codes)
	if err != nil {
		return nil, err
	}
	return &Bridge{codes: codes, debounce: rf433.NewDebouncer(cfg.Debounce), household: household}, nil
}

// reception is the part of a RESULT payload the driver reads: Tasmota's
// {"Time":…,"RfReceived":{"Data":"4AF10A",…}} or OpenMQTTGateway's
// {"value":142465,"protocol":17,"length":24}.
type reception struct {
	Time       string `json:"Time"`
	RfReceived *struct {
		Data json.RawMessage `json:"Data"`
	} `json:"RfReceived"`
	Value json.Number `json:"value"`
}

// ParseReception reads the code in a payload; ok is false for a RESULT that
// carries no RF reception (a relay's {"POWER":"ON"}).
func ParseReception(payload []byte) (code uint32, at string, ok bool, err error) {
	if len(payload) > anxin.MaxPayload {
		return 0, "", false, fmt.Errorf("payload of %d bytes exceeds %d", len(payload), anxin.MaxPayload)
	}
	var r reception // Value is a json.Number: decoded exactly, without UseNumber
	if err := json.Unmarshal(payload, &r); err != nil {
		return 0, "", false, errors.New("payload is not a JSON object with RfReceived or value")
	}
	switch {
	case r.RfReceived != nil && r.RfReceived.Data != nil:
		var s string
		if err := json.Unmarshal(r.RfReceived.Data, &s); err != nil {
			return 0, "", false, errors.New("RfReceived.Data is not a string")
		}
		c, err := rf433.ParseCode(s)
		if err != nil {
			return 0, "", false, fmt.Errorf("RfReceived.Data: %s", anxin.ErrorMessage(err))
		}
		return c, r.Time, true, nil
	case r.Value != "":
		n, err := r.Value.Int64()
		if err != nil {
			return 0, "", false, fmt.Errorf("value %q is not an integer", clip(string(r.Value)))
		}
		c, err := rf433.CodeFromInt(n)
		if err != nil {
			return 0, "", false, errors.New(anxin.ErrorMessage(err))
		}
		return c, r.Time, true, nil
	}
	return 0, "", false, nil
}

// Handle reads one payload received at now and emits at most one event. It
// returns *UnknownCodeError for a code not in the table, and an error for a
// payload it cannot read.
func (b *Bridge) Handle(payload []byte, now time.Time, emit func(anxin.Message)) error {
	code, at, ok, err := ParseReception(payload)
	if err != nil || !ok {
		return err
	}
	c, known := b.codes.Lookup(code)
	if !known {
		return &UnknownCodeError{Code: code}
	}
	when := now
	if b.payloadTime && at != "" {
		if t, err := time.Parse("2006-01-02T15:04:05", at); err == nil {
			when = t
		}
	}
	if !b.debounce.Accept(code, when) {
		return nil // a repeat of the same press
	}
	emit(anxin.Message{ID: anxin.NewID(now), TS: now, Household: b.household,
		Device: c.Device, Kind: c.Kind, Event: c.Event})
	return nil
}

func clip(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
