package tcpserver

import (
	"crypto/sha256"
	"regexp"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/anxin-care/anxin"
)

// DeviceTime is a device's own time for a report when it is plausible,
// else now: set, not ahead of now by more than 5 minutes and, for a report
// of now (current: not a stored batch's), not 10 minutes or more behind
// it. A tracker or watch without a GPS fix keeps sending its last fix's
// time (or its clock's 2000-01-01); with that time in the ids (StableID),
// two presses hours apart would share one and alarmd would drop the
// second. now zero (decoding a capture): any set time is believed.
func DeviceTime(dev, now time.Time, current bool) time.Time {
	if dev.IsZero() || (!now.IsZero() && (dev.After(now.Add(5*time.Minute)) || current && dev.Before(now.Add(-10*time.Minute)))) {
		return now
	}
	return dev
}

// StableID is a message id (a ULID at ts) whose random part is a hash of
// parts: the same report sent again (a device resends what was not
// answered) gets the same id, so downstream de-duplication drops it.
func StableID(ts time.Time, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var entropy [10]byte
	copy(entropy[:], h.Sum(nil))
	var id ulid.ULID
	if err := id.SetTime(ulid.Timestamp(ts)); err != nil {
		return anxin.NewID(ts) // a time ULID cannot hold (before 1970): a fresh id
	}
	if err := id.SetEntropy(entropy[:]); err != nil {
		return anxin.NewID(ts)
	}
	return id.String()
}

// MaskTerminal hides a terminal id (often the SIM's phone number, or an
// IMEI) but its last four digits, for logs.
func MaskTerminal(id string) string { return anxin.MaskPhone(id) }

var idKey = regexp.MustCompile(`(^|\.)terminals\[[0-9]+\]\.id$`)

// IDKey reports whether a config key (terminals[0].id, or with its
// drivers[i]. prefix) holds a terminal's id: an error about it shows the
// id masked (MaskTerminal), however it is wrong.
func IDKey(key string) bool { return idKey.MatchString(key) }

// Once remembers keys already logged, so an unknown terminal that retries
// every few seconds is logged once, not on every packet. It holds at most
// max keys and forgets all of them when full (a scan of many ids is then
// logged again, in bounded memory).
type Once struct {
	mu   sync.Mutex
	max  int
	seen map[string]struct{}
}

// NewOnce returns a Once holding at most max keys.
func NewOnce(max int) *Once { return &Once{max: max, seen: map[string]struct{}{}} }

// First reports whether key is seen for the first time.
func (o *Once) First(key string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.seen[key]; ok {
		return false
	}
	if len(o.seen) >= o.max {
		clear(o.seen)
	}
	o.seen[key] = struct{}{}
	return true
}
