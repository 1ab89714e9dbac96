// Package influx archives readings in a time-series store through the
// InfluxDB v2 write API (POST /api/v2/write, line protocol, gzip):
// InfluxDB 2.x/3.x and VictoriaMetrics are supported targets.
//
// The archive never slows the alarm path: Write encodes a reading into line
// protocol straight into a bounded in-memory queue; a sender goroutine
// writes batches, retrying with backoff. When the store is slow or down the
// queue fills and the oldest points are dropped (a batch at a time) and
// counted (anxin_archive_dropped_total).
//
// Memory: the queue is a list of batch buffers, each holding up to BatchSize
// encoded lines (~100 bytes a reading) — no allocation per reading, and a
// batch goes out as it lies. At most Queue points are held (~10 MB at the
// default 100,000, only while the store is slow or down; ~0.5-1 MB while it
// keeps up), plus one reused gzip writer (~0.8 MB) and request buffer.
package influx

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
)

// Config says where and how readings are archived.
type Config struct {
	URL, Token, Org, Bucket string
	BatchSize               int           // points per write (default 5,000)
	FlushInterval           time.Duration // a partial batch waits at most this long (default 1 s)
	Queue                   int           // points held while the store is slow; oldest dropped beyond (default 100,000)
	Timeout                 time.Duration // per write request (default 10 s)
	MaxBackoff              time.Duration // longest wait between retries (default 30 s)
}

func (c *Config) defaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = 5000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = time.Second
	}
	if c.Queue <= 0 {
		c.Queue = 100_000
	}
	c.Queue = max(c.Queue, c.BatchSize)
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 30 * time.Second
	}
}

// batch is up to BatchSize encoded lines, each ending in '\n'.
type batch struct {
	b    []byte
	n    int
	done []func() // WriteThen's: called once the batch is written
}

// Archive is a running archive. Write is safe for concurrent use.
type Archive struct {
	cfg      Config
	log      *slog.Logger
	hc       *http.Client
	writeURL string

	mu      sync.Mutex
	batches []*batch // oldest first; only the last one is being filled
	spare   *batch   // a sent batch's buffer, reused by the next
	n       int      // points queued
	kick    chan struct{}
	flush   chan chan error

	// the sender's own (Run's goroutine)
	zw   *gzip.Writer
	body bytes.Buffer

	written, dropped, failed metrics.Counter
	queued                   metrics.GaugeFunc
	lastErr                  string
}

// New makes an archive; nothing is sent until Run. reg may be nil.
func New(cfg Config, logger *slog.Logger, reg metrics.Registerer) (*Archive, error) {
	if cfg.URL == "" {
		return nil, errors.New("influx: no url")
	}
	u, err := url.Parse(strings.TrimRight(cfg.URL, "/") + "/api/v2/write")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("influx: url %q is not http(s)://host[:port]", cfg.URL)
	}
	u.RawQuery = url.Values{"org": {cfg.Org}, "bucket": {cfg.Bucket}, "precision": {"ms"}}.Encode()
	cfg.defaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed) // a valid level: no error
	a := &Archive{
		cfg: cfg, log: logger, hc: &http.Client{Timeout: cfg.Timeout}, writeURL: u.String(), zw: zw,
		kick: make(chan struct{}, 1), flush: make(chan chan error),
		written: metrics.NewCounter(metrics.CounterOpts{Name: "anxin_archive_written_total",
			Help: "Readings written to the time-series store."}),
		dropped: metrics.NewCounter(metrics.CounterOpts{Name: "anxin_archive_dropped_total",
			Help: "Readings dropped because the time-series store was too slow or down, or rejected them."}),
		failed: metrics.NewCounter(metrics.CounterOpts{Name: "anxin_archive_write_errors_total",
			Help: "Failed writes to the time-series store (each retried or dropped)."}),
	}
	a.queued = metrics.NewGaugeFunc(metrics.GaugeOpts{Name: "anxin_archive_queue_length",
		Help: "Readings waiting to be written to the time-series store."}, func() float64 { return float64(a.Len()) })
	if reg != nil {
		for _, c := range []metrics.Collector{a.written, a.dropped, a.failed, a.queued} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("influx: metrics: %w", err)
			}
		}
	}
	return a, nil
}

