// Package spool is gatewayd's durable FIFO between the drivers and the
// uplink: normalized messages are appended to segment files, handed out in
// order by a cursor and dropped once acknowledged. Events are fsynced before
// Put returns and never thinned; readings may be thinned, oldest first, when
// the spool is full. It knows nothing of MQTT (docs/gatewayd.md).
package spool

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
)

// FsyncMode says when spooled readings reach the disk. Events are always
// fsynced before Put returns.
type FsyncMode string

// Fsync modes.
const (
	// FsyncAlways fsyncs every record before Put returns (concurrent Puts
	// share one fsync).
	FsyncAlways FsyncMode = "always"
	// FsyncBatch fsyncs readings at least every SyncInterval; events still
	// before Put returns.
	FsyncBatch FsyncMode = "batch"
)

// Valid reports whether m is a known mode.
func (m FsyncMode) Valid() bool { return m == FsyncAlways || m == FsyncBatch }

// ErrClosed is returned by Put and Cursor.Next after Close.
var ErrClosed = errors.New("spool closed")

// errStaleCursor is returned by a cursor after a newer one was made.
var errStaleCursor = errors.New("spool cursor replaced by a newer one")

// Options configure a Spool.
type Options struct {
	Dir          string
	MaxBytes     int64         // readings are thinned past this size; 0: 64 MiB
	Fsync        FsyncMode     // "": batch
	SyncInterval time.Duration // batch mode: readings fsynced at least this often; 0: 200 ms
	SegmentBytes int64         // 0: MaxBytes/16 within [64 KiB, 8 MiB]
	Logger       *slog.Logger
	Metrics      metrics.Registerer // nil: not exported
}

// Spool is a durable on-disk FIFO of normalized messages between the drivers
// and the uplink. It is a set of append-only segment files of CRC-checked
// records plus an acknowledgement pointer; a record leaves the spool only
// when the publisher acknowledges it (after the broker's PUBACK). See
// docs/gatewayd.md for what is fsynced when.
type Spool struct {
	opts   Options
	log    *slog.Logger
	segMax int64
	lock   *os.File // flock: one process per spool directory

	mu        sync.Mutex
	segs      []*segment // oldest first; the last one is written to
	active    *os.File
	appended  int64 // bytes appended since open, for group commit
	nextSeq   uint64
	acked     uint64
	total     int64 // bytes of all segment files
	live      int64 // records not yet acknowledged
	delivered []uint64
	readHigh  uint64 // highest seq handed to the current cursor
	epoch     uint64 // bumped by every new cursor
	closed    bool
	overLog   bool // "only events left" logged since the last time under budget
	// latest is the seq of the newest device status per topic: an older
	// one may be thinned, the newest never (only the last status matters).
	// Entries at or below the ack pointer are pruned.
	latest  map[string]uint64
	ackFile *os.File
	ackSlot int64
	buf     []byte

	durable atomic.Int64 // appended bytes known to be on disk
	syncMu  sync.Mutex

	wake     chan struct{}
	closedCh chan struct{}
	ackCh    chan struct{} // closed and replaced at every Ack: WaitAcked's wake-up
	syncDone chan struct{}

	mDepth, mBytes                            metrics.Gauge
	mDropped, mSuperseded, mCorrupt, mPutErrs metrics.Counter
}

type segment struct {
	first    uint64 // seq in the file name; orders segments
	last     uint64 // seq of the last record (0: none)
	path     string
	size     int64
	records  int
	readings int
	statuses []statusRef // device status records, in order
}

// statusRef is a device status record of a segment.
type statusRef struct {
	seq   uint64
	topic string
}

// add counts r, appended or found at the end of seg.
func (seg *segment) add(r *Record) {
	seg.records++
	seg.last = r.Seq
	if r.reading() {
		seg.readings++
	}
	if r.Status {
		seg.statuses = append(seg.statuses, statusRef{r.Seq, r.Topic})
	}
}

func segName(first uint64) string { return fmt.Sprintf("%020d.seg", first) }

