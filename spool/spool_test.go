package spool

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/anxin-care/anxin/internal/metrics"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/spool/spooltest"
)

var t0 = spooltest.T0

// testMsg is spooltest.Msg.
var testMsg = spooltest.Msg

func openTest(t testing.TB, opts Options) *Spool {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func put(t testing.TB, s *Spool, m anxin.Message) {
	t.Helper()
	if err := s.Put(context.Background(), m); err != nil {
		t.Fatalf("put %s: %v", m.ID, err)
	}
}

// drain reads every record currently in the spool through a new cursor.
func drain(t testing.TB, s *Spool) []Record {
	t.Helper()
	c := s.Cursor()
	defer c.Close()
	want := s.Stats().Depth
	var out []Record
	for int64(len(out)) < want {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r, err := c.Next(ctx)
		cancel()
		if err != nil {
			t.Fatalf("after %d of %d records: %v", len(out), want, err)
		}
		r.Payload = slices.Clone(r.Payload)
		out = append(out, r)
	}
	return out
}

func msgOf(t testing.TB, r Record) anxin.Message {
	t.Helper()
	m, err := anxin.ParseMessage(r.Topic, r.Payload)
	if err != nil {
		t.Fatalf("record %d: %v", r.Seq, err)
	}
	return m
}

func TestSpoolKeepsOrderAndContent(t *testing.T) {
	s := openTest(t, Options{SegmentBytes: 4 << 10})
	var want []anxin.Message
	for i := range 300 {
		m := testMsg("wm1", i, i%7 == 0)
		want = append(want, m)
		put(t, s, m)
	}
	recs := drain(t, s)
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d", len(recs), len(want))
	}
	for i, r := range recs {
		m := msgOf(t, r)
		if m.ID != want[i].ID || r.Event != want[i].IsEvent() || r.Topic != want[i].Topic() {
			t.Fatalf("record %d: got %s event=%v, want %s", i, m.ID, r.Event, want[i].ID)
		}
		if i > 0 && r.Seq <= recs[i-1].Seq {
			t.Fatalf("seq not increasing at %d", i)
		}
	}
	if err := s.Ack(recs[len(recs)-1].Seq); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Depth != 0 {
		t.Fatalf("depth after acking all = %d", st.Depth)
	}
	segs, _ := filepath.Glob(filepath.Join(s.opts.Dir, "*.seg"))
	if len(segs) != 1 {
		t.Fatalf("acknowledged segments not removed: %v", segs)
	}
}

func TestSpoolReplaysUnackedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, SegmentBytes: 2 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		put(t, s, testMsg("wm1", i, i%10 == 0))
	}
	recs := drain(t, s)
	if err := s.Ack(recs[39].Seq); err != nil { // the broker acknowledged the first 40
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTest(t, Options{Dir: dir, SegmentBytes: 2 << 10})
	if d := s2.Stats().Depth; d != 60 {
		t.Fatalf("depth after restart = %d, want 60", d)
	}
	put(t, s2, testMsg("wm1", 100, false))
	got := drain(t, s2)
	for i, r := range got {
		if m := msgOf(t, r); m.ID != testMsg("wm1", 40+i, false).ID {
			t.Fatalf("replay %d: got %s", i, m.ID)
		}
	}
	if len(got) != 61 {
		t.Fatalf("replayed %d, want 61", len(got))
	}
}

func TestSpoolCursorRewindsToAck(t *testing.T) {
	s := openTest(t, Options{})
	for i := range 10 {
		put(t, s, testMsg("btn1", i, true))
	}
	c := s.Cursor()
	for range 6 {
		if _, err := c.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Ack(3); err != nil { // seqs start at 1
		t.Fatal(err)
	}
	c2 := s.Cursor() // a reconnect: everything after the ack is sent again
	if _, err := c.Next(context.Background()); err == nil {
		t.Fatal("old cursor still works after a new one was made")
	}
	r, err := c2.Next(context.Background())
	if err != nil || r.Seq != 4 {
		t.Fatalf("rewound cursor: seq %d err %v, want 4", r.Seq, err)
	}
	c2.Close()
}

func newestSegment(t *testing.T, dir string) string {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segments: %v", err)
	}
	slices.Sort(segs)
	for i := len(segs) - 1; i >= 0; i-- {
		if st, err := os.Stat(segs[i]); err == nil && st.Size() > 0 {
			return segs[i]
		}
	}
	t.Fatal("all segments empty")
	return ""
}

func TestSpoolCutsTornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		put(t, s, testMsg("wm1", i, false))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// a power cut in the middle of writing record 21
	seg := newestSegment(t, dir)
	torn := appendRecord(nil, Record{Seq: 21, Topic: "anxin/v1/hh-0001/wm1/reading", Payload: []byte(`{"id":"x"}`)})
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := f.Seek(0, 2)
	if _, err := f.Write(torn[:len(torn)/2]); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s2 := openTest(t, Options{Dir: dir})
	if st, _ := os.Stat(seg); st.Size() != before {
		t.Fatalf("torn tail not cut: size %d, want %d", st.Size(), before)
	}
	put(t, s2, testMsg("wm1", 20, false))
	recs := drain(t, s2)
	if len(recs) != 21 {
		t.Fatalf("got %d records, want 21", len(recs))
	}
	for i, r := range recs {
		if msgOf(t, r).ID != testMsg("wm1", i, false).ID {
			t.Fatalf("record %d wrong", i)
		}
	}
	if got := metrics.ToFloat64(s2.mCorrupt); got != 0 {
		t.Fatalf("a torn tail counted as corruption: %v", got)
	}
}

func TestSpoolSkipsCorruptRecord(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, SegmentBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		put(t, s, testMsg("wm1", i, true))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	slices.Sort(segs)
	if len(segs) < 3 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	// rot one byte in the payload of the third record of the first segment
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	n, _ := recordLen(b)
	n2, _ := recordLen(b[n:])
	b[n+n2+recHeader+bodyFixed+40] ^= 0x20
	if err := os.WriteFile(segs[0], b, 0o600); err != nil {
		t.Fatal(err)
	}

	reg := metrics.NewRegistry()
	s2 := openTest(t, Options{Dir: dir, SegmentBytes: 4 << 10, Metrics: reg})
	recs := drain(t, s2)
	if len(recs) != 99 {
		t.Fatalf("got %d records, want 99", len(recs))
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, msgOf(t, r).ID)
	}
	if slices.Contains(ids, testMsg("wm1", 2, true).ID) || ids[2] != testMsg("wm1", 3, true).ID {
		t.Fatalf("corrupt record not skipped cleanly: %v", ids[:4])
	}
	if got := metrics.ToFloat64(s2.mCorrupt); got != 1 {
		t.Fatalf("corrupt records counted %v, want 1", got)
	}
}

func TestSpoolThinsOldestReadingsNeverEvents(t *testing.T) {
	reg := metrics.NewRegistry()
	s := openTest(t, Options{MaxBytes: 64 << 10, SegmentBytes: 8 << 10, Metrics: reg})
	var events, readings int
	for i := range 3000 {
		ev := i%50 == 0
		if ev {
			events++
		} else {
			readings++
		}
		put(t, s, testMsg("dev1", i, ev))
	}
	st := s.Stats()
	if st.Bytes > 64<<10+8<<10 {
		t.Fatalf("spool is %d bytes, budget 64 KiB", st.Bytes)
	}
	recs := drain(t, s)
	dropped := int(metrics.ToFloat64(s.mDropped))
	if dropped == 0 {
		t.Fatal("nothing thinned")
	}
	var gotEvents int
	var readingNs []int
	for _, r := range recs {
		m := msgOf(t, r)
		if r.Event {
			gotEvents++
			continue
		}
		readingNs = append(readingNs, int(m.Fields["total_m3"].Float()))
	}
	if gotEvents != events {
		t.Fatalf("events kept %d of %d", gotEvents, events)
	}
	if len(readingNs)+dropped != readings {
		t.Fatalf("readings kept %d + dropped %d != %d", len(readingNs), dropped, readings)
	}
	// oldest first: the readings kept are exactly the newest ones
	first := readingNs[0]
	for i := first; i < 3000; i++ {
		if i%50 != 0 && !slices.Contains(readingNs, i) {
			t.Fatalf("reading %d dropped although older reading %d was kept", i, first)
		}
	}
	if st.Depth != int64(len(recs)) {
		t.Fatalf("depth gauge %d, records %d", st.Depth, len(recs))
	}
}

func TestSpoolKeepsEventsOverBudget(t *testing.T) {
	s := openTest(t, Options{MaxBytes: 16 << 10, SegmentBytes: 4 << 10})
	for i := range 500 {
		put(t, s, testMsg("btn1", i, true))
	}
	if st := s.Stats(); st.Bytes <= 16<<10 || st.Depth != 500 {
		t.Fatalf("stats %+v: events must be kept past max_bytes", st)
	}
	if n := len(drain(t, s)); n != 500 {
		t.Fatalf("got %d events, want 500", n)
	}
}