// Write queues a reading (events are not archived). It never blocks on the
// store: when the queue is full the oldest batch is dropped.
func (a *Archive) Write(m *anxin.Message) { a.WriteThen(m, nil) }

// WriteThen is Write that calls done (if not nil) once the reading is in
// the store, or at once when there is nothing to archive (an event). A
// reading dropped (the queue overflowed, the store refused it, or shutdown
// came first) never calls done: a caller that acknowledges its source in
// done leaves it unacknowledged, to come again.
func (a *Archive) WriteThen(m *anxin.Message, done func()) {
	if m.IsEvent() || len(m.Fields) == 0 {
		if done != nil {
			done()
		}
		return
	}
	a.mu.Lock()
	var t *batch
	if k := len(a.batches); k > 0 && a.batches[k-1].n < a.cfg.BatchSize {
		t = a.batches[k-1]
	} else {
		t, a.spare = a.spare, nil
		if t == nil {
			t = &batch{b: make([]byte, 0, 64<<10)}
		}
		a.batches = append(a.batches, t)
	}
	t.b = append(AppendLine(t.b, m), '\n')
	t.n++
	if done != nil {
		t.done = append(t.done, done)
	}
	a.n++
	for a.n > a.cfg.Queue {
		old := a.batches[0]
		a.batches = slices.Delete(a.batches, 0, 1)
		a.n -= old.n
		a.dropped.Add(float64(old.n))
	}
	full := a.n >= a.cfg.BatchSize
	a.mu.Unlock()
	if full {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
}

// Len is how many points are queued.
func (a *Archive) Len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.n
}

// take removes the oldest batch from the queue (nil when empty); give it
// back with recycle once sent.
func (a *Archive) take() *batch {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.batches) == 0 {
		return nil
	}
	b := a.batches[0]
	a.batches[0] = nil
	a.batches = a.batches[1:]
	if len(a.batches) == 0 {
		a.batches = a.batches[:0:0] // let the emptied array go
	}
	a.n -= b.n
	return b
}

func (a *Archive) recycle(b *batch) {
	if cap(b.b) > 4<<20 {
		return // an oversized buffer is not kept
	}
	clear(b.done)
	b.b, b.n, b.done = b.b[:0], 0, b.done[:0]
	a.mu.Lock()
	a.spare = b
	a.mu.Unlock()
}

// Run sends batches until ctx is cancelled, then makes one last attempt
// (bounded by the write timeout) to send what is queued.
func (a *Archive) Run(ctx context.Context) error {
	tick := time.NewTicker(a.cfg.FlushInterval)
	defer tick.Stop()
	for {
		var waiter chan error
		partial := false // a partial batch goes once per flush interval, or on Flush
		select {
		case <-ctx.Done():
			a.drain()
			return nil
		case <-tick.C:
			partial = true
		case <-a.kick:
		case waiter = <-a.flush:
			partial = true
		}
		for ctx.Err() == nil {
			n := a.Len()
			if n == 0 || (n < a.cfg.BatchSize && !partial) {
				break
			}
			b := a.take()
			if b == nil {
				break
			}
			if a.sendRetrying(ctx, b.b, b.n) {
				b.written()
			}
			a.recycle(b)
		}
		if waiter != nil {
			waiter <- nil
		}
	}
}

// written calls the batch's done functions (its points are in the store).
func (b *batch) written() {
	for _, f := range b.done {
		f()
	}
}

