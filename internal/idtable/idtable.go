// Package idtable finds values by the id string each holds: an
// open-addressing table of the values alone, for the per-household
// indexes of a district (a million households). A Go map keyed by the id
// copies the key's header beside each value and keeps its groups at most
// 7/8 full: 40–56 bytes an entry at 1,000,000 households, against
// 8 bytes a slot here, the table 3/8 to 3/4 full (11–21 bytes an entry).
package idtable

import (
	"hash/maphash"
	"iter"
	"slices"
)

// Table holds values of type V, each under the id its id function gives
// (an id is held once: a value carries its own). The zero V marks an
// empty slot and cannot be held. Not safe for concurrent use.
type Table[V comparable] struct {
	seed  maphash.Seed
	slots []V
	mask  uint64
	n     int
	id    func(V) string
}

// New is an empty table of values whose ids id gives, sized for hint
// values.
func New[V comparable](id func(V) string, hint int) *Table[V] {
	t := &Table[V]{seed: maphash.MakeSeed(), id: id}
	t.resize(hint)
	return t
}

// resize makes the table hold n values at most 3/4 full.
func (t *Table[V]) resize(n int) {
	size := 8
	for size*3 < n*4 {
		size *= 2
	}
	old := t.slots
	t.slots, t.mask = make([]V, size), uint64(size-1)
	var zero V
	for _, v := range old {
		if v != zero {
			t.slots[t.free(t.id(v))] = v
		}
	}
}

// free is the first empty slot of id's probe sequence.
func (t *Table[V]) free(id string) uint64 {
	var zero V
	i := maphash.String(t.seed, id) & t.mask
	for t.slots[i] != zero {
		i = (i + 1) & t.mask
	}
	return i
}

// find is the slot holding id, or -1.
func (t *Table[V]) find(id string) int {
	var zero V
	for i := maphash.String(t.seed, id) & t.mask; ; i = (i + 1) & t.mask {
		v := t.slots[i]
		if v == zero {
			return -1
		}
		if t.id(v) == id {
			return int(i)
		}
	}
}

// Get is the value held under id (ok false: none).
func (t *Table[V]) Get(id string) (v V, ok bool) {
	if i := t.find(id); i >= 0 {
		return t.slots[i], true
	}
	return v, false
}

// Put holds v under its id, in place of a value held under it.
func (t *Table[V]) Put(v V) {
	var zero V
	if v == zero {
		panic("idtable: the zero value cannot be held")
	}
	id := t.id(v)
	if i := t.find(id); i >= 0 {
		t.slots[i] = v
		return
	}
	if (t.n+1)*4 > len(t.slots)*3 {
		t.resize(2 * len(t.slots) * 3 / 4)
	}
	t.slots[t.free(id)] = v
	t.n++
}

// Delete drops the value held under id, reporting whether there was one.
// Entries after it in its probe run move back where their own slot allows
// (no tombstones: probes stay short however many come and go).
func (t *Table[V]) Delete(id string) bool {
	f := t.find(id)
	if f < 0 {
		return false
	}
	var zero V
	i := uint64(f)
	for j := (i + 1) & t.mask; t.slots[j] != zero; j = (j + 1) & t.mask {
		h := maphash.String(t.seed, t.id(t.slots[j])) & t.mask
		// the entry at j may move back to i unless its own slot lies
		// (cyclically) in (i, j]
		if (j > i && (h <= i || h > j)) || (j < i && h <= i && h > j) {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = zero
	t.n--
	return true
}

// WithID is a table holding t's values under the ids id gives, sharing
// t's slots: for values whose ids id gives as t's did (a copy of the rows
// t's values point into, each row's id unchanged), at no cost but this
// header. Neither table may change afterwards: both read the same slots.
func (t *Table[V]) WithID(id func(V) string) *Table[V] {
	c := *t
	c.id = id
	return &c
}

// Clone is a table holding t's values under the ids id gives, in slots
// of its own: for values whose ids id gives as t's did, to be changed
// while t is still read.
func (t *Table[V]) Clone(id func(V) string) *Table[V] {
	c := t.WithID(id)
	c.slots = slices.Clone(t.slots)
	return c
}

// Len is how many values the table holds.
func (t *Table[V]) Len() int { return t.n }

// All yields every value held, in no particular order. The table must
// not change meanwhile (collect, then Delete).
func (t *Table[V]) All() iter.Seq[V] {
	return func(yield func(V) bool) {
		var zero V
		for _, v := range t.slots {
			if v != zero && !yield(v) {
				return
			}
		}
	}
}
