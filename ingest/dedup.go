package ingest

import (
	"hash/maphash"
	"time"
)

// seenWindow remembers message ids for de-duplication: at most max ids, none
// older than window. An id is kept as a 128-bit keyed hash (two maphash
// seeds), not as its string: ~40 bytes an id instead of ~120, and a false
// "duplicate" would need a 128-bit collision. Not safe for concurrent use
// (the batch loop owns it).
type seenWindow struct {
	s1, s2 maphash.Seed
	ids    map[idKey]struct{}
	ring   []idKey
	at     []int64 // unix ms, parallel to ring
	head   int
	n      int
	window time.Duration
}

type idKey [2]uint64

func newSeenWindow(max int, window time.Duration) *seenWindow {
	return &seenWindow{s1: maphash.MakeSeed(), s2: maphash.MakeSeed(), ids: make(map[idKey]struct{}, min(max, 1<<16)),
		ring: make([]idKey, max), at: make([]int64, max), window: window}
}

func (w *seenWindow) key(id string) idKey {
	return idKey{maphash.String(w.s1, id), maphash.String(w.s2, id)}
}

// key2 is key(household + "/" + id) without building the string (the
// hash of a byte sequence does not depend on how it is written).
func (w *seenWindow) key2(household, id string) idKey {
	var h1, h2 maphash.Hash
	h1.SetSeed(w.s1)
	h2.SetSeed(w.s2)
	h1.WriteString(household)
	h1.WriteByte('/')
	h1.WriteString(id)
	h2.WriteString(household)
	h2.WriteByte('/')
	h2.WriteString(id)
	return idKey{h1.Sum64(), h2.Sum64()}
}

func (w *seenWindow) hasKey(k idKey) bool {
	_, ok := w.ids[k]
	return ok
}

// Has reports whether id was seen within the window.
func (w *seenWindow) Has(id string) bool {
	_, ok := w.ids[w.key(id)]
	return ok
}

// Add remembers id, forgetting the oldest id when full.
func (w *seenWindow) Add(id string, at time.Time) { w.addKey(w.key(id), at) }

func (w *seenWindow) addKey(k idKey, at time.Time) {
	if _, ok := w.ids[k]; ok {
		return
	}
	if w.n == len(w.ring) {
		w.pop()
	}
	i := (w.head + w.n) % len(w.ring)
	w.ring[i], w.at[i] = k, at.UnixMilli()
	w.n++
	w.ids[k] = struct{}{}
}

// Expire forgets ids seen before now - window.
func (w *seenWindow) Expire(now time.Time) {
	cut := now.Add(-w.window).UnixMilli()
	for w.n > 0 && w.at[w.head] < cut {
		w.pop()
	}
}

func (w *seenWindow) pop() {
	delete(w.ids, w.ring[w.head])
	w.head = (w.head + 1) % len(w.ring)
	w.n--
}

// Len is how many ids are remembered.
func (w *seenWindow) Len() int { return w.n }
