package rules

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"time"

	"github.com/anxin-care/anxin"
)

// household is the compact per-household rule state: ~100 bytes plus a
// device table, one 40-byte packed slot per (rule, device) with state, and
// the slots' extra state (slot.ext) in one array.
//
// Its times are uint32 unix seconds (sec32), and it fits 112 bytes.
type household struct {
	id    string
	tier  uint8
	bits  uint8 // hAway, hQueued
	dirty bool  // learned something since last taken (Engine.dirty)
	// seen: since last taken, its readings advanced only last-seen times
	// and meter values (Engine.DeferSeen); written when it next learns
	// something, its readings pass savedSeen + the lag, or by TakeSeen
	seen    bool
	heapIdx int32
	next    uint32 // next deadline; 0: none
	lastMsg uint32 // last message of any device
	// savedSeen is lastMsg when the state was last taken for the store
	// (or restored from it): how far the stored last-seen times may lag
	savedSeen uint32
	// restored is lastMsg when the state was restored with DeferSeen's
	// slack (0: not): last-seen times no later than it came from the
	// store and may lag the truth (evalCtx.slack)
	restored uint32
	devs     []device
	slots    []packedSlot
	// ext holds the ext of every slot, in slot order, each
	// packedSlot.extLen long: one array, not a slice header per slot
	ext []byte
}

// household.bits
const (
	hAway   uint8 = 1 << iota // the elder is away (Engine.SetAway)
	hQueued                   // an entry for it is in Engine.dirty (skipped once not dirty)
)

func (h *household) away() bool { return h.bits&hAway != 0 }

func (h *household) queued() bool { return h.bits&hQueued != 0 }

// set sets or clears bit of h.bits.
func (h *household) set(bit uint8, on bool) {
	if on {
		h.bits |= bit
	} else {
		h.bits &^= bit
	}
}

type device struct {
	id   string
	kind uint8  // index into anxin.Kinds, +1; 0: not known (only a status heard)
	seen uint32 // last message, unix seconds (sec32); 0: only a status heard
}

// noDevice is the device index of per-household slots.
const noDevice = math.MaxUint16

// slot is the state of one rule for one device (or the household), as an
// evaluator works on it: the engine unpacks a household's packedSlot into
// one (household.load), and packs it back after (household.store). The
// meaning of the times and values belongs to the rule's kind.
type slot struct {
	rule  uint16
	dev   uint16
	flags uint8
	n     uint16  // kind's counter (rising intervals)
	t0    int64   // kind's timer start (quiet since, running since, outside since)
	t1    int64   // last reading, unix seconds
	t2    int64   // kind's third time (previous reading interval)
	v0    float64 // kind's baseline value
	v1    float64 // last value
	ext   []byte  // kind's extra state (kindDef.extBytes long, else nil): the learned histograms
}

// packedSlot is a slot as a household keeps it (40 bytes, not 72): its
// times in uint32 seconds (sec32: 1970–2106, what the engine runs on) and
// its ext in household.ext, after the ext of the slots before it.
type packedSlot struct {
	rule, dev, n uint16
	extLen       uint16 // bytes of household.ext (maxExtBytes at most)
	flags        uint8
	t0, t1, t2   uint32
	v0, v1       float64
}

// sec32 is unix seconds t as a packed time: clamped to 0 .. 2106 (the
// engine's inputs are dated 1970–2106: ingest dates a message from before
// 2025 on receipt, a restored state's times are checked by fits32).
func sec32(t int64) uint32 { return uint32(min(max(t, 0), math.MaxUint32)) }

// fits32 reports whether a restored time is one sec32 keeps as it is.
func fits32(t int64) bool { return t >= 0 && t <= math.MaxUint32 }

// extOff is where slot i's ext begins in h.ext.
func (h *household) extOff(i int) int {
	off := 0
	for j := range i {
		off += int(h.slots[j].extLen)
	}
	return off
}

// load unpacks slot i into s; s.ext is slot i's part of h.ext, capped so
// that growing it cannot write into the next slot's.
func (h *household) load(i int, s *slot) {
	p := &h.slots[i]
	s.rule, s.dev, s.flags, s.n = p.rule, p.dev, p.flags, p.n
	s.t0, s.t1, s.t2 = int64(p.t0), int64(p.t1), int64(p.t2)
	s.v0, s.v1 = p.v0, p.v1
	s.ext = nil
	if p.extLen > 0 {
		off := h.extOff(i)
		end := off + int(p.extLen)
		s.ext = h.ext[off:end:end]
	}
}