// Open opens (or creates) the spool in opts.Dir, recovering from a
// crash: a torn record at the end of the newest segment is cut off, corrupt
// records elsewhere are skipped (counted and logged), acknowledged segments
// are removed.
func Open(opts Options) (*Spool, error) {
	if opts.Dir == "" {
		return nil, errors.New("spool: no directory")
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	if opts.Fsync == "" {
		opts.Fsync = FsyncBatch
	}
	if !opts.Fsync.Valid() {
		return nil, fmt.Errorf("spool: fsync %q is not always|batch", opts.Fsync)
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = 200 * time.Millisecond
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = min(max(opts.MaxBytes/16, 64<<10), 8<<20)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Spool{
		opts:     opts,
		log:      opts.Logger.With("component", "spool"),
		segMax:   opts.SegmentBytes,
		wake:     make(chan struct{}, 1),
		closedCh: make(chan struct{}),
		ackCh:    make(chan struct{}),
		latest:   map[string]uint64{},
	}
	s.metrics()
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(opts.Dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := lockFile(lock); err != nil {
		lock.Close()
		return nil, fmt.Errorf("spool: %s is in use by another process: %w", opts.Dir, err)
	}
	s.lock = lock
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	if opts.Fsync == FsyncBatch {
		s.syncDone = make(chan struct{})
		go s.syncLoop()
	}
	s.register(opts.Metrics)
	return s, nil
}

func (s *Spool) metrics() {
	s.mDepth = metrics.NewGauge(metrics.GaugeOpts{Name: "anxin_spool_depth_messages",
		Help: "Messages in the spool not yet acknowledged by the broker."})
	s.mBytes = metrics.NewGauge(metrics.GaugeOpts{Name: "anxin_spool_bytes",
		Help: "Bytes of spool segment files on disk."})
	s.mDropped = metrics.NewCounter(metrics.CounterOpts{Name: "anxin_spool_dropped_readings_total",
		Help: "Readings thinned because the spool was over max_bytes (events are never dropped)."})
	s.mSuperseded = metrics.NewCounter(metrics.CounterOpts{Name: "anxin_spool_dropped_statuses_total",
		Help: "Device statuses thinned because the spool was over max_bytes and a newer status of the same device was spooled."})
	s.mCorrupt = metrics.NewCounter(metrics.CounterOpts{Name: "anxin_spool_corrupt_records_total",
		Help: "Damaged records skipped when reading the spool."})
	s.mPutErrs = metrics.NewCounter(metrics.CounterOpts{Name: "anxin_spool_put_errors_total",
		Help: "Messages the spool could not store (rejected or disk error)."})
}

// register exports the metrics, once Open succeeded (a spool that failed
// to open must not hold the names a second one would export).
func (s *Spool) register(reg metrics.Registerer) {
	if reg != nil {
		for _, c := range []metrics.Collector{s.mDepth, s.mBytes, s.mDropped, s.mSuperseded, s.mCorrupt, s.mPutErrs} {
			if err := reg.Register(c); err != nil {
				s.log.Warn("spool metric not registered", "err", err)
			}
		}
	}
}

// recover scans the directory and opens a fresh segment to append to.
func (s *Spool) recover() error {
	dir := s.opts.Dir
	ack, err := os.OpenFile(filepath.Join(dir, "ack"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	s.ackFile = ack
	s.acked = readAck(ack)

	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	var firsts []uint64
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, ".seg.tmp") { // an interrupted compaction: the original is intact
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
			continue
		}
		num, ok := strings.CutSuffix(name, ".seg")
		if !ok {
			continue
		}
		first, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			s.log.Warn("spool: ignoring unexpected file", "file", name)
			continue
		}
		firsts = append(firsts, first)
	}
	slices.Sort(firsts)
	var prev uint64
	for i, first := range firsts {
		seg := &segment{first: first, path: filepath.Join(dir, segName(first))}
		last := i == len(firsts)-1
		if err := s.scanSegment(seg, prev, last); err != nil {
			return err
		}
		if seg.records == 0 || seg.last <= s.acked {
			if err := os.Remove(seg.path); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
			if seg.last > prev {
				prev = seg.last
			}
			continue
		}
		prev = seg.last
		s.segs = append(s.segs, seg)
		s.total += seg.size
	}
	s.nextSeq = max(prev, s.acked) + 1
	if err := s.newActive(); err != nil {
		return err
	}
	s.mDepth.Set(float64(s.live))
	s.mBytes.Set(float64(s.total))
	if s.live > 0 {
		s.log.Info("spool recovered", "messages", s.live, "bytes", s.total, "acked_seq", s.acked)
	}
	return nil
}

// scanSegment reads every record of seg, counting those above the ack
// pointer. A damaged newest segment is truncated at its first bad byte when
// nothing valid follows (a torn write); other damage is skipped and the
// segment rewritten without it.
func (s *Spool) scanSegment(seg *segment, prev uint64, newest bool) error {
	f, err := os.OpenFile(seg.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	size := st.Size()
	var (
		buf     []byte
		off     int64
		damaged bool
	)
	for off < size {
		rec, n, b, err := readRecordAt(f, off, buf)
		buf = b
		if err == nil && rec.Seq <= prev {
			err = fmt.Errorf("%w: sequence %d not after %d", errBadRecord, rec.Seq, prev)
		}
		if err != nil {
			if !errors.Is(err, errBadRecord) && err != io.ErrUnexpectedEOF {
				return fmt.Errorf("spool: read %s: %w", seg.path, err)
			}
			next, ok, ferr := findNextRecord(f, off, size, prev)
			if ferr != nil {
				return fmt.Errorf("spool: read %s: %w", seg.path, ferr)
			}
			if !ok && newest {
				s.log.Warn("spool: cut a torn record at the end", "file", filepath.Base(seg.path),
					"offset", off, "bytes", size-off)
				if err := f.Truncate(off); err != nil {
					return fmt.Errorf("spool: truncate %s: %w", seg.path, err)
				}
				if err := f.Sync(); err != nil {
					return fmt.Errorf("spool: %w", err)
				}
				size = off
				break
			}
			s.mCorrupt.Inc()
			damaged = true
			skipTo := size
			if ok {
				skipTo = next
			}
			s.log.Error("spool: skipped a corrupt record", "file", filepath.Base(seg.path),
				"offset", off, "bytes", skipTo-off, "err", err)
			off = skipTo
			continue
		}
		seg.add(&rec)
		prev = rec.Seq
		if rec.Seq > s.acked {
			s.live++
			if rec.Status {
				s.latest[rec.Topic] = rec.Seq
			}
		}
		off += int64(n)
	}
	seg.size = size
	if damaged && seg.records > 0 {
		// rewrite without the damage so readers never meet it again
		_, err := s.rewrite(seg, func(Record) bool { return true })
		return err
	}
	return nil
}

// newActive creates the segment new records are appended to.
func (s *Spool) newActive() error {
	seg := &segment{first: s.nextSeq, path: filepath.Join(s.opts.Dir, segName(s.nextSeq))}
	f, err := os.OpenFile(seg.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := syncDir(s.opts.Dir); err != nil {
		f.Close()
		return err
	}
	s.active = f
	s.segs = append(s.segs, seg)
	return nil
}

// rotate makes the active segment immutable (fsynced) and starts a new one.
// Called with mu held.
func (s *Spool) rotate() error {
	if err := s.active.Sync(); err != nil {
		return fmt.Errorf("spool: fsync: %w", err)
	}
	storeMax(&s.durable, s.appended)
	if err := s.active.Close(); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return s.newActive()
}

// Put appends m to the spool. Events (and, with fsync always, readings)
// are on disk when Put returns nil; readings in batch mode within
// SyncInterval. It implements drivers.Sink.
func (s *Spool) Put(ctx context.Context, m anxin.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	payload, err := json.Marshal(&m)
	if err != nil {
		s.mPutErrs.Inc()
		return anxin.Errorf(anxin.EINVALID, "spool: %v", err)
	}
	return s.put(Record{Event: m.IsEvent(), Topic: m.Topic(), Payload: payload})
}

// PutStatus appends a device status, published retained on
// anxin/v1/<hh>/<dev>/status with the payload {"state":…,"ts":…}. Like an
// event it is on disk when PutStatus returns nil and is never thinned while
// it is its device's newest status; an older status of the same device may
// be thinned when the spool is full (the retained topic ends at the newest).
func (s *Spool) PutStatus(ctx context.Context, st anxin.DeviceStatus) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := st.Validate(); err != nil {
		s.mPutErrs.Inc()
		return anxin.Errorf(anxin.EINVALID, "spool: %v", err)
	}
	st.TS = st.TS.UTC()
	payload, err := json.Marshal(st.Payload())
	if err != nil {
		s.mPutErrs.Inc()
		return anxin.Errorf(anxin.EINVALID, "spool: %v", err)
	}
	return s.put(Record{Status: true, Topic: st.Topic(), Payload: payload})
}

func (s *Spool) put(r Record) error {
	if len(r.Payload) > anxin.MaxPayload || len(r.Topic) > maxTopic {
		s.mPutErrs.Inc()
		return anxin.Errorf(anxin.EINVALID, "spool: message of %d bytes exceeds %d", len(r.Payload), anxin.MaxPayload)
	}
	s.mu.Lock()
	target, err := s.appendLocked(r)
	s.mu.Unlock()
	if err != nil {
		s.mPutErrs.Inc()
		return err
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	if !r.reading() || s.opts.Fsync == FsyncAlways {
		if err := s.syncTo(target); err != nil {
			s.mPutErrs.Inc()
			return err
		}
	}
	return nil
}

func (s *Spool) appendLocked(r Record) (int64, error) {
	if s.closed {
		return 0, ErrClosed
	}
	seg := s.segs[len(s.segs)-1]
	r.Seq = s.nextSeq
	s.buf = appendRecord(s.buf[:0], r)
	if seg.records > 0 && seg.size+int64(len(s.buf)) > s.segMax {
		if err := s.rotate(); err != nil {
			return 0, err
		}
		seg = s.segs[len(s.segs)-1]
	}
	n, err := s.active.Write(s.buf)
	if err != nil && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) {
		// The disk filled before max_bytes did (a disk smaller than the
		// budget): make room as a full spool would, dropping the oldest
		// readings, rather than refuse this record (perhaps a press).
		s.cutFailedWrite(seg)
		s.log.Warn("spool: disk full below max_bytes: dropping oldest readings", "bytes", s.total,
			"max_bytes", s.opts.MaxBytes)
		s.thinBy(max(s.total/10, int64(len(s.buf))))
		seg = s.segs[len(s.segs)-1] // thinning may have rotated
		n, err = s.active.Write(s.buf)
	}
	if err != nil {
		s.cutFailedWrite(seg)
		return 0, fmt.Errorf("spool: write: %w", err)
	}
	s.nextSeq++
	seg.size += int64(n)
	seg.add(&r)
	if r.Status {
		s.latest[r.Topic] = r.Seq
	}
	s.total += int64(n)
	s.appended += int64(n)
	s.live++
	if s.total > s.opts.MaxBytes {
		s.thin()
	} else {
		s.overLog = false
	}
	s.mDepth.Set(float64(s.live))
	s.mBytes.Set(float64(s.total))
	return s.appended, nil
}

// syncTo returns once the first upto appended bytes are on disk. Concurrent
// callers share one fsync (group commit).
func (s *Spool) syncTo(upto int64) error {
	if s.durable.Load() >= upto {
		return nil
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.durable.Load() >= upto {
		return nil
	}
	s.mu.Lock()
	f, end := s.active, s.appended
	s.mu.Unlock()
	if err := f.Sync(); err != nil {
		if s.durable.Load() >= upto { // rotated (and fsynced) meanwhile
			return nil
		}
		return fmt.Errorf("spool: fsync: %w", err)
	}
	storeMax(&s.durable, end)
	return nil
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if old >= v || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// Sync fsyncs everything appended so far.
func (s *Spool) Sync() error {
	s.mu.Lock()
	end := s.appended
	s.mu.Unlock()
	return s.syncTo(end)
}

func (s *Spool) syncLoop() {
	defer close(s.syncDone)
	t := time.NewTicker(s.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.closedCh:
			return
		case <-t.C:
			if err := s.Sync(); err != nil && !errors.Is(err, os.ErrClosed) {
				s.log.Error("spool: periodic fsync failed", "err", err)
			}
		}
	}
}

// thinnable reports whether seg holds a record thin may drop: a reading,
// or a device status a newer one of the same device supersedes, above floor.
func (s *Spool) thinnable(seg *segment, floor uint64) bool {
	if seg.last <= floor {
		return false
	}
	if seg.readings > 0 {
		return true
	}
	for _, st := range seg.statuses {
		if st.seq > floor && s.latest[st.topic] > st.seq {
			return true
		}
	}
	return false
}

// cutFailedWrite leaves no partial record behind for the next append to
// follow. Called with mu held.
func (s *Spool) cutFailedWrite(seg *segment) {
	if err := s.active.Truncate(seg.size); err != nil {
		s.log.Error("spool: cannot cut a failed write", "err", err)
	}
}

// thin drops the oldest readings, and device statuses a newer status of the
// same device supersedes, until the spool is 10% under MaxBytes. Events,
// the newest status of each device, records already handed to the
// publisher and the active segment are never touched. Called with mu held.
func (s *Spool) thin() {
	s.thinBy(s.total - s.opts.MaxBytes + s.opts.MaxBytes/10)
}

// thinBy is thin freeing about need bytes.
func (s *Spool) thinBy(need int64) {
	if len(s.segs) == 1 && s.thinnable(s.segs[0], max(s.acked, s.readHigh)) {
		if err := s.rotate(); err != nil {
			s.log.Error("spool: cannot rotate to thin", "err", err)
			return
		}
	}
	floor := max(s.acked, s.readHigh)
	var dropped, superseded int64
	for i := 0; i < len(s.segs)-1 && need > 0; i++ {
		seg := s.segs[i]
		if !s.thinnable(seg, floor) {
			continue
		}
		before := seg.size
		var thinned, thinnedStatuses int64
		_, err := s.rewrite(seg, func(r Record) bool {
			size := int64(recHeader + bodyFixed + len(r.Topic) + len(r.Payload))
			switch {
			case r.Seq <= s.acked: // acknowledged already: free to go
				need -= size
				return false
			case r.Event || r.Seq <= floor || need <= 0:
				return true
			case r.Status && s.latest[r.Topic] <= r.Seq: // its device's newest status
				return true
			}
			need -= size
			if r.Status {
				thinnedStatuses++
			} else {
				thinned++
			}
			return false
		})
		if err != nil {
			// go on: a later segment of readings only needs no space to
			// rewrite (a full disk)
			s.log.Error("spool: thinning failed", "file", filepath.Base(seg.path), "err", err)
			continue
		}
		s.total -= before - seg.size
		dropped += thinned
		superseded += thinnedStatuses
		if seg.records == 0 {
			if err := os.Remove(seg.path); err != nil {
				s.log.Error("spool: remove", "err", err)
			}
			s.segs = slices.Delete(s.segs, i, i+1)
			i--
		}
	}
	if dropped > 0 || superseded > 0 {
		s.live -= dropped + superseded
		s.mDropped.Add(float64(dropped))
		s.mSuperseded.Add(float64(superseded))
		s.log.Warn("spool over max_bytes: dropped oldest readings", "readings", dropped,
			"superseded_statuses", superseded, "bytes", s.total, "max_bytes", s.opts.MaxBytes)
	}
	if need > 0 && s.total > s.opts.MaxBytes && !s.overLog {
		s.overLog = true
		s.log.Warn("spool over max_bytes with nothing left to thin: keeping events, disk use grows",
			"bytes", s.total, "max_bytes", s.opts.MaxBytes)
	}
}

// rewrite replaces seg's file by one holding the records keep accepts,
// atomically (temp file, fsync, rename, fsync dir). It returns how many
// records were left out.
func (s *Spool) rewrite(seg *segment, keep func(Record) bool) (int, error) {
	src, err := os.Open(seg.path)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return 0, err
	}
	tmp := seg.path + ".tmp"
	dst, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	var (
		buf, out  []byte
		off, size = int64(0), st.Size()
		counted   segment
		dropped   int
		prev      uint64
		written   int64
		werr      error
		flushOut  = func() {
			if werr == nil && len(out) > 0 {
				_, werr = dst.Write(out)
				written += int64(len(out))
				out = out[:0]
			}
		}
	)
	for off < size {
		rec, n, b, err := readRecordAt(src, off, buf)
		buf = b
		if err == nil && rec.Seq <= prev {
			err = errBadRecord
		}
		if err != nil {
			next, ok, ferr := findNextRecord(src, off, size, prev)
			if ferr != nil || !ok {
				break
			}
			off = next
			continue
		}
		off += int64(n)
		prev = rec.Seq
		if !keep(rec) {
			dropped++
			continue
		}
		out = appendRecord(out, rec)
		counted.add(&rec)
		if len(out) > 256<<10 {
			flushOut()
		}
	}
	flushOut()
	if werr == nil {
		werr = dst.Sync()
	}
	if cerr := dst.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, seg.path)
	}
	if werr == nil {
		werr = syncDir(s.opts.Dir)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return 0, werr
	}
	seg.size, seg.records, seg.readings, seg.last, seg.statuses = written, counted.records, counted.readings, counted.last, counted.statuses
	return dropped, nil
}

// Requeue appends a copy of r, the record next to acknowledge (Seq one past
// Acked), and then acknowledges r: it goes out again after everything
// spooled now, nothing lost (a crash between the two leaves both, and the
// receiver drops the duplicate by its id). For a record the broker keeps
// refusing, which would otherwise hold back every record behind it.
func (s *Spool) Requeue(r Record) error {
	if a := s.Acked(); r.Seq != a+1 {
		return fmt.Errorf("spool: requeue of record %d, not the next to acknowledge (%d)", r.Seq, a+1)
	}
	if err := s.put(Record{Event: r.Event, Status: r.Status, Topic: r.Topic, Payload: bytes.Clone(r.Payload)}); err != nil {
		return err
	}
	if r.reading() { // put syncs events and statuses itself
		if err := s.Sync(); err != nil {
			return err
		}
	}
	return s.Ack(r.Seq)
}

// Ack records that every message up to seq was acknowledged by the broker,
// so it may leave the spool. The pointer is written at once (it survives a
// process kill) and fsynced on Close; after a power loss the last acks may
// be forgotten and those messages sent again, with the same ids.
func (s *Spool) Ack(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if seq <= s.acked {
		return nil
	}
	s.acked = seq
	close(s.ackCh)
	s.ackCh = make(chan struct{})
	k := 0
	for k < len(s.delivered) && s.delivered[k] <= seq {
		k++
	}
	s.live -= int64(k)
	s.delivered = s.delivered[k:]
	if len(s.delivered) == 0 {
		s.delivered = nil
	}
	if seq >= s.nextSeq-1 || s.live < 0 {
		s.live = 0
	}
	for len(s.segs) > 1 && s.segs[0].last <= seq {
		if err := os.Remove(s.segs[0].path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("spool: %w", err)
		}
		s.total -= s.segs[0].size
		s.segs = s.segs[1:]
	}
	if s.total <= s.opts.MaxBytes {
		s.overLog = false
	}
	for topic, newest := range s.latest { // a few devices per home
		if newest <= seq {
			delete(s.latest, topic)
		}
	}
	s.mDepth.Set(float64(s.live))
	s.mBytes.Set(float64(s.total))
	return s.writeAck(false)
}

// The ack file has two 16-byte slots written in turn (seq, CRC of seq), so a
// torn write of one leaves the other intact.
func (s *Spool) writeAck(fsync bool) error {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], s.acked)
	binary.LittleEndian.PutUint32(b[8:], crc32.Checksum(b[:8], crcTable))
	if _, err := s.ackFile.WriteAt(b[:], s.ackSlot*16); err != nil {
		return fmt.Errorf("spool: write ack: %w", err)
	}
	s.ackSlot ^= 1
	if fsync {
		if err := s.ackFile.Sync(); err != nil {
			return fmt.Errorf("spool: fsync ack: %w", err)
		}
	}
	return nil
}