func TestSpoolConcurrentProducersKeepPerDeviceOrder(t *testing.T) {
	s := openTest(t, Options{Fsync: FsyncAlways, SegmentBytes: 16 << 10})
	var wg sync.WaitGroup
	for d := range 4 {
		wg.Go(func() {
			for i := range 200 {
				if err := s.Put(context.Background(), testMsg(fmt.Sprintf("dev%d", d), i, i%3 == 0)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	last := map[string]int{}
	recs := drain(t, s)
	for _, r := range recs {
		m := msgOf(t, r)
		var n int
		fmt.Sscanf(m.ID[len(m.Device)+1:], "%d", &n)
		if p, ok := last[m.Device]; ok && n != p+1 {
			t.Fatalf("%s: %d after %d", m.Device, n, p)
		}
		last[m.Device] = n
	}
	if len(recs) != 800 {
		t.Fatalf("got %d", len(recs))
	}
}

func TestSpoolBatchFsyncsOnTimer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := Open(Options{Dir: t.TempDir(), SyncInterval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		put(t, s, testMsg("wm1", 1, false))
		if s.durable.Load() != 0 {
			t.Fatal("a reading was fsynced at once in batch mode")
		}
		time.Sleep(1100 * time.Millisecond)
		synctest.Wait()
		if got, want := s.durable.Load(), s.Stats().Bytes; got != want {
			t.Fatalf("durable %d after the interval, want %d", got, want)
		}
		put(t, s, testMsg("btn1", 2, true))
		if got, want := s.durable.Load(), s.Stats().Bytes; got != want {
			t.Fatalf("event not fsynced before Put returned: durable %d of %d", got, want)
		}
	})
}

func TestSpoolIsExclusive(t *testing.T) {
	s := openTest(t, Options{})
	if _, err := Open(Options{Dir: s.opts.Dir}); err == nil {
		t.Fatal("a second spool opened the same directory")
	}
}

func TestSpoolRejectsOversizedMessage(t *testing.T) {
	s := openTest(t, Options{})
	m := testMsg("wm1", 1, false)
	for i := range 2000 {
		m.Fields[fmt.Sprintf("f%04d", i)] = anxin.Num(1.2345678901234)
	}
	if err := s.Put(context.Background(), m); anxin.ErrorCode(err) != anxin.EINVALID {
		t.Fatalf("oversized message: %v", err)
	}
}

// FuzzSpoolSegment feeds hostile bytes to the spool as a segment file: opening
// and reading it must not panic, must yield only well-formed records in
// strictly increasing order, and must keep memory bounded.
func FuzzSpoolSegment(f *testing.F) {
	good := appendRecord(nil, Record{Seq: 1, Topic: "anxin/v1/hh/d/reading", Payload: []byte(`{"a":1}`)})
	good = appendRecord(good, Record{Seq: 2, Event: true, Topic: "anxin/v1/hh/d/event", Payload: []byte(`{}`)})
	good = appendRecord(good, Record{Seq: 3, Status: true, Topic: "anxin/v1/hh/d/status", Payload: []byte(`{"state":"offline"}`)})
	f.Add(good, false)
	f.Add(good[:len(good)-3], true)
	f.Add(append([]byte{0xA5, 0x5A, 0xff, 0xff, 0xff, 0x7f}, good...), true)
	f.Add([]byte{0xA5, 0x5A, 11, 0, 0, 0, 0, 0, 0, 0}, false)
	f.Fuzz(func(t *testing.T, data []byte, second bool) {
		dir := t.TempDir()
		name := segName(1)
		if second { // damage in an older segment, a clean one after it
			if err := os.WriteFile(filepath.Join(dir, segName(1<<40)), appendRecord(nil,
				Record{Seq: 1 << 40, Topic: "t", Payload: []byte("x")}), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		c := s.Cursor()
		defer c.Close()
		var prev uint64
		for range s.Stats().Depth {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			r, err := c.Next(ctx)
			cancel()
			if err != nil {
				t.Fatalf("depth %d but read failed: %v", s.Stats().Depth, err)
			}
			if r.Seq <= prev || len(r.Payload) > maxBody || len(r.Topic) > maxTopic {
				t.Fatalf("bad record seq %d after %d", r.Seq, prev)
			}
			prev = r.Seq
		}
		// the spool still works after recovery
		if err := s.Put(context.Background(), testMsg("d1", 1, true)); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzRecordRoundTrip(f *testing.F) {
	f.Add(uint64(1), true, false, "anxin/v1/hh/d/event", []byte(`{"id":"1"}`))
	f.Add(uint64(2), false, true, "anxin/v1/hh/d/status", []byte(`{"state":"offline","ts":"2026-12-02T08:00:00Z"}`))
	f.Fuzz(func(t *testing.T, seq uint64, ev, status bool, topic string, payload []byte) {
		if len(topic) > maxTopic || len(payload) > maxBody-bodyFixed-maxTopic {
			return
		}
		in := Record{Seq: seq, Event: ev, Status: status, Topic: topic, Payload: payload}
		got, err := decodeRecord(appendRecord(nil, in))
		if err != nil {
			t.Fatal(err)
		}
		if got.Seq != seq || got.Event != ev || got.Status != status || got.Topic != topic || string(got.Payload) != string(payload) {
			t.Fatalf("round trip: %+v != %+v", got, in)
		}
	})
}

func benchPut(b *testing.B, event bool, mode FsyncMode) {
	s := openTest(b, Options{Fsync: mode, MaxBytes: 1 << 30})
	m := testMsg("wm1", 1, event)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.ID = anxin.NewID(t0)
		if err := s.Put(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(st.Bytes)/float64(st.Depth), "disk-bytes/msg")
	payload, _ := json.Marshal(&m)
	b.ReportMetric(float64(len(payload)), "payload-bytes")
}

func BenchmarkSpoolPutReadingBatch(b *testing.B) { benchPut(b, false, FsyncBatch) }
func BenchmarkSpoolPutEvent(b *testing.B)        { benchPut(b, true, FsyncBatch) }

func BenchmarkSpoolPutParallelEvents(b *testing.B) {
	s := openTest(b, Options{MaxBytes: 1 << 30})
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		m := testMsg("btn1", 1, true)
		for pb.Next() {
			m.ID = anxin.NewID(t0)
			if err := s.Put(context.Background(), m); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestSpoolThinningWithAcks: thinning counts only unacknowledged readings
// as dropped, never drops what the publisher holds, and keeps the depth
// gauge exact.
func TestSpoolThinningWithAcks(t *testing.T) {
	s := openTest(t, Options{MaxBytes: 64 << 10, SegmentBytes: 8 << 10})
	const total = 2000
	c := s.Cursor()
	var inflight []int // readings handed to the publisher, not acknowledged
	for i := range total {
		put(t, s, testMsg("wm1", i, false))
		if i == 400 { // the publisher got 300, the broker acknowledged 200
			for k := range 300 {
				r, err := c.Next(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if k == 199 {
					if err := s.Ack(r.Seq); err != nil {
						t.Fatal(err)
					}
				}
				if k >= 200 {
					inflight = append(inflight, int(msgOf(t, r).Fields["total_m3"].Float()))
				}
			}
		}
	}
	c.Close()
	dropped := int(metrics.ToFloat64(s.mDropped))
	recs := drain(t, s) // a reconnect: replays from the ack pointer
	if 200+len(recs)+dropped != total {
		t.Fatalf("acked 200 + left %d + dropped %d != %d", len(recs), dropped, total)
	}
	for i, want := range inflight { // handed to the publisher: never thinned
		if n := int(msgOf(t, recs[i]).Fields["total_m3"].Float()); n != want {
			t.Fatalf("in-flight reading %d was thinned (got %d)", want, n)
		}
	}
	// and after them, the kept readings are the newest ones (oldest thinned first)
	rest := recs[len(inflight):]
	first := int(msgOf(t, rest[0]).Fields["total_m3"].Float())
	if len(rest) != total-first || first <= inflight[len(inflight)-1] {
		t.Fatalf("after the in-flight ones: %d readings from %d, want a contiguous newest run", len(rest), first)
	}
}

// FuzzRecordScan runs the record reader and the resynchronising scan over
// hostile bytes in memory (fast, unlike FuzzSpoolSegment): it must always
// make progress, end, and return only records that re-encode to themselves.
func FuzzRecordScan(f *testing.F) {
	good := appendRecord(nil, Record{Seq: 7, Topic: "anxin/v1/hh/d/reading", Payload: []byte(`{"a":1}`)})
	f.Add(append(append([]byte{0xA5, 0x5A, 0, 0}, good...), good[:12]...))
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		size := int64(len(data))
		var off int64
		var prev uint64
		var buf []byte
		for steps := 0; off < size; steps++ {
			if steps > len(data)+1 {
				t.Fatal("scan does not make progress")
			}
			rec, n, b, err := readRecordAt(r, off, buf)
			buf = b
			if err == nil && rec.Seq > prev {
				if again := appendRecord(nil, rec); !bytes.Equal(again, data[off:off+int64(n)]) {
					t.Fatalf("record at %d does not re-encode to its bytes", off)
				}
				prev = rec.Seq
				off += int64(n)
				continue
			}
			next, ok, ferr := findNextRecord(r, off, size, prev)
			if ferr != nil {
				t.Fatal(ferr)
			}
			if !ok {
				break
			}
			if next <= off {
				t.Fatalf("resync went backwards: %d -> %d", off, next)
			}
			off = next
		}
	})
}
