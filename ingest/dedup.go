package ingest

import (
	"hash/maphash"
	"time"
)

// seenWindow remembers message ids for de-duplication: at most max ids, none
// older than window. An id is kept as a 128-bit keyed hash (two maphash
// seeds), not as its string, and a false "duplicate" would need a 128-bit
// collision. The ids sit in a ring in arrival order (the oldest is
// forgotten first) and an open-addressing table of ring positions finds
// them: 20 bytes an id in the ring plus 4–8 in the table (~5.6 MB for
// 200,000 ids; a Go map beside the ring took ~10 MB and 5 % of the live
// CPU). Not safe for concurrent use (the batch loop owns it).
type seenWindow struct {
	s1, s2 maphash.Seed
	slots  []uint32 // ring position + 1; 0: empty. Linear probing from key[0]
	mask   uint32
	ring   []idKey
	at     []uint32 // unix seconds, parallel to ring
	head   int
	n      int
	window time.Duration
}

type idKey [2]uint64

func newSeenWindow(max int, window time.Duration) *seenWindow {
	size := 1024
	for size < 2*max { // at most half full: short probes
		size *= 2
	}
	return &seenWindow{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), slots: make([]uint32, size), mask: uint32(size - 1),
		ring: make([]idKey, max), at: make([]uint32, max), window: window}
}

func (w *seenWindow) key(id string) idKey {
	return idKey{maphash.String(w.s1, id), maphash.String(w.s2, id)}
}

// key2 is key(household + "/" + id) without building the string (the
// hash of a byte sequence does not depend on how it is written).
func (w *seenWindow) key2(household, id string) idKey {
	// joined on the stack (ids are at most 64 bytes each by contract):
	// two one-shot hashes cost less than two streaming maphash.Hash
	var buf [136]byte
	b := append(append(append(buf[:0], household...), '/'), id...)
	return idKey{maphash.Bytes(w.s1, b), maphash.Bytes(w.s2, b)}
}

func (w *seenWindow) home(k idKey) uint32 { return uint32(k[0]) & w.mask }

// find is k's slot, or -1.
func (w *seenWindow) find(k idKey) int {
	for i := w.home(k); ; i = (i + 1) & w.mask {
		s := w.slots[i]
		if s == 0 {
			return -1
		}
		if w.ring[s-1] == k {
			return int(i)
		}
	}
}

func (w *seenWindow) hasKey(k idKey) bool { return w.find(k) >= 0 }

// Has reports whether id was seen within the window.
func (w *seenWindow) Has(id string) bool { return w.hasKey(w.key(id)) }

// Add remembers id, forgetting the oldest id when full.
func (w *seenWindow) Add(id string, at time.Time) { w.addKey(w.key(id), at) }

func (w *seenWindow) addKey(k idKey, at time.Time) {
	if !w.hasKey(k) {
		w.addNew(k, at)
	}
}

// addNew is addKey for a key known not to be remembered (hasKey false).
func (w *seenWindow) addNew(k idKey, at time.Time) {
	if len(w.ring) == 0 {
		return
	}
	if w.n == len(w.ring) {
		w.pop()
	}
	pos := (w.head + w.n) % len(w.ring)
	w.ring[pos], w.at[pos] = k, unixSeconds(at)
	w.n++
	i := w.home(k)
	for w.slots[i] != 0 {
		i = (i + 1) & w.mask
	}
	w.slots[i] = uint32(pos + 1)
}

// unixSeconds is t in seconds, clamped to what a uint32 holds (1970–2106).
func unixSeconds(t time.Time) uint32 {
	return uint32(min(max(t.Unix(), 0), 1<<32-1))
}

// Expire forgets ids seen before now - window.
func (w *seenWindow) Expire(now time.Time) {
	cut := unixSeconds(now.Add(-w.window))
	for w.n > 0 && w.at[w.head] < cut {
		w.pop()
	}
}

// pop forgets the oldest id: its slot is emptied (unless forget did, or
// the id came again since and the slot is its newer entry's).
func (w *seenWindow) pop() {
	pos := w.head
	f := w.find(w.ring[pos])
	w.head = (w.head + 1) % len(w.ring)
	w.n--
	if f < 0 || w.slots[f] != uint32(pos+1) {
		return // forgotten already
	}
	w.unslot(uint32(f))
}

// forget drops id key k (a message whose effect was never stored). Its
// ring entry stays until it is the oldest (pop then finds no slot of its).
func (w *seenWindow) forget(k idKey) {
	if f := w.find(k); f >= 0 {
		w.unslot(uint32(f))
	}
}

// unslot empties slot i and shifts back the entries after it in its probe
// run where their own home allows (deletion without tombstones, so probes
// stay short however long alarmd runs).
func (w *seenWindow) unslot(i uint32) {
	for j := (i + 1) & w.mask; w.slots[j] != 0; j = (j + 1) & w.mask {
		h := w.home(w.ring[w.slots[j]-1])
		// the entry at j may move back to i unless its home lies
		// (cyclically) in (i, j]
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			w.slots[i] = w.slots[j]
			i = j
		}
	}
	w.slots[i] = 0
}

// Len is how many ids are remembered.
func (w *seenWindow) Len() int { return w.n }