// at is slot i unpacked.
func (h *household) at(i int) slot {
	var s slot
	h.load(i, &s)
	return s
}

// packSlot is s packed, its ext's length in extLen.
func packSlot(s *slot) packedSlot {
	return packedSlot{rule: s.rule, dev: s.dev, n: s.n, extLen: uint16(len(s.ext)), flags: s.flags,
		t0: sec32(s.t0), t1: sec32(s.t1), t2: sec32(s.t2), v0: s.v0, v1: s.v1}
}

// store packs s back into slot i: its ext is copied into h.ext unless it
// is still slot i's part of it (changed in place), and h.ext is rebuilt
// when its length changed.
func (h *household) store(i int, s *slot) {
	p := &h.slots[i]
	had := int(p.extLen)
	p.rule, p.dev, p.flags, p.n = s.rule, s.dev, s.flags, s.n
	p.t0, p.t1, p.t2 = sec32(s.t0), sec32(s.t1), sec32(s.t2)
	p.v0, p.v1 = s.v0, s.v1
	if len(s.ext) == 0 && had == 0 {
		return
	}
	p.extLen = uint16(len(s.ext))
	off := h.extOff(i)
	if len(s.ext) == had {
		if &s.ext[0] != &h.ext[off] {
			copy(h.ext[off:], s.ext)
		}
		return
	}
	if len(h.ext) == had {
		// slot i's ext was all of h.ext: s.ext (made by the kind for
		// it) is the household's now, not copied into another array
		h.ext = s.ext
		return
	}
	// a new length: a new array of exactly the new size (no slack held
	// for a district's households)
	b := make([]byte, len(h.ext)-had+len(s.ext))
	copy(b, h.ext[:off])
	copy(b[off:], s.ext)
	copy(b[off+len(s.ext):], h.ext[off+had:])
	h.ext = b
}

// setSlots makes ss (unpacked) h's slots, in order.
func (h *household) setSlots(ss []slot) {
	n := 0
	for i := range ss {
		n += len(ss[i].ext)
	}
	h.slots, h.ext = nil, nil
	if len(ss) > 0 {
		h.slots = make([]packedSlot, len(ss))
	}
	if n > 0 && !slices.ContainsFunc(ss, func(s slot) bool { return len(s.ext) == n }) {
		h.ext = make([]byte, 0, n)
	}
	for i := range ss {
		h.slots[i] = packSlot(&ss[i])
		if len(ss[i].ext) == n {
			h.ext = ss[i].ext // the only ext (a restored state's): no copy
		} else {
			h.ext = append(h.ext, ss[i].ext...)
		}
	}
}

// keepSlots keeps the slots keep says yes to (given the slot unpacked, it
// may change it), in order, h.ext rebuilt to match.
func (h *household) keepSlots(keep func(s *slot) bool) {
	var kept []slot
	for i := range h.slots {
		s := h.at(i)
		if keep(&s) {
			kept = append(kept, s)
		}
	}
	h.setSlots(kept) // copies the ext of kept out of the old h.ext
}

// Slot flags.
const (
	fOpen  uint8 = 1 << iota // the rule's alarm is open for this slot
	fOpen2                   // the second alarm (device_silent) is open
	fInit                    // the slot has a baseline
	fMode                    // kind-specific mode bit
	fAux                     // kind-specific bit
	fMute1                   // people closed alarm 1; quiet until the condition clears
	fMute2                   // people closed alarm 2
)

const muteShift = 5 // fOpen<<muteShift == fMute1

// device is the index of device id, added if new, its last message
// advanced to t. prev is when it was last heard before (0: never);
// learned: the device is new or its kind became known.
func (h *household) device(id string, k anxin.Kind, t int64) (idx uint16, prev int64, learned bool) {
	for i := range h.devs {
		if h.devs[i].id == id {
			prev = int64(h.devs[i].seen)
			if t > prev {
				h.devs[i].seen = sec32(t)
			}
			if h.devs[i].kind == 0 {
				// first known by its status (kind 0: not known yet), now
				// by a message that says what it is
				h.devs[i].kind = kindIndex(k)
				learned = h.devs[i].kind != 0
			}
			return uint16(i), prev, learned
		}
	}
	if len(h.devs) >= maxDevices {
		// A household with this many devices is hostile input: share the
		// last entry rather than grow without bound.
		return uint16(len(h.devs) - 1), t, true
	}
	h.devs = append(h.devs, device{id: id, kind: kindIndex(k), seen: sec32(t)})
	return uint16(len(h.devs) - 1), 0, true
}