func readAck(f *os.File) uint64 {
	var b [32]byte
	n, _ := f.ReadAt(b[:], 0) // a short or missing file means nothing acknowledged
	var best uint64
	for off := 0; off+16 <= n; off += 16 {
		slot := b[off : off+16]
		seq := binary.LittleEndian.Uint64(slot)
		if crc32.Checksum(slot[:8], crcTable) == binary.LittleEndian.Uint32(slot[8:]) && seq > best {
			best = seq
		}
	}
	return best
}

// Acked is the sequence number up to which the broker acknowledged.
func (s *Spool) Acked() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked
}

// WaitAcked waits until every message put before the call was
// acknowledged (Ack), and returns nil; or ctx.Err(), or ErrClosed. It is
// the event tests and shutdown wait on instead of polling Stats.
func (s *Spool) WaitAcked(ctx context.Context) error {
	s.mu.Lock()
	target := s.nextSeq - 1
	for s.live > 0 && s.acked < target {
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		ch := s.ackCh
		s.mu.Unlock()
		select {
		case <-ch:
		case <-s.closedCh:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	s.mu.Unlock()
	return nil
}

// Stats is a snapshot of the spool's gauges.
type Stats struct {
	Depth    int64  // messages not yet acknowledged
	InFlight uint64 // of those, handed to the current cursor (sent, awaiting their ack)
	Bytes    int64  // bytes of segment files
	Written  int64  // bytes appended since the spool was opened
	NextSeq  uint64
	Acked    uint64
}

// Stats returns the current depth and size.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	var flying uint64
	if s.readHigh > s.acked {
		flying = s.readHigh - s.acked
	}
	return Stats{Depth: s.live, InFlight: flying, Bytes: s.total, Written: s.appended, NextSeq: s.nextSeq, Acked: s.acked}
}

// Close fsyncs the spool and the ack pointer and releases the directory.
// Put and cursors fail with ErrClosed afterwards.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closedCh)
	var errs []error
	if err := s.active.Sync(); err != nil {
		errs = append(errs, fmt.Errorf("spool: fsync: %w", err))
	}
	storeMax(&s.durable, s.appended)
	errs = append(errs, s.writeAck(true))
	s.mu.Unlock()
	if s.syncDone != nil {
		<-s.syncDone
	}
	errs = append(errs, s.closeFiles())
	return errors.Join(errs...)
}

