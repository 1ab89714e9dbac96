// Package influx archives readings in a time-series store through the
// InfluxDB v2 write API (github.com/influxdata/influxdb-client-go/v2):
// InfluxDB 2.x/3.x and VictoriaMetrics are supported targets.
//
// The archive never slows the alarm path: Write encodes a reading into line
// protocol and appends it to a bounded in-memory queue; a sender goroutine
// writes batches, retrying with backoff. When the store is slow or down the
// queue fills and the oldest points are dropped and counted
// (anxin_archive_dropped_total).
package influx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	apihttp "github.com/influxdata/influxdb-client-go/v2/api/http"
	"github.com/prometheus/client_golang/prometheus"

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

// Archive is a running archive. Write is safe for concurrent use.
type Archive struct {
	cfg    Config
	log    *slog.Logger
	client influxdb2.Client
	write  api.WriteAPIBlocking

	mu    sync.Mutex
	ring  [][]byte // queued lines, ring buffer of cap cfg.Queue
	head  int
	n     int
	kick  chan struct{}
	flush chan chan error

	written, dropped, failed prometheus.Counter
	queued                   prometheus.GaugeFunc
	lastErr                  string
}

// New makes an archive; nothing is sent until Run. reg may be nil.
func New(cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Archive, error) {
	if cfg.URL == "" {
		return nil, errors.New("influx: no url")
	}
	cfg.defaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := influxdb2.DefaultOptions().SetHTTPRequestTimeout(uint(math.Ceil(cfg.Timeout.Seconds()))).
		SetPrecision(time.Millisecond).SetUseGZip(true)
	client := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	a := &Archive{
		cfg: cfg, log: logger, client: client, write: client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		ring: make([][]byte, cfg.Queue), kick: make(chan struct{}, 1), flush: make(chan chan error),
		written: prometheus.NewCounter(prometheus.CounterOpts{Name: "anxin_archive_written_total",
			Help: "Readings written to the time-series store."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "anxin_archive_dropped_total",
			Help: "Readings dropped because the time-series store was too slow or down, or rejected them."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "anxin_archive_write_errors_total",
			Help: "Failed writes to the time-series store (each retried or dropped)."}),
	}
	a.queued = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "anxin_archive_queue_length",
		Help: "Readings waiting to be written to the time-series store."}, func() float64 { return float64(a.Len()) })
	if reg != nil {
		for _, c := range []prometheus.Collector{a.written, a.dropped, a.failed, a.queued} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("influx: metrics: %w", err)
			}
		}
	}
	return a, nil
}

// Write queues a reading (events are not archived). It never blocks on the
// store: when the queue is full the oldest point is dropped.
func (a *Archive) Write(m *anxin.Message) {
	if m.IsEvent() || len(m.Fields) == 0 {
		return
	}
	line := AppendLine(nil, m)
	a.mu.Lock()
	if a.n == len(a.ring) {
		a.ring[a.head] = nil
		a.head = (a.head + 1) % len(a.ring)
		a.n--
		a.dropped.Inc()
	}
	a.ring[(a.head+a.n)%len(a.ring)] = line
	a.n++
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

// take removes up to n lines from the queue into one body.
func (a *Archive) take(n int, buf []byte) ([]byte, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := min(n, a.n)
	for i := range k {
		j := (a.head + i) % len(a.ring)
		if len(buf) > 0 {
			buf = append(buf, '\n')
		}
		buf = append(buf, a.ring[j]...)
		a.ring[j] = nil
	}
	a.head = (a.head + k) % len(a.ring)
	a.n -= k
	return buf, k
}

// Run sends batches until ctx is cancelled, then makes one last attempt
// (bounded by the write timeout) to send what is queued.
func (a *Archive) Run(ctx context.Context) error {
	tick := time.NewTicker(a.cfg.FlushInterval)
	defer tick.Stop()
	var buf []byte
	for {
		var waiter chan error
		partial := false // a partial batch goes once per flush interval, or on Flush
		select {
		case <-ctx.Done():
			a.drain(buf)
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
			var k int
			buf, k = a.take(a.cfg.BatchSize, buf[:0])
			a.sendRetrying(ctx, buf, k)
		}
		if waiter != nil {
			waiter <- nil
		}
	}
}

// sendRetrying sends one batch, retrying with backoff while the error is
// retryable, the archive runs and no newer data has to be dropped for it.
func (a *Archive) sendRetrying(ctx context.Context, body []byte, k int) {
	backoff := 100 * time.Millisecond
	for {
		err := a.send(ctx, body)
		if err == nil {
			a.written.Add(float64(k))
			a.lastErr = ""
			return
		}
		a.failed.Inc()
		if !retryable(err) || ctx.Err() != nil {
			a.dropped.Add(float64(k))
			a.logErr("archive: batch dropped", k, err)
			return
		}
		a.logErr("archive: write failed, retrying", k, err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(backoff*2, a.cfg.MaxBackoff)
		if a.Len() == len(a.ring) {
			// the queue is full of newer points: they matter more than this batch
			a.dropped.Add(float64(k))
			return
		}
	}
}

// drain makes one bounded attempt to send what is queued at shutdown.
func (a *Archive) drain(buf []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Timeout)
	defer cancel()
	for a.Len() > 0 {
		var k int
		buf, k = a.take(a.cfg.BatchSize, buf[:0])
		if err := a.send(ctx, buf); err != nil {
			lost := k + a.Len()
			a.dropped.Add(float64(lost))
			a.log.Warn("archive: points lost at shutdown", "points", lost, "err", err)
			return
		}
		a.written.Add(float64(k))
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

// Close releases the HTTP client (after Run has returned).
func (a *Archive) Close() error {
	a.client.Close()
	return nil
}

func (a *Archive) send(ctx context.Context, body []byte) error {
	if len(body) == 0 {
		return nil
	}
	return a.write.WriteRecord(ctx, string(body))
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
	var he *apihttp.Error
	if errors.As(err, &he) && he.StatusCode != 0 {
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
	var names [16]string
	keys := names[:0]
	for k := range m.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, k...)
		b = append(b, '=')
		v := m.Fields[k]
		switch {
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