// maxDevices bounds the device table of one household.
const maxDevices = anxin.MaxDevices

func kindIndex(k anxin.Kind) uint8 {
	for i, v := range anxin.Kinds {
		if v == k {
			return uint8(i + 1)
		}
	}
	return 0
}

func (h *household) deviceID(dev uint16) string {
	if int(dev) < len(h.devs) {
		return h.devs[dev].id
	}
	return ""
}

func (h *household) deviceKind(dev uint16) anxin.Kind {
	if int(dev) < len(h.devs) && h.devs[dev].kind > 0 && int(h.devs[dev].kind) <= len(anxin.Kinds) {
		return anxin.Kinds[h.devs[dev].kind-1]
	}
	return ""
}

// existingSlot returns the index of the slot of (rule, dev), or -1.
func (h *household) existingSlot(rule int, dev uint16) int {
	for i := range h.slots {
		if h.slots[i].rule == uint16(rule) && h.slots[i].dev == dev {
			return i
		}
	}
	return -1
}

// slot returns the index of the slot of (rule, dev), creating it.
func (h *household) slot(rule int, dev uint16) int {
	if i := h.existingSlot(rule, dev); i >= 0 {
		return i
	}
	h.slots = append(h.slots, packedSlot{rule: uint16(rule), dev: dev})
	return len(h.slots) - 1
}

// anyOpen reports whether a slot of rule other than slot skip has alarm
// bit set.
func (h *household) anyOpen(rule uint16, bit uint8, skip int) bool {
	for i := range h.slots {
		o := &h.slots[i]
		if i != skip && o.rule == rule && o.flags&bit != 0 {
			return true
		}
	}
	return false
}

// evalCtx is what an evaluator sees: the household, the rule variant that
// applies to it, the time, and where decisions go.
type evalCtx struct {
	e     *Engine
	h     *household
	r     *rule
	v     *variant
	now   int64
	msgID string
	out   []Decision
	cur   int // index in h.slots of the slot the evaluator was given
}

func (x *evalCtx) use(r *rule) {
	x.r = r
	x.v = r.resolve(x.h)
}

// suppressed reports whether away pauses this rule now.
func (x *evalCtx) suppressed() bool {
	if !x.h.away() {
		return false
	}
	_, ok := x.v.ev.(awayAware)
	return ok
}

func (x *evalCtx) loc() *time.Location { return x.e.cfg.Location() }

// slack is how far a last-seen time seen may lag the truth (seconds): 0,
// but for one the store gave (no later than the household's last message
// when restored, household.restored), what the engine allows for the
// readings a crash forgot (DeferSeen). A silence limit waits that much
// longer and a gap must be that much longer, so no alarm comes of the
// readings the store did not hold. Each last-seen time has its own: a
// slot over two meters keeps the slack of the one not heard from since.
func (x *evalCtx) slack(seen int64) int64 {
	if seen <= int64(x.h.restored) {
		return x.e.staleSlack
	}
	return 0
}

func (x *evalCtx) local(t int64) time.Time { return time.Unix(t, 0).In(x.loc()) }

// inWindow reports whether now is inside the rule's time-of-day window.
func (x *evalCtx) inWindow() bool { return x.v.cfg.window.contains(x.local(x.now)) }

// windowed moves a primary-alarm deadline d to the next start of the rule's
// window, if d falls outside it.
func (x *evalCtx) windowed(d int64) int64 {
	if d == 0 || x.v.cfg.window.always() {
		return d
	}
	if d < x.now {
		d = x.now
	}
	return x.v.cfg.window.nextStart(x.local(d)).Unix()
}

func (x *evalCtx) id(bit uint8) alarmID {
	if bit == fOpen2 {
		return x.v.id2
	}
	return x.v.id
}

// raise opens alarm bit of s (or attaches to the household's open alarm of
// the same rule). It reports whether a decision was made.
func (x *evalCtx) raise(s *slot, bit uint8, reason func() string, cause func() anxin.Cause) bool {
	if s.flags&(bit|bit<<muteShift) != 0 {
		return false
	}
	if bit == fOpen && (x.suppressed() || !x.inWindow()) {
		return false
	}
	op := OpOpen
	if x.h.anyOpen(s.rule, bit, x.cur) {
		op = OpRepeat
	}
	s.flags |= bit
	x.emit(op, s, bit, reason, cause)
	return true
}

