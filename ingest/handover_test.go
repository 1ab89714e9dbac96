package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/internal/metrics"
	"github.com/anxin-care/anxin/internal/testenv"
	"github.com/anxin-care/anxin/rules"
)

// BenchmarkReaderToPipeline: readings from a socket to their PUBACKs, as
// alarmd takes them from mosquitto, without the broker: the direct client's
// reader (paced by SO_RCVLOWAT as in alarmd) parses each PUBLISH and hands
// it to a running pipeline (parse, de-dup, rules, SQLite when a batch has
// something to commit), whose acknowledgements go back on the socket. The
// other end writes the PUBLISHes in runs of 32 and keeps at most inflight
// unacknowledged, as a broker's window does. CPU per reading counts the
// whole process (that writer and the PUBACK reader included, the same on
// both sides of a comparison).
func BenchmarkReaderToPipeline(b *testing.B) {
	for _, inflight := range []int{20, 200, 2000} { // 20: mosquitto's default window
		for _, pace := range []time.Duration{time.Millisecond, 5 * time.Millisecond} {
			b.Run(fmt.Sprintf("inflight=%d/pace=%v", inflight, pace), func(b *testing.B) { benchReaderToPipeline(b, inflight, pace, 0) })
		}
	}
}

// BenchmarkReaderToPipelineTrickle: the same path with the readings
// trickling in, one every 300 µs (a district of 1,000,000 households
// reading every 5 minutes: 3,333/s), at each read pace. What a reading
// costs here is mostly the wake-ups: sleeps/reading counts them (the
// writer's own sleep a reading, 1, is the same at every pace). Run it with
// a fixed count, e.g. -benchtime 5000x (each reading takes 300 µs of wall
// time).
func BenchmarkReaderToPipelineTrickle(b *testing.B) {
	for _, pace := range []time.Duration{time.Millisecond, 5 * time.Millisecond} {
		b.Run(fmt.Sprintf("pace=%v", pace), func(b *testing.B) { benchReaderToPipeline(b, 1<<20, pace, 300*time.Microsecond) })
	}
}

// benchReaderToPipeline: gap 0 writes runs of 32 as the window allows,
// else one reading every gap.
func benchReaderToPipeline(b *testing.B, inflight int, pace, gap time.Duration) {
	client, broker := tcpPair(b)

	p, err := New(Config{}, Deps{Engine: rules.New(rules.Default()), Store: openDB(b)})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	src, ok := lowatSource(client, pace)
	if !ok {
		src = &pacedReader{r: client, pace: pace}
	}
	if r, ok := src.(interface{ release() }); ok {
		r.release()
	}
	c := &directConn{Conn: client, w: &bufferedConn{Conn: client}}
	dc := newDirectClient(SubscriberConfig{}, p, nil, time.Minute, time.Second)
	dc.conn = c
	p.FlushAcksWith(dc.flushAcks)
	readDone := make(chan error, 1)
	go func() { readDone <- dc.read(ctx, c, newPacketReader(src)) }()
	defer func() { c.kill(); <-readDone }()

	// the PUBLISHes: 1,000 households' meters, a reading each in turn
	t0 := time.Now()
	pkts := make([][]byte, b.N)
	for i := range pkts {
		at := t0.Add(time.Duration(i) * time.Millisecond)
		m := anxin.Message{ID: anxin.NewID(at), TS: at, Household: fmt.Sprintf("hh-%04d", i%1000), Device: "wm1",
			Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(1000 + float64(i/1000)*0.001), "battery_low": anxin.Bool(false)}}
		body, err := json.Marshal(&m)
		if err != nil {
			b.Fatal(err)
		}
		pkts[i] = publishPacket(m.Topic(), uint16(i%65535+1), body)
	}
	acked := make(chan int, 1024) // PUBACKs read, in runs
	every := min(32, max(inflight/4, 1))
	go func() {
		var h [4]byte
		n := 0
		for {
			if _, err := io.ReadFull(broker, h[:]); err != nil {
				close(acked)
				return
			}
			if h[0]>>4 != pktPuback || binary.BigEndian.Uint16(h[2:]) == 0 {
				panic(fmt.Sprintf("unexpected packet % x", h))
			}
			if n++; n%every == 0 || n == len(pkts) {
				acked <- n
			}
		}
	}()
	b.ReportAllocs()
	cpu0, sw0 := testenv.SelfCPU(), contextSwitches()
	b.ResetTimer()
	written, ackedN := 0, 0
	if gap > 0 {
		start := time.Now()
		for i, pkt := range pkts {
			time.Sleep(time.Until(start.Add(time.Duration(i) * gap)))
			if _, err := broker.Write(pkt); err != nil {
				b.Fatal(err)
			}
		}
		written = len(pkts)
	}
	var run []byte
	for ackedN < len(pkts) {
		for written < len(pkts) && written-ackedN < inflight {
			run = run[:0]
			for k := 0; k < 32 && written < len(pkts) && written-ackedN < inflight; k++ {
				run = append(run, pkts[written]...)
				written++
			}
			if _, err := broker.Write(run); err != nil {
				b.Fatal(err)
			}
		}
		n, ok := <-acked
		if !ok {
			b.Fatalf("connection closed after %d of %d acknowledgements", ackedN, len(pkts))
		}
		ackedN = n
	}
	b.StopTimer()
	b.ReportMetric(float64((testenv.SelfCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/reading")
	// each time a thread of the process sleeps: the wake-ups a hand-over
	// costs, which the machine's load changes less than CPU time
	b.ReportMetric(float64(contextSwitches()-sw0)/float64(b.N), "sleeps/reading")
	// a batch a socket read while the readings trickle in: the reads,
	// which the machine's load does not change
	m := metrics.One(p.m.batches)
	b.ReportMetric(float64(m.Count)/float64(b.N), "batches/reading")
}

// contextSwitches counts the process's voluntary context switches.
func contextSwitches() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Nvcsw
}

// ackSink stands for the broker's end of a connection the client only
// writes to: it notes the PUBACKs' packet ids in order.
type ackSink struct {
	net.Conn // nil: the client's connection writes and closes, nothing else
	mu       sync.Mutex
	ids      []uint16
	err      error
}

func (s *ackSink) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := b; len(p) > 0; p = p[4:] {
		if len(p) < 4 || p[0] != pktPuback<<4 || p[1] != 2 {
			s.err = fmt.Errorf("not a PUBACK: % x", p)
			break
		}
		s.ids = append(s.ids, binary.BigEndian.Uint16(p[2:]))
	}
	return len(b), nil
}