func (s *Spool) closeFiles() error {
	var errs []error
	if s.active != nil {
		errs = append(errs, s.active.Close())
	}
	if s.ackFile != nil {
		errs = append(errs, s.ackFile.Close())
	}
	if s.lock != nil {
		errs = append(errs, s.lock.Close()) // releases the flock
	}
	return errors.Join(errs...)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("spool: fsync dir: %w", err)
	}
	return nil
}

// Cursor reads the spool in order from just after the acknowledged
// position. Only the newest cursor of a spool works: making one (after a
// reconnect) rewinds to the ack pointer, so unacknowledged messages are
// sent again.
type Cursor struct {
	s     *Spool
	epoch uint64
	after uint64 // seq of the last record returned
	seg   uint64 // first seq of the open segment
	f     *os.File
	ra    windowReader
	off   int64
	buf   []byte
}

// windowReader reads a segment through a 64 KiB window, so the publisher
// makes one read syscall per window instead of two per record. It never
// caches bytes at or past limit (the end of what was fully appended).
type windowReader struct {
	f     *os.File
	limit int64 // -1: immutable file, read to EOF
	base  int64
	win   []byte
}

func (w *windowReader) reset(f *os.File) { w.f, w.base, w.win = f, 0, w.win[:0] }

func (w *windowReader) ReadAt(p []byte, off int64) (int, error) {
	if off < w.base || off+int64(len(p)) > w.base+int64(len(w.win)) {
		size := int64(max(len(p), 64<<10))
		if w.limit >= 0 {
			size = min(size, w.limit-off)
		}
		if size <= 0 {
			return 0, io.EOF
		}
		if int64(cap(w.win)) < size {
			w.win = make([]byte, size)
		}
		k, err := w.f.ReadAt(w.win[:size], off)
		w.base, w.win = off, w.win[:k]
		if k < len(p) {
			copy(p, w.win)
			if err == nil {
				err = io.EOF
			}
			return k, err
		}
	}
	return copy(p, w.win[off-w.base:]), nil
}

