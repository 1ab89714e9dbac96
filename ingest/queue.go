package ingest

import (
	"context"
	"sync"
)

// readingQueue holds the readings waiting for the batch loop: a ring of
// deliveries, bounded in messages (Config.Inflight). The ring starts small
// and doubles when a put finds no room, up to the bound: a broker's
// in-flight window keeps a few hundred queued, and a ring of the bound
// (~1 MB at 10,000) would hold its memory from start. A source puts a whole
// run at once (what one socket read brought: one lock and at most one
// wake-up of the batch loop, where a channel cost a send and often a
// wake-up a message) and the loop takes as many as its batch holds.
type readingQueue struct {
	mu   sync.Mutex
	buf  []Delivery // the ring
	max  int        // the bound: buf grows to this at most
	head int        // the oldest held
	n    int        // held
	// ready holds a token while readings may be waiting for the loop
	// (taken before the loop looks, so a put after the look leaves one)
	ready chan struct{}
	// room holds a token when the loop took some: a put waiting for room
	// looks again
	room chan struct{}
}

// readingQueueStart is the ring's first size.
const readingQueueStart = 256

func newReadingQueue(size int) *readingQueue {
	return &readingQueue{buf: make([]Delivery, min(size, readingQueueStart)), max: size,
		ready: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

// grow makes room for want readings (within the bound), the held ones
// first in order. q.mu is held.
func (q *readingQueue) grow(want int) {
	size := len(q.buf)
	for size < want {
		size *= 2
	}
	buf := make([]Delivery, min(size, q.max))
	c := copy(buf, q.buf[q.head:min(q.head+q.n, len(q.buf))])
	copy(buf[c:], q.buf[:q.n-c])
	q.buf, q.head = buf, 0
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// put appends ds in order, waiting while the queue is full. When ctx ends
// first it returns ctx's error: what was put is the loop's, the rest is
// not taken (and so never acknowledged).
func (q *readingQueue) put(ctx context.Context, ds []Delivery) error {
	for {
		q.mu.Lock()
		if len(ds) > len(q.buf)-q.n && len(q.buf) < q.max {
			q.grow(q.n + len(ds))
		}
		k := min(len(ds), len(q.buf)-q.n)
		tail := (q.head + q.n) % len(q.buf)
		c := copy(q.buf[tail:], ds[:k])
		copy(q.buf, ds[c:k])
		q.n += k
		q.mu.Unlock()
		if k > 0 {
			signal(q.ready)
		}
		if ds = ds[k:]; len(ds) == 0 {
			return nil
		}
		select {
		case <-q.room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// take appends to batch, up to its capacity, the oldest readings held.
func (q *readingQueue) take(batch []Delivery) []Delivery {
	select {
	case <-q.ready: // what it announced is taken now, or announced again below
	default:
	}
	q.mu.Lock()
	k := min(q.n, cap(batch)-len(batch))
	end := min(q.head+k, len(q.buf))
	batch = append(batch, q.buf[q.head:end]...)
	clear(q.buf[q.head:end]) // the payloads are the batch's now, not the ring's to hold
	rest := k - (end - q.head)
	batch = append(batch, q.buf[:rest]...)
	clear(q.buf[:rest])
	q.head = (q.head + k) % len(q.buf)
	q.n -= k
	left := q.n
	q.mu.Unlock()
	if left > 0 {
		signal(q.ready) // the batch is full: the rest waits for the next
	}
	if k > 0 {
		signal(q.room)
	}
	return batch
}

// announce leaves a token when readings are held: the loop took one and
// left them for a later batch.
func (q *readingQueue) announce() {
	if q.len() > 0 {
		signal(q.ready)
	}
}

// len is how many readings are held.
func (q *readingQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