// repeat reports the condition again while the alarm is open (events).
func (x *evalCtx) repeat(s *slot, bit uint8, reason func() string, cause func() anxin.Cause) {
	if s.flags&bit == 0 || (bit == fOpen && !x.inWindow()) {
		return
	}
	x.emit(OpRepeat, s, bit, reason, cause)
}

// clear is the falling edge: it closes alarm bit of s when no other device
// keeps the household's alarm of this rule open, and lifts a mute.
func (x *evalCtx) clear(s *slot, bit uint8, reason func() string) {
	s.flags &^= bit << muteShift
	if s.flags&bit == 0 {
		return
	}
	s.flags &^= bit
	if !x.h.anyOpen(s.rule, bit, x.cur) {
		x.emit(OpClose, s, bit, reason, nil)
	}
}

// emit appends a decision; cause is nil for a close (nothing to tell people).
func (x *evalCtx) emit(op Op, s *slot, bit uint8, reason func() string, cause func() anxin.Cause) {
	id := x.id(bit)
	d := Decision{
		Op: op, Household: x.h.id, Rule: id.Rule, RuleKind: id.Kind,
		Device: x.h.deviceID(s.dev), Severity: id.Severity, Route: id.Route,
		At: time.Unix(x.now, 0).UTC(), Reason: reason(), MessageID: x.msgID,
	}
	if cause != nil {
		d.Cause = cause()
		d.Cause.Device = x.h.deviceKind(s.dev)
	}
	x.out = append(x.out, d)
}

// causeTime is unix seconds t as a time for a cause.
func causeTime(t int64) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(t, 0).UTC()
}

// lasted is how long since t0 at x.now, for a cause.
func (x *evalCtx) lasted(t0 int64) time.Duration { return time.Duration(x.now-t0) * time.Second }

// State encoding: a version byte, then varints. Rules are named, not
// numbered, so a saved state survives a reordered or edited rules file.
// Version 2 writes a slot's ext with its length (a hazard rule's varies
// with its alarm times); version 1 (ext of the kind's fixed size) is read.
const stateVersion = 2

// maxExtBytes bounds a decoded slot.ext.
const maxExtBytes = 4096

// Bounds on decoded state, so hostile bytes cannot make large allocations.
const (
	maxSlots     = 1024
	maxStringLen = 64
)

// encode is h's state, in a slice of its own length: alarmd may hold the
// states of a whole district between flushes (ingest's pending states),
// so no slack from growing the slice. Under e.mu (or in one goroutine).
func (e *Engine) encode(h *household) []byte {
	e.scratch = e.appendState(e.scratch[:0], h)
	return bytes.Clone(e.scratch)
}