func (s *ackSink) Close() error { return nil }

func (s *ackSink) acked() ([]uint16, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint16(nil), s.ids...), s.err
}

// TestPressInTheSameReadAsReadingsGoesFirst: a button press parsed from
// the same socket read as 300 meter readings, after them, is handed to the
// batch loop before them and committed in a batch of its own, which takes
// no reading (their processing would hold up its commit): its PUBACK
// leaves first and its alarm reaches the escalator; nothing is
// acknowledged while its commit waits; then every reading is
// acknowledged, in order.
func TestPressInTheSameReadAsReadingsGoesFirst(t *testing.T) {
	store := &gatedStore{DB: openDB(t), gate: make(chan struct{})}
	var once sync.Once
	release := func() { once.Do(func() { close(store.gate) }) } // every commit goes through from then on
	esc := &signalEscalator{at: make(chan anxin.Alarm, 1)}
	p, err := New(Config{}, Deps{Engine: rules.New(rules.Default()), Store: store, Escalator: esc})
	if err != nil {
		t.Fatal(err)
	}
	stop := runPipeline(t, p)
	defer stop()
	defer release() // (before stop: a held commit would keep Run from returning)

	const readings = 300
	now := time.Now()
	var in []byte
	for i := range readings {
		m := anxin.Message{ID: anxin.NewID(now), TS: now, Household: fmt.Sprintf("hh-%d", i%100), Device: "wm1",
			Kind: anxin.KindWaterMeter, Fields: anxin.Fields{"total_m3": anxin.Num(float64(i))}}
		in = append(in, publishPacket(m.Topic(), uint16(i+1), payload(t, m).Payload)...)
	}
	press := button("hh-x", now)
	in = append(in, publishPacket(press.Topic(), readings+1, payload(t, press).Payload)...)
	if len(in) > 64<<10 {
		t.Fatalf("%d bytes: more than the reader's buffer takes in one read", len(in))
	}

	sink := &ackSink{}
	c := &directConn{Conn: sink, w: &bufferedConn{Conn: sink}}
	dc := newDirectClient(SubscriberConfig{}, p, nil, time.Minute, time.Second)
	dc.conn = c
	p.FlushAcksWith(dc.flushAcks)
	// one read brings it all; read returns at the end of the stream, all handed over
	if err := dc.read(context.Background(), c, newPacketReader(bytes.NewReader(in))); !errors.Is(err, io.EOF) {
		t.Fatalf("read: %v, want the end of the stream", err)
	}
	c.w.Flush() // (whatever a buffered acknowledgement there were)
	if ids, err := sink.acked(); len(ids) != 0 || err != nil {
		t.Fatalf("acknowledged %v (%v) while the press's commit waited", ids, err)
	}
	release()
	select {
	case a := <-esc.at:
		if a.Household != "hh-x" {
			t.Fatalf("escalated %+v, want the press's alarm", a)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the press's alarm never reached the escalator")
	}
	eventually(t, "every message acknowledged", func() bool { ids, _ := sink.acked(); return len(ids) >= readings+1 })
	ids, err := sink.acked()
	if err != nil {
		t.Fatal(err)
	}
	if ids[0] != readings+1 {
		t.Fatalf("first PUBACK for packet %d, want the press's (%d): it waited behind readings", ids[0], readings+1)
	}
	for i, id := range ids[1:] {
		if id != uint16(i+1) {
			t.Fatalf("PUBACK %d for packet %d, want %d: readings out of order", i+2, id, i+1)
		}
	}
}

// TestReadingQueueKeepsOrderWithinItsBound: runs put into the ring come
// out in order across its wrap, a batch takes no more than it holds, and
// a put beyond the bound waits until the loop takes some.
func TestReadingQueueKeepsOrderWithinItsBound(t *testing.T) {
	q := newReadingQueue(4)
	d := func(i int) Delivery { return Delivery{Topic: fmt.Sprint(i)} }
	ctx := context.Background()
	if err := q.put(ctx, []Delivery{d(1), d(2), d(3)}); err != nil {
		t.Fatal(err)
	}
	back := make([]Delivery, 10) // the batches' array, each batch capped short of it
	got := q.take(back[:0:2])    // 1, 2
	put := make(chan error, 1)
	go func() { put <- q.put(ctx, []Delivery{d(4), d(5), d(6), d(7)}) }() // 3 fit, across the wrap; 7 waits
	testenv.Eventually(t, "the ring full", 10*time.Second, func() bool { return q.len() == 4 })
	select {
	case err := <-put:
		t.Fatalf("put returned (%v) with the ring full", err)
	default:
	}
	got = q.take(back[:len(got):3]) // 3: room for 7
	select {
	case err := <-put:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting put did not go on once the loop took some")
	}
	got = q.take(back[:len(got):10])
	var order []string
	for _, g := range got {
		order = append(order, g.Topic)
	}
	if s := fmt.Sprint(order); s != "[1 2 3 4 5 6 7]" {
		t.Fatalf("taken %s, want [1 2 3 4 5 6 7]", s)
	}
	if q.len() != 0 {
		t.Fatalf("%d left", q.len())
	}
	for i := range q.buf {
		if q.buf[i].Topic != "" {
			t.Fatalf("slot %d still holds %q: the ring keeps what it handed over", i, q.buf[i].Topic)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := q.put(ctx, make([]Delivery, 5)); !errors.Is(err, context.Canceled) {
		t.Fatalf("put beyond the bound after ctx ended: %v", err)
	}
}

// A batch the batch loop began for announced readings but filled with
// events and statuses alone (a reconnect's flood of gateway statuses)
// leaves the readings announced: the loop took the token, and with none
// the readings (and a source waiting for room behind them) would wait for
// a put that may never come.
func TestUrgentBatchLeavesReadingsAnnounced(t *testing.T) {
	p := queuePipelineOf(4)
	if err := p.queue.put(context.Background(), []Delivery{{Topic: "r/reading"}}); err != nil {
		t.Fatal(err)
	}
	<-p.queue.ready // as the batch loop's select takes it
	p.priority <- Delivery{Topic: "a/status"}
	p.priority <- Delivery{Topic: "b/status"}
	wait := time.NewTimer(time.Hour)
	batch := p.fill(context.Background(), make([]Delivery, 0, 2), wait)
	if len(batch) != 2 || !urgent(batch[0].Topic) || !urgent(batch[1].Topic) {
		t.Fatalf("batch %+v, want the two statuses", batch)
	}
	select {
	case <-p.queue.ready:
	default:
		t.Fatal("the reading left in the queue is not announced")
	}
}