// Cursor returns a cursor positioned after the last acknowledged message,
// invalidating earlier cursors.
func (s *Spool) Cursor() *Cursor {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	s.delivered = nil
	s.readHigh = s.acked
	return &Cursor{s: s, epoch: s.epoch, after: s.acked}
}

// Next returns the next record, waiting for one until ctx ends. The
// record's Payload is valid until the next call.
func (c *Cursor) Next(ctx context.Context) (Record, error) {
	s := c.s
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return Record{}, ErrClosed
		}
		if c.epoch != s.epoch {
			s.mu.Unlock()
			c.Close()
			return Record{}, errStaleCursor
		}
		if c.f == nil {
			var seg *segment
			for _, sg := range s.segs {
				if sg.records > 0 && sg.last > c.after {
					seg = sg
					break
				}
			}
			if seg != nil {
				f, err := os.Open(seg.path)
				if err != nil {
					s.mu.Unlock()
					return Record{}, fmt.Errorf("spool: %w", err)
				}
				c.f, c.seg, c.off = f, seg.first, 0
				c.ra.reset(f)
			}
		}
		limit := int64(-1) // immutable segment: read to EOF
		if c.f != nil {
			if a := s.segs[len(s.segs)-1]; a.first == c.seg {
				limit = a.size
			}
		}
		s.mu.Unlock()

		if c.f == nil || (limit >= 0 && c.off >= limit) {
			select {
			case <-s.wake:
			case <-s.closedCh:
			case <-ctx.Done():
				return Record{}, ctx.Err()
			}
			continue
		}
		c.ra.limit = limit
		rec, n, buf, err := readRecordAt(&c.ra, c.off, c.buf)
		c.buf = buf
		switch {
		case err == io.EOF:
			c.Close()
			continue
		case err != nil:
			if !errors.Is(err, errBadRecord) && err != io.ErrUnexpectedEOF {
				return Record{}, fmt.Errorf("spool: read: %w", err)
			}
			s.mCorrupt.Inc()
			size := limit
			if size < 0 {
				st, serr := c.f.Stat()
				if serr != nil {
					return Record{}, fmt.Errorf("spool: %w", serr)
				}
				size = st.Size()
			}
			next, ok, ferr := findNextRecord(&c.ra, c.off, size, c.after)
			if ferr != nil {
				return Record{}, fmt.Errorf("spool: read: %w", ferr)
			}
			s.log.Error("spool: skipped a corrupt record while reading", "offset", c.off, "err", err)
			if !ok {
				c.Close()
				continue
			}
			c.off = next
			continue
		}
		c.off += int64(n)
		if rec.Seq <= c.after {
			continue
		}
		s.mu.Lock()
		if c.epoch != s.epoch {
			s.mu.Unlock()
			c.Close()
			return Record{}, errStaleCursor
		}
		s.delivered = append(s.delivered, rec.Seq)
		s.readHigh = rec.Seq
		s.mu.Unlock()
		c.after = rec.Seq
		return rec, nil
	}
}

// Close releases the cursor's open file.
func (c *Cursor) Close() {
	if c.f != nil {
		_ = c.f.Close() // read-only file
		c.f = nil
		c.ra.reset(nil)
	}
}
