package ingest

import "time"

// seenWindow remembers message ids for de-duplication: at most max ids, none
// older than window. Not safe for concurrent use (the batch loop owns it).
type seenWindow struct {
	ids    map[string]struct{}
	ring   []string
	at     []int64 // unix ms, parallel to ring
	head   int
	n      int
	window time.Duration
}

func newSeenWindow(max int, window time.Duration) *seenWindow {
	return &seenWindow{ids: make(map[string]struct{}, min(max, 1<<16)), ring: make([]string, max),
		at: make([]int64, max), window: window}
}

// Has reports whether id was seen within the window.
func (w *seenWindow) Has(id string) bool {
	_, ok := w.ids[id]
	return ok
}

// Add remembers id, forgetting the oldest id when full.
func (w *seenWindow) Add(id string, at time.Time) {
	if _, ok := w.ids[id]; ok {
		return
	}
	if w.n == len(w.ring) {
		w.pop()
	}
	i := (w.head + w.n) % len(w.ring)
	w.ring[i], w.at[i] = id, at.UnixMilli()
	w.n++
	w.ids[id] = struct{}{}
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
	w.ring[w.head] = ""
	w.head = (w.head + 1) % len(w.ring)
	w.n--
}

// Len is how many ids are remembered.
func (w *seenWindow) Len() int { return w.n }