// sendRetrying sends one batch, retrying with backoff while the error is
// retryable, the archive runs and no newer data has to be dropped for it.
// It reports whether the batch was written.
func (a *Archive) sendRetrying(ctx context.Context, body []byte, k int) bool {
	backoff := 100 * time.Millisecond
	for {
		err := a.send(ctx, body)
		if err == nil {
			a.written.Add(float64(k))
			a.lastErr = ""
			return true
		}
		a.failed.Inc()
		if !retryable(err) || ctx.Err() != nil {
			a.dropped.Add(float64(k))
			a.logErr("archive: batch dropped", k, err)
			return false
		}
		a.logErr("archive: write failed, retrying", k, err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(backoff*2, a.cfg.MaxBackoff)
		if a.Len() >= a.cfg.Queue {
			// the queue is full of newer points: they matter more than this batch
			a.dropped.Add(float64(k))
			return false
		}
	}
}

// drain makes one bounded attempt to send what is queued at shutdown.
func (a *Archive) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Timeout)
	defer cancel()
	for {
		b := a.take()
		if b == nil {
			return
		}
		if err := a.send(ctx, b.b); err != nil {
			lost := b.n + a.Len()
			a.dropped.Add(float64(lost))
			a.log.Warn("archive: points lost at shutdown", "points", lost, "err", err)
			return
		}
		a.written.Add(float64(b.n))
		b.written()
	}
}

// Flush asks Run to send everything queued now and waits until it has.
func (a *Archive) Flush(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case a.flush <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close releases idle connections (after Run has returned).
func (a *Archive) Close() error {
	a.hc.CloseIdleConnections()
	return nil
}

// StatusError is a write the store answered with a status other than 2xx.
type StatusError struct {
	StatusCode int
	Message    string // the start of the store's answer
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("time-series store answered %d: %s", e.StatusCode, e.Message)
}

// send posts one body, gzipped (the sender's goroutine only).
func (a *Archive) send(ctx context.Context, body []byte) error {
	if len(body) == 0 {
		return nil
	}
	a.body.Reset()
	a.zw.Reset(&a.body)
	if _, err := a.zw.Write(body); err != nil {
		return err
	}
	if err := a.zw.Close(); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.writeURL, bytes.NewReader(a.body.Bytes()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	req.Header.Set("Content-Encoding", "gzip")
	if a.cfg.Token != "" {
		req.Header.Set("Authorization", "Token "+a.cfg.Token)
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // keep the connection reusable
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return &StatusError{StatusCode: resp.StatusCode, Message: strings.TrimSpace(string(msg))}
}

// logErr logs a failure once per distinct error, not once per retry.
func (a *Archive) logErr(msg string, points int, err error) {
	s := err.Error()
	if s == a.lastErr {
		return
	}
	a.lastErr = s
	a.log.Warn(msg, "points", points, "err", s)
}

// retryable: network errors, 429 and 5xx are retried; other 4xx mean the
// store will never take the batch.
func retryable(err error) bool {
	var he *StatusError
	if errors.As(err, &he) {
		return he.StatusCode == 429 || he.StatusCode >= 500
	}
	return true
}

// AppendLine appends m as one line of InfluxDB line protocol:
// measurement = kind, tags household and device, the fields (numbers as
// floats, booleans as booleans) in name order, the timestamp in ms.
// Ids and field names are [A-Za-z0-9_-] by contract: nothing to escape.
func AppendLine(b []byte, m *anxin.Message) []byte {
	b = append(b, m.Kind...)
	b = append(b, ",device="...)
	b = append(b, m.Device...)
	b = append(b, ",household="...)
	b = append(b, m.Household...)
	b = append(b, ' ')
	// names and values in one walk of the map (no look-up per name after
	// the sort), sorted in place: readings carry a few fields
	var fields [16]field
	fs := fields[:0]
	for k, v := range m.Fields {
		fs = append(fs, field{k, v})
	}
	for i := 1; i < len(fs); i++ {
		for j := i; j > 0 && fs[j].name < fs[j-1].name; j-- {
			fs[j], fs[j-1] = fs[j-1], fs[j]
		}
	}
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f.name...)
		b = append(b, '=')
		switch v := f.v; {
		case v.IsBool() && v.True():
			b = append(b, 't')
		case v.IsBool():
			b = append(b, 'f')
		default:
			b = strconv.AppendFloat(b, v.Float(), 'g', -1, 64)
		}
	}
	b = append(b, ' ')
	return strconv.AppendInt(b, m.TS.UnixMilli(), 10)
}

type field struct {
	name string
	v    anxin.Value
}