func (e *Engine) appendState(b []byte, h *household) []byte {
	b = append(b, stateVersion, h.tier)
	if h.away() {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendVarint(b, int64(h.lastMsg))
	b = binary.AppendUvarint(b, uint64(len(h.devs)))
	for _, d := range h.devs {
		b = appendString(b, d.id)
		b = append(b, d.kind)
		b = binary.AppendVarint(b, int64(d.seen))
	}
	b = binary.AppendUvarint(b, uint64(len(h.slots)))
	var s slot
	for i := range h.slots {
		h.load(i, &s)
		c := e.rules[s.rule].base.cfg
		b = appendString(b, c.Name)
		b = appendString(b, c.Kind)
		b = binary.AppendUvarint(b, uint64(s.dev))
		b = append(b, s.flags)
		b = binary.AppendUvarint(b, uint64(s.n))
		b = binary.AppendVarint(b, s.t0)
		b = binary.AppendVarint(b, s.t1)
		b = binary.AppendVarint(b, s.t2)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.v0))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.v1))
		if kindTable[c.Kind].extBytes > 0 {
			// Only kinds with extra state write it.
			b = binary.AppendUvarint(b, uint64(len(s.ext)))
			b = append(b, s.ext...)
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

type stateReader struct {
	b   []byte
	err bool
}

func (r *stateReader) byte() uint8 {
	if len(r.b) < 1 {
		r.err = true
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *stateReader) uvarint(max uint64) uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > max {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *stateReader) float() float64 {
	if len(r.b) < 8 {
		r.err = true
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	if math.IsNaN(f) || math.IsInf(f, 0) {
		r.err = true
		return 0
	}
	return f
}

func (r *stateReader) bytes(n int) []byte {
	if len(r.b) < n {
		r.err = true
		return nil
	}
	b := make([]byte, n)
	copy(b, r.b)
	r.b = r.b[n:]
	return b
}

func (r *stateReader) string() string {
	n := r.uvarint(maxStringLen)
	if r.err || uint64(len(r.b)) < n {
		r.err = true
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

// saneTime bounds decoded unix seconds (and intervals) so arithmetic on
// them cannot overflow: 0 .. year 10000.
func saneTime(t int64) bool { return t >= 0 && t < 253402300800 }

func (e *Engine) decode(id string, b []byte) (*household, error) {
	bad := func(what string) error {
		return anxin.Errorf(anxin.EINVALID, "rule state of %s: %s", id, what)
	}
	if len(b) == 0 || (b[0] != 1 && b[0] != stateVersion) {
		return nil, bad("unknown version")
	}
	version := b[0]
	r := &stateReader{b: b[1:]}
	h := &household{id: id, heapIdx: -1}
	h.tier = r.byte()
	away := r.byte()
	lastMsg := r.varint()
	if r.err || int(h.tier) > len(tierIndex) || away > 1 || !fits32(lastMsg) {
		return nil, bad("corrupt header")
	}
	h.lastMsg = sec32(lastMsg)
	h.set(hAway, away == 1)
	nd := r.uvarint(maxDevices)
	for i := uint64(0); i < nd && !r.err; i++ {
		id, kind, seen := r.string(), r.byte(), r.varint()
		if !r.err && (!anxin.ValidID(id) || int(kind) > len(anxin.Kinds) || !fits32(seen)) {
			return nil, bad("corrupt device table")
		}
		h.devs = append(h.devs, device{id: id, kind: kind, seen: sec32(seen)})
	}
	ns := r.uvarint(maxSlots)
	var slots []slot // unpacked, then packed with their ext in one array
	for i := uint64(0); i < ns && !r.err; i++ {
		name, kind := r.string(), r.string()
		s := slot{dev: uint16(r.uvarint(math.MaxUint16)), flags: r.byte(), n: uint16(r.uvarint(math.MaxUint16))}
		s.t0, s.t1, s.t2 = r.varint(), r.varint(), r.varint()
		s.v0, s.v1 = r.float(), r.float()
		k := kindTable[kind]
		if k.extBytes > 0 {
			if version == 1 {
				s.ext = r.bytes(k.extBytes)
				if k.upgradeExt != nil && !r.err {
					if s.ext = k.upgradeExt(s.ext); s.ext == nil {
						return nil, bad("learned state unreadable")
					}
				}
			} else if n := int(r.uvarint(maxExtBytes)); n > 0 && !r.err {
				if k.adoptExt == nil && n != k.extBytes {
					return nil, bad("learned state of the wrong size")
				}
				s.ext = r.bytes(n)
			}
		}
		if r.err {
			break
		}
		if !fits32(s.t0) || !fits32(s.t1) || !fits32(s.t2) {
			return nil, bad("time out of range")
		}
		if k.saneExt != nil && !k.saneExt(s.ext) {
			return nil, bad("learned state out of range")
		}
		if s.dev != noDevice && int(s.dev) >= len(h.devs) {
			return nil, bad("slot names a device that does not exist")
		}
		idx := -1
		for j, ru := range e.rules {
			if ru.base.cfg.Name == name && ru.base.cfg.Kind == kind {
				idx = j
			}
		}
		if idx < 0 {
			continue // the rule was removed or changed kind: its state goes
		}
		s.rule = uint16(idx)
		if k.adoptExt != nil && s.ext != nil {
			s.ext = k.adoptExt(e.rules[idx].base.ev, s.ext)
		}
		for _, o := range slots {
			if o.rule == s.rule && o.dev == s.dev {
				return nil, bad("duplicate slot")
			}
		}
		slots = append(slots, s)
	}
	if r.err {
		return nil, bad("truncated or corrupt")
	}
	if len(r.b) != 0 {
		return nil, bad("trailing bytes")
	}
	h.setSlots(slots)
	return h, nil
}
